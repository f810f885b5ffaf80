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
- supervision: a supervisor's listen/whisper/barge session on an agent's call (never a call
  itself). Per agent, calls coached = calls with a session in whisper or barge mode at any
  moment, calls listened to = calls with a session in listen mode at any moment (a call may be
  both); sessions count by their start.

Sums over whole UTC hours come from the hourly roll-ups (homepbx.records.rollup), the partial
hours at a period's edges from the raw rows: the same figures as the raw rows alone, read from a
few thousand rows instead of a million.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, and_, case, func, or_, select, text

from ..errors import InvalidInput, NotFound
from ..models import (Agent, AgentEvent, CallLeg, CallLegQuality, CallRecord, CallSupervision, Employment, Queue,
                      QueueEvent, Team)
from . import rollup
from .types import epoch

# How far before the period an agent's login or pause may have started and still count.
STATE_LOOKBACK = timedelta(days=1)
# The agent events that change a state (the others, wrap-ups, are counted, not replayed).
STATE_EVENTS = ("login", "logout", "pause", "unpause")


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
    whole, edges = rollup.whole_hours(p.start, p.end)
    # Calls per agent as sums of the first-leg flags (no COUNT(DISTINCT)), plus the calls whose
    # first leg of that agent began before the period: see _calls_begun_before.
    sums = _agent_sums(conn, whole, edges)
    offered_before, answered_before = _calls_begun_before(conn, p.start, p.end)
    wrapups = _wrapup_seconds(conn, whole, edges, sums)
    states = _agent_states(conn, p)
    coached, listened = _supervised_calls(conn, p)
    figures: dict[str, dict[str, Any]] = {}
    for agent, (legs, offered, answered, _talk_legs, talk, hold, _wrapups, _wrapup_s) in sums.items():
        if not legs:
            continue
        figures[agent] = {"offered": int(offered or 0) + offered_before.get(agent, 0),
                          "answered": int(answered or 0) + answered_before.get(agent, 0),
                          "talk_s": float(talk), "hold_s": float(hold)}
    rows = []
    for agent in sorted(set(figures) | set(states) | set(wrapups) | set(coached) | set(listened)):
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
            "coached": len(coached.get(agent, ())),
            "listened": len(listened.get(agent, ())),
        })
    return rows


_COACHING = ("whisper", "barge")


def _sessions(conn: Connection, p: Period) -> list[Any]:
    """The supervision sessions begun in the period, oldest first."""
    s = CallSupervision.__table__.c
    return list(conn.execute(
        select(s.linkedid, s.supervisor, s.agent, s.mode, s.modes, s.started_at, s.ended_at, s.origin)
        .where(and_(s.started_at >= p.start, s.started_at < p.end)).order_by(s.started_at, s.id)
    ))


