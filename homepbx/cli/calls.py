"""`homepbx call list|transfer|hangup`: the calls in progress, and control over them."""

from __future__ import annotations

import click

from .. import calls, names
from .common import AppContext, emit, emit_one, json_option, pass_app


@click.group()
def call() -> None:
    """Calls in progress: list them, transfer one, hang one up."""


def _duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


@call.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List live calls: caller, agent(s), queue, state and duration."""
    found = calls.list_calls(app.settings)
    rows = [dict(c.as_dict(), agent=c.agent, duration=_duration(c.seconds)) for c in found]
    emit(rows, ["caller", "caller_name", "agent", "queue", "state", "duration", "call_id"], as_json, title="Live calls")


@call.command("transfer")
@click.argument("agent")
@click.option("--to", "target", required=True, metavar="EXT|QUEUE", help="An agent's extension, or a queue (name or extension).")
@click.option("--attended", is_flag=True, help="Consult the target first: the caller waits on hold; the agent hangs up to complete.")
@json_option
@pass_app
def transfer(app: AppContext, agent: str, target: str, attended: bool, as_json: bool) -> None:
    """Transfer AGENT's current call (the caller) to another agent or a queue."""
    agent = names.extension(agent, "agent")
    dest = calls.transfer(app.settings, agent, target, attended)
    kind = "Attended" if attended else "Blind"
    if as_json:
        emit_one({"agent": agent, "to": dest.label, "exten": dest.exten, "attended": attended}, True)
    elif attended:
        click.echo(f"{kind} transfer of agent {agent}'s call to {dest.label} started: the caller is on hold "
                   f"until the agent hangs up to complete it.")
    else:
        click.echo(f"{kind} transfer of agent {agent}'s call to {dest.label} done.")


@call.command("hangup")
@click.argument("agent")
@json_option
@pass_app
def hangup(app: AppContext, agent: str, as_json: bool) -> None:
    """Hang up AGENT's current call (the agent and everyone on the line with them)."""
    agent = names.extension(agent, "agent")
    gone = calls.hangup(app.settings, agent)
    if as_json:
        emit_one({"agent": agent, "parties": gone}, True)
    else:
        click.echo(f"Hung up agent {agent}'s call ({gone} {'party' if gone == 1 else 'parties'}).")
