"""Read what Asterisk wrote to its own files (CEL CSV, queue_log) while nobody was listening.

Asterisk appends to these files whether or not the collector runs, so they are the durable
record. A cursor per file (table record_sources) remembers where reading may resume: the start of
the oldest call still unfinished at the last read, so a crash between two reads loses nothing.
Reading again what was already stored is harmless: the store's natural keys drop it.

Log rotation (Debian's logrotate renames queue_log to queue_log.1 every week, and a sysadmin may
rotate the CEL CSV the same way): a cursor names its file by inode, so when the file under the
usual name is a new one, the renamed old file is found by that inode next to it and read to its
end first. Calls open across the rotation keep the cursor in the old file until they finish.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from ...models import RecordSource, utcnow
from ...records.events import Engine
from .sources import parse_cel_line, parse_queue_log_line
from ...records.types import AgentEventRow, epoch

# Lines this much older than the oldest open call are re-read anyway: queue_log and CEL stamp
# the start of a call a little apart.
MARGIN = 60.0
CEL_SOURCE = "cel_csv"
QUEUE_LOG_SOURCE = "queue_log"


@dataclass
class Cursor:
    inode: int = 0
    offset: int = 0


@dataclass
class ReadStats:
    cel_lines: int = 0
    queue_lines: int = 0
    skipped: int = 0


def read_lines(path: Path, cursor: Cursor) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each complete line from the cursor on; from the start if the file was rotated."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        st = os.fstat(handle.fileno())
        start = cursor.offset if (st.st_ino == cursor.inode and st.st_size >= cursor.offset) else 0
        handle.seek(start)
        offset = start
        for line in handle:
            if not line.endswith(b"\n"):
                break  # Asterisk is still writing this one; the next read gets it whole.
            yield offset, line
            offset += len(line)


def rotated(path: Path, inode: int) -> Path | None:
    """The file `path` was renamed to by a rotation (queue_log.1, queue_log-20261127...), by inode."""
    if not inode:
        return None
    for candidate in path.parent.glob(glob.escape(path.name) + "?*"):
        try:
            if candidate.stat().st_ino == inode and candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def segments(path: Path, cursor: Cursor) -> list[tuple[Path, Cursor]]:
    """What to read, in order, from the cursor on: the rotated file's rest first, if it rotated."""
    inode = _inode(path)
    if not cursor.inode or cursor.inode == inode:
        return [(path, Cursor(inode, cursor.offset))]
    old = rotated(path, cursor.inode)
    # An old file gone for good (deleted, or compressed: a new inode) cannot be read again.
    head = [(old, cursor)] if old is not None else []
    return head + [(path, Cursor(inode, 0))]


def load_cursor(conn: Connection, name: str) -> Cursor:
    row = conn.execute(select(RecordSource.inode, RecordSource.offset).where(RecordSource.name == name)).first()
    return Cursor(row[0], row[1]) if row else Cursor()


def save_cursor(conn: Connection, name: str, cursor: Cursor) -> None:
    table = RecordSource.__table__
    values = {"inode": cursor.inode, "offset": cursor.offset, "updated_at": utcnow()}
    if conn.execute(table.update().where(table.c.name == name).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(name=name, **values))


class Backfill:
    """Feeds the engine from the files; `commit_cursors` runs in the transaction storing the rows."""

    def __init__(self, engine: Engine, cel_path: Path, queue_log_path: Path) -> None:
        self.engine = engine
        self.cel_path = cel_path
        self.queue_log_path = queue_log_path
        # name -> (cursor of the first line read, [(time, cursor of that line)], cursor past the end)
        self._marks: dict[str, tuple[Cursor, list[tuple[float, Cursor]], Cursor]] = {}

    def read(self, conn: Connection) -> ReadStats:
        """Feed every line after the stored cursors to the engine.

        queue_log goes first: its entries wait beside the engine until their call's CEL
        LINKEDID_END finishes the call.
        """
        stats = ReadStats()
        for name, path in ((QUEUE_LOG_SOURCE, self.queue_log_path), (CEL_SOURCE, self.cel_path)):
            parts = segments(path, load_cursor(conn, name))
            first = end = parts[0][1]
            marks: list[tuple[float, Cursor]] = []
            for part, start in parts:
                if start.inode == 0:
                    continue  # no file under that name (yet)
                end = Cursor(start.inode, start.offset if start.inode == _inode(part) else 0)
                for offset, raw in read_lines(part, start):
                    end = Cursor(start.inode, offset + len(raw))
                    text = raw.decode("utf-8", errors="replace")
                    item = parse_cel_line(text) if name == CEL_SOURCE else parse_queue_log_line(text)
                    if item is None:
                        stats.skipped += 1
                        continue
                    at = epoch(item.at) if isinstance(item, AgentEventRow) else item.time
                    marks.append((at, Cursor(start.inode, offset)))
                    self.engine.feed(item)
                    if name == CEL_SOURCE:
                        stats.cel_lines += 1
                    else:
                        stats.queue_lines += 1
            self._marks[name] = (first, marks, end)
        return stats

    def commit_cursors(self, conn: Connection) -> None:
        """Move each cursor to the first line of the oldest call still open in the engine."""
        oldest = self.engine.oldest_open()
        for name, (first, marks, end) in self._marks.items():
            cursor = end
            if oldest is not None:
                keep = next((i for i, (t, _) in enumerate(marks) if t >= oldest - MARGIN), None)
                if keep == 0:
                    cursor = first  # the open call began before this read: stay where we were
                elif keep is not None:
                    cursor = marks[keep][1]
            save_cursor(conn, name, cursor)
        self._marks.clear()


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return 0
