"""`homepbx number ...`: public numbers (DIDs) and where their callers go."""

from __future__ import annotations

import click

from .. import carrier
from .common import AppContext, emit, hint_apply, json_option, pass_app


def _options(f):  # type: ignore[no-untyped-def]
    for opt in reversed([
        click.option("--trunk", help="The trunk the number arrives on."),
        click.option("--queue", help="Callers go to this queue."),
        click.option("--agent", help="Callers ring this agent's extension."),
        click.option("--closed", "closed_route", is_flag=True, default=False,
                     help="Callers always hear the closed message."),
        click.option("--hours", help="Opening hours (homepbx hours); '' for always open."),
        click.option("--closed-message", help="Sound played when closed (default ss-noservice)."),
        click.option("--closed-queue", help="When closed, go to this queue instead of the message ('' none)."),
        click.option("--label", help="A note for humans."),
    ]):
        f = opt(f)
    return f


def _spec(trunk: str | None, queue: str | None, agent: str | None, closed_route: bool, hours: str | None,
          closed_message: str | None, closed_queue: str | None, label: str | None) -> carrier.NumberSpec:
    from ..errors import InvalidInput

    routes = [r for r, given in (("queue", queue is not None), ("agent", agent is not None),
                                 ("closed", closed_route)) if given]
    if len(routes) > 1:
        raise InvalidInput("Give one of --queue, --agent or --closed.", field="route")
    return carrier.NumberSpec(trunk=trunk, route=routes[0] if routes else None,
                              target=queue if queue is not None else agent, schedule=hours,
                              closed_sound=closed_message, closed_queue=closed_queue, label=label)


@click.group()
def number() -> None:
    """Public numbers (DIDs): in E.164 (national formats read in the site's region)."""


@number.command("add")
@click.argument("number")
@_options
@pass_app
def add(app: AppContext, number: str, **kw: object) -> None:
    """Provision NUMBER: --trunk and one of --queue, --agent, --closed."""
    spec = _spec(**kw)  # type: ignore[arg-type]
    with app.session() as session:
        row = carrier.add_number(session, app.settings, number, spec)
        e164 = row.e164
    click.echo(f"Number {e164} added.")
    hint_apply()


@number.command("update")
@click.argument("number")
@_options
@pass_app
def update(app: AppContext, number: str, **kw: object) -> None:
    """Change a number (only the options given)."""
    spec = _spec(**kw)  # type: ignore[arg-type]
    with app.session() as session:
        e164 = carrier.update_number(session, app.settings, number, spec).e164
    click.echo(f"Number {e164} updated.")
    hint_apply()


@number.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List public numbers."""
    with app.session() as session:
        rows = [carrier.number_row(n) for n in carrier.list_numbers(session)]
    emit(rows, ["number", "trunk", "route", "target", "hours", "closed_message", "closed_queue", "label"], as_json)


@number.command("remove")
@click.argument("number")
@pass_app
def remove(app: AppContext, number: str) -> None:
    """Remove a public number."""
    with app.session() as session:
        carrier.remove_number(session, app.settings, number)
    click.echo(f"Number {number} removed.")
    hint_apply()
