"""`homepbx hours ...`: opening hours (weekly schedule, time zone, holidays, closures)."""

from __future__ import annotations

import click

from .. import carrier, hours as hours_mod
from .common import AppContext, emit, hint_apply, json_option, pass_app


@click.group()
def hours() -> None:
    """Opening hours: `mon-fri 09:00-12:30,13:30-18:00` in a time zone, holidays, closures."""


@hours.command("add")
@click.argument("name")
@click.option("--weekly", multiple=True, required=True,
              help="Days and hours, e.g. 'mon-fri 09:00-12:30,13:30-18:00' (repeat or separate with ';').")
@click.option("--tz", default="Europe/Paris", show_default=True, help="IANA time zone.")
@click.option("--holidays", default=hours_mod.DEFAULT_COUNTRY, show_default=True,
              help="Country whose public holidays are closed ('none' for none).")
@click.option("--closed", multiple=True, help="A one-off closure date (YYYY-MM-DD); repeatable.")
@pass_app
def add(app: AppContext, name: str, weekly: tuple[str, ...], tz: str, holidays: str, closed: tuple[str, ...]) -> None:
    """Add named opening hours."""
    with app.session() as session:
        canonical = carrier.add_schedule(session, name, weekly, tz, holidays, closed).weekly
    click.echo(f"Opening hours {name} added: {canonical}.")
    hint_apply()


@hours.command("update")
@click.argument("name")
@click.option("--weekly", multiple=True, help="Replace the weekly hours.")
@click.option("--tz", default=None, help="IANA time zone.")
@click.option("--holidays", default=None, help="Country of the public holidays ('none').")
@click.option("--close", multiple=True, help="Add a one-off closure date (YYYY-MM-DD).")
@click.option("--reopen", multiple=True, help="Take back a one-off closure date.")
@pass_app
def update(app: AppContext, name: str, weekly: tuple[str, ...], tz: str | None, holidays: str | None,
           close: tuple[str, ...], reopen: tuple[str, ...]) -> None:
    """Change opening hours."""
    with app.session() as session:
        carrier.update_schedule(session, name, weekly=weekly, tz=tz, holidays=holidays, close=close, reopen=reopen)
    click.echo(f"Opening hours {name} updated.")
    hint_apply()


@hours.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List opening hours, with whether each is open now."""
    with app.session() as session:
        rows = [carrier.schedule_row(s) for s in carrier.list_schedules(session)]
    emit(rows, ["name", "timezone", "weekly", "holidays", "closed", "open_now"], as_json)


@hours.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Remove opening hours no number uses."""
    with app.session() as session:
        carrier.remove_schedule(session, name)
    click.echo(f"Opening hours {name} removed.")
    hint_apply()
