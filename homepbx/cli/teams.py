"""`homepbx team ...`."""

from __future__ import annotations

import click

from .. import carrier, provisioning
from .common import AppContext, emit, hint_apply, json_option, pass_app


@click.group()
def team() -> None:
    """Teams of agents (supervisors' scopes are given per team)."""


@team.command("add")
@click.argument("name")
@click.option("--description", default="")
@pass_app
def add(app: AppContext, name: str, description: str) -> None:
    """Add a team."""
    with app.session() as session:
        provisioning.add_team(session, name, description)
    click.echo(f"Team {name} added.")


@team.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List teams with their agent counts."""
    with app.session() as session:
        rows = [{"name": t.name, "description": t.description, "agents": n, "outbound": t.outbound,
                 "premium": t.outbound_premium, "caller_id": t.caller_id}
                for t, n in provisioning.list_teams(session)]
    emit(rows, ["name", "agents", "outbound", "premium", "caller_id", "description"], as_json)


@team.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Remove an empty team."""
    with app.session() as session:
        provisioning.remove_team(session, name)
    click.echo(f"Team {name} removed.")


@team.command("outbound")
@click.argument("name")
@click.option("--policy", default=None,
              help="none, national, mobile or international: the widest class the team may call.")
@click.option("--premium/--no-premium", default=None, help="Allow premium-rate and short numbers.")
@click.option("--caller-id", default=None, help="Number presented on their calls ('' = the trunk's).")
@pass_app
def outbound(app: AppContext, name: str, policy: str | None, premium: bool | None, caller_id: str | None) -> None:
    """Set a team's outbound policy (emergency numbers are always allowed)."""
    with app.session() as session:
        t = carrier.set_outbound(session, app.settings, name, policy, premium, caller_id)
        said = f"{t.outbound}{' + premium' if t.outbound_premium else ''}"
    click.echo(f"Team {name} may call: {said}.")
    hint_apply()
