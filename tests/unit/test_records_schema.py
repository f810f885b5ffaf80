"""The call-record tables carry the natural keys and indexes ingestion and reports rely on."""

from __future__ import annotations

from sqlalchemy import inspect

from homepbx import db
from homepbx.models import Base

RECORD_TABLES = ("call_records", "call_legs", "queue_events", "agent_events", "recordings", "record_sources")


def _uniques(insp, table: str) -> set[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    keys = {tuple(u["column_names"]) for u in insp.get_unique_constraints(table)}
    keys |= {tuple(i["column_names"]) for i in insp.get_indexes(table) if i.get("unique")}
    return keys


def test_natural_keys_exist(migrated_url: str) -> None:
    insp = inspect(db.engine_for(migrated_url))
    assert ("linkedid",) in _uniques(insp, "call_records")
    assert ("linkedid", "uniqueid") in _uniques(insp, "call_legs")
    assert ("callid", "queue", "event", "at") in _uniques(insp, "queue_events")
    assert ("agent", "queue", "event", "at") in _uniques(insp, "agent_events")
    assert ("path",) in _uniques(insp, "recordings")


def test_migrated_indexes_match_models(migrated_url: str) -> None:
    insp = inspect(db.engine_for(migrated_url))
    for table in RECORD_TABLES:
        migrated = {tuple(i["column_names"]) for i in insp.get_indexes(table) if not i.get("unique")}
        declared = {tuple(c.name for c in i.columns) for i in Base.metadata.tables[table].indexes if not i.unique}
        assert migrated == declared, table
