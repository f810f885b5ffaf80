"""Asterisk's configuration as `homepbx apply` handles it: `CONFIG` (a pbx.ConfigTarget) and `reload`.

`CONFIG.render` is homepbx.asterisk.render.render_site; `CONFIG.file_policy` says where the files
go, which hold secrets (masked in diffs) and which folders Asterisk needs but does not create.
`reload` sends, over AMI, the CLI commands that make Asterisk read the files that changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..pbx import FilePolicy
from .render import render_site

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..config import Settings
    from .ami import AmiClient

# Files holding a secret (the AMI password) or credentials (digest hashes) are not world-readable.
SECRET_FILES = frozenset({"manager.conf", "pjsip.conf"})

# Which CLI command reloads which file; manager last, as it may drop AMI sessions.
RELOADS: tuple[tuple[str, str], ...] = (
    ("logger.conf", "logger reload"),
    ("pjsip.conf", "module reload res_pjsip.so"),
    ("features.conf", "module reload features"),
    ("queues.conf", "module reload app_queue.so"),
    ("extensions.conf", "dialplan reload"),
    ("cdr.conf", "module reload cdr"),
    ("cdr_custom.conf", "module reload cdr_custom.so"),
    ("cel.conf", "module reload cel"),
    ("cel_custom.conf", "module reload cel_custom.so"),
    ("manager.conf", "manager reload"),
)

# Folders Asterisk writes into but does not create itself (as Asterisk sees them, under
# log_dir): without cel-custom, cel_custom drops every event with "No such file or directory"
# and the collector's crash-safe backfill has nothing to read.
RUNTIME_LOG_DIRS = ("cel-custom", "cdr-custom")

# manager.conf's AMI `secret`; pjsip.conf's digest credentials (`md5_cred`: for a trunk, what
# authenticates us to the carrier) and any clear `password`.
_SECRET_LINE = re.compile(r"^(?P<key>\s*(?:secret|md5_cred|password)\s*=\s*).*$", re.MULTILINE)


def redact(name: str, text: str) -> str:
    """`text` with every secret value masked (`secret`, `md5_cred`, `password`), for diffs."""
    return _SECRET_LINE.sub(lambda m: m.group("key") + "********", text)


def reload_commands(changed: Iterable[str]) -> list[str]:
    """The Asterisk CLI commands that load the changed files, in a safe order (may be empty)."""
    wanted = set(changed)
    return [cmd for name, cmd in RELOADS if name in wanted]


async def reload(client: AmiClient, changed: Sequence[str]) -> list[str]:
    """Send each needed reload command over AMI (`Action: Command`), manager last; return them."""
    commands = reload_commands(changed)
    for cmd in commands:
        await client.command(cmd)
    return commands


class AsteriskConfig:
    """`homepbx.pbx.ConfigTarget` for Asterisk."""

    def render(self, session: Session, settings: Settings) -> dict[str, str]:
        """Each managed file name (e.g. "pjsip.conf") -> its text."""
        return render_site(session, settings)

    def file_policy(self, settings: Settings) -> FilePolicy:
        """Asterisk's config directory on this host (inside the lab chroot for the lab), its secret
        files, and the log and recordings folders it writes into."""
        a = settings.asterisk
        log_dir = settings.host_path(a.log_dir)
        return FilePolicy(
            config_dir=settings.host_path(a.config_dir),
            secret_files=SECRET_FILES,
            redact=redact,
            runtime_dirs=tuple(log_dir / name for name in RUNTIME_LOG_DIRS) + (settings.host_path(a.recordings_dir),),
        )

CONFIG = AsteriskConfig()

__all__ = ["CONFIG", "RELOADS", "RUNTIME_LOG_DIRS", "SECRET_FILES", "AsteriskConfig", "redact", "reload",
           "reload_commands"]
