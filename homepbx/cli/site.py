"""Site-wide commands: init, db, render, apply."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import replace
from pathlib import Path

import click

from .. import config, names, sip_options, sip_tls
from .. import db as database
from ..errors import InvalidInput
from .common import AppContext, pass_app


def write_settings_file(path: Path, settings: config.Settings) -> None:
    """Create a settings file (0600: it holds the AMI secret); never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"The settings file {path} already exists.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# homepbx settings (created by `homepbx init`).\n")
        handle.write(config.to_toml(settings))


HOSTS_FILE = Path("/etc/hosts")


def hostname_warning(hostname: str | None = None, hosts_file: Path = HOSTS_FILE,
                     bind_address: str = "0.0.0.0") -> str | None:
    """A warning when the PBX may look this server's host name up through DNS on every call, else None.

    A PBX bound to every address looks its own host name up to find "our address" (Asterisk
    does for every call leg), and with a loopback answer (Debian's `127.0.1.1 host`) it goes on
    to look up A.ROOT-SERVERS.NET: through DNS, each lookup can stall calls for seconds. A
    specific `sip.bind_address` needs no lookup; otherwise /etc/hosts must give the name a
    non-loopback address.
    """
    import ipaddress

    if bind_address not in ("0.0.0.0", "::"):
        return None
    name = hostname if hostname is not None else socket.gethostname()
    try:
        lines = hosts_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    wanted = {name.lower(), name.split(".", 1)[0].lower()}
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and wanted & {f.lower() for f in fields[1:]}:
            try:
                if not ipaddress.ip_address(fields[0]).is_loopback:
                    return None
            except ValueError:
                continue
    return (f"Warning: sip.bind_address is every address and {hosts_file} gives this server's host name "
            f"{name!r} no address of its own (none, or only a loopback one): the PBX may look it up through "
            f"DNS on every call, and a slow resolver then stalls calls. Set sip.bind_address to the address "
            f"agents reach, or add a line '<that address> {name}' to {hosts_file}.")


def _warn_hostname(settings: config.Settings) -> None:
    warning = hostname_warning(bind_address=settings.sip.bind_address)
    if warning:
        click.echo(warning, err=True)


@click.command()
@click.option("--database-url", default=None, help="SQLAlchemy URL (default: a SQLite file).")
@click.option("--sip-domain", default=None, help="SIP domain / digest realm agents register to.")
@click.option("--public-address", default=None, help="Address agents' softphones reach the PBX at.")
@click.option("--asterisk-config-dir", default=None, help="Where `apply` writes Asterisk's files.")
@click.option("--backend", type=click.Choice(["asterisk", "freeswitch"]), default=None,
              help="The PBX of the site (default: asterisk).")
@click.option("--tls-cert", default=None,
              help="The PBX's TLS certificate (PEM, full chain) for the SIP domain: agents use TLS + SRTP.")
