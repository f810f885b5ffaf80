"""Spies started from a supervisor's softphone feature code, for the audit log.

`homepbx spy ...` audits its own spy (supervision.record_with). A supervisor dialling
`*21<agent>` (listen), `*22<agent>` (whisper) or `*23<agent>` (barge) reaches ChanSpy through
the dialplan only (dialplans/asterisk/supervisors.j2): Asterisk's CEL APP_START for that ChanSpy is the
one trace of it, live over AMI and in the CEL CSV. Such an APP_START is told from the CLI's by
what the dialplan gives it and an Originate does not: the dialled code as the channel's exten,
a homepbx context (the supervisor's own `homepbx-sup-<ext>`, which includes the
`homepbx-spy-<team>-<mode>` contexts) and the `PJSIP/<agent>-` prefix as ChanSpy's argument.
The CLI's Originate runs ChanSpy on the agent's full channel name with no dialled code.

The entry is written once: the supervisor channel's uniqueid is its `source_key` (unique in the
audit log; also in the details as `key`), and an insert whose key is taken is skipped by the
database (live and backfill both report it, a restart reads the files again, and two collectors
may run at once).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import audit
from ..asterisk.records.sources import endpoint_of
from .types import CelEvent, SpyRow, utc

if TYPE_CHECKING:
    from sqlalchemy import Connection

SOURCE = "feature code"
MODES = {"1": "listen", "2": "whisper", "3": "barge"}
_CODE = re.compile(r"^\*2([123])([0-9A-Za-z_.]+)$")
# ChanSpy(PJSIP/<agent>-,<options>): the feature code's prefix form, never a full channel name.
_APPDATA = re.compile(r"^PJSIP/([^,/-]+)-(?:,([A-Za-z]*))?$")
_SPY_CONTEXT = re.compile(r"^homepbx-spy-.+-(listen|whisper|barge|switch)$")


def spy_from_cel(ev: CelEvent) -> SpyRow | None:
    """The feature-code spy this CEL event starts, or None (any other event, the CLI's spy)."""
    if ev.event != "APP_START" or ev.appname.lower() != "chanspy":
        return None
    code = _CODE.match(ev.exten)
    data = _APPDATA.match(ev.appdata.strip())
    if code is None or data is None or data.group(1) != code.group(2):
        return None
    context = ev.context
    if context and not context.startswith("homepbx-"):
        return None
    supervisor = endpoint_of(ev.channel)
    if not supervisor or not ev.channel.startswith("PJSIP/"):
        return None
    # The dialled code names the mode; a `homepbx-spy-<team>-<mode>` context (if Asterisk ever
    # reports the included context) must agree with it.
    mode = MODES[code.group(1)]
    named = _SPY_CONTEXT.match(context)
    if named and named.group(1) != "switch" and named.group(1) != mode:
        return None
    options = data.group(2) or ""
    return SpyRow(utc(ev.time), supervisor, code.group(2), mode, ev.channel, context, ev.exten,
                  "d" in options, ev.uniqueid)


def store_spies(conn: Connection, spies: Sequence[SpyRow]) -> int:
    """Write each spy not already in the audit log; returns how many were new."""
    # Imported here: the engine (spy_from_cel) stays free of SQLAlchemy.
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