def _supervised_calls(conn: Connection, p: Period) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per spied agent, the calls coached (whisper/barge at any moment) and those listened to."""
    coached: dict[str, set[str]] = defaultdict(set)
    listened: dict[str, set[str]] = defaultdict(set)
    for linkedid, _sup, agent, _mode, modes, *_ in _sessions(conn, p):
        if not linkedid:
            continue
        kinds = modes.split(",")
        if any(m in kinds for m in _COACHING):
            coached[agent].add(linkedid)
        if "listen" in kinds:
            listened[agent].add(linkedid)
    return coached, listened


def supervisors(conn: Connection, p: Period) -> list[dict[str, Any]]:
    """Per supervisor: sessions begun in the period, calls supervised, minutes, sessions per mode."""
    names = {ext: name for ext, name in conn.execute(select(Agent.extension, Agent.display_name))}
    figures: dict[str, dict[str, Any]] = {}
    for linkedid, supervisor, _agent, _mode, modes, started, ended, _origin in _sessions(conn, p):
        f = figures.setdefault(supervisor, {"sessions": 0, "calls": set(), "seconds": 0.0,
                                            "listen": 0, "whisper": 0, "barge": 0})
        f["sessions"] += 1
        if linkedid:
            f["calls"].add(linkedid)
        f["seconds"] += max((ended - started).total_seconds(), 0.0)
        for mode in set(modes.split(",")) & {"listen", "whisper", "barge"}:
            f[mode] += 1
    return [
        {
            "supervisor": sup,
            "name": names.get(sup, ""),
            "sessions": f["sessions"],
            "calls": len(f["calls"]),
            "minutes": _r(f["seconds"] / 60),
            "listen": f["listen"],
            "whisper": f["whisper"],
            "barge": f["barge"],
        }
        for sup, f in sorted(figures.items())
    ]


def _agent_sums(conn: Connection, whole: tuple[int, int] | None, edges: list[tuple[datetime, datetime]],
                agents: list[str] | None = None) -> dict[str, list[Any]]:
    """Per agent: [legs, rang, talked, legs with talk, talk, hold, wrap-ups, wrap-up seconds], the
    whole hours from the roll-ups, the edges' legs from the raw rows (the edges' wrap-ups and any
    re-weighing are _wrapup_seconds' business)."""
    out: dict[str, list[Any]] = {}
    if whole is not None:
        for agent, *values in rollup.agent_sums(conn, whole[0], whole[1], agents):
            out[agent] = [v or 0 for v in values]
    leg = CallLeg.__table__.c
    for lo, hi in edges:
        cond = [leg.role == "agent", leg.started_at >= lo, leg.started_at < hi]
        if agents is not None:
            cond.append(leg.agent.in_(agents))
        for agent, *values in conn.execute(
            select(leg.agent, func.count(), func.sum(case((leg.first_ring, 1), else_=0)),
                   func.sum(case((leg.first_talk, 1), else_=0)), func.sum(case((leg.talk_s > 0, 1), else_=0)),
                   func.coalesce(func.sum(leg.talk_s), 0.0), func.coalesce(func.sum(leg.hold_s), 0.0))
            .where(and_(*cond)).group_by(leg.agent)
        ):
            have = out.setdefault(agent, [0, 0, 0, 0, 0.0, 0.0, 0, 0.0])
            for i, v in enumerate(values):
                have[i] += v or 0
    return out


def _wrapup_seconds(conn: Connection, whole: tuple[int, int] | None, edges: list[tuple[datetime, datetime]],
                    sums: dict[str, list[Any]]) -> dict[str, int | float]:
    """Per agent with a wrap-up in the period: wrap-ups weighed by their queue's wrap-up time now.

    The roll-ups' seconds for the whole hours, but for hours weighed with another wrap-up time
    (changed since): those, like the edges, from the raw events, counted per agent and queue.
    """
    q = Queue.__table__.c
    weight = {name: t or 0 for name, t in conn.execute(select(q.name, q.wrapup_time))}
    seconds: dict[str, int | float] = {}
    present: set[str] = set()
    for agent, values in sums.items():
        if values[6]:
            present.add(agent)
            seconds[agent] = values[7]
    raw_ranges = list(edges)
    if whole is not None:
        stale = rollup.hour_ranges(rollup.reweighed_hours(conn, whole[0], whole[1]))
        if stale:
            for agent, s in rollup.stored_wrapup_seconds(conn, stale).items():
                seconds[agent] = seconds.get(agent, 0) - s
            raw_ranges += [(rollup.hour_start(a), rollup.hour_start(b)) for a, b in stale]
    ev = AgentEvent.__table__.c
    for lo, hi in raw_ranges:
        for agent, queue, n in conn.execute(
            select(ev.agent, ev.queue, func.count())
            .where(and_(ev.event == "wrapup", ev.at >= lo, ev.at < hi)).group_by(ev.agent, ev.queue)
        ):
            present.add(agent)
            seconds[agent] = seconds.get(agent, 0) + n * weight.get(queue, 0)
    return {agent: seconds.get(agent, 0) for agent in present}


