"""Carrier-side services: trunks, public numbers, opening hours, outbound policies, overflow.

Like `provisioning`, each function works in the caller's session (one transaction per command),
checks every value through `names` / `hours` / `dialing` first, and raises InvalidInput or
NotFound before anything changes. A trunk's secret arrives as an argument read by the CLI from
standard input or a file, is turned into its digest credential at once and never returned.
`trunk_status` is the one that reaches the PBX: it reads nothing from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, credentials, dialing, hours, names
from .config import Settings
from .errors import InvalidInput, NotFound
from .models import Agent, Number, Queue, Schedule, Team, Trunk

ROUTES = ("queue", "agent", "closed")
OVERFLOWS = ("hangup", "queue", "message")
DEFAULT_CLOSED_SOUND = "ss-noservice"


# --- trunks ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrunkSpec:
    """A trunk as the sysadmin asks for it; None leaves a field as it is (update)."""

    host: str | None = None
    port: int | None = None
    transport: str | None = None
    username: str | None = None
    realm: str | None = None
    match: str | None = None
    outbound_proxy: str | None = None
    codecs: str | None = None
    max_channels: int | None = None
    caller_id: str | None = None
    outbound: bool | None = None


def get_trunk(session: Session, name: str) -> Trunk:
    trunk = session.scalar(select(Trunk).where(Trunk.name == names.trunk_name(name)))
    if trunk is None:
        raise NotFound(f"No trunk is named {name!r}.", field="trunk")
    return trunk


def _apply_trunk(trunk: Trunk, spec: TrunkSpec, region: str) -> list[str]:
    changed: list[str] = []

    def put(field: str, value: Any) -> None:
        setattr(trunk, field, value)
        changed.append(field)

    if spec.host is not None:
        put("host", names.hostname(spec.host, "host"))
    if spec.port is not None:
        put("port", names.integer(spec.port, "port", 1, 65535))
    if spec.transport is not None:
        put("transport", names.transport(spec.transport))
    if spec.username is not None:
        put("username", names.sip_user(spec.username) if spec.username else "")
    if spec.realm is not None:
        put("realm", names.hostname(spec.realm, "realm") if spec.realm else "")
    if spec.match is not None:
        put("match", names.networks(spec.match) if spec.match else "")
    if spec.outbound_proxy is not None:
        put("outbound_proxy", names.host_port(spec.outbound_proxy, "outbound proxy") if spec.outbound_proxy else "")
    if spec.codecs is not None:
        put("codecs", names.codecs(spec.codecs))
    if spec.max_channels is not None:
        put("max_channels", names.integer(spec.max_channels, "channel limit", 0, 10000))
    if spec.caller_id is not None:
        put("caller_id", names.phone_number(spec.caller_id, region, "caller id") if spec.caller_id else "")
    if spec.outbound is not None:
        put("outbound", bool(spec.outbound))
    return changed


def _check_mode(trunk: Trunk) -> None:
    if trunk.mode == "register":
        if not trunk.username or not trunk.md5_cred:
            raise InvalidInput("A registering trunk needs a username and a secret.", field="username")
    elif not trunk.match:
        raise InvalidInput("A trunk that does not register needs --match: the addresses the carrier sends from.",
                           field="match")


def add_trunk(session: Session, settings: Settings, name: str, spec: TrunkSpec, secret: str | None = None) -> Trunk:
    """Add a trunk: registering when a username is given (secret required), else matched by address."""
    name = names.trunk_name(name)
    if session.scalar(select(Trunk).where(Trunk.name == name)):
        raise InvalidInput(f"A trunk named {name!r} already exists.", field="trunk")
    if spec.host is None:
        raise InvalidInput("A trunk needs --host: the carrier's host name or address.", field="host")
    trunk = Trunk(name=name, mode="register" if spec.username else "ip", port=5060, transport="udp", username="",
                  realm="", md5_cred="", match="", outbound_proxy="", codecs="alaw,ulaw", max_channels=0,
                  caller_id="", outbound=True)
    _apply_trunk(trunk, spec, settings.carrier.region)
    if trunk.mode == "register":
        trunk.realm = trunk.realm or trunk.host
        if not secret:
            raise InvalidInput("A registering trunk needs its secret on standard input or with --secret-file.",
                               field="secret")
        trunk.md5_cred = _md5(trunk, secret)
    elif secret:
        raise InvalidInput("Only a registering trunk (--username) has a secret.", field="secret")
    _check_mode(trunk)
    session.add(trunk)
    audit.record(session, "trunk.add", name, mode=trunk.mode, host=trunk.host)
    return trunk


def _md5(trunk: Trunk, secret: str) -> str:
    secret = secret.rstrip("\r\n")
    if not secret or any(ord(c) < 0x20 for c in secret) or len(secret) > 128:
        raise InvalidInput("The trunk secret must be 1 to 128 characters on one line.", field="secret")
    return credentials.md5_cred(trunk.username, trunk.realm, secret)


def update_trunk(session: Session, settings: Settings, name: str, spec: TrunkSpec,
                 secret: str | None = None) -> Trunk:
    """Change a trunk; a new username or realm needs the secret again (the credential covers them)."""
    trunk = get_trunk(session, name)
    changed = _apply_trunk(trunk, spec, settings.carrier.region)
    if trunk.mode == "register":
        if ("username" in changed or "realm" in changed) and not secret:
            raise InvalidInput("A new username or realm needs the secret again (standard input or --secret-file).",
                               field="secret")
        if secret:
            trunk.md5_cred = _md5(trunk, secret)
            changed.append("secret")
    elif secret or trunk.username:
        raise InvalidInput("Only a registering trunk has a username and a secret.", field="secret")
    _check_mode(trunk)
    audit.record(session, "trunk.update", trunk.name, fields=sorted(changed))
    return trunk


def remove_trunk(session: Session, name: str) -> None:
    trunk = get_trunk(session, name)
    used = session.scalar(select(func.count()).select_from(Number).where(Number.trunk_id == trunk.id))
    if used:
        raise InvalidInput(f"Trunk {trunk.name!r} still carries {used} number(s): move or remove them first.",
                           field="trunk")
    audit.record(session, "trunk.remove", trunk.name)
    session.delete(trunk)


def list_trunks(session: Session) -> list[Trunk]:
    return list(session.scalars(select(Trunk).order_by(Trunk.name)))


def trunk_row(t: Trunk) -> dict[str, Any]:
    """What listings show of a trunk: never the secret or its digest credential."""
    return {
        "name": t.name, "mode": t.mode, "host": t.host, "port": t.port, "transport": t.transport,
        "username": t.username, "realm": t.realm, "match": t.match, "outbound_proxy": t.outbound_proxy,
        "codecs": t.codecs, "max_channels": t.max_channels, "caller_id": t.caller_id, "outbound": t.outbound,
    }


def trunk_status(settings: Settings) -> list[dict[str, Any]]:
    """Registration and qualify state of every trunk, as the PBX reports it (names as rendered)."""
    from . import backends

    async def work(control: Any) -> list[Any]:
        return list(await control.trunk_status())

    return [s.as_dict() for s in backends.run(settings, work)]


# --- schedules ---------------------------------------------------------------------------------------

def get_schedule(session: Session, name: str) -> Schedule:
    sched = session.scalar(select(Schedule).where(Schedule.name == names.slug(name, "schedule")))
    if sched is None:
        raise NotFound(f"No opening hours are named {name!r}.", field="schedule")
    return sched


def add_schedule(session: Session, name: str, weekly: list[str] | tuple[str, ...], tz: str = "Europe/Paris",
                 holidays: str = hours.DEFAULT_COUNTRY, closed: list[str] | tuple[str, ...] = ()) -> Schedule:
    """Add named opening hours: weekly spec(s), time zone, holidays' country, one-off closures."""
    name = names.slug(name, "schedule")
    if session.scalar(select(Schedule).where(Schedule.name == name)):
        raise InvalidInput(f"Opening hours named {name!r} already exist.", field="schedule")
    rules = hours.parse_weekly("; ".join(weekly))
    sched = Schedule(name=name, timezone=hours.timezone(tz), weekly=hours.canonical(rules),
                     holidays=hours.country(holidays), closures=hours.closure_dates(list(closed)))
    session.add(sched)
    audit.record(session, "hours.add", name, weekly=sched.weekly, timezone=sched.timezone)
    return sched


