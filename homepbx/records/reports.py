"""The managers' reports: agents, queues, calls, billing. SQL that runs the same on SQLite and PostgreSQL.

Times are UTC in the database; a `Period` carries the reader's zone, which decides where days
and months begin and how times are shown. Durations are seconds.

Definitions (also in `homepbx report --help`):
- offered (agent): calls in which the agent's phone rang; answered: calls in which the agent
  talked with the caller (a transfer target answers too).
- talk: time bridged with the caller, hold included; wrap-up: the queue's wrapuptime after each
  completed queue call; AHT = (talk + wrap-up) / answered.
- occupancy = (talk + wrap-up) / (logged-in time - pause time).
- service level (queue): calls answered within the queue's threshold / calls offered.
- billing: the agent's own talk time; per minute = rate x minutes (to the second), per call =
  rate x answered calls; totals rounded to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, and_, case, func, or_, select

from ..errors import InvalidInput, NotFound
from ..models import Agent, AgentEvent, CallLeg, CallRecord, Employment, Queue, QueueEvent, Team
from .types import epoch

# How far before the period an agent's login or pause may have started and still count.
STATE_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """[start, end) in naive UTC, and the zone the reader lives in."""

    start: datetime
    end: datetime
    tz: tzinfo

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return moment.replace(tzinfo=timezone.utc).astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")


def zone(name: str) -> tzinfo:
    """An IANA zone name ("Europe/Paris", "UTC")."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {name!r}; use a name such as Europe/Paris or UTC.", field="tz") from None


def _moment(text: str, tz: tzinfo, field: str, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            local = datetime(day.year, day.month, day.day)
            # A date alone in --to means the whole of that day.
            if end:
                local += timedelta(days=1)
        else:
            local = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"The {field} date must look like 2026-01-31 or 2026-01-31T18:00, got {text!r}.",
                           field=field) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def period(start: str, end: str, tz_name: str = "UTC") -> Period:
    """Parse --from/--to in the zone `tz_name`; a date alone in --to includes that whole day."""
    tz = zone(tz_name)
    lo, hi = _moment(start, tz, "--from", end=False), _moment(end, tz, "--to", end=True)
    if hi <= lo:
        raise InvalidInput("The --to date must come after the --from date.", field="to")
    return Period(lo, hi, tz)


def _team_id(conn: Connection, team: str | None) -> int | None:
    if team is None:
        return None
    found = conn.execute(select(Team.id).where(Team.name == team)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"There is no team named {team!r}.", field="team")
    return found


def _team_agents(conn: Connection, team_id: int | None) -> dict[str, dict[str, Any]]:
    query = select(Agent.extension, Agent.display_name, Agent.team_id, Agent.employment, Agent.billing_rate,
                   Agent.billing_unit, Team.name).outerjoin(Team, Team.id == Agent.team_id)
    if team_id is not None:
        query = query.where(Agent.team_id == team_id)
    return {
        ext: {"name": name, "team": team or "", "employment": emp, "rate": rate, "unit": unit}
        for ext, name, _tid, emp, rate, unit, team in conn.execute(query)
    }


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


# -- agents ----------------------------------------------------------------------------------------
def agents(conn: Connection, p: Period, team: str | None = None) -> list[dict[str, Any]]:
    """Per agent: offered, answered, talk, hold, wrap-up, AHT, pause by reason, logged-in, occupancy."""
    team_id = _team_id(conn, team)
    known = _team_agents(conn, team_id)
    leg = CallLeg.__table__.c
    calls = conn.execute(
        select(
            leg.agent,
            func.count(func.distinct(leg.linkedid)),
            func.count(func.distinct(case((leg.talk_s > 0, leg.linkedid)))),
            func.coalesce(func.sum(leg.talk_s), 0.0),
            func.coalesce(func.sum(leg.hold_s), 0.0),
        )
        .where(and_(leg.role == "agent", leg.started_at >= p.start, leg.started_at < p.end))
        .group_by(leg.agent)
    ).all()
    ev = AgentEvent.__table__.c
    q = Queue.__table__.c
    wrapups = dict(
        conn.execute(
            select(ev.agent, func.coalesce(func.sum(func.coalesce(q.wrapup_time, 0)), 0))
            .select_from(AgentEvent.__table__.outerjoin(Queue.__table__, q.name == ev.queue))
            .where(and_(ev.event == "wrapup", ev.at >= p.start, ev.at < p.end))
            .group_by(ev.agent)
        ).all()
    )
    states = _agent_states(conn, p)
    figures: dict[str, dict[str, Any]] = {}
    for agent, offered, answered, talk, hold in calls:
        figures[agent] = {"offered": offered, "answered": answered, "talk_s": float(talk), "hold_s": float(hold)}
    rows = []
    for agent in sorted(set(figures) | set(states) | set(wrapups)):
        if agent not in known:
            if team_id is not None or not agent:
                continue
        f = figures.get(agent, {"offered": 0, "answered": 0, "talk_s": 0.0, "hold_s": 0.0})
        logged, pauses = states.get(agent, (0.0, {}))
        wrap = float(wrapups.get(agent, 0) or 0)
        paused = sum(pauses.values())
        available = logged - paused
        busy = f["talk_s"] + wrap
        rows.append({
            "agent": agent,
            "name": known.get(agent, {}).get("name", ""),
            "team": known.get(agent, {}).get("team", ""),
            "offered": f["offered"],
            "answered": f["answered"],
            "talk_s": _r(f["talk_s"]),
            "hold_s": _r(f["hold_s"]),
            "wrapup_s": _r(wrap),
            "aht_s": _r(busy / f["answered"]) if f["answered"] else None,
            "logged_in_s": _r(logged),
            "pause_s": _r(paused),
            "pause_by_reason": {k or "(none)": _r(v) for k, v in sorted(pauses.items())},
            "occupancy": _r(busy / available, 3) if available > 0 else None,
        })
    return rows


