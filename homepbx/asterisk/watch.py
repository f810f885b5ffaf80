"""The live feed on Asterisk (`Backend.watch`): AMI events in, neutral `LiveEvent`s out.

`LiveTracker` is sans-IO: it is fed AMI messages (a snapshot from `QueueStatus` +
`CoreShowChannels`, then events) and returns what changed, as agents' and queues' states that
name only extensions and queue names. `watch()` is the thin shell around it: one AMI
connection (events "call,agent" only), re-opened forever with backoff, and a new snapshot
after each (re)connection, since what happened while Asterisk was away is lost.

An agent's state, first match wins: on call (its PJSIP channel is in a bridge), ringing (its
phone rings), logged out (in no queue), paused (in every queue it is in), wrap-up (a queue
call ended less than the queue's wrap-up time ago), available. Channels that are up but not
bridged (feature codes, tones) change nothing: the agent is not talking to anyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..pbx import AgentLive, LiveEvent, QueueLive
from .ami import AmiClient, Message
from .ami.errors import AmiDisconnected, AmiError

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

_PJSIP = "PJSIP/"
# Asterisk's channel states (AST_STATE_*) as AMI numbers them.
_RINGING = "5"


def _endpoint(channel: str) -> str:
    """The PJSIP endpoint of a channel name ('' for other technologies)."""
    if not channel.startswith(_PJSIP):
        return ""
    return channel[len(_PJSIP):].rsplit("-", 1)[0]


def _member(ev: Message) -> str:
    """The agent (endpoint) of a queue member event ('' if the member is not a PJSIP endpoint)."""
    iface = ev.get("Interface") or ev.get("Location") or ev.get("StateInterface") or ""
    return iface[len(_PJSIP):] if iface.startswith(_PJSIP) else ""


def _float(value: str | None, default: float) -> float:
    try:
        number = float(value or "")
    except ValueError:
        return default
    return number if number > 0 else default


@dataclass
class _Membership:
    paused: bool = False
    reason: str = ""
    paused_since: float = 0.0


@dataclass
class _Channel:
    agent: str
    linkedid: str
    ringing: bool
    bridged: bool
    since: float


@dataclass
class _Agent:
    memberships: dict[str, _Membership] = field(default_factory=dict)
    login_since: float = 0.0
    call_queue: str = ""  # the queue of the call ringing or connected (AgentCalled/AgentConnect)
    wrapup_queue: str = ""
    wrapup_until: float = 0.0
    wrapup_since: float = 0.0


class LiveTracker:
    """Agents' and queues' live states from Asterisk's AMI messages (no I/O).

    `wrapup`: each queue's wrap-up seconds (Asterisk's events do not carry it).
    """

    def __init__(self, wrapup: Mapping[str, int] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.wrapup = dict(wrapup or {})
        self.clock = clock
        self._agents: dict[str, _Agent] = {}
        self._channels: dict[str, _Channel] = {}  # uniqueid -> agent channel
        self._callers: dict[str, dict[str, float]] = {}  # queue -> caller uniqueid -> joined at
        self._shown: dict[str, AgentLive] = {}
        self._handlers: dict[str, Callable[[Message, float], Iterable[str]]] = {
            "queuememberadded": self._member_added,
            "queuememberremoved": self._member_removed,
            "queuememberpause": self._member_pause,
            "queuememberstatus": self._member_status,
            "agentcalled": self._agent_called,
            "agentconnect": self._agent_connect,
            "agentcomplete": self._agent_complete,
            "agentringnoanswer": self._agent_ring_done,
            "agentdump": self._agent_ring_done,
            "newchannel": self._new_channel,
            "newstate": self._new_state,
            "bridgeenter": self._bridge_enter,
            "bridgeleave": self._bridge_leave,
            "hangup": self._hangup,
        }

    # -- snapshot ---------------------------------------------------------------------------------
    def snapshot(self, queue_status: Iterable[Message], channels: Iterable[Message]) -> LiveEvent:
        """Forget everything and rebuild from QueueStatus's and CoreShowChannels's events."""
        now = self.clock()
        self._agents.clear()
        self._channels.clear()
        self._callers.clear()
        self._shown.clear()
        for ev in queue_status:
            name = ev.name.lower()
            queue = ev.get("Queue") or ""
            if name == "queueparams" and queue:
                self._callers.setdefault(queue, {})
            elif name == "queuemember":
                agent = _member(ev)
                if agent and queue:
                    self._apply_member(agent, queue, ev, now)
            elif name == "queueentry" and queue:
                wait = _float(ev.get("Wait"), 0.0)
                self._callers.setdefault(queue, {})[ev.get("Uniqueid") or ev.get("Channel") or ""] = now - wait
        for ev in channels:
            agent = _endpoint(ev.get("Channel") or "")
            if not agent:
                continue
            h, m, s = ((ev.get("Duration") or "0:0:0").split(":") + ["0", "0"])[:3]
            try:
                age = int(h) * 3600 + int(m) * 60 + int(s)
            except ValueError:
                age = 0
            self._channels[ev.get("Uniqueid") or ""] = _Channel(
                agent, ev.get("Linkedid") or "", (ev.get("ChannelState") or "") == _RINGING,
                bool(ev.get("BridgeId")), now - age)
            self._agents.setdefault(agent, _Agent())
        agents = tuple(self._state(a, now, "") for a in sorted(self._agents))
        for live in agents:
            self._shown[live.agent] = live
        return LiveEvent("snapshot", now, agents=agents, queues=tuple(self._queue(q) for q in sorted(self._callers)))

    # -- events -----------------------------------------------------------------------------------
    def feed(self, ev: Message) -> list[LiveEvent]:
        """What one AMI event changed (often nothing)."""
        name = ev.name.lower()
        now = _float(ev.get("Timestamp"), 0.0) or self.clock()
        if name in ("queuecallerjoin", "queuecallerleave", "queuecallerabandon"):
            return self._caller(name, ev, now)
        handler = self._handlers.get(name)
        if handler is None:
            return []
        out = []
        for agent in handler(ev, now):
            changed = self._show(agent, now, _CHANGES.get(name, ""))
            if changed is not None:
                out.append(changed)
        return out

    def tick(self, now: float | None = None) -> list[LiveEvent]:
        """Wrap-ups that have ended by `now`."""
        now = self.clock() if now is None else now
        out = []
        for agent, a in self._agents.items():
            if a.wrapup_until and a.wrapup_until <= now:
                a.wrapup_until = 0.0
                changed = self._show(agent, now, "available")
                if changed is not None:
                    out.append(changed)
        return out

    # -- queue members ----------------------------------------------------------------------------
    def _apply_member(self, agent: str, queue: str, ev: Message, now: float) -> None:
        a = self._agents.setdefault(agent, _Agent())
        m = a.memberships.get(queue)
        if m is None:
            m = a.memberships[queue] = _Membership()
            if not a.login_since:
                a.login_since = _float(ev.get("LoginTime"), now)
        paused = (ev.get("Paused") or "0") == "1"
        if paused and not m.paused:
            m.paused_since = _float(ev.get("LastPause"), now)
        m.paused = paused
        m.reason = (ev.get("PausedReason") or "") if paused else ""

    def _member_added(self, ev: Message, now: float) -> Iterable[str]:
        agent, queue = _member(ev), ev.get("Queue") or ""
        if agent and queue:
            self._apply_member(agent, queue, ev, now)
            yield agent

    def _member_removed(self, ev: Message, now: float) -> Iterable[str]:
        agent, queue = _member(ev), ev.get("Queue") or ""
        a = self._agents.get(agent)
        if a is not None and a.memberships.pop(queue, None) is not None:
            if not a.memberships:
                a.login_since = 0.0
            yield agent

    def _member_pause(self, ev: Message, now: float) -> Iterable[str]:
        agent, queue = _member(ev), ev.get("Queue") or ""
        if agent and queue:
            # A pause event can reach us before the member's own event (a restart): it is a member.
            self._apply_member(agent, queue, ev, now)
            yield agent

    def _member_status(self, ev: Message, now: float) -> Iterable[str]:
        return self._member_pause(ev, now)

    # -- queue calls ------------------------------------------------------------------------------
    def _agent_called(self, ev: Message, now: float) -> Iterable[str]:
        agent = _member(ev)
        if agent:
            self._agents.setdefault(agent, _Agent()).call_queue = ev.get("Queue") or ""
            yield agent

    def _agent_connect(self, ev: Message, now: float) -> Iterable[str]:
        return self._agent_called(ev, now)

    def _agent_ring_done(self, ev: Message, now: float) -> Iterable[str]:
        agent = _member(ev)
        a = self._agents.get(agent)
        if a is not None:
            a.call_queue = ""
            yield agent

    def _agent_complete(self, ev: Message, now: float) -> Iterable[str]:
        agent = _member(ev)
        a = self._agents.get(agent)
        if a is None:
            return
        queue = ev.get("Queue") or ""
        # The call's queue stays shown until the agent's channel hangs up (see `_hangup`).
        seconds = self.wrapup.get(queue, 0)
        if seconds > 0:
            a.wrapup_queue, a.wrapup_since, a.wrapup_until = queue, now, now + seconds
        yield agent

    # -- channels ---------------------------------------------------------------------------------
    def _new_channel(self, ev: Message, now: float) -> Iterable[str]:
        agent = _endpoint(ev.get("Channel") or "")
        if agent:
            self._channels[ev.get("Uniqueid") or ""] = _Channel(
                agent, ev.get("Linkedid") or "", (ev.get("ChannelState") or "") == _RINGING, False, now)
            self._agents.setdefault(agent, _Agent())
            yield agent

    def _new_state(self, ev: Message, now: float) -> Iterable[str]:
        chan = self._channels.get(ev.get("Uniqueid") or "")
        if chan is not None:
            chan.ringing = (ev.get("ChannelState") or "") == _RINGING
            yield chan.agent

    def _bridge_enter(self, ev: Message, now: float) -> Iterable[str]:
        chan = self._channels.get(ev.get("Uniqueid") or "")
        if chan is not None:
            if not chan.bridged:
                chan.since = now
            chan.bridged, chan.ringing = True, False
            yield chan.agent

    def _bridge_leave(self, ev: Message, now: float) -> Iterable[str]:
        chan = self._channels.get(ev.get("Uniqueid") or "")
        if chan is not None:
            chan.bridged = False
            yield chan.agent

    def _hangup(self, ev: Message, now: float) -> Iterable[str]:
        chan = self._channels.pop(ev.get("Uniqueid") or "", None)
        if chan is not None:
            if not any(c.agent == chan.agent for c in self._channels.values()):
                self._agents[chan.agent].call_queue = ""
            yield chan.agent

    # -- queue callers ----------------------------------------------------------------------------
    def _caller(self, name: str, ev: Message, now: float) -> list[LiveEvent]:
        queue = ev.get("Queue") or ""
        if not queue:
            return []
        callers = self._callers.setdefault(queue, {})
        uniqueid = ev.get("Uniqueid") or ""
        if name == "queuecallerjoin":
            callers[uniqueid] = now
            change = "join"
        else:
            if callers.pop(uniqueid, None) is None and name == "queuecallerleave":
                return []
            change = "abandon" if name == "queuecallerabandon" else "leave"
        return [LiveEvent("queue", now, change, queues=(self._queue(queue),))]

    def _queue(self, queue: str) -> QueueLive:
        return QueueLive(queue, tuple(sorted(self._callers.get(queue, {}).values())))

    # -- the state --------------------------------------------------------------------------------
    def _state(self, agent: str, now: float, change: str) -> AgentLive:
        a = self._agents.setdefault(agent, _Agent())
        queues = tuple(sorted(a.memberships))
        mine = sorted((c for c in self._channels.values() if c.agent == agent), key=lambda c: c.since)
        bridged = [c for c in mine if c.bridged]
        if bridged:
            c = bridged[0]
            return AgentLive(agent, "on call", c.since, a.call_queue, "", queues, c.linkedid)
        ringing = [c for c in mine if c.ringing]
        if ringing:
            c = ringing[0]
            return AgentLive(agent, "ringing", c.since, a.call_queue, "", queues, c.linkedid)
        if not queues:
            return AgentLive(agent, "logged out", now, queues=queues)
        members = a.memberships.values()
        if all(m.paused for m in members):
            reason = next((m.reason for m in members if m.reason), "")
            return AgentLive(agent, "paused", max(m.paused_since for m in members) or now, reason=reason, queues=queues)
        if a.wrapup_until > now:
            return AgentLive(agent, "wrap-up", a.wrapup_since, a.wrapup_queue, queues=queues)
        return AgentLive(agent, "available", now, queues=queues)

    def _show(self, agent: str, now: float, change: str) -> LiveEvent | None:
        """The agent's new state as an event, or None if it looks the same as the last one shown."""
        new = self._state(agent, now, change)
        old = self._shown.get(agent)
        if old is not None:
            if (old.state, old.queue, old.reason, old.queues, old.call_id) == (
                    new.state, new.queue, new.reason, new.queues, new.call_id):
                return None
            if old.state == new.state and new.state in ("available", "logged out"):
                # Same state, other details (queues): its duration goes on.
                new = AgentLive(new.agent, new.state, old.since, new.queue, new.reason, new.queues, new.call_id)
        self._shown[agent] = new
        if change in ("pause", "unpause") and new.state != ("paused" if change == "pause" else "available"):
            change = "state"
        return LiveEvent("agent", now, change or "state", agents=(new,))


