"""Write rendered files into a PBX's config directory, safely, and say which ones changed.

Neutral: what differs between PBXs (where the files go, which hold secrets, how a diff masks
them, which folders the PBX needs) comes in a `homepbx.pbx.FilePolicy` from the backend's
ConfigTarget; reloading is the backend's Control's (see homepbx.publish).

`plan` compares the rendered files with what is on disk; `apply` refuses to touch a file
homepbx did not write (no MANAGED_MARKER) unless forced, checks every file before writing
any, writes each one atomically (temp file in the same directory, fsync, rename), and keeps
the owner of the file it replaces so the PBX can still read it. File names may have folders
("autoload_configs/sofia.conf.xml"): missing ones are created, and no name may leave the
config directory.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .errors import InvalidInput, OperationalError
from .pbx import FilePolicy

if TYPE_CHECKING:
    from .config import Settings

# The header line every file homepbx writes carries; `apply` overwrites only files that have it.
MANAGED_MARKER = "Managed by homepbx — do not edit"

Status = Literal["new", "changed", "mode", "unchanged", "foreign"]

# The policy's secret files (passwords, digest hashes) are not world-readable.
SECRET_MODE = 0o640
PUBLIC_MODE = 0o644
# The marker must sit in the header, not anywhere in a hand-written file.
_HEADER_LINES = 3
# Kept once, next to a foreign file that `--force` replaces.
BACKUP_SUFFIX = ".homepbx-orig"

# Folders created for nested file names: readable by the PBX's group, like the files.
DIR_MODE = 0o750


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
    """What `apply` did (or, on a dry run, would do)."""

    changes: list[Change]
    dry_run: bool
    # Masks the secrets of a file's text (the policy's), for `diff`.
    redact: Callable[[str, str], str] = field(compare=False, repr=False)
    # Files whose content was written (or would be, on a dry run), by name.
    changed: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)

    def diff(self) -> str:
        """The unified diffs of every change, secrets masked (empty when no content changes)."""
        return "".join(unified_diff(c, self.redact) for c in self.changes)


def mode_for(policy: FilePolicy, name: str) -> int:
    """The permission bits a managed file gets."""
    return SECRET_MODE if name in policy.secret_files else PUBLIC_MODE


def config_dir(settings: Settings) -> Path:
    """The site's PBX config directory as seen from this host (inside the lab chroot for the lab)."""
    from . import backends

    return backends.backend(settings).config.file_policy(settings).config_dir


def is_managed(text: str) -> bool:
    """True when `text` carries homepbx's header."""
    return any(MANAGED_MARKER in line for line in text.splitlines()[:_HEADER_LINES])


def path_in(directory: Path, name: str) -> Path:
    """`directory / name` for a relative file name with "/"-separated folders, refusing any name
    that could leave `directory` or hide a file ("", absolute, "..", hidden or empty parts)."""
    # Names come from our own templates; still, never let one escape the directory. A part may
    # not start with "." (hidden files, "." and "..": apply's own temp files start with one).
    parts = name.split("/")
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        raise InvalidInput(f"Refusing to write a file named {name!r}.", field="name")
    path = directory.joinpath(*parts)
    # A folder inside the directory may be a link to elsewhere: the name must not leave it either.
    if len(parts) > 1 and not path.parent.resolve().is_relative_to(directory.resolve()):
        raise InvalidInput(f"Refusing to write {name!r}: its folder leads out of {directory}.", field="name")
    return path


def plan(policy: FilePolicy, files: Mapping[str, str]) -> list[Change]:
    """Compare `files` (name -> text) with the config directory, in file-name order."""
    directory = policy.config_dir
    changes: list[Change] = []
    for name in sorted(files):
        path = path_in(directory, name)
        text, mode = files[name], mode_for(policy, name)
        try:
            old = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
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

    The PBX runs as its own user: a root-owned 0640 secret file would be unreadable to it.
    Keep the replaced file's owner, else take the directory's.
    """
    if os.geteuid() != 0:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        st = path.parent.stat()
    return st.st_uid, st.st_gid


def write_atomic(path: Path, text: str | bytes, mode: int) -> None:
    """Replace `path` with `text` (UTF-8, or bytes as given) so that readers see the old or the new
    file, never a mix."""
    owner = _owner_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # Permissions before content: the secret is never readable by others, even briefly.
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
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


def make_dirs(directory: Path) -> bool:
    """Create `directory` and its missing parents (0750); True if it did not exist.

    Each new folder takes the owner of its parent (the PBX's own config, log or spool folder).
    """
    if directory.is_dir():
        return False
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for new in reversed(missing):
        new.mkdir(mode=DIR_MODE)
        owner = _owner_for(new.parent)
        if owner is not None:
            os.chown(new, *owner)
    return True


def ensure_runtime_dirs(policy: FilePolicy) -> list[Path]:
    """Create the folders the PBX will write records and recordings into; return those created."""
    return [directory for directory in policy.runtime_dirs if make_dirs(directory)]


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply(policy: FilePolicy, files: Mapping[str, str], *, force: bool = False,
          dry_run: bool = False) -> ApplyResult:
    """Write the files that differ; raise ForeignFiles (writing nothing) if any is foreign.

    With `force`, foreign files are replaced and a copy of each is kept next to it once.
    With `dry_run`, nothing is written and the result says what would change.
    """
    directory = policy.config_dir
    if not directory.is_dir():
        raise OperationalError(f"The config directory {directory} does not exist.")
    changes = plan(policy, files)
    foreign = [c.path for c in changes if c.status == "foreign"]
    if foreign and not force:
        raise ForeignFiles(foreign)
    changed = [c.name for c in changes if c.writes]
    if dry_run:
        return ApplyResult(changes, True, policy.redact, changed=changed)
    backups: list[Path] = []
    try:
        ensure_runtime_dirs(policy)
        for c in changes:
            if c.path.parent != directory:
                make_dirs(c.path.parent)
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
    return ApplyResult(changes, False, policy.redact, changed=changed, backups=backups)


def unified_diff(change: Change, redact: Callable[[str, str], str]) -> str:
    """The `--diff` text of one change (secrets masked by `redact`, the policy's), empty when the
    content is unchanged."""
    if not change.writes:
        return ""
    old_text, new_text = redact(change.name, change.old_text or ""), redact(change.name, change.new_text)
    before = "/dev/null" if change.status == "new" else str(change.path)
    return "".join(difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                        fromfile=before, tofile=str(change.path)))


__all__ = [
    "ApplyResult",
    "Change",
    "ForeignFiles",
    "apply",
    "config_dir",
    "ensure_runtime_dirs",
    "is_managed",
    "make_dirs",
    "mode_for",
    "path_in",
    "plan",
    "unified_diff",
    "write_atomic",
]
