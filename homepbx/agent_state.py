"""Agents' queue states on Asterisk: log in, log out, pause (with a reason), unpause, status.

The state reported is always Asterisk's own answer (`QueueStatus` member events), read after
each change, never what homepbx asked for: a refused or ignored action shows up as it is.
Every change checks first that Asterisk knows the queues involved, so a request either does
all it says or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from . import audit, names, provisioning
from .asterisk.ami import AmiClient, Message
from .errors import InvalidInput, OperationalError
from .models import Agent

# Asterisk's device states (AST_DEVICE_*), as QueueMember events number them.
DEVICE_STATES = {
    "0": "unknown",
    "1": "not in use",
    "2": "in use",
    "3": "busy",
    "4": "invalid",
    "5": "unavailable",
    "6": "ringing",
    "7": "ringing, in use",
    "8": "on hold",
}


def interface(extension: str) -> str:
    """The queue member interface of an agent: their PJSIP endpoint."""
    return f"PJSIP/{names.extension(extension)}"


@dataclass(frozen=True)
class Membership:
    """One queue an agent is logged in to, as Asterisk reports it."""

    queue: str
    agent: str  # the extension ('' if the interface is not a PJSIP endpoint)
    interface: str
    paused: bool
    reason: str
    in_call: bool
    device: str
    calls_taken: int
    penalty: int

    @classmethod
    def from_event(cls, ev: Message) -> Membership:
        iface = ev.get("Location") or ev.get("Interface") or ""
        agent = iface[len("PJSIP/"):] if iface.startswith("PJSIP/") else ""
        return cls(
            queue=ev.get("Queue") or "",
            agent=agent,
            interface=iface,
            paused=(ev.get("Paused") or "0") == "1",
            reason=ev.get("PausedReason") or "",
            in_call=(ev.get("InCall") or "0") == "1",
            device=DEVICE_STATES.get(ev.get("Status") or "", ev.get("Status") or ""),
            calls_taken=_int(ev.get("CallsTaken")),
            penalty=_int(ev.get("Penalty")),
        )


@dataclass(frozen=True)
class AgentStatus:
    """An agent's state across queues."""

    agent: str
    memberships: tuple[Membership, ...]

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(m.queue for m in self.memberships)

    @property
    def logged_in(self) -> bool:
        return bool(self.memberships)

    @property
    def paused(self) -> bool:
        """Paused in every queue it is logged in to."""
        return self.logged_in and all(m.paused for m in self.memberships)

    @property
    def reason(self) -> str:
        return next((m.reason for m in self.memberships if m.paused and m.reason), "")

    @property
    def state(self) -> str:
        """logged out | paused | partly paused | on call | available."""
        if not self.logged_in:
            return "logged out"
        if self.paused:
            return "paused"
        if any(m.paused for m in self.memberships):
            return "partly paused"
        if any(m.in_call for m in self.memberships):
            return "on call"
        return "available"

    def row(self) -> dict[str, object]:
        return {
            "agent": self.agent,
            "state": self.state,
            "reason": self.reason,
            "queues": ",".join(self.queues),
            "paused_in": ",".join(m.queue for m in self.memberships if m.paused),
            "device": self.memberships[0].device if self.memberships else "",
            "calls_taken": sum(m.calls_taken for m in self.memberships),
        }


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


@dataclass(frozen=True)
class Snapshot:
    """Asterisk's queues and members at one moment."""

    queues: frozenset[str]
    members: tuple[Membership, ...]

    def of(self, extension: str) -> AgentStatus:
        return AgentStatus(extension, tuple(sorted((m for m in self.members if m.agent == extension),
                                                   key=lambda m: m.queue)))


async def snapshot(client: AmiClient, extension: str | None = None) -> Snapshot:
    """Ask Asterisk (QueueStatus) for its queues and members, optionally one agent's only."""
    headers = {"Member": interface(extension)} if extension else None
    response = (await client.action("QueueStatus", headers, timeout=10)).raise_for_error()
    queues = frozenset(ev.get("Queue") or "" for ev in response.events if ev.name == "QueueParams")
    members = tuple(Membership.from_event(ev) for ev in response.events if ev.name == "QueueMember")
    return Snapshot(queues, members)