def update_schedule(session: Session, name: str, *, weekly: list[str] | tuple[str, ...] = (), tz: str | None = None,
                    holidays: str | None = None, close: list[str] | tuple[str, ...] = (),
                    reopen: list[str] | tuple[str, ...] = ()) -> Schedule:
    """Change opening hours; `close`/`reopen` add or take back one-off closure dates."""
    sched = get_schedule(session, name)
    if weekly:
        sched.weekly = hours.canonical(hours.parse_weekly("; ".join(weekly)))
    if tz is not None:
        sched.timezone = hours.timezone(tz)
    if holidays is not None:
        sched.holidays = hours.country(holidays)
    dates = set(filter(None, sched.closures.split(",")))
    dates |= set(filter(None, hours.closure_dates(list(close)).split(",")))
    dates -= set(filter(None, hours.closure_dates(list(reopen)).split(",")))
    sched.closures = ",".join(sorted(dates))
    audit.record(session, "hours.update", sched.name)
    return sched


def remove_schedule(session: Session, name: str) -> None:
    sched = get_schedule(session, name)
    used = session.scalar(select(func.count()).select_from(Number).where(Number.schedule_id == sched.id))
    if used:
        raise InvalidInput(f"Opening hours {sched.name!r} are used by {used} number(s).", field="schedule")
    audit.record(session, "hours.remove", sched.name)
    session.delete(sched)


