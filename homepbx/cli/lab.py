"""`homepbx lab ...` and `homepbx quickstart`: a real PBX on this machine (Asterisk 22, or a
FreeSWITCH 1.10 built once from source), to try homepbx."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import config
from ..config import Settings
from .common import AppContext, pass_app

if TYPE_CHECKING:
    from ..pbx import Lab

SETTINGS_FILE = "homepbx.toml"


backend_option = click.option(
    "--backend", type=click.Choice(["asterisk", "freeswitch"]), default="asterisk", show_default=True,
    help="Which PBX the lab runs.")


def _lab(app: AppContext, backend: str) -> Lab:
    from .. import backends

    return backends.by_name(backend).lab(app.settings)


def lab_site_settings(app: AppContext, backend: str = "asterisk") -> tuple[Settings, Path]:
    """The settings of the lab's own homepbx site: the lab PBX plus a SQLite database in the lab root."""
    settings = _lab(app, backend).lab_settings()
    root = Path(app.settings.lab.freeswitch_root if backend == "freeswitch" else app.settings.lab.root)
    settings = replace(settings, database=replace(settings.database, url=f"sqlite:///{root / 'homepbx.db'}"))
    return settings, root / SETTINGS_FILE


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def bring_up(app: AppContext, rebuild: bool, backend: str = "asterisk") -> tuple[Settings, Path]:
    """Build (once) and start the lab PBX with the lab site's configuration applied."""
    from .. import db, publish
    from ..lab.chroot import require_root

    require_root()
    pbx = _lab(app, backend)
    if rebuild:
        pbx.down()
    if backend == "asterisk" and (not pbx.is_built() or rebuild):
        click.echo("Building the lab (Debian sid + Asterisk 22 + baresip): about a minute, once.", err=True)
    pbx.ensure_built(rebuild=rebuild)
    settings, settings_path = lab_site_settings(app, backend)
    _write_private(settings_path, "# The lab's homepbx site (written by `homepbx lab up`).\n" + config.to_toml(settings))
    db.upgrade(settings.database.url)
    running = pbx.status().running
    publish.publish(settings, force=True, reload=running)
    pbx.up(wait=True, timeout=120)
    return settings, settings_path


@click.group()
def lab() -> None:
    """A local lab PBX in a Debian sid chroot on 127.0.0.1: Asterisk 22, or FreeSWITCH 1.10 with --backend freeswitch (needs root)."""


@lab.command("up")
@click.option("--rebuild", is_flag=True, help="Rebuild the chroot from nothing first (Asterisk only).")
@backend_option
@pass_app
def up(app: AppContext, rebuild: bool, backend: str) -> None:
    """Start the lab PBX (building it once), with the lab site's configuration applied."""
    settings, settings_path = bring_up(app, rebuild, backend)
    a = settings.sip
    control = f"AMI {settings.ami.port}" if backend == "asterisk" else f"ESL {settings.esl.port}"
    click.echo(f"The lab PBX runs on {a.bind_address}: SIP {a.udp_port} (UDP/TCP), TLS {a.tls_port}, {control}.")
    click.echo("Use the lab's own homepbx site with:")
    click.echo(f"  export HOMEPBX_CONFIG={settings_path}")
    click.echo("  homepbx agent add 1001 --name 'First Agent' && homepbx apply")
    click.echo("Or run `homepbx quickstart` for a ready demo site.")


@lab.command("down")
@backend_option
@pass_app
def down(app: AppContext, backend: str) -> None:
    """Stop the lab PBX (only what the lab started) and unmount what it mounted."""
    from ..lab.chroot import require_root

    require_root()
    _lab(app, backend).down()
    click.echo("The lab PBX is stopped.")


@lab.command("status")
@click.option("--json", "as_json", is_flag=True)
@backend_option
@pass_app
def status(app: AppContext, as_json: bool, backend: str) -> None:
    """Is the lab built and running?"""
    st = _lab(app, backend).status()
    if as_json:
        click.echo(json.dumps(asdict(st), indent=2))
        return
    click.echo(f"root      {st.root}\naddress   {st.address}\nbuilt     {'yes' if st.built else 'no'}")
    click.echo(f"running   {'yes, pid ' + str(st.pid) if st.running else 'no'}\nversion   {st.version or '-'}")


@lab.command("logs")
@click.option("-n", "--lines", type=int, default=50, show_default=True)
@backend_option
@pass_app
def logs(app: AppContext, lines: int, backend: str) -> None:
    """Show the end of the lab PBX's log."""
    click.echo(_lab(app, backend).logs(lines))


