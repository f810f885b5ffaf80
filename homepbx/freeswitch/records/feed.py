"""The live half of the FreeSWITCH adapter: ESL events in, neutral events fed to the engine.

- CHANNEL_CREATE: the leg joins its call (`CallIds`) and the call's open legs.
- CHANNEL_HANGUP_COMPLETE: the leg's summary (legs.leg_from_event, the same as its JSON CDR gives)
  is fed; when it was the call's last open leg, the call ends (LINKEDID_END).
- CUSTOM callcenter::info `member-queue-start`: the caller joined a queue (APP_START queue);
  `agent-status-change`: login / logout / pause / unpause (mod_callcenter's statuses are global,
  so the rows carry no queue).
- CUSTOM homepbx::agent (the dialplan's pause codes): the reason of the pause just made;
  mod_callcenter's On Break has none, so a pause waits `PAUSE_REASON_WAIT` s for it.
Anything else is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...records.events import Engine
from ...records.types import AgentEventRow, CelEvent, utc
from .legs import CallIds, _user, end_event, leg_events, leg_from_event, spy_mark

# How long a pause waits for its reason (the dialplan sends it right after the status change).
PAUSE_REASON_WAIT = 2.0
EVENTS = ("CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE", "callcenter::info", "homepbx::agent")


def _time(event: Mapping[str, Any], fallback: float) -> float:
    try:
        return int(event.get("Event-Date-Timestamp") or 0) / 1_000_000 or fallback
    except ValueError:
        return fallback


class OpenLegs:
    """The legs not hung up yet, by call: a call ends when its last one does."""

    def __init__(self) -> None:
        self.calls: dict[str, set[str]] = {}
        self.legs: dict[str, str] = {}

    def open(self, uuid: str, call: str) -> None:
        if uuid not in self.legs:
            self.legs[uuid] = call
            self.calls.setdefault(call, set()).add(uuid)

    def close(self, uuid: str, call: str) -> bool:
        """Forget a leg; True when its call has no open leg left."""
        call = self.legs.pop(uuid, call)
        legs = self.calls.get(call)
        if legs is None:
            return True
        legs.discard(uuid)
        if not legs:
            del self.calls[call]
            return True
        return False

    def is_open(self, call: str) -> bool:
        return call in self.calls

    def reset(self) -> None:
        self.calls.clear()
        self.legs.clear()


class AgentStates:
    """mod_callcenter's status changes as agent events; each agent's last status is remembered."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self._pending: dict[str, tuple[float, AgentEventRow]] = {}

    def change(self, agent: str, status: str, at: float) -> list[AgentEventRow]:
        prev = self.status.get(agent)
        self.status[agent] = status
        out: list[AgentEventRow] = []
        when = utc(int(at))
        if status == "Logged Out":
            if prev != "Logged Out":
                out += self._flush_agent(agent)
                out.append(AgentEventRow(when, agent, "", "logout"))
        elif status.startswith("Available"):
            if prev == "On Break":
                out += self._flush_agent(agent)
                out.append(AgentEventRow(when, agent, "", "unpause"))
            elif prev in (None, "Logged Out"):
                out.append(AgentEventRow(when, agent, "", "login"))
        elif status == "On Break" and prev != "On Break":
            if prev in (None, "Logged Out"):
                out.append(AgentEventRow(when, agent, "", "login"))
            self._pending[agent] = (at, AgentEventRow(when, agent, "", "pause"))
        return out

    def reason(self, agent: str, action: str, reason: str, at: float) -> list[AgentEventRow]:
        """The dialplan's homepbx::agent event: the reason of the pause it just made."""
        if action != "pause":
            return []
        pending = self._pending.pop(agent, None)
        row = pending[1] if pending else AgentEventRow(utc(int(at)), agent, "", "pause")
        row.reason = reason[:40]
        return [row]

    def due(self, now: float) -> list[AgentEventRow]:
        """Pauses whose reason never came (a pause from elsewhere): stored without one."""
        late = [a for a, (at, _) in self._pending.items() if now - at >= PAUSE_REASON_WAIT]
        return [self._pending.pop(a)[1] for a in late]

    def _flush_agent(self, agent: str) -> list[AgentEventRow]:
        pending = self._pending.pop(agent, None)
        return [pending[1]] if pending else []


class EslFeed:
    """Feeds an Engine from FreeSWITCH's live events (homepbx.freeswitch.esl Event, or a dict)."""

    def __init__(self, engine: Engine, calls: CallIds | None = None, open_legs: OpenLegs | None = None,
                 agents: AgentStates | None = None) -> None:
        self.engine = engine
        self.calls = calls or CallIds()
        self.open_legs = open_legs or OpenLegs()
        self.agents = agents or AgentStates()

    def feed(self, event: Mapping[str, Any], now: float) -> None:
        """Feed one event received at `now` (the time of events that carry none)."""
        name = event.get("Event-Name")
        if name == "CHANNEL_CREATE":
            self.created(event)
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self.hung_up(event, now)
        elif name == "CUSTOM":
            subclass = event.get("Event-Subclass")
            if subclass == "callcenter::info":
                self.callcenter(event, now)
            elif subclass == "homepbx::agent":
                for row in self.agents.reason(str(event.get("Homepbx-Agent") or ""),
                                              str(event.get("Homepbx-Action") or ""),
                                              str(event.get("Homepbx-Reason") or ""), _time(event, now)):
                    self.engine.feed(row)

    def created(self, event: Mapping[str, Any]) -> str:
        uuid = str(event.get("Unique-ID") or "")
        if not uuid:
            return ""
        member_of = str(event.get("variable_cc_member_session_uuid") or "") \
            if event.get("variable_cc_side") == "agent" else ""
        originator = str(event.get("variable_originator") or event.get("variable_originating_leg_uuid") or "")
        call = self.calls.assign(uuid, member_of, originator)
        self.open_legs.open(uuid, call)
        return call

    def hung_up(self, event: Mapping[str, Any], now: float) -> None:
        leg = leg_from_event(event)
        if leg is None:
            return
        call = self.calls.assign(leg.uuid, leg.member_of, leg.originator)
        feed = self.engine.feed
        for item in leg_events(leg, call, spy_mark(leg, self.calls) if leg.spy else None):
            feed(item)
        if self.open_legs.close(leg.uuid, call):
            self.engine.feed_cel(end_event(call, leg.hangup))

    def callcenter(self, event: Mapping[str, Any], now: float) -> None:
        action = event.get("CC-Action")
        at = _time(event, now)
        if action == "member-queue-start":
            uuid = str(event.get("CC-Member-Session-UUID") or event.get("Unique-ID") or "")
            queue = _user(str(event.get("CC-Queue") or ""))
            if uuid and queue:
                # No channel name: the leg's own summary names it (and says whose phone it is).
                self.engine.feed_cel(CelEvent(at, "APP_START", self.calls.call_of(uuid), uuid, "",
                                              appname="queue", appdata=queue))
        elif action == "agent-status-change":
            agent = _user(str(event.get("CC-Agent") or ""))
            if agent:
                for row in self.agents.change(agent, str(event.get("CC-Agent-Status") or ""), at):
                    self.engine.feed(row)

    def tick(self, now: float) -> None:
        """Let pauses that waited long enough for their reason go (called at each flush)."""
        for row in self.agents.due(now):
            self.engine.feed(row)
