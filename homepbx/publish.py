"""Publish the site to its PBX: render the database, apply the files, reload what changed.

Neutral: the site's backend (homepbx.backends) renders the files and says how to treat them
(its ConfigTarget), and its Control reloads the PBX.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import apply as applier
from . import backends, db, sip_tls
from .config import Settings
from .errors import OperationalError


@dataclass
class PublishResult:
    result: applier.ApplyResult
    reloaded: list[str] = field(default_factory=list)
    # The PBX as users read its name ("Asterisk", "FreeSWITCH"), for messages.
    pbx: str = ""


def render(settings: Settings) -> dict[str, str]:
    """The rendered files for the current database (file path relative to the config dir -> text)."""
    target = backends.backend(settings).config
    db.ensure_current(settings.database.url)
    with db.session_scope(settings.database.url) as session:
        sip_tls.check_site(settings, sip_tls.transports(session))
        return target.render(session, settings)


def reload_pbx(settings: Settings, changed: list[str],
               texts: Mapping[str, tuple[str | None, str]] | None = None) -> list[str]:
    """Make the site's PBX read the `changed` files; return what was sent (e.g. CLI commands).

    `texts`: each file's (text before, or None if unknown or new; text now).
    """
    texts = dict(texts or {})
    try:
        return backends.run(settings, lambda control: control.reload(changed, texts))
    except OperationalError as exc:
        title = backends.backend(settings).title
        raise OperationalError(
            f"The configuration was written but {title} was not reloaded: {str(exc).rstrip('.')}. "
            f"Run `homepbx apply --reload` once {title} is reachable."
        ) from None


def render_to(settings: Settings, out_dir: Path) -> list[str]:
    """Render the site's files into `out_dir` (created if missing), as `apply` would write them
    but without touching the PBX or its config directory; return the file names."""
    policy = backends.backend(settings).config.file_policy(settings)
    files = render(settings)
    try:
        for name in sorted(files):
            path = applier.path_in(out_dir, name)
            # The user's own folder: their umask, not the PBX's folder modes and owners.
            path.parent.mkdir(parents=True, exist_ok=True)
            applier.write_atomic(path, files[name], applier.mode_for(policy, name))
    except OSError as exc:
        raise OperationalError(f"Cannot write to {out_dir}: {exc.strerror}.") from None
    return sorted(files)


def publish(
    settings: Settings,
    *,
    force: bool = False,
    dry_run: bool = False,
    reload: bool = True,
    always_reload: bool = False,
) -> PublishResult:
    """Render, write atomically, then reload the PBX only for files that changed."""
    backend = backends.backend(settings)
    files = render(settings)
    result = applier.apply(backend.config.file_policy(settings), files, force=force, dry_run=dry_run)
    out = PublishResult(result, pbx=backend.title)
    if dry_run or not reload:
        return out
    targets = list(files) if always_reload else result.changed
    if targets:
        # A forced reload does not know what the PBX last read: no "before" for any file.
        # A file homepbx did not write tells nothing of what the PBX loaded from ours.
        before = {} if always_reload else {c.name: c.old_text for c in result.changes if c.status != "foreign"}
        out.reloaded = reload_pbx(settings, targets, {n: (before.get(n), files[n]) for n in targets})
    return out
