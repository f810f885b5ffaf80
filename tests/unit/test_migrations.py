"""Migrations run on SQLite and PostgreSQL, and the migrated schema matches the models."""

from __future__ import annotations

from sqlalchemy import inspect

from homepbx import db
from homepbx.models import Base


def test_upgrade_from_empty_reaches_head(any_db_url: str) -> None:
    assert db.current_revision(any_db_url) is None
    db.upgrade(any_db_url)
    assert db.current_revision(any_db_url) == db.head_revision()
    db.upgrade(any_db_url)  # a second upgrade is a no-op
    assert db.current_revision(any_db_url) == db.head_revision()


def test_migrated_schema_matches_models(migrated_url: str) -> None:
    insp = inspect(db.engine_for(migrated_url))
    tables = set(insp.get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        migrated = {c["name"] for c in insp.get_columns(name)}
        assert migrated == {c.name for c in table.columns}, name


def test_head_revision_read_from_files_matches_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from homepbx.resources import data_dir

    cfg = Config()
    cfg.set_main_option("script_location", str(data_dir("migrations")))
    assert db.head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def _migrate_to(url: str, revision: str, direction: str = "upgrade") -> None:
    """Run alembic's `upgrade` or `downgrade` to `revision` on the packaged migrations."""
    from alembic import command
    from alembic.config import Config

    from homepbx.resources import data_dir

    cfg = Config()
    cfg.set_main_option("script_location", str(data_dir("migrations")))
    with db.engine_for(url).begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)


def test_0005_gives_existing_spy_entries_their_key_once(any_db_url: str) -> None:
    """Entries written before 0005 keep their key from the details; a key written twice (two
    collectors racing) stays on the first entry only, and CLI entries have none."""
    import json
    from datetime import datetime

    from sqlalchemy import text

    _migrate_to(any_db_url, "0004")
    rows = [
        ("spy.listen", json.dumps({"source": "feature code", "key": "1795.16"})),
        ("spy.listen", json.dumps({"source": "feature code", "key": "1795.16"})),
        ("spy.whisper", json.dumps({"source": "feature code", "key": "1795.17"})),
        ("spy.barge", json.dumps({"supervisor": "2001"})),
        ("agent.add", json.dumps({"key": "not-a-spy"})),
    ]
    with db.engine_for(any_db_url).begin() as conn:
        for action, details in rows:
            conn.execute(text("INSERT INTO audit_log (at, actor, action, target, details) "
                              "VALUES (:at, '2001', :action, '1001', :details)"),
                         {"at": datetime(2026, 11, 1), "action": action, "details": details})
    db.upgrade(any_db_url)
    with db.engine_for(any_db_url).connect() as conn:
        keys = [r[0] for r in conn.execute(text("SELECT source_key FROM audit_log ORDER BY id"))]
    assert keys == ["1795.16", None, "1795.17", None, None]


def test_a_source_key_is_unique_in_the_database(migrated_url: str) -> None:
    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from homepbx.models import AuditEntry

    values = {"actor": "2001", "action": "spy.listen", "target": "1001", "details": "{}", "source_key": "1795.16"}
    with db.engine_for(migrated_url).begin() as conn:
        conn.execute(insert(AuditEntry), [values, {**values, "source_key": None}, {**values, "source_key": None}])
    with pytest.raises(IntegrityError), db.engine_for(migrated_url).begin() as conn:
        conn.execute(insert(AuditEntry), values)


def test_0006_builds_the_rollups_of_stored_records_and_goes_back(any_db_url: str) -> None:
    """Records stored before 0006 (here: stored, then 0006 undone) get the roll-ups the store
    would have kept; down again drops the roll-ups and the state index, keeping the records."""
    from sqlalchemy import text

    from homepbx.records.rollup import TABLES

    from .test_records_rollup import _batches, _store, random_calls, snapshot
    from .records_data import T0

    db.upgrade(any_db_url)
    assert _store(any_db_url, _batches(random_calls(5, T0, 60, 86400).out.sorted())) == 60
    kept = snapshot(any_db_url)
    assert all(kept[t] for t in TABLES)
    _migrate_to(any_db_url, "0005", "downgrade")
    insp = inspect(db.engine_for(any_db_url))
    assert not set(TABLES) & set(insp.get_table_names())
    assert "ix_agent_events_state" not in {i["name"] for i in insp.get_indexes("agent_events")}
    with db.engine_for(any_db_url).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM call_records")).scalar() == 60
    db.upgrade(any_db_url)
    assert db.current_revision(any_db_url) == db.head_revision()
    assert snapshot(any_db_url) == kept
    assert "ix_agent_events_state" in {i["name"] for i in inspect(db.engine_for(any_db_url)).get_indexes("agent_events")}


def test_0012_keeps_existing_agents_in_clear_text_and_new_ones_get_tls(any_db_url: str) -> None:
    """Agents from before 0012 registered over UDP without SRTP: switching them silently would cut
    them off at the next apply. Rows inserted afterwards without a transport get TLS."""
    from sqlalchemy import text

    _migrate_to(any_db_url, "0011")
    insert = ("INSERT INTO agents (extension, display_name, email, role, enabled, employment, billing_rate, "
              "billing_unit, md5_cred, realm, spy_modes, created_at, updated_at) VALUES "
              "(:ext, 'A', '', 'agent', :yes, 'employee', 0, 'minute', :md5, 'homepbx', '', :now, :now)")
    from datetime import datetime

    values = {"md5": "0" * 32, "now": datetime(2026, 1, 1), "yes": True}
    with db.engine_for(any_db_url).begin() as conn:
        conn.execute(text(insert), {**values, "ext": "1001"})
    _migrate_to(any_db_url, "0012")
    with db.engine_for(any_db_url).begin() as conn:
        conn.execute(text(insert), {**values, "ext": "1002"})
        rows = dict(conn.execute(text("SELECT extension, transport FROM agents")).all())
    assert rows == {"1001": "udp", "1002": "tls"}
    _migrate_to(any_db_url, "0011", "downgrade")
