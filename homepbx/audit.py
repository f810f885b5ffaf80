"""The audit log: who did what to whom, when.

Light to import (no SQLAlchemy at import time): the spy command writes its entry through a
plain SQL connection to stay fast (see supervision.py); every entry's values come from
`entry()`, whichever way it is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# models.AuditEntry's table and columns.
INSERT_SQL = (
    "INSERT INTO audit_log (at, actor, action, target, details)"
    " VALUES (:at, :actor, :action, :target, :details)"
)


def current_actor() -> str:
    """The human behind the command (the sudo caller rather than root where known)."""
    for var in ("HOMEPBX_ACTOR", "SUDO_USER"):
        if os.environ.get(var):
            return os.environ[var][:64]
    try:
        import getpass

        return getpass.getuser()[:64]
    except Exception:  # no passwd entry in some containers
        return f"uid:{os.getuid()}"


def entry(action: str, target: str = "", actor: str | None = None, **details: Any) -> dict[str, Any]:
    """The column values of one audit entry (naive UTC time, as every time in the database)."""
    return {
        "at": datetime.now(timezone.utc).replace(tzinfo=None),
        "actor": actor or current_actor(),
        "action": action,
        "target": target[:128],
        "details": json.dumps(details, sort_keys=True, default=str) if details else "",
    }


def record(session: Session, action: str, target: str = "", actor: str | None = None, **details: Any) -> None:
    """Add an audit entry to the session's transaction (committed with the change it describes)."""
    from .models import AuditEntry

    session.add(AuditEntry(**entry(action, target, actor, **details)))


def record_with(
    query: Callable[[str, dict[str, Any]], Sequence[Any]],
    action: str,
    target: str = "",
    actor: str | None = None,
    **details: Any,
) -> None:
    """Insert an audit entry with plain SQL (`query` runs `:name`-style statements); the caller commits."""
    query(INSERT_SQL, entry(action, target, actor, **details))


def entry_at(at: datetime, action: str, target: str = "", actor: str | None = None, **details: Any) -> dict[str, Any]:
    """`entry()` for something that happened at `at` (naive UTC), e.g. read from Asterisk's events."""
    values = entry(action, target, actor, **details)
    values["at"] = at
    return values
