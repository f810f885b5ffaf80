"""The audit log: who did what to whom, when."""

from __future__ import annotations

import getpass
import json
import os
from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEntry


def current_actor() -> str:
    """The human behind the command (the sudo caller rather than root where known)."""
    for var in ("HOMEPBX_ACTOR", "SUDO_USER"):
        if os.environ.get(var):
            return os.environ[var][:64]
    try:
        return getpass.getuser()[:64]
    except Exception:  # no passwd entry in some containers
        return f"uid:{os.getuid()}"


def record(session: Session, action: str, target: str = "", actor: str | None = None, **details: Any) -> None:
    """Add an audit entry to the session's transaction (committed with the change it describes)."""
    session.add(
        AuditEntry(
            actor=actor or current_actor(),
            action=action,
            target=target[:128],
            details=json.dumps(details, sort_keys=True, default=str) if details else "",
        )
    )
