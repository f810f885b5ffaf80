"""`homepbx record start|stop|pause|resume AGENT` and `record list`: call recordings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from .. import names, recording
from .common import AppContext, emit, emit_one, json_option, pass_app

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import Recording


@click.group()
def record() -> None:
    """Record calls; pause the recording while a card number is given (PCI)."""


def _command(verb: str, service: Callable[[Settings, str], Recording], done: str, help_text: str) -> None:
    @click.argument("agent")
    @json_option
    @pass_app
    def command(app: AppContext, agent: str, as_json: bool) -> None:
        agent = names.extension(agent, "agent")
        row = service(app.settings, agent)
        if as_json:
            emit_one({"agent": agent, "path": row.path, "linkedid": row.linkedid,
                      "file": str(app.settings.host_path(row.path))}, True)
        else:
            click.echo(f"{done} agent {agent}'s call: {row.path}")

    command.__doc__ = help_text
    record.command(verb)(command)


_command("start", recording.start, "Recording",
         "Start recording AGENT's current call (both parties, one file, indexed).")
_command("stop", recording.stop, "Stopped recording", "Stop recording AGENT's current call.")
_command("pause", recording.pause, "Paused recording",
         "Pause the recording of AGENT's call (silence until resumed), e.g. for a card number.")
_command("resume", recording.resume, "Resumed recording", "Resume the paused recording of AGENT's call.")


@record.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@json_option
@pass_app
def list_(app: AppContext, limit: int, as_json: bool) -> None:
    """List indexed recordings, newest first: call, agent, start, end, pauses, file."""
    rows = recording.list_recordings(app.settings, limit)
    if not as_json:
        rows = [dict(r, paused=len(r["paused"])) for r in rows]
    emit(rows, ["started_at", "ended_at", "agent", "linkedid", "paused", "paused_s", "path"], as_json, title="Recordings")
