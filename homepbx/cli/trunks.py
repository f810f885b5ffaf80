"""`homepbx trunk ...`: SIP carriers. The secret is read from standard input or a file, never argv."""

from __future__ import annotations

import sys

import click

from .. import carrier
from ..errors import InvalidInput
from .common import AppContext, emit, emit_one, hint_apply, json_option, pass_app


def _secret(secret_file: str | None, needed: bool) -> str | None:
    """The trunk secret: from --secret-file, else standard input (prompted on a terminal)."""
    if secret_file:
        with open(secret_file, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n") or None
    if not needed:
        return None
    if sys.stdin.isatty():
        return click.prompt("Trunk secret", hide_input=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InvalidInput("The trunk secret was expected on standard input (or use --secret-file).", field="secret")
    return line


def _options(f):  # type: ignore[no-untyped-def]
    for opt in reversed([
        click.option("--host", help="The carrier's host name or IPv4 address."),
        click.option("--port", type=int, help="Its SIP port (default 5060)."),
        click.option("--transport", help="udp (default), tcp or tls."),
        click.option("--username", help="Register to the carrier with this account (the secret on stdin)."),
        click.option("--realm", help="The carrier's digest realm (default: the host)."),
        click.option("--match", help="Addresses the carrier sends from: IPs/CIDRs, comma-separated."),
        click.option("--outbound-proxy", help="host[:port] to send everything through."),
        click.option("--codecs", help="Comma list in order of preference (default alaw,ulaw)."),
        click.option("--max-channels", type=int, help="Simultaneous calls through this trunk (0: no limit)."),
        click.option("--caller-id", help="Number presented on outbound calls (any format; E.164 stored)."),
        click.option("--outbound/--no-outbound", default=None, help="Agents' outbound calls may use it."),
        click.option("--secret-file", type=click.Path(dir_okay=False, exists=True),
                     help="Read the secret from this file's first line instead of standard input."),
    ]):
        f = opt(f)
    return f


def _spec(kw: dict) -> carrier.TrunkSpec:  # type: ignore[type-arg]
    return carrier.TrunkSpec(**{k: kw[k] for k in carrier.TrunkSpec.__dataclass_fields__})


@click.group()
def trunk() -> None:
    """SIP carriers: registering (a secret on stdin) or sending from known addresses (--match)."""


@trunk.command("add")
@click.argument("name")
@_options
@pass_app
def add(app: AppContext, name: str, secret_file: str | None, **kw: object) -> None:
    """Add a trunk. With --username it registers (secret on stdin or --secret-file)."""
    secret = _secret(secret_file, needed=bool(kw.get("username")))
    with app.session() as session:
        carrier.add_trunk(session, app.settings, name, _spec(kw), secret)
    click.echo(f"Trunk {name} added.")
    hint_apply()


@trunk.command("update")
@click.argument("name")
@_options
@click.option("--new-secret", is_flag=True, help="Read a new secret from standard input.")
@pass_app
def update(app: AppContext, name: str, secret_file: str | None, new_secret: bool, **kw: object) -> None:
    """Change a trunk (only the options given)."""
    secret = _secret(secret_file, needed=new_secret)
    with app.session() as session:
        carrier.update_trunk(session, app.settings, name, _spec(kw), secret)
    click.echo(f"Trunk {name} updated.")
    hint_apply()


@trunk.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List trunks (never their secret)."""
    with app.session() as session:
        rows = [carrier.trunk_row(t) for t in carrier.list_trunks(session)]
    emit(rows, ["name", "mode", "host", "port", "transport", "username", "match", "max_channels", "caller_id",
                "outbound"], as_json)


@trunk.command("show")
@click.argument("name")
@json_option
@pass_app
def show(app: AppContext, name: str, as_json: bool) -> None:
    """One trunk's settings (never its secret)."""
    with app.session() as session:
        row = carrier.trunk_row(carrier.get_trunk(session, name))
    emit_one(row, as_json)


@trunk.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Remove a trunk that carries no number."""
    with app.session() as session:
        carrier.remove_trunk(session, name)
    click.echo(f"Trunk {name} removed.")
    hint_apply()


@trunk.command("status")
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Registration and qualify state of each trunk, as the PBX reports it."""
    rows = carrier.trunk_status(app.settings)
    emit(rows, ["trunk", "registration", "reachable", "rtt_ms"], as_json)
