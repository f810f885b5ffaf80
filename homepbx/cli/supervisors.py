"""`homepbx supervisor scope ...`, `homepbx supervisor web-password`."""

from __future__ import annotations

import click

from .. import provisioning
from .common import AppContext, emit, hint_apply, json_option, pass_app


@click.group()
def supervisor() -> None:
    """Supervisors (add them with `homepbx agent add --role supervisor`)."""


@supervisor.group()
def scope() -> None:
    """Which teams a supervisor may listen to, whisper to and barge in on."""


@scope.command("add")
@click.argument("supervisor_ext")
@click.argument("team")
@pass_app
def add(app: AppContext, supervisor_ext: str, team: str) -> None:
    """Let SUPERVISOR_EXT supervise TEAM."""
    with app.session() as session:
        provisioning.add_scope(session, supervisor_ext, team)
    click.echo(f"Supervisor {supervisor_ext} may now supervise team {team}.")
    hint_apply()


@scope.command("remove")
@click.argument("supervisor_ext")
@click.argument("team")
@pass_app
def remove(app: AppContext, supervisor_ext: str, team: str) -> None:
    """Stop SUPERVISOR_EXT supervising TEAM."""
    with app.session() as session:
        provisioning.remove_scope(session, supervisor_ext, team)
    click.echo(f"Supervisor {supervisor_ext} no longer supervises team {team}.")
    hint_apply()


@scope.command("list")
@click.argument("supervisor_ext", required=False)
@json_option
@pass_app
def list_(app: AppContext, supervisor_ext: str | None, as_json: bool) -> None:
    """List supervisors' scopes."""
    with app.session() as session:
        rows = [
            {"supervisor": s.extension, "name": s.display_name, "team": t.name, "modes": s.spy_modes}
            for s, t in provisioning.list_scopes(session, supervisor_ext)
        ]
    emit(rows, ["supervisor", "name", "team", "modes"], as_json)


@supervisor.command("web-password")
@click.argument("supervisor_ext")
@pass_app
def web_password(app: AppContext, supervisor_ext: str) -> None:
    """Set SUPERVISOR_EXT's wallboard password (prompted, or read from standard input).

    Stored as an argon2id hash only. From a script: `printf '%s\\n' "$PW" | homepbx supervisor web-password 2001`.
    """
    import sys

    from ..web.accounts import set_password

    if sys.stdin.isatty():
        password = click.prompt("Web password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with app.session() as session:
        ext = set_password(session, supervisor_ext, password)
    click.echo(f"Supervisor {ext} can now sign in to the wallboard.")