def list_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.name)))


def schedule_row(s: Schedule, now: datetime | None = None) -> dict[str, Any]:
    """A schedule for listings, with whether it is open now (or at `now`)."""
    at = now or datetime.now(timezone.utc)
    local_year = at.astimezone(ZoneInfo(s.timezone)).year
    closed = hours.closed_dates(s.holidays, s.closures, (local_year,))
    return {"name": s.name, "timezone": s.timezone, "weekly": s.weekly, "holidays": s.holidays or "none",
            "closed": s.closures, "open_now": hours.is_open(hours.parse_weekly(s.weekly), s.timezone,
                                                             frozenset(closed), at)}


# --- numbers -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NumberSpec:
    trunk: str | None = None
    route: str | None = None  # queue | agent | closed
    target: str | None = None
    schedule: str | None = None  # '' = always open
    closed_sound: str | None = None
    closed_queue: str | None = None  # '' = none (the message)
    label: str | None = None


def get_number(session: Session, settings: Settings, number: str) -> Number:
    e164 = names.phone_number(number, settings.carrier.region)
    row = session.scalar(select(Number).where(Number.e164 == e164))
    if row is None:
        raise NotFound(f"No public number {e164} is provisioned.", field="number")
    return row


def _queue(session: Session, name: str, field: str) -> str:
    name = names.slug(name, field)
    if session.scalar(select(Queue.id).where(Queue.name == name)) is None:
        raise NotFound(f"The {field} {name!r} does not exist.", field=field)
    return name


def _apply_number(session: Session, row: Number, spec: NumberSpec) -> list[str]:
    changed: list[str] = []
    if spec.trunk is not None:
        row.trunk = get_trunk(session, spec.trunk)
        changed.append("trunk")
    if spec.route is not None:
        route = spec.route.strip().lower()
        if route not in ROUTES:
            raise InvalidInput(f"The route must be one of {', '.join(ROUTES)}, got {spec.route!r}.", field="route")
        row.route = route
        changed.append("route")
    if spec.target is not None or "route" in changed:
        target = spec.target if spec.target is not None else row.target
        if row.route == "queue":
            row.target = _queue(session, target or "", "queue")
        elif row.route == "agent":
            ext = names.extension(target or "", "agent")
            if session.scalar(select(Agent.id).where(Agent.extension == ext)) is None:
                raise NotFound(f"No agent has extension {ext}.", field="agent")
            row.target = ext
        else:
            row.target = ""
        changed.append("target")
    if spec.schedule is not None:
        row.schedule = get_schedule(session, spec.schedule) if spec.schedule else None
        changed.append("schedule")
    if spec.closed_sound is not None:
        row.closed_sound = names.sound(spec.closed_sound, "closed message") if spec.closed_sound else ""
        changed.append("closed_sound")
    if spec.closed_queue is not None:
        row.closed_queue = _queue(session, spec.closed_queue, "closed queue") if spec.closed_queue else ""
        changed.append("closed_queue")
    if spec.label is not None:
        row.label = names.free_text(spec.label, "label", allow_empty=True)
        changed.append("label")
    return changed


