"""Provisioning services: agents, supervisors, teams, queues, membership and scopes.

Each function works inside the caller's session (one transaction per CLI command), validates
every value through `names` first and raises InvalidInput/NotFound before changing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, credentials, names, sip_tls
from .config import Settings
from .errors import InvalidInput, NotFound
from .models import (
    Agent,
    BillingUnit,
    Employment,
    Queue,
    QueueMember,
    Role,
    Strategy,
    SupervisorScope,
    Team,
)

DEFAULT_SUPERVISOR_MODES = "listen,whisper,barge"


@dataclass(frozen=True)
class AgentSpec:
    """What a sysadmin asks for when adding an agent or supervisor (validated by `check`)."""

    extension: str
    display_name: str
    email: str = ""
    team: str | None = None
    role: Role = Role.agent
    employment: Employment = Employment.employee
    billing_rate: Decimal = Decimal("0")
    billing_unit: BillingUnit = BillingUnit.minute
    spy_modes: str | None = None
    # None: the site's default (sip.agent_transport); else tls, udp or tcp.
    transport: str | None = None


@dataclass(frozen=True)
class SoftphoneSettings:
    """Everything a home agent types into a standard softphone; the password is shown once."""

    extension: str
    display_name: str
    username: str
    password: str
    server: str
    port: int
    transport: str
    # True: the softphone must encrypt its media (SRTP with SDES keys), as every TLS agent does.
    srtp: bool
    realm: str


def _enum_value(cls: type, value: object, field: str) -> object:
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise InvalidInput(f"The {field} must be one of {choices}, got {value!r}.", field=field) from None


def parse_rate(value: object) -> Decimal:
    """A billing rate: a non-negative decimal with at most 4 decimals."""
    try:
        rate = Decimal(str(value).strip() or "0")
    except InvalidOperation:
        raise InvalidInput(f"The billing rate must be a number, got {value!r}.", field="billing rate") from None
    if not rate.is_finite() or rate < 0 or rate >= Decimal("1000000") or rate.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInput(
            f"The billing rate must be between 0 and 999999.9999 with at most 4 decimals, got {value!r}.",
            field="billing rate",
        )
    return rate


def check(spec: AgentSpec) -> AgentSpec:
    """Validate and normalise every field of an agent request."""
    role = _enum_value(Role, spec.role, "role")
    modes = spec.spy_modes
    if role == Role.supervisor:
        modes = names.spy_modes(DEFAULT_SUPERVISOR_MODES if modes is None else modes)
    elif modes:
        raise InvalidInput("Only supervisors have spy modes.", field="modes")
    return AgentSpec(
        extension=names.extension(spec.extension),
        display_name=names.display_name(spec.display_name),
        email=names.email(spec.email),
        team=names.slug(spec.team, "team") if spec.team else None,
        role=role,  # type: ignore[arg-type]
        employment=_enum_value(Employment, spec.employment, "employment model"),  # type: ignore[arg-type]
        billing_rate=parse_rate(spec.billing_rate),
        billing_unit=_enum_value(BillingUnit, spec.billing_unit, "billing unit"),  # type: ignore[arg-type]
        spy_modes=modes or "",
        transport=names.transport(spec.transport) if spec.transport is not None else None,
    )


def softphone_settings(settings: Settings, agent: Agent, password: str) -> SoftphoneSettings:
    a = settings.sip
    server = a.public_address or (a.bind_address if a.bind_address not in ("0.0.0.0", "::") else a.domain)
    return SoftphoneSettings(
        extension=agent.extension,
        display_name=agent.display_name,
        username=agent.extension,
        password=password,
        server=server,
        port={"tls": a.tls_port, "tcp": a.tcp_port}.get(agent.transport, a.udp_port),
        transport=agent.transport,
        srtp=not sip_tls.is_clear(agent.transport),
        realm=a.domain,
    )


# --- lookups -----------------------------------------------------------------------------------

def get_agent(session: Session, extension: str) -> Agent:
    ext = names.extension(extension)
    agent = session.scalar(select(Agent).where(Agent.extension == ext))
    if agent is None:
        raise NotFound(f"No agent has extension {ext}.", field="extension")
    return agent


def get_team(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == names.slug(name, "team")))
    if team is None:
        raise NotFound(f"No team is named {name!r}.", field="team")
    return team


def get_queue(session: Session, name: str) -> Queue:
    queue = session.scalar(select(Queue).where(Queue.name == names.slug(name, "queue")))
    if queue is None:
        raise NotFound(f"No queue is named {name!r}.", field="queue")
    return queue


def get_supervisor(session: Session, extension: str) -> Agent:
    agent = get_agent(session, extension)
    if not agent.is_supervisor:
        raise InvalidInput(f"Extension {agent.extension} is not a supervisor.", field="supervisor")
    return agent


def _used_extensions(session: Session) -> set[str]:
    return set(session.scalars(select(Agent.extension))) | set(session.scalars(select(Queue.extension)))


# --- agents ------------------------------------------------------------------------------------

def add_agents(
    session: Session,
    settings: Settings,
    specs: Sequence[AgentSpec],
    labels: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SoftphoneSettings]:
    """Add agents all-or-nothing; `labels` name each request in errors (e.g. "row 7")."""
    checked: list[AgentSpec] = []
    used = _used_extensions(session)
    teams = {t.name: t for t in session.scalars(select(Team))}
    for i, spec in enumerate(specs):
        label = labels[i] if labels else None
        try:
            spec = check(spec)
            if spec.extension in used:
                raise InvalidInput(f"Extension {spec.extension} is already in use.", field="extension")
            if spec.team is not None and spec.team not in teams:
                raise NotFound(f"No team is named {spec.team!r}.", field="team")
        except InvalidInput as exc:
            if label:
                raise InvalidInput(f"{label.capitalize()}: {exc}", field=exc.field) from None
            raise
        used.add(spec.extension)
        checked.append(replace(spec, transport=sip_tls.agent_transport(settings, spec.transport, spec.extension)))

    realm = settings.sip.domain
    out: list[SoftphoneSettings] = []
    for n, spec in enumerate(checked, 1):
        password = credentials.new_password()
        agent = Agent(
            extension=spec.extension,
            display_name=spec.display_name,
            email=spec.email,
            team=teams[spec.team] if spec.team else None,
            role=spec.role,
            enabled=True,
            employment=spec.employment,
            billing_rate=spec.billing_rate,
            billing_unit=spec.billing_unit,
            md5_cred=credentials.md5_cred(spec.extension, realm, password),
            realm=realm,
            spy_modes=spec.spy_modes or "",
            transport=spec.transport,
        )
        session.add(agent)
        out.append(softphone_settings(settings, agent, password))
        if progress:
            progress(n)
    if len(checked) == 1:
        audit.record(session, f"{checked[0].role.value}.add", checked[0].extension)
    else:
        audit.record(session, "agent.import", f"{len(checked)} agents", extensions=[s.extension for s in checked])
    session.flush()
    return out


def list_agents(session: Session, team: str | None = None, role: str | None = None) -> list[Agent]:
    query = select(Agent).order_by(Agent.extension)
    if team:
        query = query.where(Agent.team_id == get_team(session, team).id)
    if role:
        query = query.where(Agent.role == _enum_value(Role, role, "role"))
    return list(session.scalars(query))


def set_enabled(session: Session, extension: str, enabled: bool) -> Agent:
    agent = get_agent(session, extension)
    agent.enabled = enabled
    audit.record(session, "agent.enable" if enabled else "agent.disable", agent.extension)
    return agent


def remove_agent(session: Session, extension: str) -> None:
    agent = get_agent(session, extension)
    audit.record(session, "agent.remove", agent.extension, display_name=agent.display_name)
    session.delete(agent)


def rotate_password(session: Session, settings: Settings, extension: str) -> SoftphoneSettings:
    """Give the agent a new password (the old one stops working at the next `apply`)."""
    agent = get_agent(session, extension)
    password = credentials.new_password()
    agent.realm = settings.sip.domain
    agent.md5_cred = credentials.md5_cred(agent.extension, agent.realm, password)
    audit.record(session, "agent.passwd", agent.extension)
    return softphone_settings(settings, agent, password)


def update_agent(
    session: Session,
    extension: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    team: str | None = None,
    clear_team: bool = False,
    employment: str | None = None,
    billing_rate: str | None = None,
    billing_unit: str | None = None,
    spy_modes: str | None = None,
    transport: str | None = None,
    settings: Settings | None = None,
) -> Agent:
    """Change an agent's details; each given value is validated first.

    A new `transport` is checked against the site's `settings` (clear text may be forbidden);
    the softphone must be given the new settings (`agent onboarding`) before the next apply.
    """
    agent = get_agent(session, extension)
    changes: dict[str, object] = {}
    if display_name is not None:
        changes["display_name"] = names.display_name(display_name)
    if email is not None:
        changes["email"] = names.email(email)
    if team is not None:
        changes["team"] = get_team(session, team)
    elif clear_team:
        changes["team"] = None
    if employment is not None:
        changes["employment"] = _enum_value(Employment, employment, "employment model")
    if billing_rate is not None:
        changes["billing_rate"] = parse_rate(billing_rate)
    if billing_unit is not None:
        changes["billing_unit"] = _enum_value(BillingUnit, billing_unit, "billing unit")
    if spy_modes is not None:
        if not agent.is_supervisor:
            raise InvalidInput("Only supervisors have spy modes.", field="modes")
        changes["spy_modes"] = names.spy_modes(spy_modes)
    if transport is not None:
        if settings is None:
            raise TypeError("update_agent needs the settings to change a transport")
        changes["transport"] = sip_tls.agent_transport(settings, transport, agent.extension)
    for key, value in changes.items():
        setattr(agent, key, value)
    audit.record(session, "agent.update", agent.extension, fields=sorted(changes))
    return agent


# --- teams -------------------------------------------------------------------------------------

def add_team(session: Session, name: str, description: str = "") -> Team:
    name = names.slug(name, "team")
    if session.scalar(select(Team).where(Team.name == name)):
        raise InvalidInput(f"A team named {name!r} already exists.", field="team")
    team = Team(name=name, description=names.free_text(description, "description", 200, allow_empty=True))
    session.add(team)
    audit.record(session, "team.add", name)
    return team


def list_teams(session: Session) -> list[tuple[Team, int]]:
    counts = dict(session.execute(select(Agent.team_id, func.count()).group_by(Agent.team_id)).all())
    return [(t, counts.get(t.id, 0)) for t in session.scalars(select(Team).order_by(Team.name))]


def remove_team(session: Session, name: str) -> None:
    team = get_team(session, name)
    members = session.scalar(select(func.count()).select_from(Agent).where(Agent.team_id == team.id))
    if members:
        raise InvalidInput(f"Team {team.name!r} still has {members} agent(s): move or remove them first.", field="team")
    audit.record(session, "team.remove", team.name)
    session.delete(team)


# --- queues ------------------------------------------------------------------------------------

def add_queue(
    session: Session,
    name: str,
    extension: str,
    strategy: str = "rrmemory",
    ring_timeout: int = 15,
    max_wait: int = 300,
    wrapup_time: int = 10,
    service_level: int = 20,
    record: bool = False,
) -> Queue:
    name = names.slug(name, "queue")
    ext = names.extension(extension, "queue extension")
    if session.scalar(select(Queue).where(Queue.name == name)):
        raise InvalidInput(f"A queue named {name!r} already exists.", field="queue")
    if ext in _used_extensions(session):
        raise InvalidInput(f"Extension {ext} is already in use.", field="queue extension")
    queue = Queue(
        name=name,
        extension=ext,
        strategy=_enum_value(Strategy, strategy, "strategy"),
        ring_timeout=names.integer(ring_timeout, "ring timeout", 1, 600),
        max_wait=names.integer(max_wait, "maximum wait", 0, 86400),
        wrapup_time=names.integer(wrapup_time, "wrap-up time", 0, 3600),
        service_level=names.integer(service_level, "service level", 1, 3600),
        record=record,
    )
    session.add(queue)
    audit.record(session, "queue.add", name, extension=ext)
    return queue


def list_queues(session: Session) -> list[tuple[Queue, int]]:
    counts = dict(session.execute(select(QueueMember.queue_id, func.count()).group_by(QueueMember.queue_id)).all())
    return [(q, counts.get(q.id, 0)) for q in session.scalars(select(Queue).order_by(Queue.name))]


def remove_queue(session: Session, name: str) -> None:
    queue = get_queue(session, name)
    audit.record(session, "queue.remove", queue.name)
    session.delete(queue)


def add_members(session: Session, queue_name: str, extensions: Iterable[str], penalty: int = 0) -> list[QueueMember]:
    queue = get_queue(session, queue_name)
    penalty = names.integer(penalty, "penalty", 0, 100)
    existing = {m.agent_id: m for m in queue.members}
    added = []
    for ext in extensions:
        agent = get_agent(session, ext)
        if agent.id in existing:
            existing[agent.id].penalty = penalty
            continue
        member = QueueMember(queue=queue, agent=agent, penalty=penalty)
        session.add(member)
        added.append(member)
        existing[agent.id] = member
    audit.record(session, "queue.member.add", queue.name, extensions=list(extensions), penalty=penalty)
    return added


def remove_members(session: Session, queue_name: str, extensions: Iterable[str]) -> None:
    queue = get_queue(session, queue_name)
    by_agent = {m.agent.extension: m for m in queue.members}
    for ext in extensions:
        agent = get_agent(session, ext)
        if agent.extension not in by_agent:
            raise NotFound(f"Agent {agent.extension} is not a member of queue {queue.name!r}.", field="extension")
        session.delete(by_agent[agent.extension])
    audit.record(session, "queue.member.remove", queue.name, extensions=list(extensions))


# --- supervisor scopes -------------------------------------------------------------------------

def add_scope(session: Session, supervisor: str, team: str) -> None:
    sup = get_supervisor(session, supervisor)
    t = get_team(session, team)
    if session.get(SupervisorScope, (sup.id, t.id)) is None:
        session.add(SupervisorScope(supervisor=sup, team=t))
    audit.record(session, "supervisor.scope.add", sup.extension, team=t.name)


def remove_scope(session: Session, supervisor: str, team: str) -> None:
    sup = get_supervisor(session, supervisor)
    t = get_team(session, team)
    scope = session.get(SupervisorScope, (sup.id, t.id))
    if scope is None:
        raise NotFound(f"Supervisor {sup.extension} has no scope on team {t.name!r}.", field="team")
    session.delete(scope)
    audit.record(session, "supervisor.scope.remove", sup.extension, team=t.name)


def list_scopes(session: Session, supervisor: str | None = None) -> list[tuple[Agent, Team]]:
    query = (
        select(Agent, Team)
        .join(SupervisorScope, SupervisorScope.supervisor_id == Agent.id)
        .join(Team, Team.id == SupervisorScope.team_id)
        .order_by(Agent.extension, Team.name)
    )
    if supervisor:
        query = query.where(Agent.id == get_supervisor(session, supervisor).id)
    return [(a, t) for a, t in session.execute(query).all()]
