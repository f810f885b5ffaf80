"""`homepbx spy listen|whisper|barge AGENT --supervisor EXT`: supervise an agent's live call.

Target: the spy starts within 0.5 s of the command starting, Python's start included. So the
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
from .common import AppContext, emit_one, json_option, pass_app

_VERBS = {"listen": "listening to", "whisper": "whispering to", "barge": "barging in on"}


@click.group()
def spy() -> None:
    """Listen to, whisper to (coach) or barge in on an agent's current call."""


def _spy(app: AppContext, mode: str, agent: str, supervisor: str, ring_timeout: int, as_json: bool) -> None:
    from . import STARTED

    supervision.MARKS["python_ready"] = STARTED
    supervision.MARKS["command"] = time.monotonic()
    result = supervision.spy(app.settings, supervisor, agent, mode, ring_timeout,
                             connect=app.plain_connection, session=app.session)
    if os.environ.get("HOMEPBX_BENCH_TIMES"):
        # Monotonic times of each step, for bench/control.py (CLOCK_MONOTONIC is system-wide).
        click.echo("homepbx-bench-times " + json.dumps(supervision.MARKS), err=True)
    plan = result.plan
    if as_json:
        row: dict[str, object] = {"supervisor": plan.supervisor, "agent": plan.agent, "mode": plan.mode,
                                  "call_id": result.call_id}
        # The PBX's own detail (on Asterisk: agent_channel, supervisor_channel), shown as given.
        row.update((k, v) for k, v in result.detail.items() if k not in row)
        row["mode_switching"] = plan.mode_switch
        emit_one(row, True)
    else:
        click.echo(f"Supervisor {plan.supervisor} is {_VERBS[plan.mode]} agent {plan.agent} (call {result.call_id}).")


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
