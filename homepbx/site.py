"""The site model: everything the templates need, read from the database in one query per table.

The templates never touch the ORM: they get plain frozen dataclasses, already sorted, so the
output depends only on the rows (not on insertion order, lazy loading or the database's
collation). Rows are re-checked here with cheap patterns: a value that skipped `names`
validation on the way in must not reach the dialplan.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InvalidInput
from .models import Agent, Number, Queue, QueueMember, Role, Schedule, SupervisorScope, Team, Trunk
from .pbx import SPY_MODES

_EXTENSION = re.compile(r"[0-9]{2,10}")
_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_REALM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_HOST_PORT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?")
_SIP_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~+-]{0,63}")
_NETWORK = re.compile(r"[0-9a-fA-F.:]+/[0-9]{1,3}")
_SOUND = re.compile(r"/?[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
_CODEC = re.compile(r"[a-z0-9]{2,10}")
_TRANSPORT = re.compile(r"udp|tcp|tls")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*")


@dataclass(frozen=True)
class AgentView:
    """An enabled SIP account (agent or supervisor)."""

    extension: str
    display_name: str
    md5_cred: str
    realm: str
    is_supervisor: bool
    team: str | None
    # "tls" (TLS signalling, SRTP media: mandatory) or a clear-text "udp"/"tcp".
    transport: str = "tls"

    @property
    def srtp(self) -> bool:
        """True when the agent's media must be SRTP (every TLS agent)."""
        return self.transport == "tls"


@dataclass(frozen=True)
class TeamView:
    name: str
    # Enabled agents (not supervisors) of the team, by extension: the spy targets.
    agents: tuple[str, ...]
    # Outbound calls (homepbx.dialing): the policy, premium/short numbers, the caller id ('' = trunk's).
    outbound: str = "none"
    premium: bool = False
    caller_id: str = ""


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
    # At the maximum wait or with no agent logged in: hangup (politely) | queue | message.
    overflow: str = "hangup"
    # The overflow queue's extension, or the message's sound file.
    overflow_target: str = ""


@dataclass(frozen=True)
class TrunkView:
    """A carrier trunk (PJSIP objects `trunk-<name>`); md5_cred is the digest credential."""

    name: str
    mode: str  # register | ip
    host: str
    port: int
    transport: str
    username: str
    realm: str
    md5_cred: str
    match: tuple[str, ...]
    outbound_proxy: str
    codecs: tuple[str, ...]
    max_channels: int
    caller_id: str
    outbound: bool


@dataclass(frozen=True)
class ScheduleView:
    """Opening hours: weekly rules (days text, ranges as HH:MM-HH:MM, end excluded) in a zone."""

    name: str
    timezone: str
    rules: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]
    # Public holidays of the rendered years and one-off closures, as YYYYMMDD.
    closed: tuple[str, ...]


@dataclass(frozen=True)
class NumberView:
    """A public number: the forms a carrier may send it in, and where its callers go."""

    e164: str
    # E.164, E.164 without `+`, and the national form (`0140000000`), no duplicates.
    forms: tuple[str, ...]
    trunk: str
    route: str  # queue | agent | closed
    target: str  # the queue's or agent's extension
    schedule: str  # '' = always open
    closed_sound: str
    closed_queue: str  # the extension of the queue callers go to when closed, '' = the message


@dataclass(frozen=True)
class Site:
    agents: tuple[AgentView, ...]
    teams: tuple[TeamView, ...]
    supervisors: tuple[SupervisorView, ...]
    queues: tuple[QueueView, ...]
    trunks: tuple[TrunkView, ...] = ()
    schedules: tuple[ScheduleView, ...] = ()
    numbers: tuple[NumberView, ...] = ()


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


def load_site(session: Session, region: str = "FR", today: date | None = None) -> Site:
    """Read the provisioning state into a Site (one query per table, whatever the number of rows).

    `region` gives numbers their national form; `today` the years whose holidays are rendered.
    """
    team_rows = session.execute(select(Team.id, Team.name, Team.outbound, Team.outbound_premium,
                                       Team.caller_id)).all()
    team_names = {tid: _check(_SLUG, name, "team name") for tid, name, *_ in team_rows}

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
            Agent.transport,
        ).where(Agent.enabled.is_(True))
    ).all()
    agents: list[AgentView] = []
    ext_by_id: dict[int, str] = {}
    team_agents: dict[str, list[str]] = defaultdict(list)
    sup_modes: dict[int, tuple[str, ...]] = {}
    for aid, ext, name, md5, realm, role, team_id, spy, transport in agent_rows:
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
                transport=_check(_TRANSPORT, transport, "transport"),
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
                overflow=_check(_OVERFLOW, q.overflow, "queue overflow"),
                overflow_target=q.overflow_target,
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
                    Queue.overflow,
                    Queue.overflow_target,
                )
            )
        ),
        key=lambda q: q.name,
    )

    queues = [_overflow(q, {x.name: x.extension for x in queues}) for q in queues]

    clash = sorted({q.extension for q in queues} & set(ext_by_id.values()))
    if clash:
        # The agents' context includes the queues' one: a clash would make the queue unreachable.
        raise InvalidInput(f"The extension {clash[0]} is used by both a queue and an agent.", field="extension")

    policies = {name: (_check(_POLICY, out or "none", "outbound policy"), bool(premium),
                       _check(_E164, cid, "caller id") if cid else "")
                for _, name, out, premium, cid in team_rows}
    teams = tuple(TeamView(name, tuple(sorted(team_agents.get(name, ()))), *policies[name])
                  for name in sorted(team_names.values()))
    trunks, schedules, numbers = _carrier(session, {q.name: q.extension for q in queues}, region,
                                          today or date.today())
    return Site(agents=tuple(agents), teams=teams, supervisors=tuple(supervisors), queues=tuple(queues),
                trunks=trunks, schedules=schedules, numbers=numbers)


