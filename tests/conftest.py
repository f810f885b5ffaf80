"""Fixtures shared by every test: databases (SQLite and PostgreSQL) and a CLI runner."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from homepbx import db

from .pg_server import admin_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'homepbx.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    with fresh_pg_database("homepbx_test") as url:
        yield url


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped (connections and all) at exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_of = admin_url()
    admin = create_engine(admin_of, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_of.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def migrated_url(any_db_url: str) -> str:
    """A database on the newest schema, on both backends."""
    db.upgrade(any_db_url)
    return any_db_url


class DatabaseCut:
    """Makes the test database unavailable and brings it back: on PostgreSQL it refuses new
    connections and its open ones are cut (a server restart, a failover); on SQLite another
    connection holds the write lock (a long transaction elsewhere) past the collector's timeout."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock: Any = None

    def cut(self) -> None:
        if self.url.startswith("sqlite"):
            import sqlite3

            self._lock = sqlite3.connect(self.url.split("///", 1)[1].split("?", 1)[0], isolation_level=None)
            self._lock.execute("BEGIN EXCLUSIVE")
            return
        self._admin("ALLOW_CONNECTIONS false")

    def restore(self) -> None:
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None
            return
        self._admin("ALLOW_CONNECTIONS true")
        # This process's own pooled connections were cut too.
        db.engine_for(self.url).dispose()

    def _admin(self, allow: str) -> None:
        name = self.url.rsplit("/", 1)[1]
        admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" {allow}'))
                if "false" in allow:
                    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                                 {"n": name})
        finally:
            admin.dispose()