def _agent_states(conn: Connection, p: Period) -> dict[str, tuple[float, dict[str, float]]]:
    """Logged-in seconds and pause seconds by reason per agent, clipped to the period.

    An agent in several queues logs in, pauses and logs out once per queue: the agent counts as
    logged in while in any queue, and as paused from the first pause to the next unpause.
    """
    ev = AgentEvent.__table__.c
    rows = conn.execute(
        select(ev.agent, ev.at, ev.event, ev.reason, ev.queue)
        .where(and_(ev.at >= p.start - STATE_LOOKBACK, ev.at < p.end, ev.event != "wrapup"))
        .order_by(ev.agent, ev.at, ev.id)
    ).all()
    lo, hi = epoch(p.start), epoch(p.end)

    def clip(a: float, b: float) -> float:
        return max(0.0, min(b, hi) - max(a, lo))

    out: dict[str, tuple[float, dict[str, float]]] = {}
    by_agent: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_agent[row[0]].append(row)
    for agent, events in by_agent.items():
        queues: set[str] = set()
        logged_since: float | None = None
        paused_since: float | None = None
        reason = ""
        logged = 0.0
        pauses: dict[str, float] = defaultdict(float)
        for _, at, kind, why, queue in events:
            t = epoch(at)
            if kind == "login":
                queues.add(queue)
                if logged_since is None:
                    logged_since = t
            elif kind == "logout":
                queues.discard(queue)
                if not queues and logged_since is not None:
                    logged += clip(logged_since, t)
                    logged_since = None
                    if paused_since is not None:
                        pauses[reason] += clip(paused_since, t)
                        paused_since = None
            elif kind == "pause" and paused_since is None:
                paused_since, reason = t, why
            elif kind == "unpause" and paused_since is not None:
                pauses[reason] += clip(paused_since, t)
                paused_since = None
        if logged_since is not None:
            logged += clip(logged_since, hi)
        if paused_since is not None:
            pauses[reason] += clip(paused_since, hi)
        out[agent] = (logged, {k: v for k, v in pauses.items() if v > 0})
    return out


# -- queues ----------------------------------------------------------------------------------------
def queues(conn: Connection, p: Period) -> list[dict[str, Any]]:
    """Per queue: offered, answered, abandoned, timed out, average wait, service level."""
    qe = QueueEvent.__table__.c
    qt = Queue.__table__.c
    threshold = func.coalesce(qt.service_level, 20)

    def count(event: str | tuple[str, ...]) -> Any:
        names = (event,) if isinstance(event, str) else event
        return func.sum(case((qe.event.in_(names), 1), else_=0))

    rows = conn.execute(
        select(
            qe.queue,
            count("ENTERQUEUE"),
            count("CONNECT"),
            count("ABANDON"),
            count(("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")),
            func.avg(case((qe.event == "CONNECT", qe.wait_s))),
            func.avg(case((qe.event == "ABANDON", qe.wait_s))),
            func.sum(case((and_(qe.event == "CONNECT", qe.wait_s <= threshold), 1), else_=0)),
            func.max(threshold),
        )
        .select_from(QueueEvent.__table__.outerjoin(Queue.__table__, qt.name == qe.queue))
        .where(and_(qe.at >= p.start, qe.at < p.end,
                    qe.event.in_(("ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"))))
        .group_by(qe.queue)
        .order_by(qe.queue)
    ).all()
    out = []
    for queue, offered, answered, abandoned, timeout, wait, abandon_wait, within, sl in rows:
        out.append({
            "queue": queue,
            "offered": int(offered or 0),
            "answered": int(answered or 0),
            "abandoned": int(abandoned or 0),
            "timeout": int(timeout or 0),
            "avg_wait_s": _r(wait),
            "avg_abandon_s": _r(abandon_wait),
            "service_level_s": int(sl or 20),
            "service_level": _r(int(within or 0) / offered, 3) if offered else None,
        })
    return out