# AMI event -> the neutral name of what happened (pause and unpause are told apart below).
_CHANGES = {
    "queuememberadded": "login",
    "queuememberremoved": "logout",
    "queuememberpause": "pause",
    "queuememberstatus": "state",
    "agentcalled": "ringing",
    "agentconnect": "answered",
    "agentcomplete": "wrapup",
    "agentringnoanswer": "state",
    "agentdump": "state",
    "newchannel": "state",
    "newstate": "state",
    "bridgeenter": "answered",
    "bridgeleave": "state",
    "hangup": "hangup",
}


# --- the shell: one AMI connection, forever ---------------------------------------------------

# AMI event classes the feed needs: channels and bridges (call), queues and members (agent).
EVENT_CLASSES = "call,agent"


async def _snapshot(client: AmiClient, tracker: LiveTracker) -> LiveEvent:
    status = (await client.action("QueueStatus", timeout=15)).raise_for_error()
    chans = (await client.action("CoreShowChannels", timeout=15)).raise_for_error()
    return tracker.snapshot(status.events, chans.events)


@asynccontextmanager
async def watch(settings: Settings, wrapup: Mapping[str, int] | None = None,
                retry: tuple[float, float] = (0.5, 10.0)) -> AsyncIterator[AsyncIterator[LiveEvent]]:
    """`Backend.watch` on Asterisk: a snapshot, then changes; reconnects forever (see module doc)."""
    tracker = LiveTracker(wrapup)
    queue: asyncio.Queue[LiveEvent] = asyncio.Queue()
    put = queue.put_nowait
    # Events that arrive while a snapshot is read are held, then replayed over it.
    held: list[Message] | None = None

    def on_event(ev: Message) -> None:
        if held is not None:
            held.append(ev)
            return
        for out in tracker.feed(ev):
            put(out)

    async def resync(client: AmiClient) -> None:
        nonlocal held
        held = []
        try:
            put(await _snapshot(client, tracker))
        finally:
            pending, held = held, None
        for ev in pending:
            on_event(ev)

    async def run() -> None:
        delay = retry[0]
        while True:
            # A wall screen must come back within seconds of Asterisk: retries stay short.
            client = AmiClient.from_settings(settings.ami, events=EVENT_CLASSES, reconnect=True, ping_interval=5.0,
                                             reconnect_delay=(0.5, 5.0))
            client.add_event_handler("*", on_event)
            client.on_reconnect(resync)
            try:
                await client.connect()
                await resync(client)
                delay = retry[0]
                up = True
                while True:
                    await asyncio.sleep(0.25)
                    if up and not client.connected:
                        # Asterisk went away: the client reconnects, `resync` snapshots again.
                        put(LiveEvent("down", time.time(), f"Lost Asterisk's manager interface at {client.where}."))
                    up = client.connected
                    for out in tracker.tick():
                        put(out)
            except (AmiError, OSError) as exc:
                log.warning("Live feed: %s Retrying in %g s.", exc, delay)
                put(LiveEvent("down", time.time(), str(exc)))
                await client.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, retry[1])
            except BaseException:
                await client.close()
                raise

    async def events() -> AsyncIterator[LiveEvent]:
        while True:
            yield await queue.get()

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield events()
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, AmiDisconnected):
            pass
