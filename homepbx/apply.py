"""Write rendered files into Asterisk's config directory, safely, and say what to reload.

`plan` compares the rendered files with what is on disk; `apply` refuses to touch a file
homepbx did not write (no MANAGED_MARKER) unless forced, checks every file before writing
any, writes each one atomically (temp file in the same directory, fsync, rename), and keeps
the owner of the file it replaces so Asterisk can still read it. `reload_commands` maps the
changed files to the CLI commands that make Asterisk pick them up; `reload` sends them
through any async `send_command` (the AMI adapter's `Action: Command`).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .config import Settings
from .errors import InvalidInput, OperationalError

# The header line every file homepbx writes carries; `apply` overwrites only files that have it.
MANAGED_MARKER = "Managed by homepbx — do not edit"

Status = Literal["new", "changed", "mode", "unchanged", "foreign"]

# Files holding a secret (the AMI password) or credentials (digest hashes) are not world-readable.
SECRET_FILES = frozenset({"manager.conf", "pjsip.conf"})
SECRET_MODE = 0o640
PUBLIC_MODE = 0o644
# The marker must sit in the header, not anywhere in a hand-written file.
_HEADER_LINES = 3
# Kept once, next to a foreign file that `--force` replaces.
BACKUP_SUFFIX = ".homepbx-orig"

# Which CLI command reloads which file; manager last, as it may drop AMI sessions.
_RELOADS: tuple[tuple[str, str], ...] = (
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
_SECRET_LINE = re.compile(r"^(?P<key>\s*secret\s*=\s*).*$", re.MULTILINE)


class ForeignFiles(InvalidInput):
    """Files that homepbx would overwrite but did not write."""

    def __init__(self, paths: list[Path]) -> None:
        listed = ", ".join(str(p) for p in paths)
        super().__init__(
            f"Refusing to overwrite {listed}: not written by homepbx (no '{MANAGED_MARKER}' header). "
            "Move it away or use --force (a copy is kept as *" + BACKUP_SUFFIX + ").",
            field="force",
        )
        self.paths = paths


@dataclass(frozen=True)
class Change:
    """What applying one rendered file would do."""

    name: str
    path: Path
    status: Status
    new_text: str
    old_text: str | None
    mode: int

    @property
    def writes(self) -> bool:
        """True when the file's content will be (re)written."""
        return self.status in ("new", "changed", "foreign")


@dataclass(frozen=True)
class ApplyResult:
    changes: list[Change]
    dry_run: bool
    # Files whose content was written (or would be, on a dry run), by name.
    changed: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


def mode_for(name: str) -> int:
    """The permission bits a managed file gets."""
    return SECRET_MODE if name in SECRET_FILES else PUBLIC_MODE


def config_dir(settings: Settings) -> Path:
    """Asterisk's config directory as seen from this host (inside the lab chroot for the lab)."""
    return settings.host_path(settings.asterisk.config_dir)


def is_managed(text: str) -> bool:
    """True when `text` carries homepbx's header."""
    return any(MANAGED_MARKER in line for line in text.splitlines()[:_HEADER_LINES])


def _check_name(name: str) -> None:
    # Names come from our own templates; still, never let one escape the directory.
    if not name or "/" in name or name.startswith("."):
        raise InvalidInput(f"Refusing to write a file named {name!r}.", field="name")


def plan(settings: Settings, files: Mapping[str, str]) -> list[Change]:
    """Compare `files` (name -> text) with the config directory, in file-name order."""
    directory = config_dir(settings)
    changes: list[Change] = []
    for name in sorted(files):
        _check_name(name)
        path = directory / name
        text, mode = files[name], mode_for(name)
        try:
            old = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            changes.append(Change(name, path, "new", text, None, mode))
            continue
        except UnicodeDecodeError:
            changes.append(Change(name, path, "foreign", text, None, mode))
            continue
        except OSError as exc:
            raise OperationalError(f"Cannot read {path}: {exc.strerror}.") from None
        if not is_managed(old):
            status: Status = "foreign"
        elif old != text:
            status = "changed"
        elif path.stat().st_mode & 0o777 != mode:
            status = "mode"
        else:
            status = "unchanged"
        changes.append(Change(name, path, status, text, old, mode))
    return changes


