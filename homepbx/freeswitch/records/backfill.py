"""Read what FreeSWITCH wrote to its JSON CDR directory while nobody was listening.

mod_json_cdr writes one file per leg (`<uuid>.cdr.json`, `a_<uuid>.cdr.json` for A-legs) when the
leg is over, whether or not the collector runs: the durable record. Files are never appended to,
so the cursor (table record_sources, `offset`) is a modification time in nanoseconds: every file
at or after it (less `MARGIN`) is read again at the next read. It stops at the oldest file of a
call still in progress, so a crash between two reads loses nothing; reading again what was
already stored is harmless (the store's natural keys drop it).

A call read from the files is finished (LINKEDID_END) when none of its legs is still up: the
collector asks FreeSWITCH which are (`OpenLegs`, filled at every connect) before reading. A file
that does not parse yet (mod_json_cdr still writing it) holds the cursor until it does, for at
most `UNREADABLE_GIVE_UP` seconds.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from sqlalchemy import select

from ...models import RecordSource, utcnow
from ...records.events import Engine
from .feed import OpenLegs
from .legs import CallIds, Leg, agent_action_row, end_event, leg_events, leg_from_cdr, spy_mark

SOURCE = "freeswitch_json_cdr"
# Files this much older than the cursor are read again: mtimes of files written around the same
# moment need not come in the order they were listed.
MARGIN = 5.0
# A file still unreadable this long after it was written is skipped for good (counted).
UNREADABLE_GIVE_UP = 120.0
SUFFIX = ".cdr.json"
SETTLE = 3.0


@dataclass
class ReadStats:
    files: int = 0
    skipped: int = 0
    calls_ended: int = 0


def load_cursor(conn: Connection) -> int:
    """The stored cursor: files modified at or after it (ns since the epoch, less MARGIN) are read."""
    row = conn.execute(select(RecordSource.offset).where(RecordSource.name == SOURCE)).first()
    return int(row[0]) if row else 0


def save_cursor(conn: Connection, mtime_ns: int) -> None:
    table = RecordSource.__table__
    values = {"inode": 0, "offset": mtime_ns, "updated_at": utcnow()}
    if conn.execute(table.update().where(table.c.name == SOURCE).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(name=SOURCE, **values))


class Backfill:
    """Feeds the engine from the JSON CDR directory; `commit_cursor` runs in the transaction that
    stores the rows."""

    def __init__(self, engine: Engine, directory: Path, calls: CallIds, open_legs: OpenLegs) -> None:
        self.engine = engine
        self.directory = directory
        self.calls = calls
        self.open_legs = open_legs
        self._next: int | None = None

    def read(self, conn: Connection) -> ReadStats:
        """Feed every leg in files modified since the cursor; end the calls none of whose legs is up."""
        stats = ReadStats()
        cursor = load_cursor(conn)
        since = cursor - int(MARGIN * 1e9)
        found: list[tuple[int, str, Leg]] = []
        hold: int | None = None
        newest = cursor
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if not entry.name.endswith(SUFFIX):
                continue
            try:
                mtime = entry.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if mtime < since:
                continue
            leg = _read(Path(entry.path))
            if leg is None:
                if now - mtime / 1e9 < UNREADABLE_GIVE_UP:
                    hold = mtime if hold is None else min(hold, mtime)
                else:
                    stats.skipped += 1
                newest = max(newest, mtime)
                continue
            found.append((mtime, entry.name, leg))
            newest = max(newest, mtime)
        # Parents before children, so a leg's call id follows its originator's.
        found.sort(key=lambda f: (f[2].start, f[0]))
        ends: dict[str, float] = {}
        files_of: dict[str, int] = {}
        feed = self.engine.feed
        for mtime, _name, leg in found:
            call = self.calls.assign(leg.uuid, leg.member_of, leg.originator)
            for item in leg_events(leg, call, spy_mark(leg, self.calls) if leg.spy else None):
                feed(item)
            row = agent_action_row(leg)
            if row is not None:
                feed(row)
            ends[call] = max(ends.get(call, 0.0), leg.hangup)
            files_of[call] = min(files_of.get(call, mtime), mtime)
            stats.files += 1
        for call, at in ends.items():
            # A leg hung up just now may still be writing its file (or its partner's is): a call
            # is ended from the files only once its last hangup is SETTLE seconds old.
            if self.open_legs.is_open(call) or now - at < SETTLE:
                # Still in progress: its last leg's hangup (live) ends it; its files are read again.
                hold = files_of[call] if hold is None else min(hold, files_of[call])
            else:
                self.engine.feed_cel(end_event(call, at))
                stats.calls_ended += 1
        self._next = min(hold, newest) if hold is not None else newest
        return stats

    def commit_cursor(self, conn: Connection) -> None:
        """Move the cursor past what the last read finished (call in the storing transaction)."""
        if self._next is not None:
            save_cursor(conn, self._next)
            self._next = None


def _read(path: Path) -> Leg | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return leg_from_cdr(data) if isinstance(data, dict) else None
