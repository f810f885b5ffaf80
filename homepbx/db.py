"""Database engine, sessions and schema upgrades (alembic, run programmatically)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import InvalidInput, OperationalError
from .resources import data_dir
from .schema_head import head_revision

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets the collector write while reports read; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def engine_for(url: str) -> Engine:
    """One engine per URL per process."""
    if url in _engines:
        return _engines[url]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(f"The database URL {url!r} is not valid.", field="database.url") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # We depend on psycopg 3; a bare postgresql:// URL would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    eng = create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
    _engines[url] = eng
    return eng


def upgrade(url: str) -> None:
    """Bring the schema to the newest migration (`homepbx db upgrade`, also run by `init`)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(data_dir("migrations")))
    try:
        with engine_for(url).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SAOperationalError as exc:
        raise OperationalError(f"Cannot reach the database: {exc.orig}".rstrip(".") + ".") from None


def current_revision(url: str) -> str | None:
    """The schema's alembic revision, or None for an empty database.

    Read with plain SQL: importing alembic costs about 0.1 s, too much for every CLI command.
    """
    with engine_for(url).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any exception (nothing half-done)."""
    factory = sessionmaker(engine_for(url), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """A service's transaction on a prepared database; its failures as one plain sentence.

    The schema is checked first; the database refusing or going away is an OperationalError,
    a concurrent change to the same rows an InvalidInput: nothing is half-done either way.
    """
    ensure_current(url)
    try:
        with session_scope(url) as session:
            yield session
    except SAOperationalError as exc:
        raise OperationalError(f"The database failed: {exc.orig}".rstrip(".") + ".") from None
    except IntegrityError:
        # Checks run first, so this is a concurrent command that got there before us.
        raise InvalidInput("Another change to the same records was made at the same time: "
                           "nothing was changed, try again.") from None


def ensure_current(url: str) -> None:
    """Refuse to work on a database that `homepbx init` / `db upgrade` has not prepared."""
    try:
        rev = current_revision(url)
    except SAOperationalError as exc:
        raise OperationalError(f"Cannot reach the database: {exc.orig}".rstrip(".") + ".") from None
    if rev is None:
        raise OperationalError("The database is not initialised: run `homepbx init` first.")
    if rev != head_revision():
        raise OperationalError("The database schema is out of date: run `homepbx db upgrade`.")
