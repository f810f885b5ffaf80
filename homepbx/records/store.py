"""Idempotent writes of the engine's rows, on SQLite and PostgreSQL.

A call and everything hanging off it (legs, queue events, recording, wrap-up) is written only if
its linkedid is new: `INSERT ... ON CONFLICT DO NOTHING RETURNING linkedid` tells which calls
are, in one statement per batch. Agent events stand alone; their key holds whole seconds, and
since queue_log and AMI may stamp the same change one second apart, a change already stored
within a second is not stored again.

The writes are the collector's hot path (thousands of calls a second), so they skip the ORM and
SQLAlchemy's per-row parameter processing: rows go to the driver as plain tuples, a few
statements per table per batch whatever its size.
- PostgreSQL: one `INSERT ... SELECT FROM unnest(<one array per column>)` per table; the
  arrays travel as single parameters, so a batch is one round trip per table.
- SQLite: multi-row `VALUES`, 500 rows a statement (RETURNING for the calls). Datetimes are written in
  exactly the text form SQLAlchemy's SQLite dialect writes, so keys and range queries agree
  whichever path wrote a row.
Both are ON CONFLICT DO NOTHING on each table's natural key: replaying a batch adds nothing.

The reports' hourly roll-ups (homepbx.records.rollup) get the share of what was inserted,
summed in Python: one UPSERT per roll-up table per batch. A new call's legs are new (their key
holds its linkedid); queue and agent events have keys of their own, so the statements' counts
of inserted rows are checked: when the database skipped some, the hours of that batch's events
are recounted from the raw rows instead (rare: RETURNING every row would cost every batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from itertools import chain
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, DateTime, Table, and_, select
from sqlalchemy.dialects import postgresql

from ..models import AgentEvent, CallLeg, CallLegQuality, CallRecord, QueueEvent, Recording
from . import rollup
from .spies import store_spies
from .supervisions import spy_calls, store_supervisions
from .types import AgentEventRow, Batch, CallRow, LegRow, QualityRow, QueueEventRow, RecordingRow

_CALLS: Table = CallRecord.__table__  # type: ignore[assignment]
_LEGS: Table = CallLeg.__table__  # type: ignore[assignment]
_QUEUE: Table = QueueEvent.__table__  # type: ignore[assignment]
_AGENT: Table = AgentEvent.__table__  # type: ignore[assignment]
_RECORDINGS: Table = Recording.__table__  # type: ignore[assignment]
_QUALITY: Table = CallLegQuality.__table__  # type: ignore[assignment]

_SAME_CHANGE = timedelta(seconds=1)
# SQLite allows 32766 bound values per statement (3.32+); 500 rows of any table stay well below.
_SQLITE_ROWS_PER_INSERT = 500


@dataclass(frozen=True)
class Stored:
    calls: int = 0
    agent_events: int = 0
    spies: int = 0
    supervisions: int = 0


@dataclass(frozen=True)
class _Spec:
    """How one row type goes into its table: columns, natural key, a row -> tuple getter."""

    table: Table
    columns: tuple[str, ...]
    key: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]
    # Constant columns the rows do not carry (recordings start with no PCI pauses).
    constants: tuple[tuple[str, Any], ...] = ()

    @property
    def all_columns(self) -> tuple[str, ...]:
        return self.columns + tuple(name for name, _ in self.constants)


def _spec(table: Table, row_type: type, key: tuple[str, ...], constants: tuple[tuple[str, Any], ...] = ()) -> _Spec:
    names = tuple(f.name for f in fields(row_type))
    missing = [n for n in names if n not in table.c]
    assert not missing, (table.name, missing)
    return _Spec(table, names, key, attrgetter(*names), constants)


_SPECS = {
    CallRow: _spec(_CALLS, CallRow, ("linkedid",)),
    LegRow: _spec(_LEGS, LegRow, ("linkedid", "uniqueid")),
    QueueEventRow: _spec(_QUEUE, QueueEventRow, ("callid", "queue", "event", "at")),
    AgentEventRow: _spec(_AGENT, AgentEventRow, ("agent", "queue", "event", "at")),
    RecordingRow: _spec(_RECORDINGS, RecordingRow, ("path",), (("paused", "[]"),)),
    QualityRow: _spec(_QUALITY, QualityRow, ("linkedid", "uniqueid")),
}


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


# -- PostgreSQL: one statement per table, one array parameter per column --------------------------
_PG_DIALECT = postgresql.dialect()


def _pg_array_type(column: Any) -> str:
    return column.type.compile(dialect=_PG_DIALECT) + "[]"

_PG_SQL: dict[tuple[type, tuple[str, ...]], str] = {}


def _pg_sql(row_type: type, returning: tuple[str, ...]) -> str:
    sql = _PG_SQL.get((row_type, returning))
    if sql is None:
        spec = _SPECS[row_type]
        arrays = ", ".join(f"%b::{_pg_array_type(spec.table.c[n])}" for n in spec.columns)
        consts = "".join(f", %s::{spec.table.c[n].type.compile(dialect=_PG_DIALECT)}" for n, _ in spec.constants)
        sql = (f'INSERT INTO "{spec.table.name}" ({_quoted(spec.all_columns)}) '
               f"SELECT *{consts} FROM unnest({arrays}) "
               f"ON CONFLICT ({_quoted(spec.key)}) DO NOTHING")
        if returning:
            sql += f" RETURNING {_quoted(returning)}"
        _PG_SQL[(row_type, returning)] = sql
    return sql


def _pg_insert(conn: Connection, row_type: type, rows: Sequence[Any],
               returning: tuple[str, ...] = ()) -> tuple[list[Any], int]:
    spec = _SPECS[row_type]
    values = spec.values
    # Columns as lists: zip(*) transposes the rows' tuples in C.
    columns = [list(col) for col in zip(*map(values, rows))]
    # Placeholders in statement order: the constants (in the SELECT list) come before the arrays.
    params = tuple(value for _, value in spec.constants) + tuple(columns)
    # Binary arrays (%b): psycopg then sends them without quoting each element in Python.
    with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_pg_sql(row_type, returning), params)
        return (cursor.fetchall() if returning else []), cursor.rowcount


# -- SQLite: multi-row VALUES for the calls (RETURNING), executemany for the rest -----------------
def _sqlite_converter(row_type: type) -> Callable[[Any], tuple[Any, ...]]:
    spec = _SPECS[row_type]
    values = spec.values
    times = tuple(i for i, n in enumerate(spec.columns) if isinstance(spec.table.c[n].type, DateTime))
    consts = tuple(v for _, v in spec.constants)

    def convert(row: Any) -> tuple[Any, ...]:
        out = list(values(row))
        for i in times:
            v = out[i]
            if v is not None:
                # SQLAlchemy's SQLite DateTime storage format: always six fractional digits.
                out[i] = v.isoformat(" ", "microseconds")
        return (*out, *consts) if consts else tuple(out)

    return convert


_SQLITE_CONVERT = {row_type: _sqlite_converter(row_type) for row_type in _SPECS}
_SQLITE_SQL: dict[tuple[type, int, tuple[str, ...]], str] = {}


def _sqlite_sql(row_type: type, n_rows: int, returning: tuple[str, ...]) -> str:
    """An INSERT of n_rows rows, RETURNING the columns `returning` of the rows inserted."""
    sql = _SQLITE_SQL.get((row_type, n_rows, returning))
    if sql is None:
        spec = _SPECS[row_type]
        one = "(" + ", ".join("?" * len(spec.all_columns)) + ")"
        sql = (f'INSERT INTO "{spec.table.name}" ({_quoted(spec.all_columns)}) '
               f"VALUES {', '.join([one] * n_rows)} ON CONFLICT ({_quoted(spec.key)}) DO NOTHING")
        if returning:
            sql += f" RETURNING {_quoted(returning)}"
        _SQLITE_SQL[(row_type, n_rows, returning)] = sql
    return sql


def _sqlite_insert(conn: Connection, row_type: type, rows: Sequence[Any],
                   returning: tuple[str, ...] = ()) -> tuple[list[Any], int]:
    # Multi-row VALUES for every table: a few statements per batch, each one sqlite3_step that
    # runs without the GIL (executemany takes the GIL back after every row, which stalls a
    # writer thread behind the parsing thread for a switch interval each time).
    convert = _SQLITE_CONVERT[row_type]
    out: list[Any] = []
    inserted = 0
    for i in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
        chunk = rows[i:i + _SQLITE_ROWS_PER_INSERT]
        flat = tuple(chain.from_iterable(map(convert, chunk)))
        result = conn.exec_driver_sql(_sqlite_sql(row_type, len(chunk), returning), flat)
        if returning:
            out.extend(result)
        else:
            inserted += result.rowcount
    return out, len(out) if returning else inserted


def _insert(conn: Connection, row_type: type, rows: Sequence[Any], returning: tuple[str, ...] = ()) -> list[Any]:
    """Insert rows of one type, skipping those whose natural key is taken; with `returning`, those
    columns of the rows actually inserted (tuples)."""
    return _insert_counted(conn, row_type, rows, returning)[0]


def _insert_counted(conn: Connection, row_type: type, rows: Sequence[Any],
                    returning: tuple[str, ...] = ()) -> tuple[list[Any], int]:
    """`_insert`, and how many rows were inserted."""
    if not rows:
        return [], 0
    if conn.dialect.name == "postgresql":
        return _pg_insert(conn, row_type, rows, returning)
    return _sqlite_insert(conn, row_type, rows, returning)


# -- the batch ------------------------------------------------------------------------------------
def store(conn: Connection, batch: Batch) -> Stored:
    """Write a batch in the caller's transaction; returns how many calls and agent events were new."""
    delta = rollup.Delta()
    calls = [c.call for c in batch.calls]
    # A spy's own call (its tail re-read alone) is never a call: see supervisions.spy_calls.
    own = spy_calls(conn, calls, batch.supervisions)
    if own:
        calls = [c for c in calls if c.linkedid not in own]
    new_calls = store_calls(conn, calls, batch, delta)
    agent_rows = list(batch.agent_events)
    if new_calls:
        for finished in batch.calls:
            if finished.agent_events and finished.call.linkedid in new_calls:
                agent_rows.extend(finished.agent_events)
    added_events = store_agent_events(conn, agent_rows, delta)
    if delta:
        rollup.add(conn, delta)
    spies = store_spies(conn, batch.spies) if batch.spies else 0
    # Supervision sessions: rows of their own, attached to the spied call (never a call).
    supervisions = store_supervisions(conn, batch.supervisions) if batch.supervisions else 0
    return Stored(len(new_calls), added_events, spies, supervisions)


