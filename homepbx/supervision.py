"""Supervision: a supervisor listens to, whispers to or barges in on an agent's current call.

`authorize()` checks everything it can in the database first (who is asking, on whom, in which
mode), then `start()` asks Asterisk: it finds the agent's live channel, rings the supervisor's own
softphone (`Originate PJSIP/<supervisor>`) with ChanSpy on that exact channel, and returns
once Asterisk reports `ChanSpyStart`. Only a spy that really started is written to the audit
log; a refused request changes nothing and rings nobody.

The spy command must reach Asterisk within half a second of being typed, Python's start
included, so this module imports no SQLAlchemy: the permission rule is written once, in
`authorize_with()`, as two plain SQL statements run through a `Query` callable. The CLI runs
them on a bare sqlite3 connection (SQLAlchemy and the ORM models cost ~0.4-0.8 s to import on
a loaded 2-core machine, most of the budget), or through a SQLAlchemy session
(`authorize()`, any backend). Either way the same statements and the same Python decide.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import audit, names
from .asterisk import live
from .asterisk.ami import AmiClient, Message
from .errors import InvalidInput, NotFound, OperationalError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .models import Agent

# Runs one SQL statement with `:name` parameters and returns its rows as tuples.
Query = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]

# Monotonic times of the spy's steps (the bench reads them: `homepbx spy` with HOMEPBX_BENCH_TIMES).
MARKS: dict[str, float] = {}

MODES: tuple[str, ...] = ("listen", "whisper", "barge")

# ChanSpy options (Asterisk 22 `core show application ChanSpy`):
#   q  no beep/announcement: the agent and the caller are not told;
#   E  end the spy when the spied-on channel hangs up;
#   u  the argument is a full channel name, not a prefix: we spy on that one call, never on
#      another channel whose name happens to start the same way;
#   w  whisper: the supervisor talks to the spied-on channel only. We spy on the AGENT's
#      channel, so whisper reaches the agent and never the caller;
#   B  barge: the supervisor talks to both parties.
CHANSPY_OPTIONS: dict[str, str] = {"listen": "qEu", "whisper": "qEuw", "barge": "qEuB"}
# `d`: DTMF 4/5/6 switches between listen, whisper and barge during the spy. It is given only
# to supervisors allowed all three modes: with it, a listen-only supervisor could press 6 and
# barge in, so the mode permission would mean nothing.
MODE_SWITCH_OPTION = "d"

# Seconds between the supervisor answering and ChanSpy reporting that it started.
SPY_START_TIMEOUT = 5.0

# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values) in plain words.
_ORIGINATE_REASONS = {
    "0": "could not be called (is the softphone registered?)",
    "1": "hung up",
    "3": "rang without an answer",
    "5": "was busy",
    "8": "could not be reached",
}


@dataclass(frozen=True)
class SpyPlan:
    """An authorised spy request: who, on whom, how; nothing has reached Asterisk yet."""

    supervisor: str
    agent: str
    mode: str
    options: str


@dataclass(frozen=True)
class SpyResult:
    """A spy that Asterisk confirmed (ChanSpyStart)."""

    plan: SpyPlan
    agent_channel: str
    supervisor_channel: str
    seconds: float = field(default=0.0, compare=False)


def check_mode(mode: str) -> str:
    """One spy mode: listen, whisper or barge."""
    value = mode.strip().lower()
    if value not in MODES:
        raise InvalidInput(f"Unknown spy mode {mode!r}: use listen, whisper or barge.", field="mode")
    return value


def held_modes(spy_modes: str | None) -> tuple[str, ...]:
    """The modes in a supervisor's stored `spy_modes`, in MODES order."""
    held = names.spy_modes(spy_modes or "")
    return tuple(m for m in MODES if m in held.split(","))


def allowed_modes(supervisor: Agent) -> tuple[str, ...]:
    """The modes a supervisor holds, in MODES order."""
    return held_modes(supervisor.spy_modes)


def chanspy_options(mode: str, held: tuple[str, ...]) -> str:
    """ChanSpy options for `mode`, with in-call mode switching only for holders of every mode."""
    options = CHANSPY_OPTIONS[check_mode(mode)]
    if set(held) == set(MODES):
        options += MODE_SWITCH_OPTION
    return options


# Both people in one statement; the scope only when both exist. Columns of models.Agent and
# models.SupervisorScope (a unit test runs these on the ORM's schema and both backends).
_PEOPLE_SQL = (
    "SELECT id, extension, role, enabled, spy_modes, team_id FROM agents"
    " WHERE extension IN (:supervisor, :agent)"
)
_SCOPE_SQL = "SELECT 1 FROM supervisor_scopes WHERE supervisor_id = :supervisor_id AND team_id = :team_id"
# models.Role.supervisor as stored (a non-native Enum stores the member's name).
_SUPERVISOR_ROLE = "supervisor"


