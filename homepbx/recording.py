"""Call recordings: start, stop, PCI pause/resume, every file indexed in the database.

The PBX records (homepbx.pbx.Control: `start_recording`, `stop_recording`, `mute_recording`;
for Asterisk, MixMonitor on the caller's channel: homepbx.asterisk.recording). This module owns
the index (models.Recording rows: file, call id, agent, start, end, pauses) and each command's
order: check the agent in the database, ask the PBX for the agent's call, write and commit the
index row, act on the PBX, then write the audit entry. No transaction stays open while the PBX
works: a recording is indexed (and committed) before it starts, and its row is removed again if
the PBX refuses, so `record list` and the collector never miss a running recording.

Pauses are intervals in the row's `paused` JSON ([[start, end], ...], end null while paused):
the recording is silent in both directions meanwhile (e.g. while a card number is given).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import audit, backends, db, names
from .calls import check_agent
from .config import Settings
from .errors import InvalidInput
from .models import CallRecord, Recording, utcnow
from .pbx import ActiveRecording, Control


def _iso(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def recording_path(settings: Settings, call_id: str, at: datetime) -> str:
    """The file for a call's recording (as the PBX sees it), named by call id and start time."""
    base = PurePosixPath(settings.pbx.recordings_dir)
    return str(base / f"{names.call_id(call_id, 'linkedid')}-{at:%Y%m%dT%H%M%SZ}.wav")


def _row(session: Session, path: str) -> Recording | None:
    return session.scalar(select(Recording).where(Recording.path == path))


def _adopt(session: Session, active: ActiveRecording, agent: str) -> Recording:
    """The index row of a running recording; created for one the dialplan started (per-queue)."""
    row = _row(session, active.path)
    if row is None:
        # Started by the queue's dialplan right after the caller was answered: the recorded
        # call's age is the best start time we have until the collector sees the call end.
        row = Recording(path=active.path, linkedid=active.call_id, agent=agent,
                        started_at=utcnow() - timedelta(seconds=active.seconds), paused="[]")
        session.add(row)
        session.flush()
    return row


def _not_recorded(agent: str) -> InvalidInput:
    return InvalidInput(f"Agent {agent}'s call is not being recorded.", field="agent")


def start(settings: Settings, agent: str) -> Recording:
    """Start recording agent `agent`'s call (both parties, one file); return its index row."""
    agent = check_agent(settings, agent)
    url = settings.database.url

    async def work(control: Control) -> Recording:
        call = await control.agent_call(agent)
        if call.recording is not None:
            raise InvalidInput(f"Agent {agent}'s call is already being recorded ({call.recording.path}).",
                               field="agent")
        now = utcnow()
        path = recording_path(settings, call.call_id, now)
        with db.transaction(url) as session:
            if _row(session, path) is not None:
                raise InvalidInput(f"A recording of this call started less than a second ago: {path}.",
                                   field="agent")
            row = Recording(path=path, linkedid=call.call_id, agent=agent, started_at=now, paused="[]")
            session.add(row)
        try:
            await control.start_recording(agent, path)
        except BaseException:
            # The PBX refused (or was lost): no file will come, so no index row either.
            with db.transaction(url) as session:
                session.execute(delete(Recording).where(Recording.path == path))
            raise
        with db.transaction(url) as session:
            audit.record(session, "record.start", agent, path=path, linkedid=call.call_id)
        return row

    return backends.run(settings, work)


def stop(settings: Settings, agent: str) -> Recording:
    """Stop the recording of agent `agent`'s call; close its index row."""
    agent = check_agent(settings, agent)

    async def work(control: Control) -> Recording:
        active = await control.stop_recording(agent)
        now = utcnow()
        with db.transaction(settings.database.url) as session:
            row = _adopt(session, active, agent)
            row.ended_at = now
            row.paused = json.dumps(_close_pauses(json.loads(row.paused or "[]"), now))
            audit.record(session, "record.stop", agent, path=row.path)
        return row

    return backends.run(settings, work)


def pause(settings: Settings, agent: str) -> Recording:
    """Pause the recording of agent `agent`'s call (PCI: silence both ways, e.g. for a card number)."""
    return _set_paused(settings, agent, paused=True)


def resume(settings: Settings, agent: str) -> Recording:
    """Resume the paused recording of agent `agent`'s call."""
    return _set_paused(settings, agent, paused=False)


def _set_paused(settings: Settings, agent: str, *, paused: bool) -> Recording:
    agent = check_agent(settings, agent)
    url = settings.database.url

    async def work(control: Control) -> Recording:
        call = await control.agent_call(agent)
        if call.recording is None:
            raise _not_recorded(agent)
        with db.transaction(url) as session:
            row = _adopt(session, call.recording, agent)
            if paused == _is_paused(json.loads(row.paused or "[]")):
                state = "paused" if paused else "not paused"
                raise InvalidInput(f"The recording of agent {agent}'s call is already {state}.", field="agent")
        active = await control.mute_recording(agent, paused)
        now = _iso(utcnow())
        with db.transaction(url) as session:
            row = _adopt(session, active, agent)
            pauses: list[list[str | None]] = json.loads(row.paused or "[]")
            if paused:
                pauses.append([now, None])
            elif _is_paused(pauses):
                pauses[-1][1] = now
            row.paused = json.dumps(pauses)
            audit.record(session, "record.pause" if paused else "record.resume", agent, path=row.path)
        return row

    return backends.run(settings, work)


def _is_paused(pauses: list[list[Any]]) -> bool:
    return bool(pauses) and pauses[-1][1] is None


def _close_pauses(pauses: list[list[Any]], end: datetime) -> list[list[Any]]:
    if _is_paused(pauses):
        pauses[-1][1] = _iso(end)
    return pauses


def list_recordings(settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    """Indexed recordings, newest first; a recording still open takes its call's end once known."""
    with db.transaction(settings.database.url) as session:
        return _index(session, settings, limit)


def _index(session: Session, settings: Settings, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Recording).order_by(Recording.started_at.desc(), Recording.id.desc()).limit(limit))
    out = []
    for r in rows:
        ended = r.ended_at
        if ended is None and r.linkedid:
            # Stopped by the caller hanging up: the collector's call record knows when.
            ended = session.scalar(select(CallRecord.ended_at).where(CallRecord.linkedid == r.linkedid))
        pauses = json.loads(r.paused or "[]")
        if ended is not None:
            pauses = _close_pauses(pauses, ended)
        paused_s = sum(((_parse(b) or ended or utcnow()) - (_parse(a) or utcnow())).total_seconds()
                       for a, b in pauses)
        out.append({
            "path": r.path, "file": str(settings.host_path(r.path)), "linkedid": r.linkedid,
            "agent": r.agent, "started_at": r.started_at, "ended_at": ended,
            "paused": pauses, "paused_s": round(paused_s, 1),
        })
    return out