def add_number(session: Session, settings: Settings, number: str, spec: NumberSpec) -> Number:
    """Provision a public number: E.164 from any format (national ones in the site's region)."""
    e164 = names.phone_number(number, settings.carrier.region)
    if session.scalar(select(Number.id).where(Number.e164 == e164)) is not None:
        raise InvalidInput(f"The number {e164} is already provisioned.", field="number")
    if spec.trunk is None:
        raise InvalidInput("A number needs --trunk: the trunk it arrives on.", field="trunk")
    row = Number(e164=e164, route="closed", target="", closed_sound="", closed_queue="", label="")
    _apply_number(session, row, NumberSpec(**{**spec.__dict__, "route": spec.route or "queue"}))
    session.add(row)
    audit.record(session, "number.add", e164, route=row.route, to=row.target)
    return row


def update_number(session: Session, settings: Settings, number: str, spec: NumberSpec) -> Number:
    row = get_number(session, settings, number)
    changed = _apply_number(session, row, spec)
    audit.record(session, "number.update", row.e164, fields=sorted(set(changed)))
    return row


def remove_number(session: Session, settings: Settings, number: str) -> None:
    row = get_number(session, settings, number)
    audit.record(session, "number.remove", row.e164)
    session.delete(row)


def list_numbers(session: Session) -> list[Number]:
    return list(session.scalars(select(Number).order_by(Number.e164)))


def number_row(n: Number) -> dict[str, Any]:
    return {"number": n.e164, "trunk": n.trunk.name, "route": n.route, "target": n.target,
            "hours": n.schedule.name if n.schedule else "", "closed_message": n.closed_sound or DEFAULT_CLOSED_SOUND,
            "closed_queue": n.closed_queue, "label": n.label}


# --- teams' outbound policy, queues' overflow ------------------------------------------------------------

def set_outbound(session: Session, settings: Settings, team: str, policy: str | None = None,
                 premium: bool | None = None, caller_id: str | None = None) -> Team:
    """A team's outbound policy: the widest class its agents may call, premium/short numbers, caller id."""
    row = session.scalar(select(Team).where(Team.name == names.slug(team, "team")))
    if row is None:
        raise NotFound(f"No team is named {team!r}.", field="team")
    if policy is not None:
        row.outbound = dialing.policy(policy)
    if premium is not None:
        row.outbound_premium = bool(premium)
    if caller_id is not None:
        row.caller_id = names.phone_number(caller_id, settings.carrier.region, "caller id") if caller_id else ""
    audit.record(session, "team.outbound", row.name, policy=row.outbound, premium=row.outbound_premium,
                 caller_id=row.caller_id)
    return row


def set_overflow(session: Session, queue: str, action: str, target: str = "") -> Queue:
    """Where a queue's callers go at its maximum wait or when no agent is logged in."""
    row = session.scalar(select(Queue).where(Queue.name == names.slug(queue, "queue")))
    if row is None:
        raise NotFound(f"No queue is named {queue!r}.", field="queue")
    action = action.strip().lower()
    if action not in OVERFLOWS:
        raise InvalidInput(f"The overflow must be one of {', '.join(OVERFLOWS)}, got {action!r}.", field="overflow")
    if action == "queue":
        target = _queue(session, target, "overflow queue")
        if target == row.name:
            raise InvalidInput("A queue cannot overflow to itself.", field="overflow queue")
    elif action == "message":
        target = names.sound(target or DEFAULT_CLOSED_SOUND, "overflow message")
    else:
        target = ""
    row.overflow, row.overflow_target = action, target
    audit.record(session, "queue.overflow", row.name, overflow=action, to=target)
    return row


__all__ = ["DEFAULT_CLOSED_SOUND", "NumberSpec", "OVERFLOWS", "ROUTES", "TrunkSpec", "add_number", "add_schedule",
           "add_trunk", "get_number", "get_schedule", "get_trunk", "list_numbers", "list_schedules", "list_trunks",
           "number_row", "remove_number", "remove_schedule", "remove_trunk", "schedule_row", "set_outbound",
           "set_overflow", "trunk_row", "trunk_status", "update_number", "update_schedule", "update_trunk"]
