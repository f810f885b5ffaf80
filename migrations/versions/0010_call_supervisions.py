"""Supervision sessions attached to the spied call (issue 16), and the spies stored as calls removed.

A supervisor's listen/whisper/barge runs on a channel of its own, which the records engine used to
store as a call of its own (caller the supervisor, called `s` or the spy code, disposition
failed). From now on it is a row of call_supervisions attached to the call it spied on.

The spies already stored as calls are told apart by the one trace of them the database holds,
the audit log, where every spy is written with the supervisor's channel:
- a feature-code spy (`source` "feature code", written by the collector from the CEL APP_START
  of ChanSpy in the supervisor's `homepbx-sup-<ext>` context) by its key, the supervisor
  channel's uniqueid, which is the stored call's linkedid;
- a CLI/web spy (the Originate into ChanSpy) by `supervisor_channel`, the caller leg of the
  stored call, begun within a minute before the entry (the supervisor's phone rang first);
- on FreeSWITCH, a CLI/web spy (originate into eavesdrop) by `supervisor_uuid`, the stored
  call's linkedid (its first leg's uuid).
Only a call whose every leg is that one supervisor channel is removed (with its legs and queue
events); a session replaces it, attached to the spied call (the leg of `agent_channel` or
`agent_uuid`, or the agent's leg live at the spy's start), with no mode switches (they were never stored). The
roll-ups of the hours those calls touched are rebuilt (homepbx.records.rollup.rebuild).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# How long before its audit entry a CLI spy's supervisor channel may have started (ring time).
RING_WINDOW = timedelta(seconds=60)


def upgrade() -> None:
    op.create_table(
        "call_supervisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("supervisor", sa.String(80), nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("modes", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=False),
        sa.Column("switches", sa.Text, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("spy_call", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_call_supervisions_linkedid", "call_supervisions", ["linkedid"])
    op.create_index("ix_call_supervisions_started_at", "call_supervisions", ["started_at"])
    op.create_index("ix_call_supervisions_spy_call", "call_supervisions", ["spy_call"])
    move_stored_spies(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_call_supervisions_spy_call", table_name="call_supervisions")
    op.drop_index("ix_call_supervisions_started_at", table_name="call_supervisions")
    op.drop_index("ix_call_supervisions_linkedid", table_name="call_supervisions")
    op.drop_table("call_supervisions")


def _time(value: Any) -> datetime:
    # SQLite hands text back through plain SQL, PostgreSQL datetimes.
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def move_stored_spies(conn: sa.Connection) -> int:
    """Turn the spies stored as calls into sessions; returns how many calls were removed."""
    from homepbx.records import rollup

    def run(sql: str, params: dict[str, Any]) -> Any:
        # Times bound as DateTime: SQLite then gets them in the text form the models write.
        typed = [sa.bindparam(k, type_=sa.DateTime) for k, v in params.items() if isinstance(v, datetime)]
        return conn.execute(sa.text(sql).bindparams(*typed), params)

    def q(sql: str, **params: Any) -> list[Any]:
        return list(run(sql, params).all())

    entries = q("SELECT at, details FROM audit_log WHERE action LIKE 'spy.%' ORDER BY id")
    hours: set[int] = set()
    removed = 0
    for at, details in entries:
        try:
            d = json.loads(details or "{}")
        except ValueError:
            continue
        if not isinstance(d, dict) or d.get("mode") not in ("listen", "whisper", "barge"):
            continue
        at = _time(at)
        feature_code = d.get("source") == "feature code"
        own = str(d.get("key") or "") if feature_code else str(d.get("supervisor_uuid") or "")
        if own:
            legs = q("SELECT linkedid, uniqueid, channel, started_at, answered_at FROM call_legs "
                     "WHERE linkedid = :k AND uniqueid = :k", k=own)
        else:
            channel = str(d.get("supervisor_channel") or "")
            legs = q("SELECT linkedid, uniqueid, channel, started_at, answered_at FROM call_legs "
                     "WHERE channel = :c AND role = 'caller' AND started_at >= :lo AND started_at <= :hi "
                     "ORDER BY started_at DESC", c=channel, lo=at - RING_WINDOW, hi=at + timedelta(seconds=1))
        if not legs:
            continue
        spy_call, uniqueid, spy_channel, leg_start, leg_answer = legs[0]
        # Only a call made of that one supervisor channel is the spy.
        others = q("SELECT count(*) FROM call_legs WHERE linkedid = :l AND uniqueid <> :u", l=spy_call, u=uniqueid)
        call = q("SELECT started_at, ended_at FROM call_records WHERE linkedid = :l", l=spy_call)
        if others[0][0] or not call:
            continue
        call_start, call_end = _time(call[0][0]), _time(call[0][1])
        started = at if feature_code else _time(leg_answer or leg_start)
        agent = str(d.get("agent") or "")[:10]
        target = str(d.get("agent_channel") or d.get("agent_uuid") or "")
        spied = _spied_call(q, target, agent, started)
        if not q("SELECT 1 FROM call_supervisions WHERE key = :k", k=uniqueid):
            run(
                "INSERT INTO call_supervisions (key, linkedid, supervisor, agent, mode, modes, started_at, ended_at, "
                "switches, origin, spy_call, channel) VALUES (:key, :linkedid, :supervisor, :agent, :mode, :mode, "
                ":started, :ended, '[]', :origin, :spy_call, :channel)", {"key": uniqueid, "linkedid": spied, "supervisor": str(d.get("supervisor") or "")[:80],
                "agent": agent, "mode": d["mode"], "started": started, "ended": max(call_end, started),
                "origin": "feature code" if feature_code else "command", "spy_call": spy_call,
                "channel": target[:128]})
        for table in ("call_legs", "queue_events", "recordings"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE linkedid = :l"), {"l": spy_call})
        conn.execute(sa.text("DELETE FROM call_records WHERE linkedid = :l"), {"l": spy_call})
        removed += 1
        hours.update(range(rollup.hour_of(call_start), rollup.hour_of(call_end) + 1))
    for lo, hi in rollup.hour_ranges(hours):
        rollup.rebuild(conn, lo, hi)
    return removed


def _spied_call(q: Any, channel: str, agent: str, at: datetime) -> str:
    """The call of the spied agent's leg: the named channel's (a name or a uuid), else the agent's
    leg live at `at`."""
    if channel:
        rows = q("SELECT linkedid FROM call_legs WHERE (channel = :c OR uniqueid = :c) AND started_at <= :at "
                 "ORDER BY started_at DESC LIMIT 1", c=channel, at=at + timedelta(seconds=1))
    else:
        rows = q("SELECT linkedid FROM call_legs WHERE agent = :a AND role = 'agent' AND started_at <= :at "
                 "AND (ended_at IS NULL OR ended_at >= :at) ORDER BY started_at DESC LIMIT 1", a=agent, at=at)
    return rows[0][0] if rows else ""
