"""Call recording: start, stop, PCI pause/resume with MixMonitor, every file indexed in the database.

Where the recording lives: on the *caller's* channel (the agent's bridge peer), not the agent's.
The caller's channel is the one that stays for the whole call: a transfer moves it to another
agent, whereas the first agent's channel hangs up and would end a recording attached to it.

How a channel says it is being recorded: MixMonitor's `i(HOMEPBX_MIXMON)` option stores the
MixMonitor's id on the channel (the per-queue recording in the dialplan uses the same option).
Asterisk 22 drops the new agent's voice from a MixMonitor on the caller's channel after a blind
transfer: `homepbx.asterisk.calls.transfer` moves the recording to the new agent's channel, appending to
the same file (see `hand_recording_over` there), and the collector does the same for transfers
dialled on the phones (homepbx.asterisk.transfer_watch), so after a transfer the MixMonitor may be on the
agent's channel: `find_active` looks at both.

MixMonitor's `Command` header is never sent: it runs a shell command as Asterisk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, names
from .asterisk.ami import AmiClient
from .asterisk.calls import RECORDING_ID_VAR, RECORDING_MUTED_VAR, RECORDING_OPTIONS, bridge_peers, getvar
from .config import Settings
from .errors import InvalidInput
from .asterisk.live import Channel, agent_call
from .models import CallRecord, Recording, utcnow

ID_VAR = RECORDING_ID_VAR
# b: write only while bridged (no hold music between legs); i(): remember the MixMonitor's id.
MIXMONITOR_OPTIONS = RECORDING_OPTIONS


@dataclass(frozen=True)
class Recorded:
    """A live call's active recording, as found on its channels."""

    channel: Channel  # the channel the MixMonitor is attached to
    mixmonitor_id: str
    path: str  # as Asterisk sees it
    linkedid: str


def _iso(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def recording_path(settings: Settings, linkedid: str, at: datetime) -> str:
    """The file for a call's recording, named by call identity and start time."""
    base = PurePosixPath(settings.asterisk.recordings_dir)
    return str(base / f"{names.call_id(linkedid, 'linkedid')}-{at:%Y%m%dT%H%M%SZ}.wav")


async def _call_channels(client: AmiClient, agent: str) -> tuple[Channel, list[Channel]]:
    chan = await agent_call(client, agent)
    peers = await bridge_peers(client, chan)
    if not peers:
        raise InvalidInput(f"Agent {agent} has no one on the line.", field="agent")
    return chan, peers


async def find_active(client: AmiClient, agent: str) -> tuple[Channel, list[Channel], Recorded | None]:
    """The agent's channel, its peers, and the recording running on the call (if any)."""
    chan, peers = await _call_channels(client, agent)
    for candidate in (*peers, chan):
        mixmonitor_id = await getvar(client, candidate.name, ID_VAR)
        if mixmonitor_id:
            path = await getvar(client, candidate.name, "MIXMONITOR_FILENAME")
            return chan, peers, Recorded(candidate, mixmonitor_id, path, candidate.linkedid)
    return chan, peers, None


def _caller_of(peers: list[Channel]) -> Channel:
    starters = [p for p in peers if p.uniqueid == p.linkedid]
    return max(starters or peers, key=lambda c: c.seconds)


def _row(session: Session, path: str) -> Recording | None:
    return session.scalar(select(Recording).where(Recording.path == path))


def _adopt(session: Session, found: Recorded, agent: str) -> Recording:
    """The index row of a running recording; created for one the dialplan started (per-queue)."""
    row = _row(session, found.path)
    if row is None:
        # Started by the queue's dialplan right after the caller was answered: the caller's
        # channel age is the best start time we have until the collector sees the call end.
        row = Recording(path=found.path, linkedid=found.linkedid, agent=agent,
                        started_at=utcnow() - timedelta(seconds=found.channel.seconds), paused="[]")
        session.add(row)
        session.flush()
    return row


async def start(client: AmiClient, session: Session, settings: Settings, agent: str) -> Recording:
    """Start recording agent `agent`'s call (both parties, one file); index it."""
    agent = names.extension(agent, "agent")
    _chan, peers, found = await find_active(client, agent)
    if found is not None:
        raise InvalidInput(f"Agent {agent}'s call is already being recorded ({found.path}).", field="agent")
    caller = _caller_of(peers)
    now = utcnow()
    path = recording_path(settings, caller.linkedid, now)
    if _row(session, path) is not None:
        raise InvalidInput(f"A recording of this call started less than a second ago: {path}.", field="agent")
    # Indexed first, in the command's transaction: if Asterisk refuses, the row rolls back.
    row = Recording(path=path, linkedid=caller.linkedid, agent=agent, started_at=now, paused="[]")
    session.add(row)
    session.flush()
    headers = {"Channel": caller.name, "File": path, "Options": MIXMONITOR_OPTIONS}
    (await client.action("MixMonitor", headers)).raise_for_error()
    audit.record(session, "record.start", agent, path=path, linkedid=caller.linkedid)
    return row


async def _active(client: AmiClient, session: Session, agent: str) -> tuple[Recorded, Recording]:
    agent = names.extension(agent, "agent")
    _chan, _peers, found = await find_active(client, agent)
    if found is None:
        raise InvalidInput(f"Agent {agent}'s call is not being recorded.", field="agent")
    return found, _adopt(session, found, agent)


async def stop(client: AmiClient, session: Session, agent: str) -> Recording:
    """Stop the recording of agent `agent`'s call; close its index row."""
    found, row = await _active(client, session, agent)
    now = utcnow()
    row.ended_at = now
    row.paused = json.dumps(_close_pauses(json.loads(row.paused or "[]"), now))
    headers = {"Channel": found.channel.name, "MixMonitorID": found.mixmonitor_id}
    (await client.action("StopMixMonitor", headers)).raise_for_error()
    for var in (ID_VAR, RECORDING_MUTED_VAR):
        await client.action("Setvar", {"Channel": found.channel.name, "Variable": var, "Value": ""})
    audit.record(session, "record.stop", names.extension(agent), path=row.path)
    return row


async def pause(client: AmiClient, session: Session, agent: str, paused: bool) -> Recording:
    """Mute (PCI pause: card numbers) or unmute both directions of the call's recording."""
    found, row = await _active(client, session, agent)
    pauses: list[list[str | None]] = json.loads(row.paused or "[]")
    is_paused = bool(pauses) and pauses[-1][1] is None
    if paused == is_paused:
        state = "paused" if paused else "not paused"
        raise InvalidInput(f"The recording of agent {agent}'s call is already {state}.", field="agent")
    now = _iso(utcnow())
    headers = {"Channel": found.channel.name, "Direction": "both", "State": "1" if paused else "0"}
    (await client.action("MixMonitorMute", headers)).raise_for_error()
    # Remembered on the channel: a blind transfer moving the recording keeps it paused.
    await client.action("Setvar", {"Channel": found.channel.name, "Variable": RECORDING_MUTED_VAR,
                                   "Value": "1" if paused else ""})
    if paused:
        pauses.append([now, None])
    else:
        pauses[-1][1] = now
    row.paused = json.dumps(pauses)
    audit.record(session, "record.pause" if paused else "record.resume", names.extension(agent), path=row.path)
    return row


def _close_pauses(pauses: list[list[Any]], end: datetime) -> list[list[Any]]:
    if pauses and pauses[-1][1] is None:
        pauses[-1][1] = _iso(end)
    return pauses


def list_recordings(session: Session, settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    """Indexed recordings, newest first; a recording still open takes its call's end once known."""
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
