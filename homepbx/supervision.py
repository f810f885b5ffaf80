"""Supervision: a supervisor listens to, whispers to or barges in on an agent's current call.

`authorize_with()` checks everything it can in the database first (who is asking, on whom, in
which mode) and returns a `SpyPlan`; the site's PBX then rings the supervisor's own softphone
and spies on the agent's call (`Control.spy`), returning once the spy really started. Only a
spy that started is written to the audit log; a refused request changes nothing and rings
nobody. `spy()` runs the whole command in that order, with no transaction open while the PBX
works.

The spy command must reach the PBX within half a second of being typed, Python's start
included, so this module imports no SQLAlchemy: the permission rule is written once, in
`authorize_with()`, as two plain SQL statements run through a `Query` callable. The CLI runs
them on a bare sqlite3/psycopg connection (SQLAlchemy and the ORM models cost ~0.4-0.8 s to
import on a loaded 2-core machine, most of the budget), or through a SQLAlchemy session
(`authorize()`, any backend). Either way the same statements and the same Python decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from . import audit, backends, names
from .errors import InvalidInput, NotFound
from .pbx import SPY_MODES, SpyPlan, SpyResult
from .schema_head import head_revision

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .config import Settings
    from .models import Agent

__all__ = [
    "MARKS", "MODES", "PlainConnection", "Query", "SpyPlan", "SpyResult", "allowed_modes", "authorize",
    "authorize_with", "check_mode", "held_modes", "may_switch", "record", "record_with", "session_query", "spy",
]

# Runs one SQL statement with `:name` parameters and returns its rows as tuples.
Query = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]


class PlainConnection(Protocol):
    """A bare DB-API connection that is a Query (cli.common.PlainSqlite / PlainPostgres)."""

    Error: type[Exception]  # the driver's DB-API Error

    def __call__(self, sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


# Monotonic times of the spy's steps (the bench reads them: `homepbx spy` with HOMEPBX_BENCH_TIMES).
# The backend's spy fills in its own steps (AMI ready, channel found...).
MARKS: dict[str, float] = {}

MODES: tuple[str, ...] = SPY_MODES


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


def may_switch(held: Sequence[str]) -> bool:
    """Whether a supervisor may switch modes during a spy: only if they hold every mode.

    Switching cannot be limited to some modes, so with it a listen-only supervisor could barge
    in and the mode permission would mean nothing.
    """
    return set(held) == set(MODES)


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
    return SpyPlan(sup_ext, agent_ext, mode, mode_switch=may_switch(held))


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


def record_with(query: Query, result: SpyResult, actor: str | None = None) -> None:
    """Write the spy to the audit log (who, whom, mode; the entry's time is when).

    `actor`: who asked (a web session's supervisor); the OS user by default, as for the CLI.

    The backend's detail (on Asterisk: both channel names) goes into the entry as it is, for
    whoever reads the log; nothing here interprets it.
    """
    plan = result.plan
    details = {**result.detail, "supervisor": plan.supervisor, "agent": plan.agent, "mode": plan.mode}
    audit.record_with(query, f"spy.{plan.mode}", plan.agent, actor=actor, **details)


def record(session: Session, result: SpyResult, actor: str | None = None) -> None:
    """`record_with()` through a SQLAlchemy session (committed with the session)."""
    record_with(session_query(session), result, actor)


# --- the command, in order: check, commit, PBX, audit ---------------------------------------------

def spy(
    settings: Settings,
    supervisor: str,
    agent: str,
    mode: str,
    ring_timeout: float,
    *,
    connect: Callable[[], PlainConnection | None],
    session: Callable[[], AbstractContextManager[Session]] | None = None,
    actor: str | None = None,
) -> SpyResult:
    """Authorise, ring the supervisor and spy on the agent's call, audit it; return once it started.

    Refused (InvalidInput/NotFound, exit 2): nothing reaches the PBX and nothing is written.
    The check and the audit entry go through `connect()`'s bare connection when it gives one
    that works (the fast path: no SQLAlchemy), else through `session()` (a transaction that
    checks the schema and says what is wrong). No transaction is open while the PBX rings the
    supervisor: the check is committed first, the audit entry is a transaction of its own.
    """
    if session is None:
        from . import db

        url = settings.database.url
        session = lambda: db.transaction(url)  # noqa: E731
    conn = connect()
    try:
        plan = _authorize_plain(conn, supervisor, agent, mode) if conn is not None else None
        if plan is None:
            if conn is not None:
                conn.close()
                conn = None  # unusable (missing schema, locked...): the session path does it all
            with session() as s:
                plan = authorize(s, supervisor, agent, mode)
        MARKS["authorized"] = time.monotonic()
        authorized = plan  # not Optional: the closure below sees this name
        result = backends.run(settings, lambda control: control.spy(authorized, ring_timeout), events=True)
        _record(conn, session, result, actor)
        MARKS["recorded"] = time.monotonic()
        return result
    finally:
        if conn is not None:
            conn.close()


def _authorize_plain(conn: PlainConnection, supervisor: str, agent: str, mode: str) -> SpyPlan | None:
    """`authorize_with()` on the bare connection, committed; None if it cannot be used there."""
    try:
        # The same schema check as every command, without SQLAlchemy: an out-of-date
        # database takes the session path, which says so.
        if [tuple(r) for r in conn("SELECT version_num FROM alembic_version", {})] != [(head_revision(),)]:
            return None
        plan = authorize_with(conn, supervisor, agent, mode)
        conn.commit()  # ends the read (PostgreSQL opened a transaction for it)
    except conn.Error:
        return None
    return plan


def _record(conn: PlainConnection | None, session: Callable[[], AbstractContextManager[Session]],
            result: SpyResult, actor: str | None = None) -> None:
    """The audit entry of a spy that started, through the bare connection if there is one."""
    if conn is not None:
        try:
            record_with(conn, result, actor)
            conn.commit()
            return
        except conn.Error:
            pass  # the spy is running: its audit entry must be written, through SQLAlchemy then
    with session() as s:
        record(s, result, actor)
