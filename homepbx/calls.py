"""Calls in progress: list them, transfer one to an agent or a queue, hang one up.

The services own each command's order: read the database (the agent exists, the target
resolves) and close the session; ask the PBX (`homepbx.backends`); then write the audit entry
in a new session. No transaction stays open while the PBX works, and a refused request leaves
no audit entry. What a call is, and how a transfer moves its recording, is the backend's
business (for Asterisk: homepbx.asterisk.calls).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, backends, db, names, provisioning
from .config import Settings
from .errors import InvalidInput, NotFound
from .models import Agent, Queue
from .pbx import Control, LiveCall, Target


def site_names(session: Session) -> tuple[set[str], dict[str, str]]:
    """Agent extensions and queue extension -> name, to label live calls."""
    agents = set(session.scalars(select(Agent.extension)))
    queues = {q.extension: q.name for q in session.scalars(select(Queue))}
    return agents, queues


def resolve_target(session: Session, value: str) -> Target:
    """An enabled agent's extension, a queue's extension or a queue's name; NotFound otherwise."""
    value = names.transfer_target(value)
    if value[:1].isdigit():
        agent = session.scalar(select(Agent).where(Agent.extension == value))
        if agent is not None:
            if not agent.enabled:
                raise InvalidInput(f"Agent {value} is disabled and cannot take calls.", field="target")
            return Target(value, f"agent {value}", agent=value)
        queue = session.scalar(select(Queue).where(Queue.extension == value))
        if queue is None:
            raise NotFound(f"No agent or queue has extension {value}.", field="target")
    else:
        queue = session.scalar(select(Queue).where(Queue.name == value))
        if queue is None:
            raise NotFound(f"No queue is named {value!r}.", field="target")
    return Target(queue.extension, f"queue {queue.name}", max_wait=queue.max_wait)


def check_agent(settings: Settings, agent: str) -> str:
    """The agent's extension, checked against the database (NotFound if unknown); session closed."""
    agent = names.extension(agent, "agent")
    with db.transaction(settings.database.url) as session:
        provisioning.get_agent(session, agent)
    return agent


def list_calls(settings: Settings) -> list[LiveCall]:
    """Every call in progress on the site's PBX, labelled with the site's agents and queues."""
    with db.transaction(settings.database.url) as session:
        agents, queues = site_names(session)
    return backends.run(settings, lambda control: control.live_calls(agents, queues))


def transfer(settings: Settings, agent: str, target_text: str, attended: bool) -> Target:
    """Transfer agent `agent`'s caller to `target_text` (an agent, a queue's extension or name).

    Blind: the caller leaves at once. Attended: the caller waits on hold while the agent talks to
    the target; the agent hanging up completes it. A running recording follows the caller.
    """
    agent = names.extension(agent, "agent")
    with db.transaction(settings.database.url) as session:
        provisioning.get_agent(session, agent)
        target = resolve_target(session, target_text)

    async def work(control: Control) -> None:
        await control.transfer(agent, target, attended=attended)

    backends.run(settings, work)
    with db.transaction(settings.database.url) as session:
        audit.record(session, "call.transfer", agent, to=target.label, attended=attended)
    return target


def hangup(settings: Settings, agent: str) -> int:
    """End agent `agent`'s call for everyone on it; return how many parties were hung up."""
    agent = check_agent(settings, agent)
    gone = backends.run(settings, lambda control: control.hangup(agent))
    with db.transaction(settings.database.url) as session:
        audit.record(session, "call.hangup", agent, parties=gone)
    return gone
