"""`homepbx collect`: AMI events in, call records and agent events out, as they happen.

A thin runner around the pure engine. On start and after every AMI reconnect it reads
Asterisk's own files (backfill) so that what happened while it was away is stored, and feeds
live events, writing a batch every `flush_interval` seconds or every `batch_calls` finished calls,
whichever comes first. SIGTERM/SIGINT: what was received is written, then it exits 0.

Live events are not handed over one by one through an asyncio queue: the AMI client's handler
appends them to a list and wakes the loop once, and the loop feeds the whole list to the engine
(per-event asyncio hand-offs cost more than the engine itself at thousands of events a second).
On PostgreSQL the batches are written by a `BatchWriter` thread (the server's work overlaps the
parsing); on SQLite inline (its work is in-process C code: a thread only adds GIL hand-offs).
Either way a batch is written in one transaction, in order, and before the backfill cursors move:
`catch_up` first waits for every queued batch to be committed, so a cursor never gets ahead of
rows (a kill -9 then loses nothing). `bench/records.py` measures this class, fed over TCP.

AMI is always up before the files are read, and live events wait until the read is done: an
event is then either in the files when they are read or in the AMI stream after it, never in
neither (the engine drops what both deliver). Reading first and connecting after would lose
whatever Asterisk did in between, and a call ending after the connect would be stored with a
hole in it (an answered call stored as abandoned), for good: its linkedid is then taken.
"""

from __future__ import annotations

import asyncio
import gc
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
from ..transfer_watch import TransferWatch
from .backfill import Backfill
from .events import Engine
from .store import BatchWriter, Stored, store

log = logging.getLogger("homepbx.collector")