def _overflow(q: QueueView, ext_of: dict[str, str]) -> QueueView:
    """The overflow target as the dialplan needs it: a queue's extension or a checked sound."""
    if q.overflow == "queue":
        ext = ext_of.get(q.overflow_target, "")
        # A removed overflow queue leaves the polite hang-up.
        return replace(q, overflow_target=ext) if ext else replace(q, overflow="hangup", overflow_target="")
    if q.overflow == "message":
        return replace(q, overflow_target=_check(_SOUND, q.overflow_target or "ss-noservice", "overflow message"))
    return replace(q, overflow_target="")


_POLICY = re.compile(r"none|national|mobile|international")
_OVERFLOW = re.compile(r"hangup|queue|message")


def _carrier(session: Session, queue_ext: dict[str, str], region: str, today: date
             ) -> tuple[tuple[TrunkView, ...], tuple[ScheduleView, ...], tuple[NumberView, ...]]:
    """Trunks, schedules and numbers (three queries), checked like the rest."""
    from . import hours

    trunk_names: dict[int, str] = {}
    trunks: list[TrunkView] = []
    for t in session.scalars(select(Trunk)):
        name = _check(_SLUG, t.name, "trunk name")
        trunk_names[t.id] = name
        trunks.append(TrunkView(
            name=name, mode=_check(re.compile("register|ip"), t.mode, "trunk mode"),
            host=_check(_HOST, t.host, "trunk host"), port=int(t.port),
            transport=_check(re.compile("udp|tcp|tls"), t.transport, "trunk transport"),
            username=_check(_SIP_USER, t.username, "trunk username") if t.username else "",
            realm=_check(_HOST, t.realm, "trunk realm") if t.realm else "",
            md5_cred=_check(_MD5, t.md5_cred, "trunk md5_cred") if t.md5_cred else "",
            match=tuple(_check(_NETWORK, m, "trunk match") for m in t.match.split(",") if m),
            outbound_proxy=_check(_HOST_PORT, t.outbound_proxy, "outbound proxy") if t.outbound_proxy else "",
            codecs=tuple(_check(_CODEC, c, "codec") for c in t.codecs.split(",") if c),
            max_channels=int(t.max_channels), caller_id=_check(_E164, t.caller_id, "caller id") if t.caller_id else "",
            outbound=bool(t.outbound),
        ))
    trunks.sort(key=lambda t: t.name)

    years = hours.render_years(today)
    sched_names: dict[int, str] = {}
    schedules: list[ScheduleView] = []
    for s in session.scalars(select(Schedule)):
        name = _check(_SLUG, s.name, "schedule name")
        sched_names[s.id] = name
        rules = hours.parse_weekly(s.weekly)
        schedules.append(ScheduleView(
            name=name, timezone=_check(_ZONE, s.timezone, "time zone"),
            rules=tuple((hours.days_text(r.days), tuple((x.start, x.end) for x in r.ranges)) for r in rules),
            closed=tuple(d.strftime("%Y%m%d") for d in hours.closed_dates(s.holidays, s.closures, years)),
        ))
    schedules.sort(key=lambda s: s.name)

    national_prefix, country_code = _numbering(region)
    numbers: list[NumberView] = []
    for n in session.scalars(select(Number)):
        e164 = _check(_E164, n.e164, "public number")
        forms = [e164, e164[1:]]
        if e164.startswith("+" + country_code):
            forms.append(national_prefix + e164[1 + len(country_code):])
        if n.route == "queue":
            target = queue_ext.get(n.target, "")
            if not target:
                raise InvalidInput(f"The number {e164} goes to a queue that no longer exists.", field="number")
        elif n.route == "agent":
            target = _check(_EXTENSION, n.target, "number target")
        else:
            target = ""
        closed_queue = queue_ext.get(n.closed_queue, "") if n.closed_queue else ""
        numbers.append(NumberView(
            e164=e164, forms=tuple(dict.fromkeys(forms)), trunk=trunk_names[n.trunk_id],
            route=_check(re.compile("queue|agent|closed"), n.route, "number route"), target=target,
            schedule=sched_names.get(n.schedule_id, "") if n.schedule_id is not None else "",
            closed_sound=_check(_SOUND, n.closed_sound, "closed message") if n.closed_sound else "ss-noservice",
            closed_queue=closed_queue,
        ))
    numbers.sort(key=lambda n: n.e164)
    return tuple(trunks), tuple(schedules), tuple(numbers)


def _numbering(region: str) -> tuple[str, str]:
    """The region's national prefix ("0" in FR) and country code ("33")."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if meta is None:
        raise InvalidInput(f"The setting carrier.region {region!r} is not a known region.", field="carrier.region")
    return meta.national_prefix or "", str(meta.country_code)
