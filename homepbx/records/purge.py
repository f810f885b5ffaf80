"""Retention (GDPR): forget call records, agent events and recordings older than a cutoff.

The reports' hourly roll-ups lose the purged rows' share: the hours the deleted rows fell in
(up to the last leg or queue event of a purged call, which may outlast the cutoff) are rebuilt
from the rows left, in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import audit
from ..config import Settings
from ..errors import InvalidInput
from ..models import AgentEvent, CallLeg, CallLegQuality, CallRecord, CallSupervision, QueueEvent, Recording, utcnow
from . import rollup

_AGE = re.compile(r"([1-9][0-9]{0,4})([dwy])")
_UNIT_DAYS = {"d": 1, "w": 7, "y": 365}


@dataclass
class Purged:
    cutoff: datetime
    calls: int = 0
    agent_events: int = 0
    recordings: int = 0
    files: list[str] = field(default_factory=list)


def cutoff(older_than: str, now: datetime | None = None) -> datetime:
    """`90d`, `26w`, `2y`, or a date (YYYY-MM-DD, UTC): records that started before it go."""
    text = older_than.strip()
    match = _AGE.fullmatch(text)
    if match:
        return (now or utcnow()) - timedelta(days=int(match.group(1)) * _UNIT_DAYS[match.group(2)])
    try:
        return datetime.fromisoformat(text) if len(text) == 10 else _bad(text)
    except ValueError:
        return _bad(text)


def _bad(text: str) -> datetime:
    raise InvalidInput(f"--older-than must be like 90d, 26w, 2y or 2025-01-31, got {text!r}.", field="older-than")


def purge(session: Session, before: datetime) -> Purged:
    """Delete in the session's transaction (with its audit entry); the files are left to `remove_files`."""
    out = Purged(before)
    old_calls = select(CallRecord.linkedid).where(CallRecord.started_at < before)
    # The last moment a purged row is counted at in the roll-ups.
    last = max([before] + [t for t in (
        session.execute(select(func.max(CallLeg.started_at)).where(CallLeg.linkedid.in_(old_calls))).scalar(),
        session.execute(select(func.max(QueueEvent.at)).where(QueueEvent.linkedid.in_(old_calls))).scalar(),
    ) if t is not None])
    # Children first: SQLite only cascades with foreign_keys=ON, and explicit is cheaper to reason about.
    session.execute(delete(CallLeg).where(CallLeg.linkedid.in_(old_calls)))
    session.execute(delete(CallLegQuality).where(CallLegQuality.linkedid.in_(old_calls)))
    session.execute(delete(QueueEvent).where(QueueEvent.linkedid.in_(old_calls)))
    out.calls = session.execute(delete(CallRecord).where(CallRecord.started_at < before)).rowcount or 0
    out.agent_events = session.execute(delete(AgentEvent).where(AgentEvent.at < before)).rowcount or 0
    # Who listened to which call goes with the calls (sessions count by their start, as calls do).
    session.execute(delete(CallSupervision).where(CallSupervision.started_at < before))
    if out.calls or out.agent_events:
        rollup.rebuild(session.connection(), None, rollup.hour_of(last) + 1)
    out.files = list(session.scalars(select(Recording.path).where(Recording.started_at < before)))
    out.recordings = session.execute(delete(Recording).where(Recording.started_at < before)).rowcount or 0
    audit.record(session, "records.purge", target=f"before {before:%Y-%m-%d %H:%M:%S}", calls=out.calls,
                 agent_events=out.agent_events, recordings=out.recordings)
    return out


def remove_files(settings: Settings, paths: list[str]) -> tuple[int, list[str]]:
    """Delete recording files once their rows are gone; returns (removed, failures)."""
    removed, failed = 0, []
    for path in paths:
        host = settings.host_path(path)
        try:
            host.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed.append(f"{host}: {exc.strerror}")
    return removed, failed


__all__ = ["Purged", "cutoff", "purge", "remove_files"]