# Asterisk file names, as config_templates/asterisk configures them (relative to log_dir).
CEL_FILE = "cel-custom/homepbx-cel.csv"
QUEUE_LOG_FILE = "queue_log"

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

    def __init__(self, settings: Settings, *, flush_interval: float = 1.0, tail_interval: float = 30.0,
                 batch_calls: int = 1000, threaded: bool | None = None) -> None:
        self.settings = settings
        self.url = settings.database.url
        self.engine = Engine()
        log_dir = settings.host_path(settings.asterisk.log_dir)
        self.backfill = Backfill(self.engine, log_dir / CEL_FILE, log_dir / QUEUE_LOG_FILE)
        self.flush_interval = flush_interval
        # Re-reading the files now and then also moves their cursors forward, so a crash only
        # ever costs a re-read of the last few minutes.
        self.tail_interval = tail_interval
        # A batch is also written as soon as this many calls are finished (a busy PBX).
        self.batch_calls = batch_calls
        # None: a writer thread on PostgreSQL, inline on SQLite (see the module docstring).
        self.threaded = threaded
        self.totals = Totals()
        self.stop = asyncio.Event()
        # Live events (message, time received) not yet fed to the engine; `_wake` is set when
        # the list stops being empty (or a reconnect wants the files read).
        self._inbox: list[tuple[Any, float]] = []
        self._wake = asyncio.Event()
        # Set on an AMI reconnect: read the files before feeding the next live event.
        self._missed = False
        # The writer thread while `run()` runs with one (see `threaded`).
        self._writer: BatchWriter | None = None

    # -- the parts that do not need AMI (tests drive these directly) ----------------------------
    def catch_up(self) -> None:
        """Read the files, store what finished, move the cursors: all in one transaction.

        Batches still queued for the writer thread are committed first: the cursors may pass
        calls only once their rows are in the database."""
        if self._writer is not None:
            self._writer.wait()
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
        """Write what the engine finished: inline, or queued for the writer thread."""
        self.engine.expire(time.time())
        batch = self.engine.drain()
        if not batch:
            return
        if self._writer is not None:
            self._writer.put(batch)  # waits while the writer is `depth` batches behind
            return
        with db.engine_for(self.url).begin() as conn:
            got = store(conn, batch)
        self._stored(got)

    def _stored(self, got: Stored) -> None:
        # Inline, or from the writer thread (one batch at a time, so the counts add up).
        self.totals.calls += got.calls
        self.totals.agent_events += got.agent_events
        if got.calls or got.agent_events:
            log.info("stored", extra={"calls": got.calls, "agent_events": got.agent_events,
                                      "open_calls": self.engine.open_calls})

    def feed(self, items: list[tuple[Any, float]]) -> None:
        """Feed live events (message, time received) to the engine; write a batch as soon as
        `batch_calls` calls are finished."""
        feed_ami = self.engine.feed_ami
        for event, received in items:
            feed_ami(event, received)
        self.totals.events += len(items)
        if self.engine.finished >= self.batch_calls:
            self.flush()

    def start_writer(self) -> None:
        """Write batches from a thread from now on (`threaded`; None: on PostgreSQL only)."""
        threaded = self.threaded
        if threaded is None:
            threaded = db.engine_for(self.url).dialect.name == "postgresql"
        if threaded and self._writer is None:
            self._writer = BatchWriter(self.url, on_stored=self._stored)

    def stop_writer(self) -> None:
        """Commit every queued batch, then stop the thread (errors are raised here)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    # -- the live loop ----------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Make `run()` store what it received and return (SIGTERM, SIGINT)."""
        self.stop.set()
        self._wake.set()

    def _on_event(self, event: Any, _time: Any = time.time) -> None:
        inbox = self._inbox
        inbox.append((event, _time()))
        if len(inbox) == 1:
            self._wake.set()

    def _on_reconnect(self, _client: Any) -> None:
        # The client calls this right after the login, before the loop runs the consumer again,
        # so events that came with or after the login are fed only after the files are read.
        # The marker only wakes an idle consumer.
        log.warning("ami reconnected; reading Asterisk's files for what was missed")
        self._missed = True
        self._wake.set()

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
        # The collector is the resident AMI client: it also carries recordings over after
        # transfers made from the agents' phones (see homepbx.transfer_watch).
        watch = TransferWatch(client).attach()
        try:
            await client.connect()
        except AmiError as exc:
            # Still store what the files hold: the next start resumes from there.
            await self._catch_up()
            raise OperationalError(f"Cannot reach Asterisk's AMI at {client.where}: {exc}") from None
        try:
            await self._catch_up()
        except BaseException:
            await watch.close()
            await client.close()
            raise
        log.info("collecting", extra={"ami": client.where})
        next_flush = time.monotonic() + self.flush_interval
        next_tail = time.monotonic() + self.tail_interval
        self.start_writer()
        # Every event allocates a few objects that live until its call is stored: with the default
        # thresholds the cyclic GC runs every few hundred events and walks them again and again
        # (a quarter of the CPU at thousands of events a second). What is loaded by now (modules,
        # SQLAlchemy) is frozen out of its reach, and it runs every 100,000 allocations instead.
        # The records make no reference cycles that matter; restored when run() returns.
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        try:
            while not self.stop.is_set():
                if not self._inbox and not self._missed:
                    timeout = max(0.0, next_flush - time.monotonic())
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    except TimeoutError:
                        pass
                self._wake.clear()
                if self._missed:
                    self._missed = False
                    self.flush()
                    await self._catch_up()
                if self._inbox:
                    items, self._inbox = self._inbox, []
                    self.feed(items)
                now = time.monotonic()
                if now >= next_flush:
                    self.flush()
                    next_flush = now + self.flush_interval
                if now >= next_tail:
                    await self._catch_up()
                    next_tail = now + self.tail_interval
        finally:
            # Whatever was received is stored before leaving (the writer thread drained too);
            # calls still open will be finished from the files by the next start.
            items, self._inbox = self._inbox, []
            for event, received in items:
                self.engine.feed_ami(event, received)
            self.totals.events += len(items)
            try:
                self.flush()
            finally:
                self.stop_writer()
                gc.set_threshold(*thresholds)
                gc.unfreeze()
            await watch.close()
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
            loop.add_signal_handler(sig, collector.request_stop)
        return await collector.run()

    return asyncio.run(main())


def log_dir_of(settings: Settings) -> Path:
    return settings.host_path(settings.asterisk.log_dir)