@lab.command("shell")
@backend_option
@pass_app
def shell(app: AppContext, backend: str) -> None:
    """Open the lab PBX's console (asterisk -rvvv, or fs_cli)."""
    raise SystemExit(_lab(app, backend).shell())


DEMO_AGENTS = (("1001", "Agent Alice", "agent"), ("1002", "Agent Bob", "agent"), ("2001", "Supervisor Sam", "supervisor"))


DEMO_CARRIER, DEMO_CARRIER_IP, DEMO_NUMBER = "sim-carrier", "127.0.11.1", "+33140000000"


def _demo_carrier(session, settings) -> None:  # type: ignore[no-untyped-def]
    """A simulated carrier (matched by its loopback address) and a public number to the queue."""
    from .. import carrier

    if DEMO_CARRIER not in {t.name for t in carrier.list_trunks(session)}:
        carrier.add_trunk(session, settings, DEMO_CARRIER, carrier.TrunkSpec(
            host=DEMO_CARRIER_IP, match=DEMO_CARRIER_IP, caller_id=DEMO_NUMBER))
        session.flush()
    if DEMO_NUMBER not in {n.e164 for n in carrier.list_numbers(session)}:
        carrier.add_number(session, settings, DEMO_NUMBER, carrier.NumberSpec(
            trunk=DEMO_CARRIER, route="queue", target="support"))
    carrier.set_outbound(session, settings, "demo", "national")


@click.command()
@click.option("--rebuild", is_flag=True, help="Rebuild the lab chroot from nothing first (Asterisk only).")
@backend_option
@pass_app
def quickstart(app: AppContext, rebuild: bool, backend: str) -> None:
    """Start the lab and provision a demo site: two agents, a supervisor, a team and a queue.

    Prints the softphone settings of each account (new passwords on every run).
    """
    from .. import db, provisioning, publish
    from ..provisioning import AgentSpec
    from .agents import show_credentials

    settings, settings_path = bring_up(app, rebuild, backend)
    shown = []
    with db.session_scope(settings.database.url) as session:
        existing = {a.extension for a in provisioning.list_agents(session)}
        if "demo" not in {t.name for t, _ in provisioning.list_teams(session)}:
            provisioning.add_team(session, "demo", "quickstart demo team")
            session.flush()
        for ext, name, role in DEMO_AGENTS:
            if ext in existing:
                shown.append(provisioning.rotate_password(session, settings, ext))
            else:
                spec = AgentSpec(ext, name, team="demo" if role == "agent" else None, role=role)  # type: ignore[arg-type]
                shown.extend(provisioning.add_agents(session, settings, [spec]))
        session.flush()
        if not provisioning.list_scopes(session, "2001"):
            provisioning.add_scope(session, "2001", "demo")
        if "support" not in {q.name for q, _ in provisioning.list_queues(session)}:
            provisioning.add_queue(session, "support", "500", strategy="ringall")
            session.flush()
            provisioning.add_members(session, "support", ["1001", "1002"])
        if settings.backend == "asterisk":
            _demo_carrier(session, settings)
    publish.publish(settings)
    for creds in shown:
        click.echo(f"\n== {creds.display_name} ==")
        show_credentials(creds, as_json=False)
    click.echo("\nThe demo site is live. Register softphones with the settings above, then:")
    click.echo("  call 1002 from 1001; dial 500 to reach the support queue;")
    click.echo("  from 2001, dial *21 + an agent's extension to listen in (*22 whisper, *23 barge).")
    cert = settings.sip.tls_cert_file
    if cert and any(c.transport == "tls" for c in shown):
        # A self-signed lab certificate: the softphone must trust it (or skip verification).
        click.echo(f"The accounts use TLS with SRTP; the lab's certificate is self-signed: import "
                   f"{settings.host_path(cert)} into the softphone or let it accept that certificate.")
    click.echo(f"Manage it with: export HOMEPBX_CONFIG={settings_path}")
    if settings.backend == "asterisk":
        click.echo(f"From outside: the simulated carrier trunk {DEMO_CARRIER} accepts calls sent from "
                   f"{DEMO_CARRIER_IP} (e.g. sipp -sn uac -i {DEMO_CARRIER_IP} -s 0140000000 {settings.lab.address}); "
                   f"{DEMO_NUMBER} rings the support queue, and demo agents may call national numbers out.")
