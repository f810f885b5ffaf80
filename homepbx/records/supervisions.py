"""Supervision sessions (listen, whisper, barge) stored against the call they spied on.

The engine turns a supervisor's spy channel into `SupervisionRow`s (homepbx.records.events);
`store_supervisions` writes them in the batch's transaction:
- once: the supervisor channel's id is the unique `key`, and a key already stored is kept (live
  and backfill, a restart's re-read and a second collector all report the same session), but
  for its spied call, which a later report may name when the first did not;
- attached: a session whose spied call the engine could not tell (a restart that re-read the
  files from after that call's start) is matched here with the stored legs: the spied channel's
  leg, else the agent's leg live when the session started;
- instead of a call: versions before this one stored the supervisor's channel as a failed call
  of its own (linkedid `spy_call`); such a call still stored (a full backfill over an old
  database) is deleted with its legs and queue events, and its hours' roll-ups rebuilt. The
  store never writes a spy's own call again (`spy_calls`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select

from ..models import CallLeg, CallRecord, CallSupervision, QueueEvent
from . import rollup
from .types import CallRow, SupervisionRow

_SUPERVISIONS = CallSupervision.__table__
# A spied channel's leg starts before the session; its stored start may be rounded up a little.
_LEEWAY = timedelta(seconds=1)
# Ids per IN list: a backfill's batch may hold a great many calls (SQLite binds <= 32766 values).
_CHUNK = 500


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def store_supervisions(conn: Connection, rows: Sequence[SupervisionRow]) -> int:
    """Write the sessions in the caller's transaction; returns how many rows were written or attached."""
    if not rows:
        return 0
    unique: dict[str, SupervisionRow] = {}
    for row in rows:
        have = unique.get(row.key)
        if have is None or (not have.linkedid and row.linkedid):
            unique[row.key] = row
    values = [_values(conn, row) for row in unique.values()]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(_SUPERVISIONS)
    t = _SUPERVISIONS.c
    # A key already taken keeps its row; only a spied call unknown until now is filled in.
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={"linkedid": statement.excluded.linkedid},
        where=and_(t.linkedid == "", statement.excluded.linkedid != ""),
    )
    written = len(conn.execute(statement.returning(t.id), values).all())
    _drop_spy_calls(conn, sorted({row.spy_call for row in unique.values() if row.spy_call}))
    return written


def spy_calls(conn: Connection, calls: Sequence[CallRow], batch_rows: Sequence[SupervisionRow]) -> set[str]:
    """The calls among `calls` that are a spy's own call (a session stored, or in this batch).

    Such a call comes back when the collector re-reads the files' tail (a restart, the periodic
    re-read) from after its session's start: its last events alone, which tell nothing of the
    spy, make an unanswered call with no queue and no agent. Only those are looked up.
    """
    suspects = [c.linkedid for c in calls if c.answered_at is None and not c.queue and not c.agent]
    if not suspects:
        return set()
    found = {r.spy_call for r in batch_rows if r.spy_call}
    t = _SUPERVISIONS.c
    for chunk in _chunks(suspects):
        found.update(conn.execute(select(t.spy_call).where(t.spy_call.in_(chunk))).scalars())
    return found & set(suspects)


def _values(conn: Connection, row: SupervisionRow) -> dict[str, Any]:
    return {
        "key": row.key[:64],
        "linkedid": (row.linkedid or _stored_spied_call(conn, row))[:64],
        "supervisor": row.supervisor[:80],
        "agent": row.agent[:10],
        "mode": row.mode,
        "modes": ",".join(row.modes)[:32],
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "switches": json.dumps([[at.isoformat(), mode] for at, mode in row.switches]),
        "origin": row.origin[:16],
        "spy_call": row.spy_call[:64],
        "channel": row.channel[:128],
    }


def _stored_spied_call(conn: Connection, row: SupervisionRow) -> str:
    """The stored call the session spied on, '' if none is stored (yet)."""
    leg = CallLeg.__table__.c
    at = row.started_at
    if row.channel:
        cond = [or_(leg.channel == row.channel, leg.uniqueid == row.channel)]
    else:
        cond = [leg.agent == row.agent, leg.role == "agent", or_(leg.ended_at.is_(None), leg.ended_at >= at)]
    query = (select(leg.linkedid).where(and_(*cond, leg.started_at <= at + _LEEWAY))
             .order_by(leg.started_at.desc()).limit(1))
    found = conn.execute(query).scalar()
    return found or ""


def _drop_spy_calls(conn: Connection, spy_calls: list[str]) -> None:
    """Delete the supervisor channels an older version stored as calls, with their rows."""
    c = CallRecord.__table__.c
    stored = [r for chunk in _chunks(spy_calls) for r in conn.execute(
        select(c.linkedid, c.started_at, c.ended_at).where(c.linkedid.in_(chunk)))]
    if not stored:
        return
    ids = [r[0] for r in stored]
    leg = CallLeg.__table__.c
    # Only a call of spy channels alone: a spy channel sharing a call leaves that call alone.
    mixed: set[str] = set()
    for chunk in _chunks(ids):
        keys = set(conn.execute(select(_SUPERVISIONS.c.key).where(_SUPERVISIONS.c.spy_call.in_(chunk))).scalars())
        mixed.update(lid for lid, uid in conn.execute(select(leg.linkedid, leg.uniqueid).where(leg.linkedid.in_(chunk)))
                     if uid not in keys)
    ids = [i for i in ids if i not in mixed]
    if not ids:
        return
    for chunk in _chunks(ids):
        conn.execute(delete(CallLeg.__table__).where(leg.linkedid.in_(chunk)))
        conn.execute(delete(QueueEvent.__table__).where(QueueEvent.__table__.c.linkedid.in_(chunk)))
        conn.execute(delete(CallRecord.__table__).where(c.linkedid.in_(chunk)))
    hours: set[int] = set()
    for linkedid, started, ended in stored:
        if linkedid in ids:
            hours.update(range(rollup.hour_of(_dt(started)), rollup.hour_of(_dt(ended)) + 1))
    for lo, hi in rollup.hour_ranges(hours):
        rollup.rebuild(conn, lo, hi)


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


__all__ = ["store_supervisions"]