def store_calls(conn: Connection, calls: Sequence[CallRow], batch: Batch, delta: rollup.Delta | None = None) -> set[str]:
    """Write the new calls of the batch with their rows; their share goes into `delta` (added to
    the roll-ups here when None)."""
    if not calls:
        return set()
    # One linkedid twice in a batch (a call expired, then its late LINKEDID_END): keep the first.
    unique: dict[str, CallRow] = {}
    for call in calls:
        unique.setdefault(call.linkedid, call)
    new = {r[0] for r in _insert(conn, CallRow, list(unique.values()), returning=("linkedid",))}
    if not new:
        return new
    legs: list[LegRow] = []
    queue_rows: list[QueueEventRow] = []
    recordings: list[RecordingRow] = []
    quality: list[QualityRow] = []
    for finished in batch.calls:
        if finished.call.linkedid in new:
            legs += finished.legs
            queue_rows += finished.queue_events
            if finished.recordings:
                recordings += finished.recordings
            if finished.quality:
                quality += finished.quality
    _insert(conn, LegRow, legs)
    _, inserted = _insert_counted(conn, QueueEventRow, queue_rows)
    _insert(conn, RecordingRow, recordings)
    _insert(conn, QualityRow, quality)
    own = delta is None
    if own:
        delta = rollup.Delta()
    delta.legs(legs)
    if inserted == len(queue_rows):
        delta.queue_events(queue_rows, delta.config(conn))
    else:
        delta.recount_queues.update(rollup.hour_of(e.at) for e in queue_rows)
    if own and delta:
        rollup.add(conn, delta)
    return new