# -- calls -----------------------------------------------------------------------------------------
def calls(conn: Connection, p: Period, team: str | None = None, *, caller: str | None = None,
          agent: str | None = None, queue: str | None = None, disposition: str | None = None,
          limit: int = 1000) -> list[dict[str, Any]]:
    """The calls of the period, newest first, filtered by caller (substring), agent, queue, disposition."""
    team_id = _team_id(conn, team)
    c = CallRecord.__table__.c
    query = select(c).where(and_(c.started_at >= p.start, c.started_at < p.end))
    if caller:
        query = query.where(c.caller.contains(caller, autoescape=True))
    if agent:
        query = query.where(or_(c.agent == agent, c.last_agent == agent))
    if queue:
        query = query.where(c.queue == queue)
    if disposition:
        query = query.where(c.disposition == disposition)
    if team_id is not None:
        members = select(Agent.extension).where(Agent.team_id == team_id)
        query = query.where(or_(c.agent.in_(members), c.last_agent.in_(members)))
    query = query.order_by(c.started_at.desc(), c.id.desc()).limit(limit)
    return [
        {
            "started": p.local(r.started_at),
            "caller": r.caller,
            "queue": r.queue,
            "agent": r.agent,
            "last_agent": r.last_agent,
            "disposition": r.disposition,
            "wait_s": _r(r.wait_s),
            "talk_s": _r(r.talk_s),
            "hold_s": _r(r.hold_s),
            "hangup_side": r.hangup_side,
            "transfers": r.transfers,
            "recording": r.recording,
            "linkedid": r.linkedid,
        }
        for r in conn.execute(query)
    ]


# -- billing ---------------------------------------------------------------------------------------
def _months(p: Period) -> list[tuple[str, datetime, datetime]]:
    """The calendar months (in the reader's zone) the period touches, as UTC [start, end) slices."""
    local_start = p.start.replace(tzinfo=timezone.utc).astimezone(p.tz)
    year, month = local_start.year, local_start.month
    out = []
    while True:
        first = datetime(year, month, 1, tzinfo=p.tz)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        nxt = datetime(year, month, 1, tzinfo=p.tz)
        lo = max(first.astimezone(timezone.utc).replace(tzinfo=None), p.start)
        hi = min(nxt.astimezone(timezone.utc).replace(tzinfo=None), p.end)
        if lo >= p.end:
            break
        out.append((f"{first.year:04d}-{first.month:02d}", lo, hi))
    return out


def billing(conn: Connection, p: Period, team: str | None = None) -> list[dict[str, Any]]:
    """Per independent or umbrella agent and month: billable minutes and calls, rate, total."""
    team_id = _team_id(conn, team)
    billable = {
        ext: info for ext, info in _team_agents(conn, team_id).items()
        if info["employment"] in (Employment.independent, Employment.umbrella)
    }
    if not billable:
        return []
    leg = CallLeg.__table__.c
    out = []
    for label, lo, hi in _months(p):
        rows = conn.execute(
            select(leg.agent, func.count(func.distinct(leg.linkedid)), func.coalesce(func.sum(leg.talk_s), 0.0))
            .where(and_(leg.role == "agent", leg.talk_s > 0, leg.started_at >= lo, leg.started_at < hi,
                        leg.agent.in_(sorted(billable))))
            .group_by(leg.agent)
        ).all()
        for agent, n_calls, talk in sorted(rows):
            info = billable[agent]
            minutes = (Decimal(str(float(talk))) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)
            rate = Decimal(info["rate"])
            unit = info["unit"].value if hasattr(info["unit"], "value") else str(info["unit"])
            exact = Decimal(str(float(talk))) / 60 * rate if unit == "minute" else rate * n_calls
            out.append({
                "month": label,
                "agent": agent,
                "name": info["name"],
                "employment": info["employment"].value,
                "calls": int(n_calls),
                "minutes": str(minutes),
                "unit": unit,
                "rate": str(rate.quantize(Decimal("0.0001"))),
                "total": str(exact.quantize(Decimal("0.01"), ROUND_HALF_UP)),
            })
    return out


__all__ = ["Period", "agents", "billing", "calls", "period", "queues", "zone"]
