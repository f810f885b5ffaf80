"""The site model: everything the templates need, read from the database in one query per table.

The templates never touch the ORM: they get plain frozen dataclasses, already sorted, so the
output depends only on the rows (not on insertion order, lazy loading or the database's
collation). Rows are re-checked here with cheap patterns: a value that skipped `names`
validation on the way in must not reach the dialplan.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InvalidInput
from .models import Agent, Queue, QueueMember, Role, SupervisorScope, Team
from .pbx import SPY_MODES

_EXTENSION = re.compile(r"[0-9]{2,10}")
_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_REALM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class AgentView:
    """An enabled SIP account (agent or supervisor)."""

    extension: str
    display_name: str
    md5_cred: str
    realm: str
    is_supervisor: bool
    team: str | None


@dataclass(frozen=True)
class TeamView:
    name: str
    # Enabled agents (not supervisors) of the team, by extension: the spy targets.
    agents: tuple[str, ...]


@dataclass(frozen=True)
class SupervisorView:
    extension: str
    # Allowed modes, in SPY_MODES order.
    modes: tuple[str, ...]
    # Teams in scope, by name.
    teams: tuple[str, ...]


@dataclass(frozen=True)
class MemberView:
    extension: str
    penalty: int


@dataclass(frozen=True)
class QueueView:
    name: str
    extension: str
    strategy: str
    ring_timeout: int
    max_wait: int
    wrapup_time: int
    service_level: int
    record: bool
    # Static membership, kept for later (agents join dynamically with AMI QueueAdd).
    members: tuple[MemberView, ...]


@dataclass(frozen=True)
class Site:
    agents: tuple[AgentView, ...]
    teams: tuple[TeamView, ...]
    supervisors: tuple[SupervisorView, ...]
    queues: tuple[QueueView, ...]


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise InvalidInput(f"The database holds an invalid {what} {value!r}: fix it before rendering.", field=what)
    return value


def _modes(raw: str) -> tuple[str, ...]:
    wanted = {m.strip() for m in raw.split(",") if m.strip()}
    unknown = wanted - set(SPY_MODES)
    if unknown:
        raise InvalidInput(f"The database holds an unknown spy mode {sorted(unknown)[0]!r}.", field="spy_modes")
    return tuple(m for m in SPY_MODES if m in wanted)


def load_site(session: Session) -> Site:
    """Read the provisioning state into a Site (five queries, whatever the number of rows)."""
    team_names = {tid: _check(_SLUG, name, "team name") for tid, name in session.execute(select(Team.id, Team.name))}

    agent_rows = session.execute(
        select(
            Agent.id,
            Agent.extension,
            Agent.display_name,
            Agent.md5_cred,
            Agent.realm,
            Agent.role,
            Agent.team_id,
            Agent.spy_modes,
        ).where(Agent.enabled.is_(True))
    ).all()
    agents: list[AgentView] = []
    ext_by_id: dict[int, str] = {}
    team_agents: dict[str, list[str]] = defaultdict(list)
    sup_modes: dict[int, tuple[str, ...]] = {}
    for aid, ext, name, md5, realm, role, team_id, spy in agent_rows:
        ext = _check(_EXTENSION, ext, "extension")
        is_sup = role == Role.supervisor
        team = team_names.get(team_id) if team_id is not None else None
        agents.append(
            AgentView(
                extension=ext,
                display_name=name,
                md5_cred=_check(_MD5, md5.lower(), "md5_cred"),
                realm=_check(_REALM, realm, "realm"),
                is_supervisor=is_sup,
                team=team,
            )
        )
        ext_by_id[aid] = ext
        if is_sup:
            sup_modes[aid] = _modes(spy)
        elif team is not None:
            team_agents[team].append(ext)
    agents.sort(key=lambda a: a.extension)

    scopes: dict[int, list[str]] = defaultdict(list)
    for sup_id, team_id in session.execute(select(SupervisorScope.supervisor_id, SupervisorScope.team_id)):
        if sup_id in sup_modes and team_id in team_names:
            scopes[sup_id].append(team_names[team_id])
    supervisors = sorted(
        (
            SupervisorView(extension=ext_by_id[sid], modes=modes, teams=tuple(sorted(scopes.get(sid, ()))))
            for sid, modes in sup_modes.items()
        ),
        key=lambda s: s.extension,
    )

    members: dict[int, list[MemberView]] = defaultdict(list)
    for queue_id, agent_id, penalty in session.execute(
        select(QueueMember.queue_id, QueueMember.agent_id, QueueMember.penalty)
    ):
        if agent_id in ext_by_id:  # disabled agents are not members
            members[queue_id].append(MemberView(ext_by_id[agent_id], int(penalty)))

    queues = sorted(
        (
            QueueView(
                name=_check(_SLUG, q.name, "queue name"),
                extension=_check(_EXTENSION, q.extension, "queue extension"),
                strategy=q.strategy.value,
                ring_timeout=int(q.ring_timeout),
                max_wait=int(q.max_wait),
                wrapup_time=int(q.wrapup_time),
                service_level=int(q.service_level),
                record=bool(q.record),
                members=tuple(sorted(members.get(q.id, ()), key=lambda m: m.extension)),
            )
            for q in session.execute(
                select(
                    Queue.id,
                    Queue.name,
                    Queue.extension,
                    Queue.strategy,
                    Queue.ring_timeout,
                    Queue.max_wait,
                    Queue.wrapup_time,
                    Queue.service_level,
                    Queue.record,
                )
            )
        ),
        key=lambda q: q.name,
    )

    clash = sorted({q.extension for q in queues} & set(ext_by_id.values()))
    if clash:
        # The agents' context includes the queues' one: a clash would make the queue unreachable.
        raise InvalidInput(f"The extension {clash[0]} is used by both a queue and an agent.", field="extension")

    teams = tuple(TeamView(name, tuple(sorted(team_agents.get(name, ())))) for name in sorted(team_names.values()))
    return Site(agents=tuple(agents), teams=teams, supervisors=tuple(supervisors), queues=tuple(queues))