def store_agent_events(conn: Connection, events: Sequence[AgentEventRow], delta: rollup.Delta | None = None) -> int:
    """Write the agent events not stored yet; the wrap-ups inserted go into `delta` (added to the
    roll-ups here when None)."""
    if not events:
        return 0
    agents = sorted({e.agent for e in events})
    lo = min(e.at for e in events) - _SAME_CHANGE
    hi = max(e.at for e in events) + _SAME_CHANGE
    query = select(_AGENT.c.agent, _AGENT.c.queue, _AGENT.c.event, _AGENT.c.at).where(
        and_(_AGENT.c.agent.in_(agents), _AGENT.c.at >= lo, _AGENT.c.at <= hi)
    )
    known: dict[tuple[str, str, str], list[Any]] = {}
    for agent, queue, event, at in conn.execute(query):
        known.setdefault((agent, queue, event), []).append(at)
    fresh: list[AgentEventRow] = []
    for e in sorted(events, key=lambda e: e.at):
        times = known.setdefault((e.agent, e.queue, e.event), [])
        if any(abs(e.at - t) <= _SAME_CHANGE for t in times):
            continue
        times.append(e.at)
        fresh.append(e)
    if not fresh:
        return 0
    _, inserted = _insert_counted(conn, AgentEventRow, fresh)
    own = delta is None
    if own:
        delta = rollup.Delta()
    if inserted == len(fresh):
        if any(e.event == "wrapup" for e in fresh):
            delta.wrapups(fresh, delta.config(conn))
    else:
        delta.recount_wrapups.update(rollup.hour_of(e.at) for e in fresh if e.event == "wrapup")
    if own and delta:
        rollup.add(conn, delta)
    return inserted


