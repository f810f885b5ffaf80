"""`homepbx call list|transfer|hangup`: the calls in progress, and control over them."""

from __future__ import annotations

import click

from .. import audit, names
from ..asterisk import calls
from ..asterisk.ami import AmiClient, run_actions
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
    with app.session() as session:
        agents, queues = calls.site_names(session)
    found = run_actions(app.settings.ami, lambda client: calls.live_calls(client, agents, queues))
    rows = [dict(c.as_dict(), agent=c.agent, duration=_duration(c.seconds)) for c in found]
    emit(rows, ["caller", "caller_name", "agent", "queue", "state", "duration", "linkedid"], as_json, title="Live calls")


@call.command("transfer")
@click.argument("agent")
@click.option("--to", "target", required=True, metavar="EXT|QUEUE", help="An agent's extension, or a queue (name or extension).")
@click.option("--attended", is_flag=True, help="Consult the target first: the caller waits on hold; the agent hangs up to complete.")
@json_option
@pass_app
def transfer(app: AppContext, agent: str, target: str, attended: bool, as_json: bool) -> None:
    """Transfer AGENT's current call (the caller) to another agent or a queue."""
    agent = names.extension(agent, "agent")
    with app.session() as session:
        from ..provisioning import get_agent

        get_agent(session, agent)
        dest = calls.resolve_target(session, target)
        chan = run_actions(app.settings.ami, lambda client: calls.transfer(
            client, agent, dest, attended=attended, follow=_spawn_follower(app)))
        audit.record(session, "call.transfer", agent, to=dest.label, attended=attended, channel=chan.name)
    kind = "Attended" if attended else "Blind"
    if as_json:
        emit_one({"agent": agent, "to": dest.label, "exten": dest.exten, "attended": attended, "channel": chan.name}, True)
    elif attended:
        click.echo(f"{kind} transfer of agent {agent}'s call to {dest.label} started: the caller is on hold "
                   f"until the agent hangs up to complete it.")
    else:
        click.echo(f"{kind} transfer of agent {agent}'s call to {dest.label} done.")


def _spawn_follower(app: AppContext) -> calls.Follow:
    """Hand a long wait for a recording's hand-over to a detached `call follow-transfer`."""

    def spawn(kind: str, caller: str, old: str, rec: calls.Recording, wait: float) -> None:
        import subprocess
        import sys

        args = [sys.executable, "-m", "homepbx"]
        if app.config_path:
            args += ["--config", str(app.config_path)]
        args += ["call", "follow-transfer", caller, old, rec.mixmonitor_id, rec.path, "--wait", f"{wait:.0f}"]
        if kind == "blind":
            args.append("--blind")
        if rec.muted:
            args.append("--muted")
        if rec.channel and rec.channel != caller:
            args += ["--source", rec.channel]
        # Its own session: the follower outlives this command (and a closing terminal), and ends
        # by itself when the transfer completes, is abandoned, the caller hangs up, or `wait` passes.
        subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)

    return spawn


@call.command("follow-transfer", hidden=True)
@click.argument("caller_channel")
@click.argument("agent_channel")
@click.argument("mixmonitor_id")
@click.argument("path")
@click.option("--blind", is_flag=True, help="A blind transfer (to a queue): wait for an agent to answer.")
@click.option("--muted", is_flag=True)
@click.option("--source", default="", help="The channel the recording runs on, if not the caller's.")
@click.option("--wait", type=float, default=120.0)
@pass_app
def follow_transfer(app: AppContext, caller_channel: str, agent_channel: str, mixmonitor_id: str, path: str,
                    blind: bool, muted: bool, source: str, wait: float) -> None:
    """Internal: move a recording to the new agent once a transfer puts the caller with them."""
    # Values reach AMI headers only through the AMI writer, which refuses CR/LF.
    rec = calls.Recording(mixmonitor_id, path, muted, source or caller_channel)
    hand_over = calls.hand_recording_over if blind else calls.follow_attended_transfer

    async def follow(client: AmiClient) -> bool:
        try:
            return await hand_over(client, caller_channel, agent_channel, rec, wait)
        finally:
            await calls.set_owner(client, caller_channel, "")

    run_actions(app.settings.ami, follow)


@call.command("hangup")
@click.argument("agent")
@json_option
@pass_app
def hangup(app: AppContext, agent: str, as_json: bool) -> None:
    """Hang up AGENT's current call (the agent and everyone on the line with them)."""
    agent = names.extension(agent, "agent")
    with app.session() as session:
        from ..provisioning import get_agent

        get_agent(session, agent)
        gone = run_actions(app.settings.ami, lambda client: calls.hangup(client, agent))
        audit.record(session, "call.hangup", agent, channels=gone)
    if as_json:
        emit_one({"agent": agent, "channels": gone}, True)
    else:
        click.echo(f"Hung up agent {agent}'s call ({', '.join(gone)}).")
