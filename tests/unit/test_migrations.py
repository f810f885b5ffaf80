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
