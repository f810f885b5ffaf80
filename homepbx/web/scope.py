"""What a signed-in supervisor may see: read from the database for each page and each feed.

The agents shown are the enabled members of the teams in the supervisor's scope (the same
scope `supervision.authorize_with` checks before any spy), the supervisor excluded; the queues
shown are those with at least one of these agents as a member. A team view narrows both to
one team of the scope; a team outside the scope shows nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .. import supervision

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Sessions = Callable[[], AbstractContextManager["Session"]]


@dataclass(frozen=True)
class ViewAgent:
    extension: str
    name: str
    team: str


@dataclass(frozen=True)
class View:
    """One supervisor's wallboard (all their teams, or one)."""

    supervisor: str
    supervisor_name: str
    modes: tuple[str, ...]  # the spy modes they hold, in SPY_MODES order
    teams: tuple[str, ...]  # every team of their scope (for the team picker)
    team: str | None  # the team view shown, None for all
    agents: tuple[ViewAgent, ...]
    queues: tuple[str, ...]

    @property
    def extensions(self) -> frozenset[str]:
        return frozenset(a.extension for a in self.agents)


def load(sessions: Sessions, supervisor: str, team: str | None = None) -> View | None:
    """The supervisor's view, or None if they may no longer sign in (not an enabled supervisor)."""
    from sqlalchemy import select

    from ..models import Agent, Queue, QueueMember, Role, SupervisorScope, Team

    with sessions() as s:
        sup = s.execute(select(Agent.id, Agent.display_name, Agent.role, Agent.enabled, Agent.spy_modes)
                        .where(Agent.extension == supervisor)).first()
        if sup is None or sup.role != Role.supervisor or not sup.enabled:
            return None
        teams = s.execute(select(Team.id, Team.name).join(SupervisorScope, SupervisorScope.team_id == Team.id)
                          .where(SupervisorScope.supervisor_id == sup.id).order_by(Team.name)).all()
        shown = [t for t in teams if team is None or t.name == team]
        team_ids = [t.id for t in shown]
        agents = s.execute(
            select(Agent.extension, Agent.display_name, Team.name).join(Team, Team.id == Agent.team_id)
            .where(Agent.team_id.in_(team_ids), Agent.enabled.is_(True), Agent.id != sup.id)
            .order_by(Agent.extension)).all() if team_ids else []
        queues = s.execute(
            select(Queue.name).distinct().join(QueueMember, QueueMember.queue_id == Queue.id)
            .join(Agent, Agent.id == QueueMember.agent_id)
            .where(Agent.team_id.in_(team_ids), Agent.enabled.is_(True)).order_by(Queue.name)).scalars().all() \
            if team_ids else []
    return View(
        supervisor=supervisor,
        supervisor_name=sup.display_name,
        modes=supervision.held_modes(sup.spy_modes),
        teams=tuple(t.name for t in teams),
        team=team,
        agents=tuple(ViewAgent(ext, name, tname) for ext, name, tname in agents),
        queues=tuple(queues),
    )


def wrapup_times(sessions: Sessions) -> dict[str, int]:
    """Each queue's wrap-up seconds (the live feed needs them: the PBX's events do not say)."""
    from sqlalchemy import select

    from ..models import Queue

    with sessions() as s:
        return {name: int(w or 0) for name, w in s.execute(select(Queue.name, Queue.wrapup_time))}


def today_figures(url: str, tz_name: str = "UTC", now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Answered, abandoned and service level of each queue since midnight (the reports' figures)."""
    from .. import db
    from ..records import reports

    tz = reports.zone(tz_name)
    local = (now or datetime.now(timezone.utc)).astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight.astimezone(timezone.utc).replace(tzinfo=None)
    end = local.astimezone(timezone.utc).replace(tzinfo=None) + timedelta(seconds=1)
    from sqlalchemy import select

    from ..models import Queue

    with db.engine_for(url).connect() as conn:
        rows = reports.queues(conn, reports.Period(start, end, tz))
        known = conn.execute(select(Queue.name)).scalars().all()
    # A queue with no call yet today shows zeros, not blanks.
    out: dict[str, dict[str, Any]] = {q: {"answered": 0, "abandoned": 0, "offered": 0, "service_level": None}
                                      for q in known}
    for r in rows:
        out[r["queue"]] = {"answered": r["answered"], "abandoned": r["abandoned"], "offered": r["offered"],
                           "service_level": r["service_level"]}
    return out
