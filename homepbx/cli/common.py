"""What every command shares: settings, a database transaction, output as a table or JSON.

SQLAlchemy is imported only when a command opens a session: `homepbx spy` must reach Asterisk
within half a second and does its check on a bare DB-API connection (`plain_connection()`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from .. import config
from ..config import Settings
from ..errors import OperationalError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# `sqlite:///<file>` exactly as SQLAlchemy reads it (relative to the working directory, or
# absolute with a fourth slash); URLs with options or escapes go through SQLAlchemy.
_PLAIN_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///([^?%#]+)")
# psycopg 3 (db.py's driver for a bare postgresql://) reads the same URI as libpq; SQLAlchemy
# options after `?` may not be libpq's, so such URLs go through SQLAlchemy.
_PLAIN_POSTGRES_URL = re.compile(r"postgresql(?:\+psycopg)?://([^?#]+)")
_NAMED_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class AppContext:
    """Per-invocation state, created by the top-level group."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = config.load(self.config_path)
        return self._settings

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction for the whole command: any error leaves the database as it was."""
        from .. import db

        with db.transaction(self.settings.database.url) as session:
            yield session


    def plain_connection(self) -> PlainConnection | None:
        """A bare DB-API connection (sqlite3 or psycopg) to the database, or None.

        For latency-critical commands only (`homepbx spy`): no schema check, no SQLAlchemy.
        Only for URLs that mean the same to the driver as to SQLAlchemy: `sqlite:///<file>`
        and `postgresql[+psycopg]://...` without options. Any `conn.Error` from it should send
        the command down the `session()` path, which checks the schema and says what is wrong.
        """
        url = self.settings.database.url
        try:
            if match := _PLAIN_SQLITE_URL.fullmatch(url):
                return PlainSqlite(match.group(1))
            if match := _PLAIN_POSTGRES_URL.fullmatch(url):
                return PlainPostgres(f"postgresql://{match.group(1)}")
        except OperationalError:
            raise
        except Exception:  # driver missing, file missing...: the session path says what is wrong
            return None
        return None


class PlainConnection:
    """Runs one `:name`-style statement (no literal `%` or `::`) and returns its rows as tuples."""

    Error: type[Exception] = Exception  # the driver's DB-API Error

    def __call__(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PlainSqlite(PlainConnection):
    """A sqlite3 connection that runs `:name`-style SQL the way homepbx's engine would.

    Opened read-write without creating the file; the same pragmas as db.py's engine (WAL is
    already the file's journal mode, set when `homepbx init` created it). Datetimes are bound
    in SQLAlchemy's SQLite storage form (`YYYY-MM-DD HH:MM:SS.ffffff`), so rows read the same
    whichever way they were written. Legacy transaction control: reads need no transaction,
    a write opens one, `commit()` ends it.
    """

    def __init__(self, path: str) -> None:
        import sqlite3
        from urllib.parse import quote

        self.Error = sqlite3.Error
        self.conn: sqlite3.Connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=5.0)
        try:
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            self.conn.close()
            raise

    def __call__(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        bound = {k: v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v for k, v in params.items()}
        return self.conn.execute(sql, bound).fetchall()

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


class PlainPostgres(PlainConnection):
    """A psycopg 3 connection (what db.py's engine uses for PostgreSQL), autocommit: each
    statement is its own transaction, so no transaction stays open while a phone rings."""

    def __init__(self, uri: str) -> None:
        import psycopg

        self.Error = psycopg.Error
        try:
            self.conn = psycopg.connect(uri, autocommit=True)
        except psycopg.OperationalError as exc:
            # Said here, as db.ensure_current would: trying again through SQLAlchemy would make
            # the user wait twice for a server that does not answer.
            raise OperationalError(f"Cannot reach the database: {exc}".rstrip(".") + ".") from None

    def __call__(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(_NAMED_PARAM.sub(r"%(\1)s", sql), params)
        return cur.fetchall() if cur.description is not None else []

    def commit(self) -> None:
        pass  # autocommit

    def close(self) -> None:
        self.conn.close()


pass_app = click.make_pass_decorator(AppContext)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str | None = None) -> None:
    """Print rows as a table (humans) or a JSON list (scripts)."""
    if as_json:
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(soft_wrap=True).print(table)


def emit_one(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        click.echo(f"{key.replace('_', ' '):<{width}}  {'' if value is None else value}")


def hint_apply() -> None:
    click.echo("Run `homepbx apply` to push the change to the PBX.", err=True)