# --- what the database says the agent may do ----------------------------------------------------

@dataclass(frozen=True)
class QueueTarget:
    queue: str
    penalty: int


def member_queues(session: Session, extension: str, queue: str | None = None) -> tuple[Agent, list[QueueTarget]]:
    """The agent and the queues (with penalties) a login/logout acts on: one, or all its queues."""
    agent = provisioning.get_agent(session, extension)
    if not agent.enabled:
        raise InvalidInput(f"Agent {agent.extension} is disabled.", field="agent")
    targets = sorted((QueueTarget(m.queue.name, m.penalty) for m in agent.memberships), key=lambda t: t.queue)
    if queue is not None:
        name = provisioning.get_queue(session, queue).name
        targets = [t for t in targets if t.queue == name]
        if not targets:
            raise InvalidInput(f"Agent {agent.extension} is not a member of queue {name!r}.", field="queue")
    elif not targets:
        raise InvalidInput(f"Agent {agent.extension} is not a member of any queue.", field="agent")
    return agent, targets


# --- changes over AMI --------------------------------------------------------------------------

def _missing(before: Snapshot, targets: Iterable[QueueTarget]) -> None:
    missing = sorted(t.queue for t in targets if t.queue not in before.queues)
    if missing:
        raise OperationalError(f"Asterisk has no queue {missing[0]!r}: run `homepbx apply` first.")


async def login(client: AmiClient, extension: str, targets: Sequence[QueueTarget]) -> AgentStatus:
    """QueueAdd the agent to each target queue it is not already in; return Asterisk's state."""
    before = await snapshot(client, extension)
    _missing(before, targets)
    already = set(before.of(extension).queues)
    iface = interface(extension)
    for t in targets:
        if t.queue in already:
            continue
        (await client.action("QueueAdd", {
            "Queue": t.queue, "Interface": iface, "Penalty": str(t.penalty), "MemberName": extension,
            # Ringing and busy follow the endpoint's device state: no queue call while on another call.
            "StateInterface": iface, "Paused": "false",
        })).raise_for_error()
    return (await snapshot(client, extension)).of(extension)


async def logout(client: AmiClient, extension: str, targets: Sequence[QueueTarget]) -> AgentStatus:
    """QueueRemove the agent from each target queue it is in; return Asterisk's state."""
    before = (await snapshot(client, extension)).of(extension)
    iface = interface(extension)
    for t in targets:
        if t.queue in before.queues:
            (await client.action("QueueRemove", {"Queue": t.queue, "Interface": iface})).raise_for_error()
    return (await snapshot(client, extension)).of(extension)


async def set_paused(client: AmiClient, extension: str, paused: bool, reason: str = "") -> AgentStatus:
    """QueuePause the agent in every queue it is logged in to (with a reason); return Asterisk's state."""
    ext = names.extension(extension)
    before = (await snapshot(client, ext)).of(ext)
    if not before.logged_in:
        raise InvalidInput(f"Agent {ext} is not logged in to any queue.", field="agent")
    headers = {"Interface": interface(ext), "Paused": "true" if paused else "false"}
    if paused and reason:
        headers["Reason"] = names.reason(reason)
    (await client.action("QueuePause", headers)).raise_for_error()
    return (await snapshot(client, ext)).of(ext)


async def statuses(client: AmiClient, extensions: Sequence[str], extension: str | None = None) -> list[AgentStatus]:
    """The state of each agent (`extensions`, plus any member Asterisk knows), or of one agent."""
    snap = await snapshot(client, extension)
    if extension is not None:
        return [snap.of(extension)]
    known = set(extensions) | {m.agent for m in snap.members if m.agent}
    return [snap.of(ext) for ext in sorted(known)]


def record(session: Session, action: str, extension: str, **details: object) -> None:
    """Audit an agent state change (agent.login, agent.logout, agent.pause, agent.unpause)."""
    audit.record(session, action, extension, **details)
