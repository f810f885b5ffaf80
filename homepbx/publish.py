"""Publish the site to Asterisk: render the database, apply the files, reload what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import apply as applier
from . import db
from .config import Settings
from .errors import OperationalError
from .asterisk.render import render_site


@dataclass
class PublishResult:
    result: applier.ApplyResult
    reloaded: list[str] = field(default_factory=list)


def render(settings: Settings) -> dict[str, str]:
    """The rendered files for the current database."""
    db.ensure_current(settings.database.url)
    with db.session_scope(settings.database.url) as session:
        return render_site(session, settings)


def reload_asterisk(settings: Settings, changed: list[str]) -> list[str]:
    """Send the reload commands for `changed` over AMI; return the commands sent."""
    from .asterisk.ami import run_actions

    async def work(client) -> list[str]:  # type: ignore[no-untyped-def]
        async def send(cmd: str) -> str:
            return "\n".join(await client.command(cmd))

        return [cmd for cmd, _ in await applier.reload(send, changed)]

    try:
        return run_actions(settings.ami, work)
    except OperationalError as exc:
        raise OperationalError(
            f"The configuration was written but Asterisk was not reloaded: {str(exc).rstrip('.')}. "
            "Run `homepbx apply --reload` once Asterisk is reachable."
        ) from None


def publish(
    settings: Settings,
    *,
    force: bool = False,
    dry_run: bool = False,
    reload: bool = True,
    always_reload: bool = False,
) -> PublishResult:
    """Render, write atomically, then reload Asterisk only for files that changed."""
    files = render(settings)
    result = applier.apply(settings, files, force=force, dry_run=dry_run)
    out = PublishResult(result)
    if dry_run or not reload:
        return out
    targets = list(files) if always_reload else result.changed
    if targets:
        out.reloaded = reload_asterisk(settings, targets)
    return out
