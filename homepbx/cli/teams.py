"""`homepbx team ...`."""

from __future__ import annotations

import click

from .. import provisioning
from .common import AppContext, emit, json_option, pass_app


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
        rows = [{"name": t.name, "description": t.description, "agents": n} for t, n in provisioning.list_teams(session)]
    emit(rows, ["name", "agents", "description"], as_json)


@team.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Remove an empty team."""
    with app.session() as session:
        provisioning.remove_team(session, name)
    click.echo(f"Team {name} removed.")