# -- a writer thread ------------------------------------------------------------------------------
class BatchWriter:
    """Stores batches from one thread with its own connection, while the caller parses on.

    Batches are written one transaction each, strictly in the order given (one thread, one FIFO
    queue), with the same idempotent `store`: what ends up in the database is what storing them
    one after the other in the caller's thread gives. The queue is bounded (`depth` batches), so
    a slow database slows the producer instead of filling memory. A failed write stops the
    thread: nothing after it is written, and the error is raised by the next `put` or `close`.
    The database work (SQLite's C code, PostgreSQL's server) runs without the GIL, in parallel
    with the caller's parsing.
    """

    _STOP = object()

    def __init__(self, url: str, depth: int = 4, on_stored: Callable[[Stored], None] | None = None) -> None:
        import queue
        import threading

        from .. import db

        self._engine = db.engine_for(url)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self.calls = 0
        self.agent_events = 0
        # Called from the writer thread after each committed batch.
        self._on_stored = on_stored
        self._thread = threading.Thread(target=self._run, name="homepbx-store", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is self._STOP:
                    return
                if self._error is None:
                    with self._engine.begin() as conn:
                        got = store(conn, batch)
                    self.calls += got.calls
                    self.agent_events += got.agent_events
                    if self._on_stored is not None:
                        self._on_stored(got)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, batch: Batch) -> None:
        """Queue a batch (waits while `depth` batches are queued)."""
        self._raise()
        if batch:
            self._queue.put(batch)

    def check(self) -> None:
        """Raise the error that stopped the thread, if one did (nothing is written after it)."""
        self._raise()

    def wait(self) -> Stored:
        """Block until every queued batch is written; the totals so far."""
        self._queue.join()
        self._raise()
        return Stored(self.calls, self.agent_events)

    def close(self) -> Stored:
        """Write what is queued, stop the thread; the totals."""
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()
        self._raise()
        return Stored(self.calls, self.agent_events)
