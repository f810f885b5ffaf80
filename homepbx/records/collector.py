"""`homepbx collect`: AMI events in, call records and agent events out, as they happen.

A thin runner around the pure engine. On start and after every AMI reconnect it reads
Asterisk's own files (backfill) so that what happened while it was away is stored, and feeds
live events, writing a batch every `flush_interval` seconds. SIGTERM/SIGINT: the current batch
is written, then it exits 0.

AMI is always up before the files are read, and live events wait until the read is done: an
event is then either in the files when they are read or in the AMI stream after it, never in
neither (the engine drops what both deliver). Reading first and connecting after would lose
whatever Asterisk did in between, and a call ending after the connect would be stored with a
hole in it (an answered call stored as abandoned), for good: its linkedid is then taken.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import db
from ..config import Settings
from ..errors import OperationalError
from .backfill import Backfill
from .events import Engine
from .store import store

log = logging.getLogger("homepbx.collector")

# Asterisk file names, as config_templates/asterisk configures them (relative to log_dir).
CEL_FILE = "cel-custom/homepbx-cel.csv"
QUEUE_LOG_FILE = "queue_log"

_BACKFILL = object()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the `extra` fields."""

    _plain = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._plain})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(data, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("homepbx")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@dataclass
class Totals:
    calls: int = 0
    agent_events: int = 0
    events: int = 0
    backfills: int = 0


class Collector:
    """Owns the engine, the backfill and the database writes; `run()` until `stop` is set."""

    def __init__(self, settings: Settings, *, flush_interval: float = 1.0, tail_interval: float = 30.0) -> None:
        self.settings = settings
        self.url = settings.database.url
        self.engine = Engine()
        log_dir = settings.host_path(settings.asterisk.log_dir)
        self.backfill = Backfill(self.engine, log_dir / CEL_FILE, log_dir / QUEUE_LOG_FILE)
        self.flush_interval = flush_interval
        # Re-reading the files now and then also moves their cursors forward, so a crash only
        # ever costs a re-read of the last few minutes.
        self.tail_interval = tail_interval
        self.totals = Totals()
        self.stop = asyncio.Event()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        # Set on an AMI reconnect: read the files before feeding the next live event.
        self._missed = False

    # -- the parts that do not need AMI (tests drive these directly) ----------------------------
    def catch_up(self) -> None:
        """Read the files, store what finished, move the cursors: all in one transaction."""
        with db.engine_for(self.url).begin() as conn:
            stats = self.backfill.read(conn)
            got = store(conn, self.engine.drain())
            self.backfill.commit_cursors(conn)
        self.totals.backfills += 1
        self.totals.calls += got.calls
        self.totals.agent_events += got.agent_events
        log.info("backfill", extra={"cel_lines": stats.cel_lines, "queue_lines": stats.queue_lines,
                                    "skipped": stats.skipped, "calls": got.calls, "agent_events": got.agent_events,
                                    "open_calls": self.engine.open_calls})

    def flush(self) -> None:
        self.engine.expire(time.time())
        batch = self.engine.drain()
        if not batch:
            return
        with db.engine_for(self.url).begin() as conn:
            got = store(conn, batch)
        self.totals.calls += got.calls
        self.totals.agent_events += got.agent_events
        if got.calls or got.agent_events:
            log.info("stored", extra={"calls": got.calls, "agent_events": got.agent_events,
                                      "open_calls": self.engine.open_calls})

    # -- the live loop ----------------------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        self._queue.put_nowait((event, time.time()))

    def _on_reconnect(self, _client: Any) -> None:
        # The client calls this right after the login, before the loop runs the consumer again,
        # so events that came with or after the login are fed only after the files are read.
        # The marker only wakes an idle consumer.
        log.warning("ami reconnected; reading Asterisk's files for what was missed")
        self._missed = True
        self._queue.put_nowait(_BACKFILL)

    async def _catch_up(self) -> None:
        # In a thread, so the loop keeps reading AMI meanwhile (Asterisk drops a session whose
        # events it cannot write for `writetimeout`); only this coroutine's caller feeds the
        # engine, and it waits here, so the thread has the engine to itself.
        await asyncio.to_thread(self.catch_up)

    async def run(self) -> Totals:
        from ..ami import AmiClient, AmiError

        db.ensure_current(self.url)
        client = AmiClient.from_settings(self.settings.ami, reconnect=True, ping_interval=20.0)
        client.add_event_handler("*", self._on_event)
        client.on_reconnect(self._on_reconnect)
        try:
            await client.connect()
        except AmiError as exc:
            # Still store what the files hold: the next start resumes from there.
            await self._catch_up()
            raise OperationalError(f"Cannot reach Asterisk's AMI at {client.where}: {exc}") from None
        try:
            await self._catch_up()
        except BaseException:
            await client.close()
            raise
        log.info("collecting", extra={"ami": client.where})
        next_flush = time.monotonic() + self.flush_interval
        next_tail = time.monotonic() + self.tail_interval
        try:
            while not self.stop.is_set():
                timeout = max(0.0, next_flush - time.monotonic())
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    item = None
                if self._missed:
                    self._missed = False
                    self.flush()
                    await self._catch_up()
                if item is not None and item is not _BACKFILL:
                    event, received = item
                    self.totals.events += 1
                    self.engine.feed_ami(event, received)
                now = time.monotonic()
                if now >= next_flush:
                    self.flush()
                    next_flush = now + self.flush_interval
                if now >= next_tail:
                    await self._catch_up()
                    next_tail = now + self.tail_interval
        finally:
            # Whatever was received is stored before leaving; calls still open will be finished
            # from the files by the next start.
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not _BACKFILL:
                    self.engine.feed_ami(item[0], item[1])
            self.flush()
            await client.close()
            log.info("stopped", extra={"calls": self.totals.calls, "agent_events": self.totals.agent_events,
                                       "events": self.totals.events, "open_calls": self.engine.open_calls})
        return self.totals


def run_forever(settings: Settings) -> Totals:
    """Run the collector until SIGTERM or SIGINT."""
    setup_logging()

    async def main() -> Totals:
        collector = Collector(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, collector.stop.set)
        return await collector.run()

    return asyncio.run(main())


def log_dir_of(settings: Settings) -> Path:
    return settings.host_path(settings.asterisk.log_dir)