def _calls_begun_before(conn: Connection, lo: datetime, hi: datetime,
                        agents: list[str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Per agent, the calls (offered, answered) with a leg of that agent in [lo, hi) whose first
    leg of that agent (resp. first leg with talk) began before `lo`.

    The flag sums count a call in the period of its first leg; COUNT(DISTINCT linkedid) over
    the period's legs also counts these. Each has a leg in the period that is not the agent's
    first in the call (`first_ring` false), which the partial index ix_call_legs_repeat holds
    alone; one pass over those, the talk check only for the few that began before the period.
    Only legs up to the longest first-to-last-leg span of an agent in a call (roll-up) after `lo`
    can belong to such a call: the pass stops there.
    """
    span = rollup.longest_span(conn, lo)
    if span is None:
        return {}, {}
    # A leg of a call whose first leg (of that agent) began before lo starts before lo + span;
    # a second more for the rounding of spans computed in SQL.
    hi = min(hi, lo + timedelta(seconds=span + 1))
    leg = CallLeg.__table__.c
    earlier = CallLeg.__table__.alias("earlier")
    e = earlier.c
    same = [e.linkedid == leg.linkedid, e.agent == leg.agent, e.role == "agent", e.started_at < lo]
    rang_before = select(e.id).where(and_(*same)).exists()
    talked_before = select(e.id).where(and_(*same, e.talk_s > 0)).exists()
    cond = [leg.role == "agent", leg.first_ring == False, leg.started_at >= lo, leg.started_at < hi]  # noqa: E712
    if agents is not None:
        cond.append(leg.agent.in_(agents))
    query = select(
        leg.agent, leg.linkedid,
        case((and_(leg.talk_s > 0, leg.first_talk == False, talked_before), 1), else_=0),  # noqa: E712
    ).where(and_(*cond, rang_before))
    offered: dict[str, set[str]] = defaultdict(set)
    answered: dict[str, set[str]] = defaultdict(set)
    for agent, linkedid, talked in conn.execute(query):
        offered[agent].add(linkedid)
        if talked:
            answered[agent].add(linkedid)
    return ({a: len(ids) for a, ids in offered.items()}, {a: len(ids) for a, ids in answered.items()})


def _agent_states(conn: Connection, p: Period) -> dict[str, tuple[float, dict[str, float]]]:
    """Logged-in seconds and pause seconds by reason per agent, clipped to the period.

    An agent in several queues logs in, pauses and logs out once per queue: the agent counts as
    logged in while in any queue, and as paused from the first pause to the next unpause.
    """
    ev = AgentEvent.__table__.c
    rows = conn.execute(
        select(ev.agent, ev.at, ev.event, ev.reason, ev.queue)
        # The literal term lets both databases use the partial index ix_agent_events_state.
        .where(and_(text("agent_events.event <> 'wrapup'"), ev.event.in_(STATE_EVENTS),
                    ev.at >= p.start - STATE_LOOKBACK, ev.at < p.end))
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
_QUEUE_OUTCOMES = ("ENTERQUEUE", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")
_TIMEOUTS = ("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")
DEFAULT_SERVICE_LEVEL = rollup.DEFAULT_SERVICE_LEVEL
# Per queue: entered, answered, answer waits (count, sum), within, abandoned, abandon waits
# (count, sum), timeouts: the roll-up's columns.
_Q_FIELDS = 9


def _queue_raw(conn: Connection, lo: datetime, hi: datetime, thresholds: dict[int, list[str]],
               only: list[str] | None = None) -> dict[str, list[Any]]:
    """The queue figures of [lo, hi) from the raw events (ix_queue_events_report), per queue.

    Counted per (event, queue) without joining each event to its queue: the answered calls are
    counted once per distinct service-level threshold (usually one or two), each over the queues
    that have that threshold. `only`: just these queues' answers (threshold changes, see queues).
    """
    qe = QueueEvent.__table__.c
    in_period = and_(qe.at >= lo, qe.at < hi)
    out: dict[str, list[Any]] = {}

    def row(queue: str) -> list[Any]:
        got = out.get(queue)
        if got is None:
            got = out[queue] = [0, 0, 0, 0.0, 0, 0, 0, 0.0, 0]
        return got

    if only is None:
        for event, queue, n, waits, wait in conn.execute(
            select(qe.event, qe.queue, func.count(), func.count(qe.wait_s), func.sum(qe.wait_s))
            .where(and_(qe.event.in_(_QUEUE_OUTCOMES), in_period))
            .group_by(qe.event, qe.queue)
        ):
            f = row(queue)
            if event in _TIMEOUTS:
                f[8] += n
            elif event == "ENTERQUEUE":
                f[0] += n
            else:
                f[5], f[6], f[7] = f[5] + n, f[6] + waits, f[7] + (wait or 0.0)
    others = sorted(name for t, names in thresholds.items() if t != DEFAULT_SERVICE_LEVEL for name in names)
    for t in sorted(set(thresholds) | {DEFAULT_SERVICE_LEVEL}):
        if only is not None:
            which = qe.queue.in_(sorted(set(only) & set(thresholds.get(t, ())))) if t != DEFAULT_SERVICE_LEVEL \
                else qe.queue.in_(sorted(set(only) - set(others)))
        elif t == DEFAULT_SERVICE_LEVEL:
            which = qe.queue.not_in(others) if others else None
        else:
            which = qe.queue.in_(sorted(thresholds[t]))
        query = (
            select(qe.event, qe.queue, func.count(), func.count(qe.wait_s), func.sum(qe.wait_s),
                   func.sum(case((qe.wait_s <= t, 1), else_=0)))
            .where(and_(qe.event == "CONNECT", in_period, *([which] if which is not None else [])))
            .group_by(qe.event, qe.queue)  # the index's order: no sort
        )
        for _, queue, n, waits, wait, within in conn.execute(query):
            f = row(queue)
            f[1], f[2], f[3], f[4] = f[1] + n, f[2] + waits, f[3] + (wait or 0.0), f[4] + int(within or 0)
    return out


def queues(conn: Connection, p: Period) -> list[dict[str, Any]]:
    """Per queue: offered, answered, abandoned, timed out, average wait, service level.

    Whole hours from the roll-ups, the edges from the raw events. The roll-ups count answers
    within the threshold a queue had when they were stored: a queue whose threshold is another
    now has its answers of those hours counted again from the raw events.
    """
    qt = Queue.__table__.c
    # A queue's threshold: its service_level, or the default when unset or not a known queue.
    thresholds: dict[int, list[str]] = defaultdict(list)
    for name, level in conn.execute(select(qt.name, qt.service_level)):
        thresholds[DEFAULT_SERVICE_LEVEL if level is None else int(level)].append(name)
    threshold_of: dict[str, int] = {name: t for t, names in thresholds.items() for name in names}
    figures: dict[str, list[Any]] = {}

    def add(queue: str, values: Sequence[Any]) -> None:
        have = figures.get(queue)
        if have is None:
            figures[queue] = [v or 0 for v in values]
        else:
            for i, v in enumerate(values):
                have[i] += v or 0

    whole, edges = rollup.whole_hours(p.start, p.end)
    if whole is not None:
        stale: set[str] = set()
        for queue, threshold, *values in rollup.queue_sums(conn, whole[0], whole[1]):
            if threshold != threshold_of.get(queue, DEFAULT_SERVICE_LEVEL):
                stale.add(queue)
            add(queue, values)
        if stale:
            lo, hi = rollup.hour_start(whole[0]), rollup.hour_start(whole[1])
            recount = _queue_raw(conn, lo, hi, thresholds, only=sorted(stale))
            for queue in stale:
                figures[queue][4] = recount.get(queue, [0] * _Q_FIELDS)[4]
    for lo, hi in edges:
        for queue, values in _queue_raw(conn, lo, hi, thresholds).items():
            add(queue, values)
    out = []
    for queue in sorted(figures):
        entered, answered, waits, wait, within, abandoned, abandon_waits, abandon_wait, timeouts = figures[queue]
        if not (entered or answered or abandoned or timeouts):
            continue
        level = threshold_of.get(queue, DEFAULT_SERVICE_LEVEL)
        out.append({
            "queue": queue,
            "offered": int(entered),
            "answered": int(answered),
            "abandoned": int(abandoned),
            "timeout": int(timeouts),
            "avg_wait_s": _r(wait / waits) if waits else None,
            "avg_abandon_s": _r(abandon_wait / abandon_waits) if abandon_waits else None,
            "service_level_s": int(level or DEFAULT_SERVICE_LEVEL),
            "service_level": _r(within / entered, 3) if entered else None,
        })
    return out


# -- calls -----------------------------------------------------------------------------------------
def calls(conn: Connection, p: Period, team: str | None = None, *, caller: str | None = None,
          agent: str | None = None, queue: str | None = None, disposition: str | None = None,
          supervised: bool = False, limit: int = 1000, number: str | None = None,
          direction: str | None = None) -> list[dict[str, Any]]:
    """The calls of the period, newest first, filtered by caller (substring), agent, queue, disposition,
    and whether a supervisor listened, whispered or barged in (`supervised`).

    Each call carries its supervision: `supervised` in words ("whisper 4901, listen>barge 4902":
    each session's modes in order and its supervisor), `supervisions` in detail."""
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
    if number:
        query = query.where(c.number == number)
    if direction:
        query = query.where(c.direction == direction)
    sv = CallSupervision.__table__.c
    if supervised:
        query = query.where(c.linkedid.in_(select(sv.linkedid).where(sv.linkedid != "")))
    if team_id is not None:
        members = select(Agent.extension).where(Agent.team_id == team_id)
        query = query.where(or_(c.agent.in_(members), c.last_agent.in_(members)))
    query = query.order_by(c.started_at.desc(), c.id.desc()).limit(limit)
    records = conn.execute(query).all()
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ids = [r.linkedid for r in records]
    for i in range(0, len(ids), 500):
        for linkedid, sup, modes, started, ended, origin in conn.execute(
            select(sv.linkedid, sv.supervisor, sv.modes, sv.started_at, sv.ended_at, sv.origin)
            .where(sv.linkedid.in_(ids[i:i + 500])).order_by(sv.started_at, sv.id)
        ):
            sessions[linkedid].append({
                "supervisor": sup, "modes": modes.split(","), "started": p.local(started),
                "ended": p.local(ended), "seconds": _r(max((ended - started).total_seconds(), 0.0)), "origin": origin,
            })
    return [
        {
            "started": p.local(r.started_at),
            "caller": r.caller,
            "direction": r.direction,
            "number": r.number,
            "trunk": r.trunk,
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
            "supervised": ", ".join(f"{'>'.join(x['modes'])} {x['supervisor']}" for x in sessions.get(r.linkedid, ())),
            "supervisions": sessions.get(r.linkedid, []),
        }
        for r in records
    ]


# -- public numbers ----------------------------------------------------------------------------------
def numbers(conn: Connection, p: Period) -> list[dict[str, Any]]:
    """Per public number, the inbound calls of the period: offered, answered (an agent talked),
    abandoned (the caller hung up waiting in a queue), closed (no queue, no agent: the closed message,
    or an agent route that was not answered). Every provisioned number is listed, even with no call."""
    c = CallRecord.__table__.c
    closed = and_(c.queue == "", c.agent == "", c.disposition == "failed")
    query = (
        select(c.number, func.count(),
               func.sum(case((c.disposition == "answered", 1), else_=0)),
               func.sum(case((c.disposition == "abandoned", 1), else_=0)),
               func.sum(case((closed, 1), else_=0)))
        .where(and_(c.started_at >= p.start, c.started_at < p.end, c.direction == "inbound"))
        .group_by(c.number)
    )
    counts = {number: (int(n), int(a or 0), int(ab or 0), int(cl or 0))
              for number, n, a, ab, cl in conn.execute(query)}
    from ..models import Number

    known = {e164 for (e164,) in conn.execute(select(Number.__table__.c.e164))}
    return [
        {"number": number, "offered": v[0], "answered": v[1], "abandoned": v[2], "closed": v[3]}
        for number in sorted(known | set(counts))
        for v in (counts.get(number, (0, 0, 0, 0)),)
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
    out = []
    for label, lo, hi in _months(p):
        whole, edges = rollup.whole_hours(lo, hi)
        # Legs with talk only: talk is never negative, so the talk of all legs is theirs, and a
        # first talk is a leg with talk.
        rows = [(agent, talked, talk) for agent, (_legs, _rang, talked, talk_legs, talk, *_) in
                _agent_sums(conn, whole, edges, agents=sorted(billable)).items() if talk_legs]
        _, before = _calls_begun_before(conn, lo, hi, agents=sorted(billable))
        for agent, n_calls, talk in sorted(rows):
            n_calls = int(n_calls or 0) + before.get(agent, 0)
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


__all__ = ["Period", "agents", "billing", "calls", "period", "queues", "supervisors", "zone"]


# -- line quality ----------------------------------------------------------------------------------
def quality_thresholds(max_loss_pct: float, min_mos: float) -> tuple[float, float]:
    """The site's [quality] thresholds, checked: loss 0-100 percent, MOS 1-4.5."""
    if not 0.0 <= max_loss_pct <= 100.0:
        raise InvalidInput(f"The setting quality.max_loss_pct must be a percentage from 0 to 100, got {max_loss_pct}.",
                           field="quality.max_loss_pct")
    if not 1.0 <= min_mos <= 4.5:
        raise InvalidInput(f"The setting quality.min_mos must be a MOS from 1 to 4.5, got {min_mos}.",
                           field="quality.min_mos")
    return max_loss_pct, min_mos


def _quality_figures(conn: Connection, lo: datetime, hi: datetime, agent: str | None) -> list[Any]:
    """Per agent (by extension), the legs measured in [lo, hi): their count, then the mean and worst
    loss from, loss to, jitter, round trip, and the mean and worst MOS."""
    q = CallLegQuality
    query = (select(q.agent, func.count().label("legs"), func.avg(q.loss_from_pct).label("loss_from"),
                    func.max(q.loss_from_pct), func.avg(q.loss_to_pct).label("loss_to"), func.max(q.loss_to_pct),
                    func.avg(q.jitter_ms), func.max(q.jitter_ms), func.avg(q.rtt_ms), func.max(q.rtt_ms),
                    func.avg(q.mos).label("mos"), func.min(q.mos))
             .where(q.at >= lo, q.at < hi).group_by(q.agent).order_by(q.agent))
    if agent is not None:
        query = query.where(q.agent == agent)
    return list(conn.execute(query))


def _worse_loss(loss_from: float | None, loss_to: float | None) -> float:
    """The worse of a line's two mean losses: what the threshold judges."""
    return max(loss_from or 0.0, loss_to or 0.0)


def quality(conn: Connection, p: Period, agent: str | None = None, *, max_loss_pct: float = 3.0,
            min_mos: float = 3.6) -> list[dict[str, Any]]:
    """Per agent: the agent legs whose line quality was measured (by their end), mean and worst
    packet loss each way, jitter, round trip and estimated MOS, and whether the line fails the
    thresholds (mean loss either way above `max_loss_pct`, or mean MOS below `min_mos`)."""
    max_loss_pct, min_mos = quality_thresholds(max_loss_pct, min_mos)
    names = _team_agents(conn, None)
    out = []
    for (ext, legs, loss_from, worst_from, loss_to, worst_to, jitter, worst_jitter, rtt, worst_rtt, mos,
         worst_mos) in _quality_figures(conn, p.start, p.end, agent):
        reasons = []
        if _worse_loss(loss_from, loss_to) > max_loss_pct:
            reasons.append(f"loss > {max_loss_pct:g}%")
        if mos is not None and mos < min_mos:
            reasons.append(f"MOS < {min_mos:g}")
        out.append({
            "agent": ext, "name": names.get(ext, {}).get("name", ""), "calls": int(legs),
            "loss_from_pct": _r(loss_from, 2), "worst_loss_from_pct": _r(worst_from, 2),
            "loss_to_pct": _r(loss_to, 2), "worst_loss_to_pct": _r(worst_to, 2),
            "jitter_ms": _r(jitter, 1), "worst_jitter_ms": _r(worst_jitter, 1),
            "rtt_ms": _r(rtt, 1), "worst_rtt_ms": _r(worst_rtt, 1),
            "mos": _r(mos, 2), "worst_mos": _r(worst_mos, 2),
            "flagged": bool(reasons), "reason": ", ".join(reasons),
        })
    return out


def quality_step(p: Period) -> str:
    """The chart's step: "hour" when the period spans at most one day on the reader's clock, else "day"."""
    lo, hi = (m.replace(tzinfo=timezone.utc).astimezone(p.tz).replace(tzinfo=None) for m in (p.start, p.end))
    return "hour" if hi - lo <= timedelta(days=1) else "day"


def _steps(p: Period, step: str) -> list[tuple[str, datetime, datetime]]:
    """The period cut into the reader's days, or hours, as (local label, UTC start, UTC end), the
    first and last clipped to the period. Days begin at local midnight (a DST day lasts 23 or 25
    hours); hours follow UTC's (a zone's offset is whole hours, or the label says :30)."""
    local_start = p.start.replace(tzinfo=timezone.utc).astimezone(p.tz)
    out = []
    if step == "day":
        day = local_start.date()
        while True:
            first = datetime(day.year, day.month, day.day, tzinfo=p.tz).astimezone(timezone.utc).replace(tzinfo=None)
            day += timedelta(days=1)
            nxt = datetime(day.year, day.month, day.day, tzinfo=p.tz).astimezone(timezone.utc).replace(tzinfo=None)
            lo, hi = max(first, p.start), min(nxt, p.end)
            if lo >= p.end:
                return out
            out.append(((day - timedelta(days=1)).isoformat(), lo, hi))
    moment = local_start.replace(minute=0, second=0, microsecond=0).astimezone(timezone.utc).replace(tzinfo=None)
    while moment < p.end:
        nxt = moment + timedelta(hours=1)
        label = moment.replace(tzinfo=timezone.utc).astimezone(p.tz).strftime("%Y-%m-%dT%H:%M")
        out.append((label, max(moment, p.start), min(nxt, p.end)))
        moment = nxt
    return out


def quality_series(conn: Connection, p: Period, agent: str | None = None) -> list[dict[str, Any]]:
    """Per agent and day of the period (per hour when it spans at most one day, see `quality_step`),
    oldest first: the legs measured, their mean MOS and the worse of their mean losses either way
    (`loss_pct`, what the threshold judges). Periods without a measured leg have no row."""
    out = []
    for label, lo, hi in _steps(p, quality_step(p)):
        for row in _quality_figures(conn, lo, hi, agent):
            out.append({"agent": row.agent, "period": label, "calls": int(row.legs), "mos": _r(row.mos, 2),
                        "loss_pct": _r(_worse_loss(row.loss_from, row.loss_to), 2)})
    return out
