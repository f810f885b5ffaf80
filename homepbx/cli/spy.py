"""`homepbx spy listen|whisper|barge AGENT --supervisor EXT`: supervise an agent's live call."""

from __future__ import annotations

import click

from .. import supervision
from ..ami import run_actions
from .common import AppContext, emit_one, json_option, pass_app

_VERBS = {"listen": "listening to", "whisper": "whispering to", "barge": "barging in on"}


@click.group()
def spy() -> None:
    """Listen to, whisper to (coach) or barge in on an agent's current call."""


def _spy(app: AppContext, mode: str, agent: str, supervisor: str, ring_timeout: int, as_json: bool) -> None:
    with app.session() as session:
        plan = supervision.authorize(session, supervisor, agent, mode)
        result = run_actions(
            app.settings.ami,
            lambda client: supervision.start(client, plan, ring_timeout=ring_timeout),
            events=True,
            timeout=app.settings.ami.timeout,
        )
        supervision.record(session, result)
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