def authorize_with(query: Query, supervisor: str, agent: str, mode: str) -> SpyPlan:
    """THE permission rule. Raise InvalidInput/NotFound (exit 2) if refused; nothing is changed.

    The supervisor must exist, be a supervisor, be enabled, hold the mode, not be the agent,
    and have the agent's team in their scope.
    """
    mode = check_mode(mode)
    sup_ext = names.extension(supervisor)
    agent_ext = names.extension(agent)
    people = {row[1]: row for row in query(_PEOPLE_SQL, {"supervisor": sup_ext, "agent": agent_ext})}
    sup = people.get(sup_ext)
    if sup is None:
        raise NotFound(f"No agent has extension {sup_ext}.", field="extension")
    sup_id, _, role, enabled, spy_modes, _ = sup
    if role != _SUPERVISOR_ROLE:
        raise InvalidInput(f"Extension {sup_ext} is not a supervisor.", field="supervisor")
    target = people.get(agent_ext)
    if target is None:
        raise NotFound(f"No agent has extension {agent_ext}.", field="extension")
    if not enabled:
        raise InvalidInput(f"Supervisor {sup_ext} is disabled.", field="supervisor")
    target_id, team_id = target[0], target[5]
    if target_id == sup_id:
        raise InvalidInput("A supervisor cannot spy on their own calls.", field="agent")
    held = held_modes(spy_modes)
    if mode not in held:
        raise InvalidInput(f"Supervisor {sup_ext} is not allowed to {mode}.", field="mode")
    if team_id is None or not query(_SCOPE_SQL, {"supervisor_id": sup_id, "team_id": team_id}):
        raise InvalidInput(f"Agent {agent_ext} is not in a team supervisor {sup_ext} may supervise.", field="agent")
    return SpyPlan(sup_ext, agent_ext, mode, chanspy_options(mode, held))


def session_query(session: Session) -> Query:
    """A Query over a SQLAlchemy session (any backend; `:name` parameters are portable there)."""
    from sqlalchemy import text

    def query(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        result = session.execute(text(sql), params)
        return result.all() if result.returns_rows else []

    return query


def authorize(session: Session, supervisor: str, agent: str, mode: str) -> SpyPlan:
    """`authorize_with()` through a SQLAlchemy session."""
    return authorize_with(session_query(session), supervisor, agent, mode)


class _Waiter:
    """Collects the events of interest from the moment it is attached, so none is missed."""

    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.events: list[Message] = []
        self._changed = asyncio.Event()
        for name in ("OriginateResponse", "ChanSpyStart"):
            client.add_event_handler(name, self._on_event)

    def _on_event(self, event: Message) -> None:
        self.events.append(event)
        self._changed.set()

    def detach(self) -> None:
        for name in ("OriginateResponse", "ChanSpyStart"):
            self.client.remove_event_handler(name, self._on_event)

    async def first(self, name: str, match: dict[str, str], timeout: float) -> Message | None:
        """The first event `name` whose headers equal `match`, or None after `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for ev in self.events:
                        if ev.name.lower() == name.lower() and all(ev.get(k) == v for k, v in match.items()):
                            return ev
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return None


async def start(
    client: AmiClient, plan: SpyPlan, ring_timeout: float = 30.0, start_timeout: float | None = None
) -> SpyResult:
    """Ring the supervisor and spy on the agent's current call; return once ChanSpyStart is seen.

    The client must receive `call` events. Raises live.NotOnCall (exit 2) if the agent has no
    answered call, OperationalError (exit 1) if the supervisor's softphone does not answer or
    the spy does not start (the supervisor's leg is then hung up: nothing is left half-done).
    """
    began = MARKS["ami_ready"] = time.monotonic()
    channel = await live.agent_call(client, plan.agent)
    MARKS["channel_found"] = time.monotonic()
    waiter = _Waiter(client)
    try:
        response = await client.action(
            "Originate",
            {
                "Channel": f"PJSIP/{plan.supervisor}",
                "Application": "ChanSpy",
                "Data": f"{channel.name},{plan.options}",
                "CallerID": f'"{plan.mode.capitalize()} {plan.agent}" <{plan.agent}>',
                "Timeout": str(int(ring_timeout * 1000)),
                "Async": "true",
            },
        )
        MARKS["originate_accepted"] = time.monotonic()
        response.raise_for_error()
        action_id = response.get("ActionID") or ""
        origin = await waiter.first("OriginateResponse", {"ActionID": action_id}, ring_timeout + 5)
        if origin is None:
            raise OperationalError(f"Asterisk did not say whether supervisor {plan.supervisor}'s softphone answered.")
        if (origin.get("Response") or "") != "Success":
            why = _ORIGINATE_REASONS.get(origin.get("Reason") or "", "did not answer")
            raise OperationalError(f"Supervisor {plan.supervisor}'s softphone {why}.")
        MARKS["answered"] = time.monotonic()
        sup_channel = origin.get("Channel") or ""
        started = await waiter.first(
            "ChanSpyStart", {"SpyeeChannel": channel.name},
            SPY_START_TIMEOUT if start_timeout is None else start_timeout,
        )
        if started is None:
            # The agent's call probably ended while the supervisor's phone rang: do not leave
            # the supervisor on a silent ChanSpy waiting for a channel that is gone.
            if sup_channel:
                await client.action("Hangup", {"Channel": sup_channel})
            raise OperationalError(f"Spying on agent {plan.agent} did not start: the call may have ended.")
        MARKS["spy_started"] = time.monotonic()
        return SpyResult(plan, channel.name, started.get("SpyerChannel") or sup_channel, time.monotonic() - began)
    finally:
        waiter.detach()


def record_with(query: Query, result: SpyResult) -> None:
    """Write the spy to the audit log (who, whom, mode; the entry's time is when)."""
    audit.record_with(
        query,
        f"spy.{result.plan.mode}",
        result.plan.agent,
        supervisor=result.plan.supervisor,
        agent=result.plan.agent,
        mode=result.plan.mode,
        agent_channel=result.agent_channel,
        supervisor_channel=result.supervisor_channel,
    )


def record(session: Session, result: SpyResult) -> None:
    """`record_with()` through a SQLAlchemy session (committed with the session)."""
    record_with(session_query(session), result)
