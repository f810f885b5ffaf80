"""Agents' queue states: log in, log out, pause (with a reason), unpause, status.

The state reported is always the PBX's own answer, read after each change, never what homepbx
asked for: a refused or ignored action shows up as it is. Each command runs in the same order:
read the database (which queues, is the agent known and enabled) and close that transaction,
ask the site's PBX (`homepbx.backends`), then write the audit entry in a new transaction. A
command refused by the database reaches no PBX; one the PBX refuses writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import audit, backends, db, names, provisioning
from .errors import InvalidInput
from .models import Agent, Role
from .pbx import AgentStatus, Membership, QueueSnapshot, QueueTarget

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .config import Settings

__all__ = [
    "AgentStatus", "Membership", "QueueSnapshot", "QueueTarget", "login", "logout", "member_queues",
    "pause", "record", "status", "statuses", "unpause",
]

# --- what the database says the agent may do ----------------------------------------------------

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


def statuses(snapshot: QueueSnapshot, extensions: Sequence[str], extension: str | None = None) -> list[AgentStatus]:
    """The state of each agent (`extensions`, plus any member the PBX knows), or of one agent."""
    if extension is not None:
        return [snapshot.of(extension)]
    known = set(extensions) | {m.agent for m in snapshot.members if m.agent}
    return [snapshot.of(ext) for ext in sorted(known)]


def record(session: Session, action: str, extension: str, **details: object) -> None:
    """Audit an agent state change (agent.login, agent.logout, agent.pause, agent.unpause)."""
    audit.record(session, action, extension, **details)


# --- the commands -------------------------------------------------------------------------------

def login(settings: Settings, extension: str, queue: str | None = None) -> AgentStatus:
    """Log the agent in to its queues (or to one of them); return the PBX's state after.

    Every queue must exist on the PBX, or nothing is changed (OperationalError: run apply).
    """
    return _membership(settings, extension, queue, login=True)


def logout(settings: Settings, extension: str, queue: str | None = None) -> AgentStatus:
    """Log the agent out of its queues (or of one of them); return the PBX's state after."""
    return _membership(settings, extension, queue, login=False)


def _membership(settings: Settings, extension: str, queue: str | None, *,
                login: bool) -> AgentStatus:
    with db.transaction(settings.database.url) as s:
        agent, targets = member_queues(s, extension, queue)
        ext = agent.extension
    if login:
        state = backends.run(settings, lambda control: control.queue_login(ext, targets))
    else:
        state = backends.run(settings, lambda control: control.queue_logout(ext, targets))
    with db.transaction(settings.database.url) as s:
        record(s, "agent.login" if login else "agent.logout", ext, queues=[t.queue for t in targets])
    return state


def pause(settings: Settings, extension: str, reason: str) -> AgentStatus:
    """Pause the agent in every queue it is logged in to, with a reason; return the PBX's state after.

    InvalidInput (exit 2) if the agent is not logged in anywhere: nothing is changed.
    """
    reason = names.reason(reason)
    ext = _known(settings, extension)
    state = backends.run(settings, lambda control: control.queue_pause(ext, True, reason))
    with db.transaction(settings.database.url) as s:
        record(s, "agent.pause", ext, reason=reason)
    return state


def unpause(settings: Settings, extension: str) -> AgentStatus:
    """Unpause the agent in every queue it is logged in to; return the PBX's state after."""
    ext = _known(settings, extension)
    state = backends.run(settings, lambda control: control.queue_pause(ext, False))
    with db.transaction(settings.database.url) as s:
        record(s, "agent.unpause", ext)
    return state


def status(settings: Settings, extension: str | None = None) -> list[AgentStatus]:
    """The PBX's state of one agent, or of every enabled agent (plus any other queue member)."""
    with db.transaction(settings.database.url) as s:
        if extension is not None:
            extension = provisioning.get_agent(s, extension).extension
            known = [extension]
        else:
            known = [a.extension for a in provisioning.list_agents(s) if a.role == Role.agent and a.enabled]
    one = extension
    snapshot = backends.run(settings, lambda control: control.queue_status(one))
    return statuses(snapshot, known, one)


def _known(settings: Settings, extension: str) -> str:
    """The extension of an existing agent (NotFound otherwise), read in a transaction of its own."""
    with db.transaction(settings.database.url) as s:
        return provisioning.get_agent(s, extension).extension
