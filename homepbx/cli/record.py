"""`homepbx record start|stop|pause|resume AGENT` and `record list`: call recordings."""

from __future__ import annotations

import click

from .. import names, recording
from ..asterisk.ami import run_actions
from .common import AppContext, emit, emit_one, json_option, pass_app


@click.group()
def record() -> None:
    """Record calls; pause the recording while a card number is given (PCI)."""


def _act(app: AppContext, agent: str, verb: str, as_json: bool) -> None:
    agent = names.extension(agent, "agent")
    with app.session() as session:
        from ..provisioning import get_agent

        get_agent(session, agent)

        async def work(client):  # type: ignore[no-untyped-def]
            if verb == "start":
                return await recording.start(client, session, app.settings, agent)
            if verb == "stop":
                return await recording.stop(client, session, agent)
            return await recording.pause(client, session, agent, paused=(verb == "pause"))

        row = run_actions(app.settings.ami, work)
        info = {"agent": agent, "path": row.path, "linkedid": row.linkedid, "file": str(app.settings.host_path(row.path))}
    if as_json:
        emit_one(info, True)
    else:
        done = {"start": "Recording", "stop": "Stopped recording", "pause": "Paused recording",
                "resume": "Resumed recording"}[verb]
        click.echo(f"{done} agent {agent}'s call: {row.path}")


def _command(verb: str, help_text: str) -> None:
    @click.argument("agent")
    @json_option
    @pass_app
    def command(app: AppContext, agent: str, as_json: bool) -> None:
        _act(app, agent, verb, as_json)

    command.__doc__ = help_text
    record.command(verb)(command)


_command("start", "Start recording AGENT's current call (both parties, one file, indexed).")
_command("stop", "Stop recording AGENT's current call.")
_command("pause", "Pause the recording of AGENT's call (silence until resumed), e.g. for a card number.")
_command("resume", "Resume the paused recording of AGENT's call.")


@record.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@json_option
@pass_app
def list_(app: AppContext, limit: int, as_json: bool) -> None:
    """List indexed recordings, newest first: call, agent, start, end, pauses, file."""
    with app.session() as session:
        rows = recording.list_recordings(session, app.settings, limit)
    if not as_json:
        rows = [dict(r, paused=len(r["paused"])) for r in rows]
    emit(rows, ["started_at", "ended_at", "agent", "linkedid", "paused", "paused_s", "path"], as_json, title="Recordings")