def _owner_for(path: Path) -> tuple[int, int] | None:
    """The uid/gid a (re)written file should get, or None to leave the default.

    Asterisk runs as its own user: a root-owned 0640 manager.conf would be unreadable to it.
    Keep the replaced file's owner, else take the directory's.
    """
    if os.geteuid() != 0:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        st = path.parent.stat()
    return st.st_uid, st.st_gid


def write_atomic(path: Path, text: str, mode: int) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, never a mix."""
    owner = _owner_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # Permissions before content: the secret is never readable by others, even briefly.
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


# Folders Asterisk writes into but does not create itself (as Asterisk sees them, under
# log_dir): without cel-custom, cel_custom drops every event with "No such file or directory"
# and the collector's crash-safe backfill has nothing to read.
RUNTIME_LOG_DIRS = ("cel-custom", "cdr-custom")


def ensure_runtime_dirs(settings: Settings) -> list[Path]:
    """Create the folders Asterisk will write records and recordings into; return those created.

    Each new folder takes the owner of its parent (Asterisk's own log or spool folder).
    """
    a = settings.asterisk
    wanted = [settings.host_path(a.log_dir) / name for name in RUNTIME_LOG_DIRS]
    wanted.append(settings.host_path(a.recordings_dir))
    created = []
    for directory in wanted:
        if directory.is_dir():
            continue
        missing = []
        probe = directory
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for new in reversed(missing):
            new.mkdir(mode=0o750)
            owner = _owner_for(new.parent)
            if owner is not None:
                os.chown(new, *owner)
        created.append(directory)
    return created


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply(settings: Settings, files: Mapping[str, str], *, force: bool = False, dry_run: bool = False) -> ApplyResult:
    """Write the files that differ; raise ForeignFiles (writing nothing) if any is foreign.

    With `force`, foreign files are replaced and a copy of each is kept next to it once.
    With `dry_run`, nothing is written and the result says what would change.
    """
    directory = config_dir(settings)
    if not directory.is_dir():
        raise OperationalError(f"The Asterisk config directory {directory} does not exist.")
    changes = plan(settings, files)
    foreign = [c.path for c in changes if c.status == "foreign"]
    if foreign and not force:
        raise ForeignFiles(foreign)
    changed = [c.name for c in changes if c.writes]
    if dry_run:
        return ApplyResult(changes, dry_run=True, changed=changed)
    backups: list[Path] = []
    try:
        ensure_runtime_dirs(settings)
        for c in changes:
            if c.status == "foreign":
                backup = c.path.with_name(c.path.name + BACKUP_SUFFIX)
                if not backup.exists():
                    shutil.copy2(c.path, backup)
                    os.chmod(backup, c.mode)  # may hold secrets too
                    backups.append(backup)
            if c.writes:
                write_atomic(c.path, c.new_text, c.mode)
            elif c.status == "mode":
                os.chmod(c.path, c.mode)
    except OSError as exc:
        raise OperationalError(f"Cannot write to {directory}: {exc.strerror}.") from None
    return ApplyResult(changes, dry_run=False, changed=changed, backups=backups)


def _redact(text: str) -> str:
    return _SECRET_LINE.sub(lambda m: m.group("key") + "********", text)


def unified_diff(change: Change) -> str:
    """The `--diff` text of one change (secrets masked), empty when the content is unchanged."""
    if not change.writes:
        return ""
    old = _redact(change.old_text or "").splitlines(keepends=True)
    new = _redact(change.new_text).splitlines(keepends=True)
    before = "/dev/null" if change.status == "new" else str(change.path)
    return "".join(difflib.unified_diff(old, new, fromfile=before, tofile=str(change.path)))


def reload_commands(changed: Iterable[str]) -> list[str]:
    """The Asterisk CLI commands that load the changed files, in a safe order (may be empty)."""
    wanted = set(changed)
    return [cmd for name, cmd in _RELOADS if name in wanted]


SendCommand = Callable[[str], Awaitable[str]]


async def reload(send_command: SendCommand, changed: Iterable[str]) -> list[tuple[str, str]]:
    """Send each needed reload command; return (command, Asterisk's output) pairs."""
    return [(cmd, await send_command(cmd)) for cmd in reload_commands(changed)]


__all__ = [
    "ApplyResult",
    "Change",
    "ForeignFiles",
    "apply",
    "config_dir",
    "ensure_runtime_dirs",
    "is_managed",
    "mode_for",
    "plan",
    "reload",
    "reload_commands",
    "unified_diff",
    "write_atomic",
]
