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


def test_migration_0004_fills_the_first_leg_flags_of_stored_legs(any_db_url: str) -> None:
    """Legs stored before 0004 get the flags the engine would have set: per call and agent, the
    earliest leg (then the first inserted) rings first; the earliest with talk talks first."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from homepbx.resources import data_dir

    def to(revision: str) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(data_dir("migrations")))
        with db.engine_for(any_db_url).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    to("0003")
    legs = [  # linkedid, uniqueid, role, agent, started_at, talk_s -> first_ring, first_talk
        ("c1", "c1", "caller", "", "2026-01-01 10:00:00", 50.0, False, False),
        ("c1", "a", "agent", "1001", "2026-01-01 10:00:05", 0.0, True, False),
        ("c1", "b", "agent", "1002", "2026-01-01 10:00:05", 0.0, True, False),
        ("c1", "c", "agent", "1001", "2026-01-01 10:00:30", 20.0, False, True),
        ("c1", "d", "agent", "1001", "2026-01-01 10:01:30", 30.0, False, False),
        ("c2", "e", "agent", "1001", "2026-01-01 11:00:00", 10.0, True, True),
        ("c2", "f", "agent", "1001", "2026-01-01 11:00:00", 10.0, False, False),  # a tie: insertion order
    ]
    with db.engine_for(any_db_url).begin() as conn:
        for lid in ("c1", "c2"):
            conn.execute(text(
                "INSERT INTO call_records (linkedid, started_at, ended_at, caller, caller_name, called, queue, agent, "
                "last_agent, disposition, hangup_side, wait_s, ring_s, talk_s, hold_s, transfers, recording, complete) "
                "VALUES (:l, '2026-01-01 10:00:00', '2026-01-01 12:00:00', '', '', '', '', '', '', 'answered', "
                "'caller', 0, 0, 0, 0, 0, '', TRUE)"), {"l": lid})
        for lid, uid, role, agent, at, talk, _, _ in legs:
            conn.execute(text(
                "INSERT INTO call_legs (linkedid, uniqueid, channel, role, agent, started_at, ring_s, talk_s, hold_s) "
                "VALUES (:l, :u, '', :r, :a, :at, 0, :t, 0)"), {"l": lid, "u": uid, "r": role, "a": agent,
                                                                  "at": at, "t": talk})
    to("head")
    with db.engine_for(any_db_url).connect() as conn:
        got = {u: (bool(r), bool(t)) for u, r, t in conn.execute(
            text("SELECT uniqueid, first_ring, first_talk FROM call_legs"))}
    assert got == {leg[1]: (leg[6], leg[7]) for leg in legs}
