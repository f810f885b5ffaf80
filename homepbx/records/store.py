"""Idempotent writes of the engine's rows, on SQLite and PostgreSQL.

A call and everything hanging off it (legs, queue events, recording, wrap-up) is written only if
its linkedid is new: `INSERT ... ON CONFLICT DO NOTHING RETURNING linkedid` tells which calls
are, in one statement per batch. Agent events stand alone; their key holds whole seconds, and
since queue_log and AMI may stamp the same change one second apart, a change already stored
within a second is not stored again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..models import AgentEvent, CallLeg, CallRecord, QueueEvent, Recording
from .types import AgentEventRow, Batch, CallRow, LegRow, QueueEventRow, RecordingRow

_CALLS: Table = CallRecord.__table__  # type: ignore[assignment]
_LEGS: Table = CallLeg.__table__  # type: ignore[assignment]
_QUEUE: Table = QueueEvent.__table__  # type: ignore[assignment]
_AGENT: Table = AgentEvent.__table__  # type: ignore[assignment]
_RECORDINGS: Table = Recording.__table__  # type: ignore[assignment]

_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (CallRow, LegRow, QueueEventRow, AgentEventRow, RecordingRow)}
_SAME_CHANGE = timedelta(seconds=1)


@dataclass(frozen=True)
class Stored:
    calls: int = 0
    agent_events: int = 0


def _dicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        names = _NAMES[type(row)]
        out.append({n: getattr(row, n) for n in names})
    return out


def _insert(conn: Connection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def store(conn: Connection, batch: Batch) -> Stored:
    """Write a batch in the caller's transaction; returns how many calls and agent events were new."""
    new_calls = store_calls(conn, [c.call for c in batch.calls], batch)
    agent_rows = list(batch.agent_events)
    for finished in batch.calls:
        if finished.call.linkedid in new_calls:
            agent_rows.extend(finished.agent_events)
    added_events = store_agent_events(conn, agent_rows)
    return Stored(len(new_calls), added_events)


def store_calls(conn: Connection, calls: Sequence[CallRow], batch: Batch) -> set[str]:
    if not calls:
        return set()
    # One linkedid twice in a batch (a call expired, then its late LINKEDID_END): keep the first.
    unique: dict[str, CallRow] = {}
    for call in calls:
        unique.setdefault(call.linkedid, call)
    stmt = _insert(conn, _CALLS).on_conflict_do_nothing(index_elements=["linkedid"]).returning(_CALLS.c.linkedid)
    new = {row[0] for row in conn.execute(stmt, _dicts(unique.values()))}
    if not new:
        return new
    legs, queue_rows, recordings = [], [], []
    for finished in batch.calls:
        if finished.call.linkedid in new:
            legs.extend(finished.legs)
            queue_rows.extend(finished.queue_events)
            recordings.extend(finished.recordings)
    if legs:
        conn.execute(_insert(conn, _LEGS).on_conflict_do_nothing(index_elements=["linkedid", "uniqueid"]), _dicts(legs))
    if queue_rows:
        stmt = _insert(conn, _QUEUE).on_conflict_do_nothing(index_elements=["callid", "queue", "event", "at"])
        conn.execute(stmt, _dicts(queue_rows))
    if recordings:
        rows = [dict(r, paused="[]") for r in _dicts(recordings)]
        conn.execute(_insert(conn, _RECORDINGS).on_conflict_do_nothing(index_elements=["path"]), rows)
    return new


def store_agent_events(conn: Connection, events: Sequence[AgentEventRow]) -> int:
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
    stmt = _insert(conn, _AGENT).on_conflict_do_nothing(index_elements=["agent", "queue", "event", "at"])
    conn.execute(stmt, _dicts(fresh))
    return len(fresh)
