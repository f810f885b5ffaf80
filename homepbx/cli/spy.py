"""`homepbx spy listen|whisper|barge AGENT --supervisor EXT`: supervise an agent's live call.

Target: ChanSpyStart within 0.5 s of the command starting, Python's start included. So the
permission check and the audit entry go through a bare sqlite3/psycopg connection (same SQL
and rule as the SQLAlchemy path, see supervision.py), and nothing here imports SQLAlchemy;
URLs with options, or any driver error, take the session path.
"""

from __future__ import annotations

import json
import os
import time

import click

from .. import supervision
from ..asterisk.ami import run_actions
from ..schema_head import head_revision
from .common import AppContext, emit_one, json_option, pass_app

_VERBS = {"listen": "listening to", "whisper": "whispering to", "barge": "barging in on"}


@click.group()
def spy() -> None:
    """Listen to, whisper to (coach) or barge in on an agent's current call."""


def _spy(app: AppContext, mode: str, agent: str, supervisor: str, ring_timeout: int, as_json: bool) -> None:
    from . import STARTED

    supervision.MARKS["python_ready"] = STARTED
    supervision.MARKS["command"] = time.monotonic()
    plan, result = _spy_plain(app, mode, agent, supervisor, ring_timeout) or _spy_session(
        app, mode, agent, supervisor, ring_timeout
    )
    if os.environ.get("HOMEPBX_BENCH_TIMES"):
        # Monotonic times of each step, for bench/control.py (CLOCK_MONOTONIC is system-wide).
        click.echo("homepbx-bench-times " + json.dumps(supervision.MARKS), err=True)
    if as_json:
        emit_one(
            {
                "supervisor": plan.supervisor,
                "agent": plan.agent,
                "mode": plan.mode,
                "agent_channel": result.agent_channel,
                "supervisor_channel": result.supervisor_channel,
                "mode_switching": supervision.MODE_SWITCH_OPTION in plan.options,
            },
            True,
        )
    else:
        click.echo(f"Supervisor {plan.supervisor} is {_VERBS[plan.mode]} agent {plan.agent} ({result.agent_channel}).")


def _start(app: AppContext, plan: supervision.SpyPlan, ring_timeout: int) -> supervision.SpyResult:
    return run_actions(
        app.settings.ami,
        lambda client: supervision.start(client, plan, ring_timeout=ring_timeout),
        events=True,
        timeout=app.settings.ami.timeout,
    )


def _spy_plain(
    app: AppContext, mode: str, agent: str, supervisor: str, ring_timeout: int
) -> tuple[supervision.SpyPlan, supervision.SpyResult] | None:
    """The fast path on a bare DB-API connection; None if it cannot be used (nothing was done)."""
    conn = app.plain_connection()
    if conn is None:
        return None
    try:
        try:
            # The same schema check as every command, without SQLAlchemy: an out-of-date
            # database takes the session path, which says so.
            if [tuple(r) for r in conn("SELECT version_num FROM alembic_version", {})] != [(head_revision(),)]:
                return None
            plan = supervision.authorize_with(conn, supervisor, agent, mode)
        except conn.Error:
            return None  # missing schema, locked...: the session path checks and says so
        supervision.MARKS["authorized"] = time.monotonic()
        result = _start(app, plan, ring_timeout)
        try:
            supervision.record_with(conn, result)
            conn.commit()
        except conn.Error:
            # The spy is running: its audit entry must be written, through SQLAlchemy then.
            with app.session() as session:
                supervision.record(session, result)
        supervision.MARKS["recorded"] = time.monotonic()
        return plan, result
    finally:
        conn.close()


def _spy_session(
    app: AppContext, mode: str, agent: str, supervisor: str, ring_timeout: int
) -> tuple[supervision.SpyPlan, supervision.SpyResult]:
    with app.session() as session:
        plan = supervision.authorize(session, supervisor, agent, mode)
        supervision.MARKS["authorized"] = time.monotonic()
        result = _start(app, plan, ring_timeout)
        supervision.record(session, result)
    supervision.MARKS["recorded"] = time.monotonic()
    return plan, result


def _command(mode: str, help_text: str) -> click.Command:
    @click.argument("agent")
    @click.option("--supervisor", required=True, help="The supervisor's extension: their softphone rings.")
    @click.option("--ring-timeout", default=30, show_default=True, type=click.IntRange(5, 120),
                  help="Seconds to wait for the supervisor to answer.")
    @json_option
    @pass_app
    def command(app: AppContext, agent: str, supervisor: str, ring_timeout: int, as_json: bool) -> None:
        _spy(app, mode, agent, supervisor, ring_timeout, as_json)

    command.__doc__ = help_text
    return spy.command(mode)(command)


_command("listen", "Ring the supervisor's softphone and let them hear the agent's call; nobody hears them.")
_command("whisper", "Ring the supervisor's softphone: they hear the call and only the agent hears them.")
_command("barge", "Ring the supervisor's softphone: they join the call, both parties hear them.")