@click.option("--tls-key", default=None, help="The private key of --tls-cert (PEM).")
@pass_app
def init(app: AppContext, database_url: str | None, sip_domain: str | None, public_address: str | None,
         asterisk_config_dir: str | None, backend: str | None, tls_cert: str | None, tls_key: str | None) -> None:
    """Create the settings file (with new AMI and ESL secrets) if missing, and create or upgrade the database.

    Agents connect over TLS with SRTP media by default: the PBX needs a certificate for the name
    agents type (--tls-cert/--tls-key, or sip.tls_cert_file/sip.tls_key_file later, e.g. from
    Let's Encrypt), on Asterisk and FreeSWITCH alike.
    """
    path = Path(app.config_path) if app.config_path else config.DEFAULT_PATH
    if not path.exists():
        base = config.Settings()
        asterisk, sip = base.asterisk, base.sip
        if sip_domain:
            sip = replace(sip, domain=names.hostname(sip_domain, "SIP domain"))
        if public_address:
            sip = replace(sip, public_address=names.hostname(public_address, "public address"))
        if bool(tls_cert) != bool(tls_key):
            raise InvalidInput("Give both --tls-cert and --tls-key, or neither.", field="tls")
        if tls_cert and tls_key:
            cert, key = Path(tls_cert).absolute(), Path(tls_key).absolute()
            sip_tls.usable(cert, key)
            sip = replace(sip, tls_cert_file=str(cert), tls_key_file=str(key))
            sip_options.tls_files(replace(base, sip=sip))
        if asterisk_config_dir:
            asterisk = replace(asterisk, config_dir=asterisk_config_dir)
        settings = replace(
            base,
            database=replace(base.database, url=database_url or base.database.url),
            sip=sip,
            asterisk=asterisk,
            ami=replace(base.ami, secret=secrets.token_urlsafe(24)),
            esl=replace(base.esl, password=secrets.token_urlsafe(24)),
            backend=backend or base.backend,
        )
        write_settings_file(path, settings)
        click.echo(f"Wrote settings to {path}.")
    elif any((database_url, sip_domain, public_address, asterisk_config_dir, backend, tls_cert, tls_key)):
        raise InvalidInput(f"The settings file {path} already exists: edit it instead of passing options.")
    app.config_path = str(path)
    url = app.settings.database.url
    database.upgrade(url)
    click.echo(f"Database ready at {url} (schema {database.current_revision(url)}).")
    click.echo("Next: `homepbx team add NAME`, `homepbx agent add EXT --name NAME`, then `homepbx apply`.")
    sip = app.settings.sip
    if sip.agent_transport == "tls" and not sip.tls_cert_file:
        click.echo(f"Agents connect over TLS (port {sip.tls_port}) with SRTP media: before `homepbx apply`, set "
                   f"sip.tls_cert_file and sip.tls_key_file in {path} to a certificate and key (PEM) for "
                   f"{sip.public_address or sip.domain}.", err=True)
    _warn_hostname(app.settings)


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@pass_app
def db_upgrade(app: AppContext) -> None:
    """Upgrade the schema to the newest version."""
    url = app.settings.database.url
    database.upgrade(url)
    click.echo(f"Schema at {database.current_revision(url)}.")


@db_group.command("status")
@pass_app
def db_status(app: AppContext) -> None:
    """Show the schema version."""
    url = app.settings.database.url
    current, head = database.current_revision(url), database.head_revision()
    click.echo(f"Schema {current or 'none'} (newest {head}){'' if current == head else ': run `homepbx db upgrade`'}.")


@db_group.command("rebuild-rollups")
@pass_app
def db_rebuild_rollups(app: AppContext) -> None:
    """Make the reports' hourly roll-ups again from the call records.

    The collector keeps them up to date. After a queue's service level or wrap-up time changes,
    the hours counted before are read from the raw rows instead (the same figures, more slowly)
    until this runs. Takes about 20 s per million calls; safe while the collector runs.
    """
    import time

    from ..records import rollup

    url = app.settings.database.url
    database.ensure_current(url)
    started = time.monotonic()
    with database.engine_for(url).begin() as conn:
        rollup.rebuild(conn)
    click.echo(f"Roll-ups rebuilt in {time.monotonic() - started:.1f} s.")


db = db_group


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the files into (created if missing).")
@pass_app
def render(app: AppContext, out_dir: Path) -> None:
    """Render the PBX configuration into a folder, without touching the PBX."""
    from .. import publish

    names = publish.render_to(app.settings, out_dir)
    click.echo(f"Rendered {len(names)} files into {out_dir}.")


@click.command()
@click.option("--diff", "show_diff", is_flag=True, help="Show a unified diff of every change.")
@click.option("--dry-run", is_flag=True, help="Change nothing; say what would change.")
@click.option("--force", is_flag=True, help="Overwrite files homepbx did not write (a copy is kept).")
@click.option("--no-reload", is_flag=True, help="Write the files but do not reload the PBX.")
@click.option("--reload", "always_reload", is_flag=True, help="Reload the PBX even if no file changed.")
@pass_app
def apply(app: AppContext, show_diff: bool, dry_run: bool, force: bool, no_reload: bool, always_reload: bool) -> None:
    """Write the PBX configuration atomically and reload the PBX for what changed."""
    from .. import publish

    out = publish.publish(app.settings, force=force, dry_run=dry_run, reload=not no_reload,
                          always_reload=always_reload)
    if show_diff:
        click.echo(out.result.diff(), nl=False)
    verb = "Would write" if dry_run else "Wrote"
    if out.result.changed:
        click.echo(f"{verb} {len(out.result.changed)} file(s): {', '.join(out.result.changed)}.")
    else:
        click.echo(f"Nothing to change: {out.pbx}'s configuration is up to date.")
    for backup in out.result.backups:
        click.echo(f"Kept the replaced file as {backup}.")
    if out.reloaded:
        click.echo(f"Reloaded {out.pbx}: {'; '.join(out.reloaded)}.")
    _warn_hostname(app.settings)
