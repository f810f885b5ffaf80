"""The records engine's vocabulary: neutral inputs (made by each backend's adapter) and rows out.

Inputs carry epoch seconds (UTC, float); rows carry naive UTC datetimes, as the database does.
The adapters (homepbx.asterisk.records.sources for AMI events and Asterisk's files; a FreeSWITCH
one the same way) do all the parsing of PBX vocabulary: channel names, application arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1)


def utc(epoch: float) -> datetime:
    """Epoch seconds to a naive UTC datetime (the database's convention)."""
    return _EPOCH + timedelta(0, epoch)  # positional: the same value, without keyword parsing


def epoch(moment: datetime) -> float:
    """A naive UTC datetime back to epoch seconds."""
    return (moment - _EPOCH).total_seconds()


@dataclass(slots=True)
class CelEvent:
    """One channel event: the neutral input the engine assembles calls from.

    Named after Asterisk's CEL, whose vocabulary it keeps (CHAN_START, ANSWER, BRIDGE_ENTER,
    APP_START of "queue"/"mixmonitor"..., LINKEDID_END; `extra` with hangupcause, hangupsource,
    dialstatus, bridge_id); any backend's adapter produces the same events. `channel` is an
    opaque name the engine only compares (hangupsource names one); `agent` and `spy` carry what
    the adapter read in the PBX's own vocabulary.
    """

    time: float
    event: str
    linkedid: str
    uniqueid: str
    channel: str = ""
    exten: str = ""
    appname: str = ""
    appdata: str = ""
    peer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    cid_num: str = ""
    cid_name: str = ""
    dnid: str = ""
    # The channel's dialplan context (CEL CSV column, AMI `Context`); "" when the source lacks it.
    context: str = ""
    # The extension whose phone this channel is (an agent's or supervisor's softphone), '' for
    # any other channel (a trunk, a Local channel): the engine's only notion of "an agent's leg".
    agent: str = ""
    # The supervisor's spy (feature code) this event starts, else None; the engine reports it
    # once, like the event itself, however many sources deliver the event.
    spy: SpyRow | None = None
    # Set on a supervisor's spy channel where a supervision session starts or changes mode
    # (any way in: the CLI/web, a feature code): that channel is never a call of its own.
    supervision: SpyMark | None = None
    # The RTCP summary of this channel's media at its hang-up (the adapter's parse), else None.
    quality: LineQuality | None = None


@dataclass(slots=True, frozen=True)
class LineQuality:
    """What a PBX measured of one leg's media (RTCP), in neutral units.

    `loss_from_pct`: packets the phone sent that the PBX did not receive (what the other party
    hears); `loss_to_pct`: packets the PBX sent that the phone reported lost (what the agent
    hears); `jitter_ms` the worse interarrival jitter of the two directions; `rtt_ms` the
    round-trip time, None when no RTCP report came back (a call shorter than an RTCP interval).
    """

    loss_from_pct: float
    loss_to_pct: float | None
    jitter_ms: float
    rtt_ms: float | None


@dataclass(slots=True, frozen=True)
class SpyMark:
    """What the adapter read on a spy channel's event, in neutral terms.

    `start` marks the event that starts the session (its mode is the first one); any other
    marked event of the same channel switches the session to `mode`. The spied call is named
    the best way the adapter can: its call id (`call`) when the PBX says it, else the spied
    channel (`channel`: its name or its id, opaque, compared with the channel events' channel
    and uniqueid), else the agent alone (the agent's call in progress at the time).
    """

    supervisor: str
    mode: str  # listen | whisper | barge
    agent: str
    start: bool = True
    call: str = ""
    channel: str = ""
    # How the supervisor got in: "feature code" (dialled *21/*22/*23) or "command" (CLI, web).
    origin: str = "command"


@dataclass(slots=True)
class QueueEntry:
    """One queue_log-style line: from the queue_log file, or translated from an AMI queue event.

    `callid` is the caller channel's uniqueid; `agent` the member's extension (or "").
    `linkedid` is known only when the entry came from AMI.
    """

    time: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()
    linkedid: str = ""


@dataclass(slots=True)
class HoldEvent:
    """A channel put on hold or taken off it (AMI `Hold`/`Unhold`; CEL has no hold event)."""

    time: float
    linkedid: str
    uniqueid: str
    on: bool


@dataclass(slots=True)
class CallRow:
    linkedid: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    caller: str
    caller_name: str
    called: str
    queue: str
    agent: str
    last_agent: str
    disposition: str
    hangup_side: str
    wait_s: float
    ring_s: float
    talk_s: float
    hold_s: float
    transfers: int
    recording: str
    complete: bool
    # inbound | outbound | internal, the public number, the trunk (homepbx.records.direction).
    direction: str = "internal"
    number: str = ""
    trunk: str = ""


@dataclass(slots=True)
class LegRow:
    linkedid: str
    uniqueid: str
    channel: str
    role: str
    agent: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    ring_s: float
    talk_s: float
    hold_s: float
    hangup_cause: int | None
    # The agent's first leg in this call, and the first one in which the agent talked (both
    # False on caller and other legs): the reports count calls per agent by summing them.
    first_ring: bool = False
    first_talk: bool = False


@dataclass(slots=True)
class QualityRow:
    """One agent leg's line quality (homepbx.records.quality), keyed like its leg."""

    linkedid: str
    uniqueid: str
    agent: str
    at: datetime
    loss_from_pct: float
    loss_to_pct: float | None
    jitter_ms: float
    rtt_ms: float | None
    mos: float


@dataclass(slots=True)
class QueueEventRow:
    linkedid: str
    callid: str
    queue: str
    event: str
    at: datetime
    agent: str
    wait_s: float | None
    talk_s: float | None


@dataclass(slots=True)
class AgentEventRow:
    at: datetime
    agent: str
    queue: str
    event: str  # login | logout | pause | unpause | wrapup
    reason: str = ""
    linkedid: str = ""


@dataclass(slots=True)
class RecordingRow:
    path: str
    linkedid: str
    agent: str
    started_at: datetime
    ended_at: datetime | None


@dataclass(slots=True)
class SpyRow:
    """A ChanSpy started from a supervisor's softphone feature code (*21/*22/*23<agent>).

    `key` (the supervisor channel's uniqueid) identifies it whichever source reported it.
    """

    at: datetime
    supervisor: str
    agent: str
    mode: str  # listen | whisper | barge
    supervisor_channel: str
    context: str
    exten: str
    switchable: bool
    key: str


@dataclass(slots=True)
class SupervisionRow:
    """One supervision session (listen, whisper, barge), attached to the call it spied on.

    `key` (the supervisor channel's id) identifies it whichever source reported it; `linkedid`
    is the spied call ('' when it could not be told: the store tries again from the stored
    legs, by `channel` or by the agent at `started_at`). `switches` are the mode changes in the
    session after the first mode, as (time, mode); `spy_call` is the supervisor channel's own
    call id, which must never be stored as a call (older versions stored it as a failed one;
    a re-read of the files' tail may bring its last events back alone), '' if other channels
    shared it (their call is a call).
    """

    key: str
    linkedid: str
    supervisor: str
    agent: str
    mode: str
    started_at: datetime
    ended_at: datetime
    switches: tuple[tuple[datetime, str], ...]
    origin: str
    spy_call: str
    channel: str = ""

    @property
    def modes(self) -> tuple[str, ...]:
        """Every mode the session was in, first mode first, each once."""
        out = [self.mode]
        for _, mode in self.switches:
            if mode not in out:
                out.append(mode)
        return tuple(out)


@dataclass(slots=True)
class FinishedCall:
    """Everything one call produced; stored in one transaction, or not at all."""

    call: CallRow
    legs: list[LegRow]
    queue_events: list[QueueEventRow]
    recordings: list[RecordingRow]
    agent_events: list[AgentEventRow]
    # The agent legs' line quality, for the legs whose PBX reported it.
    quality: list[QualityRow] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """What the engine produced since it was last drained."""

    calls: list[FinishedCall] = field(default_factory=list)
    agent_events: list[AgentEventRow] = field(default_factory=list)
    spies: list[SpyRow] = field(default_factory=list)
    supervisions: list[SupervisionRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.calls or self.agent_events or self.spies or self.supervisions)
