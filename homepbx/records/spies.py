"""Spies started from a supervisor's softphone feature code, for the audit log.

`homepbx spy ...` audits its own spy (supervision.record_with). A spy a supervisor starts by
dialling a feature code (`*21<agent>` listen, `*22<agent>` whisper, `*23<agent>` barge) reaches
the PBX through the dialplan only: the backend's records adapter recognises the channel event
that starts it (for Asterisk, homepbx.asterisk.records.sources.spy_from_cel) and sets it on that
event as a `SpyRow`; the engine reports it in its batches, and `store_spies` audits it here.

The entry is written once: the supervisor channel's uniqueid is its `source_key` (unique in the
audit log; also in the details as `key`), and an insert whose key is taken is skipped by the
database (live and backfill both report it, a restart reads the files again, and two collectors
may run at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import audit
from .types import SpyRow

if TYPE_CHECKING:
    from sqlalchemy import Connection

SOURCE = "feature code"


def store_spies(conn: Connection, spies: Sequence[SpyRow]) -> int:
    """Write each spy not already in the audit log; returns how many were new."""
    # Imported here, as before: loading the records modules does not load the ORM.
    from ..models import AuditEntry

    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert

    rows: dict[str, dict[str, object]] = {}
    for spy in spies:
        if not spy.key or spy.key in rows:
            continue
        values = audit.entry_at(
            spy.at, f"spy.{spy.mode}", spy.agent, spy.supervisor,
            supervisor=spy.supervisor, agent=spy.agent, mode=spy.mode,
            agent_channel="", supervisor_channel=spy.supervisor_channel,
            source=SOURCE, context=spy.context, exten=spy.exten, switchable=spy.switchable, key=spy.key,
        )
        values["source_key"] = spy.key
        rows[spy.key] = values
    if not rows:
        return 0
    # The unique source_key decides, in the database: safe with any number of collectors.
    table = AuditEntry.__table__
    statement = insert(table).on_conflict_do_nothing(index_elements=["source_key"]).returning(table.c.id)
    return len(conn.execute(statement, list(rows.values())).all())
