"""Agents' queue states on Asterisk (app_queue over AMI): log in, log out, pause, unpause, status.

The state returned is always Asterisk's own answer (`QueueStatus` member events), read after
each change, never what homepbx asked for: a refused or ignored action shows up as it is.
Every change checks first that Asterisk knows the queues involved, so a request either does
all it says or nothing. A queue member is the agent's PJSIP endpoint (`interface()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .. import names
from ..errors import InvalidInput, OperationalError
from ..pbx import AgentStatus, Membership, QueueSnapshot, QueueTarget
from .ami import AmiClient, Message

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

_PJSIP = "PJSIP/"


def interface(extension: str) -> str:
    """The queue member interface of an agent: their PJSIP endpoint."""
    return f"{_PJSIP}{names.extension(extension)}"


def membership(ev: Message) -> Membership:
    """One QueueMember event; its agent is '' if the interface is not a PJSIP endpoint."""
    iface = ev.get("Location") or ev.get("Interface") or ""
    return Membership(
        queue=ev.get("Queue") or "",
        agent=iface.removeprefix(_PJSIP) if iface.startswith(_PJSIP) else "",
        paused=(ev.get("Paused") or "0") == "1",
        reason=ev.get("PausedReason") or "",
        in_call=(ev.get("InCall") or "0") == "1",
        device=DEVICE_STATES.get(ev.get("Status") or "", ev.get("Status") or ""),
        calls_taken=_int(ev.get("CallsTaken")),
        penalty=_int(ev.get("Penalty")),
    )


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


async def snapshot(client: AmiClient, extension: str | None = None) -> QueueSnapshot:
    """Ask Asterisk (QueueStatus) for its queues and members, optionally one agent's only."""
    headers = {"Member": interface(extension)} if extension else None
    response = (await client.action("QueueStatus", headers, timeout=10)).raise_for_error()
    queues = frozenset(ev.get("Queue") or "" for ev in response.events if ev.name == "QueueParams")
    members = tuple(membership(ev) for ev in response.events if ev.name == "QueueMember")
    return QueueSnapshot(queues, members)


def _missing(before: QueueSnapshot, targets: Iterable[QueueTarget]) -> None:
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
        # Checked again here: the reason becomes an AMI header and a queue_log field.
        headers["Reason"] = names.reason(reason)
    (await client.action("QueuePause", headers)).raise_for_error()
    return (await snapshot(client, ext)).of(ext)
