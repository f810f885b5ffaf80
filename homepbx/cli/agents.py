"""`homepbx agent ...`: provision home agents and supervisors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import provisioning
from ..models import Agent
from ..provisioning import AgentSpec, SoftphoneSettings
from .common import AppContext, emit, emit_one, hint_apply, json_option, pass_app

if TYPE_CHECKING:  # the PBX layer is imported only by the commands that use it (fast --help)
    from ..pbx import AgentStatus


def agent_row(agent: Agent) -> dict[str, object]:
    return {
        "extension": agent.extension,
        "display_name": agent.display_name,
        "role": agent.role.value,
        "team": agent.team.name if agent.team else None,
        "enabled": agent.enabled,
        "email": agent.email,
        "employment": agent.employment.value,
        "billing_rate": str(agent.billing_rate),
        "billing_unit": agent.billing_unit.value,
        "spy_modes": agent.spy_modes,
        "transport": agent.transport,
    }


def show_credentials(creds: SoftphoneSettings, as_json: bool) -> None:
    """Print what a home agent types into their softphone; the password is never shown again."""
    row = {
        "display_name": creds.display_name,
        "server": creds.server,
        "port": creds.port,
        "transport": creds.transport,
        "media_encryption": "srtp (sdes), mandatory" if creds.srtp else "none",
        "username": creds.username,
        "password": creds.password,
        "realm": creds.realm,
        "sip_uri": f"sip:{creds.username}@{creds.server}",
    }
    emit_one(row, as_json)
    if not as_json:
        click.echo("This password is shown once and is not stored: hand it to the agent now.", err=True)


def show_onboarding(folder: Path) -> None:
    """Say where the onboarding files went (the password they hold is in no other file)."""
    click.echo(f"Onboarding files for the softphone (readable only by you) are in {folder}.", err=True)


onboarding_option = click.option(
    "--onboarding", "onboarding_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
    help="Existing folder DIR: also write a Linphone provisioning file, a QR code and a settings sheet, "
         "holding the new password, into DIR/<extension> (must not exist yet; files 0600).",
)


@click.group()
def agent() -> None:
    """Home agents and supervisors (one SIP account each)."""


@agent.command("add")
@click.argument("extension")
@click.option("--name", "display_name", required=True, help="Display name, as shown in caller ID.")
@click.option("--email", default="", help="E-mail address.")
@click.option("--team", default=None, help="Team name.")
@click.option("--role", type=click.Choice(["agent", "supervisor"]), default="agent", show_default=True)
@click.option("--employment", type=click.Choice(["employee", "independent", "umbrella"]), default="employee",
              show_default=True, help="Employee, independent (auto-entrepreneur) or umbrella-company contractor.")
@click.option("--rate", "billing_rate", default="0", show_default=True, help="Billing rate (per minute or per call).")
@click.option("--unit", "billing_unit", type=click.Choice(["minute", "call"]), default="minute", show_default=True)
@click.option("--modes", "spy_modes", default=None,
              help="Supervisors: spy modes allowed, e.g. listen,whisper (default: listen,whisper,barge).")
@onboarding_option
@click.option("--transport", type=click.Choice(["tls", "udp", "tcp"]), default=None,
              help="tls: TLS signalling and SRTP media (the default, sip.agent_transport); udp or tcp: "
                   "clear text, for a legacy desk phone (refused when the site sets sip.allow_clear_text = false).")
@json_option
@pass_app
def add(app: AppContext, extension: str, display_name: str, email: str, team: str | None, role: str,
        employment: str, billing_rate: str, billing_unit: str, spy_modes: str | None, onboarding_dir: Path | None,
        transport: str | None, as_json: bool) -> None:
    """Add an agent (or supervisor) and print their softphone settings, password included, once."""
    spec = AgentSpec(extension, display_name, email, team, role, employment, billing_rate, billing_unit,  # type: ignore[arg-type]
                     spy_modes, transport)
    if onboarding_dir is not None:
        from .. import onboarding

        creds, folder = onboarding.add_agent(app.session, app.settings, spec, onboarding_dir)
    else:
        with app.session() as session:
            (creds,) = provisioning.add_agents(session, app.settings, [spec])
    show_credentials(creds, as_json)
    if not as_json:
        if onboarding_dir is not None:
            show_onboarding(folder)
        hint_apply()


@agent.command("list")
@click.option("--team", default=None, help="Only this team.")
@click.option("--role", type=click.Choice(["agent", "supervisor"]), default=None)
@json_option
@pass_app
def list_(app: AppContext, team: str | None, role: str | None, as_json: bool) -> None:
    """List agents and supervisors."""
    with app.session() as session:
        rows = [agent_row(a) for a in provisioning.list_agents(session, team, role)]
    emit(rows, ["extension", "display_name", "role", "team", "enabled", "employment"], as_json)


@agent.command("show")
@click.argument("extension")
@json_option
@pass_app
def show(app: AppContext, extension: str, as_json: bool) -> None:
    """Show one agent, with queue memberships."""
    with app.session() as session:
        a = provisioning.get_agent(session, extension)
        row = agent_row(a)
        row["queues"] = ", ".join(f"{m.queue.name}(penalty {m.penalty})" for m in sorted(a.memberships, key=lambda m: m.queue.name))
        if a.is_supervisor:
            row["scope"] = ", ".join(sorted(s.team.name for s in a.scopes))
    emit_one(row, as_json)


def _toggle(app: AppContext, extension: str, enabled: bool) -> None:
    with app.session() as session:
        a = provisioning.set_enabled(session, extension, enabled)
        click.echo(f"Agent {a.extension} {'enabled' if enabled else 'disabled'}.")
    hint_apply()


@agent.command("disable")
@click.argument("extension")
@pass_app
def disable(app: AppContext, extension: str) -> None:
    """Disable an agent: after `apply` their softphone can no longer register."""
    _toggle(app, extension, False)


@agent.command("enable")
@click.argument("extension")
@pass_app
def enable(app: AppContext, extension: str) -> None:
    """Enable a disabled agent again."""
    _toggle(app, extension, True)


@agent.command("remove")
@click.argument("extension")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def remove(app: AppContext, extension: str, yes: bool) -> None:
    """Remove an agent for good (their call records stay)."""
    with app.session() as session:
        a = provisioning.get_agent(session, extension)
        if not yes:
            click.confirm(f"Remove agent {a.extension} ({a.display_name})?", abort=True)
        provisioning.remove_agent(session, extension)
    click.echo(f"Agent {extension} removed.")
    hint_apply()


@agent.command("passwd")
@click.argument("extension")
@onboarding_option
@json_option
@pass_app
def passwd(app: AppContext, extension: str, onboarding_dir: Path | None, as_json: bool) -> None:
    """Give an agent a new SIP password, shown once."""
    if onboarding_dir is not None:
        from .. import onboarding

        creds, folder = onboarding.rotate(app.session, app.settings, extension, onboarding_dir)
    else:
        with app.session() as session:
            creds = provisioning.rotate_password(session, app.settings, extension)
    show_credentials(creds, as_json)
    if not as_json:
        if onboarding_dir is not None:
            show_onboarding(folder)
        hint_apply()


@agent.command("onboarding")
@click.argument("extension")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Existing folder; the files go into OUT/<extension>, which must not exist yet.")
@json_option
@pass_app
def onboarding_(app: AppContext, extension: str, out_dir: Path, as_json: bool) -> None:
    """Issue a new password and write the agent's softphone onboarding files.

    Writes OUT/<extension>/linphone.xml (Linphone remote provisioning), qr.png (the settings as
    a QR code) and softphone.txt (a sheet to read), each readable only by you. Onboarding always
    issues a new password, as `agent passwd` does: the current one is not stored, so it cannot
    be written out; the old password stops working at the next `homepbx apply`.
    """
    from .. import onboarding

    creds, folder = onboarding.rotate(app.session, app.settings, extension, out_dir)
    show_credentials(creds, as_json)
    if not as_json:
        show_onboarding(folder)
        hint_apply()


@agent.command("update")
@click.argument("extension")
@click.option("--name", "display_name", default=None)
@click.option("--email", default=None)
@click.option("--team", default=None, help="Move to this team.")
@click.option("--no-team", is_flag=True, help="Take out of any team.")
@click.option("--employment", type=click.Choice(["employee", "independent", "umbrella"]), default=None)
@click.option("--rate", "billing_rate", default=None)
@click.option("--unit", "billing_unit", type=click.Choice(["minute", "call"]), default=None)
@click.option("--modes", "spy_modes", default=None, help="Supervisors: spy modes allowed.")
@click.option("--transport", type=click.Choice(["tls", "udp", "tcp"]), default=None,
              help="tls: TLS signalling and SRTP media ; udp or tcp: "
                   "clear text, for a legacy desk phone (refused when the site sets sip.allow_clear_text = false).")
@pass_app
def update(app: AppContext, extension: str, display_name: str | None, email: str | None, team: str | None,
           no_team: bool, employment: str | None, billing_rate: str | None, billing_unit: str | None,
           spy_modes: str | None, transport: str | None) -> None:
    """Change an agent's name, e-mail, team, employment, billing or transport.

    A new transport takes effect at the next `homepbx apply`: give the agent their new softphone
    settings first (`homepbx agent onboarding EXT`).
    """
    with app.session() as session:
        provisioning.update_agent(session, extension, display_name=display_name, email=email, team=team,
                                  clear_team=no_team, employment=employment, billing_rate=billing_rate,
                                  billing_unit=billing_unit, spy_modes=spy_modes, transport=transport,
                                  settings=app.settings)
    click.echo(f"Agent {extension} updated.")
    hint_apply()


@agent.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--credentials", "credentials_out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="New file to write the one-time passwords to (mode 0600).")
@onboarding_option
@pass_app
def import_(app: AppContext, csv_file: Path, credentials_out: Path, onboarding_dir: Path | None) -> None:
    """Add agents in bulk from a CSV file; all or nothing.

    Columns: extension, display_name (required), email, team, role, employment, billing_rate,
    billing_unit, spy_modes, transport (tls, the default, or udp/tcp for clear text).
    With --onboarding DIR, each agent's onboarding files also go to DIR/<extension>.
    """
    from rich.progress import Progress

    from .. import agent_csv

    specs, labels = agent_csv.read_agents(csv_file)
    tmp = agent_csv.open_private(credentials_out)
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("Adding agents", total=len(specs))

            def step(n: int) -> None:
                progress.update(task, completed=n)

            if onboarding_dir is not None:
                from .. import onboarding

                creds, _ = onboarding.add_agents(app.session, app.settings, specs, labels, onboarding_dir, step)
            else:
                with app.session() as session:
                    creds = provisioning.add_agents(session, app.settings, specs, labels, progress=step)
            agent_csv.write_credentials(tmp, creds)
        tmp.rename(credentials_out)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(f"Added {len(creds)} agents; their passwords are in {credentials_out} (readable only by you).")
    if onboarding_dir is not None:
        show_onboarding(onboarding_dir)
    hint_apply()


# --- queue states on the live PBX (login, logout, pause, unpause, status) ----------------------

_STATUS_COLUMNS = ["agent", "state", "reason", "queues", "paused_in", "device", "calls_taken"]


def _print_status(status: AgentStatus, as_json: bool) -> None:
    emit_one(status.row(), as_json)


@agent.command("login")
@click.argument("extension")
@click.option("--queue", default=None, help="Only this queue (default: every queue the agent is a member of).")
@json_option
@pass_app
def login(app: AppContext, extension: str, queue: str | None, as_json: bool) -> None:
    """Log an agent in to their queues; prints the state the PBX then reports."""
    from .. import agent_state

    _print_status(agent_state.login(app.settings, extension, queue), as_json)


@agent.command("logout")
@click.argument("extension")
@click.option("--queue", default=None, help="Only this queue (default: every queue the agent is a member of).")
@json_option
@pass_app
def logout(app: AppContext, extension: str, queue: str | None, as_json: bool) -> None:
    """Log an agent out of their queues; prints the state the PBX then reports."""
    from .. import agent_state

    _print_status(agent_state.logout(app.settings, extension, queue), as_json)


@agent.command("pause")
@click.argument("extension")
@click.option("--reason", required=True, help="Why (break, lunch, training...): shown in status and reports.")
@json_option
@pass_app
def pause(app: AppContext, extension: str, reason: str, as_json: bool) -> None:
    """Pause an agent in every queue: no queue call reaches them until `agent unpause`."""
    from .. import agent_state

    _print_status(agent_state.pause(app.settings, extension, reason), as_json)


@agent.command("unpause")
@click.argument("extension")
@json_option
@pass_app
def unpause(app: AppContext, extension: str, as_json: bool) -> None:
    """Unpause an agent: queue calls reach them again."""
    from .. import agent_state

    _print_status(agent_state.unpause(app.settings, extension), as_json)


@agent.command("status")
@click.argument("extension", required=False)
@json_option
@pass_app
def status(app: AppContext, extension: str | None, as_json: bool) -> None:
    """Queue state of one agent or of all: logged out, available, on call, paused (with the reason).

    The state is what the PBX reports, not what homepbx last asked for.
    """
    from .. import agent_state

    rows = agent_state.status(app.settings, extension)
    if extension is not None:
        _print_status(rows[0], as_json)
    else:
        emit([r.row() for r in rows], _STATUS_COLUMNS, as_json)
