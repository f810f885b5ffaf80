"""`homepbx collect`: AMI events in, call records and agent events out, as they happen.

A thin runner around the pure engine. On start and after every AMI reconnect it reads
Asterisk's own files (backfill) so that what happened while it was away is stored, and feeds
live events, writing a batch every `flush_interval` seconds or every `batch_calls` finished calls,
whichever comes first. SIGTERM/SIGINT: what was received is written, then it exits 0.

Live events are not handed over one by one: the AMI client hands over the events of each read
at once (a batch handler), the collector appends that list to its inbox and wakes the loop, and
the loop feeds the engine list by list (per-event hand-offs, asyncio's or a handler call and a
timestamp per event, cost the collector more than a tenth of its CPU at thousands of events a
second).
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

The database may go away for a while (PostgreSQL restarted or failing over, SQLite locked by a
long transaction): finished calls then wait in memory, in order, and are written as soon as it
answers again (retried after 1 s, then up to every 30 s); AMI keeps being read meanwhile, so
transfers keep their recordings. Reading the files waits too (their cursors live in the
database); after an AMI reconnect the live events wait for that read. Past `max_held_calls`, or
at a stop with the database still away, the collector exits with one line: the files hold those
calls and the next start stores them (their hold times excepted: only AMI tells them).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ... import db
from ...config import Settings
from ...errors import OperationalError
from ...records.daemon import DATABASE_AWAY, RETRY_DELAYS, Totals, setup_logging
from ...records.events import Engine
from ...records.store import BatchWriter, Stored, store
from ...records.types import Batch
from ..transfer_watch import TransferWatch
from .backfill import Backfill
from .feed import AmiFeed

log = logging.getLogger("homepbx.collector")

# Asterisk file names, as config_templates/asterisk configures them (relative to log_dir).
CEL_FILE = "cel-custom/homepbx-cel.csv"
QUEUE_LOG_FILE = "queue_log"

# Batches handed to the writer thread at once: never more than its queue holds, so handing one
# over never blocks the loop that reads AMI.
WRITER_DEPTH = 4


class Collector:
    """Owns the engine, the backfill and the database writes; `run()` until `stop` is set."""

    def __init__(self, settings: Settings, *, flush_interval: float = 1.0, tail_interval: float = 30.0,
                 batch_calls: int = 1000, threaded: bool | None = None, max_held_calls: int = 200_000) -> None:
        self.settings = settings
        self.url = settings.database.url
        self.engine = Engine()
        # Live AMI events into the engine (Asterisk's local zone is this host's: None).
        self.ami = AmiFeed(self.engine)
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
        # Live events not yet fed to the engine: (the events of one AMI read, when received);
        # `_wake` is set when the list stops being empty (or a reconnect wants the files read).
        self._inbox: list[tuple[list[Any], float]] = []
        self._inbox_events = 0
        self._wake = asyncio.Event()
        # Set on an AMI reconnect: read the files before feeding the next live event.
        self._missed = False
        # The writer thread while `run()` runs with one (see `threaded`).
        self._writer: BatchWriter | None = None
        self._use_writer = False
        # Batches finished but not known to be committed, oldest first; the first `_handed` of
        # them are queued for the writer thread. Only this (the loop's) thread changes them.
        self._backlog: deque[Batch] = deque()
        self._handed = 0
        # Batches committed so far (the writer thread counts; `_prune` drops that many).
        self._committed = 0
        self._pruned = 0
        # While the database is away: when it went, and when to try again (time.monotonic()).
        self._away_since: float | None = None
        self._committed_when_away = 0
        self._retry_at = 0.0
        self._retry_delay = RETRY_DELAYS[0]
        # Beyond this many calls held in memory for a database that stays away, stop (the files
        # keep them); events held for a reconnect's file read count as a twentieth of a call.
        self.max_held_calls = max_held_calls

    # -- the parts that do not need AMI (tests drive these directly) ----------------------------
    def catch_up(self) -> None:
        """Read the files, store what finished, move the cursors: all in one transaction.

        Batches still queued for the writer thread are committed first: the cursors may pass
        calls only once their rows are in the database."""
        if self._writer is not None:
            # (This thread may block: the loop awaits it.)
            while self._handed < len(self._backlog):
                self._writer.put(self._backlog[self._handed])
                self._handed += 1
            self._writer.wait()
        self._prune()
        with db.engine_for(self.url).begin() as conn:
            stats = self.backfill.read(conn)
            batch = self.engine.drain()
            if batch:
                self._backlog.append(batch)
            # Batches held through an outage go first, and all of them before the cursors move;
            # if this transaction fails they are still held (and the lines are read again).
            calls = agent_events = 0
            for held in self._backlog:
                got = store(conn, held)
                calls += got.calls
                agent_events += got.agent_events
            self.backfill.commit_cursors(conn)
        self._backlog.clear()
        self._handed = 0
        self.totals.backfills += 1
        self.totals.calls += calls
        self.totals.agent_events += agent_events
        log.info("backfill", extra={"cel_lines": stats.cel_lines, "queue_lines": stats.queue_lines,
                                    "skipped": stats.skipped, "calls": calls, "agent_events": agent_events,
                                    "open_calls": self.engine.open_calls})

    def flush(self) -> None:
        """Write what the engine finished: inline, or queued for the writer thread (while the
        database is away, held until it is back)."""
        self.engine.expire(time.time())
        batch = self.engine.drain()
        if batch:
            self._backlog.append(batch)
        self._write()

    def _write(self) -> None:
        self._prune()
        if self._away_since is not None and self._committed > self._committed_when_away:
            self._database_back()  # the writer thread committed a batch since the last failure
        if not self._backlog or not self.database_up():
            self._check_held()
            return
        try:
            if self._use_writer:
                if self._writer is None:
                    self._writer = BatchWriter(self.url, depth=WRITER_DEPTH, on_stored=self._stored)
                self._writer.check()  # a batch it was handed failed
                while self._handed < min(len(self._backlog), WRITER_DEPTH):
                    self._writer.put(self._backlog[self._handed])
                    self._handed += 1
                if self.held_calls() > self.max_held_calls:
                    # A database that answers, but slower than calls end: wait for it rather
                    # than hold ever more in memory (AMI waits meanwhile).
                    self._writer.wait()
                    self._prune()
            else:
                # A few batches a call, so a backlog left by an outage does not keep the loop
                # from reading AMI for long (the next flush takes the next few).
                for _ in range(min(len(self._backlog), WRITER_DEPTH)):
                    with db.engine_for(self.url).begin() as conn:
                        got = store(conn, self._backlog[0])
                    self._stored(got)
                    self._prune()
                self._database_back()
        except DATABASE_AWAY as exc:
            self._database_away(exc)

    def _prune(self) -> None:
        """Drop the batches committed since the last call (the oldest ones, in order)."""
        done = self._committed - self._pruned
        for _ in range(done):
            self._backlog.popleft()
        self._handed = max(0, self._handed - done)
        self._pruned += done

    def database_up(self) -> bool:
        """False while the database is away and the next try is not due yet."""
        return self._away_since is None or time.monotonic() >= self._retry_at

    def _database_away(self, exc: BaseException) -> None:
        if self._writer is not None:
            # A failed writer writes nothing more: what it was handed is still in the backlog
            # (committed batches excepted) and goes to a new writer once the database is back.
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the error being handled here
                pass
        self._prune()
        self._handed = 0
        now = time.monotonic()
        self._committed_when_away = self._committed
        if self._away_since is None:
            self._away_since = now
            self._retry_delay = RETRY_DELAYS[0]
        else:
            self._retry_delay = min(self._retry_delay * 2, RETRY_DELAYS[1])
        self._retry_at = now + self._retry_delay
        log.warning("database unavailable; holding calls in memory", extra={
            "error": _first_line(exc), "held_calls": self.held_calls(), "retry_in_s": self._retry_delay})
        self._check_held()

    def _database_back(self) -> None:
        if self._away_since is not None:
            log.info("database available again", extra={"away_s": round(time.monotonic() - self._away_since, 1)})
            self._away_since = None

    def held_calls(self) -> int:
        """Finished calls not known to be committed, plus waiting live events (20 to a call)."""
        self._prune()
        return sum(len(b.calls) for b in self._backlog) + self._inbox_events // 20

    def _check_held(self) -> None:
        if self._away_since is None:
            return
        held = self.held_calls()
        if held > self.max_held_calls:
            raise OperationalError(
                f"The database has been unavailable for {time.monotonic() - self._away_since:.0f} s and "
                f"{held} calls are held in memory (the limit); stopping: the next start stores them from "
                "Asterisk's files.")

    def _stored(self, got: Stored) -> None:
        # Inline, or from the writer thread (one batch at a time, so the counts add up).
        self._committed += 1
        self.totals.calls += got.calls
        self.totals.agent_events += got.agent_events
        if got.calls or got.agent_events:
            log.info("stored", extra={"calls": got.calls, "agent_events": got.agent_events,
                                      "open_calls": self.engine.open_calls})

    def feed(self, reads: list[tuple[list[Any], float]]) -> None:
        """Feed live events (the events of each AMI read, with the time it was received) to the
        engine; write a batch as soon as `batch_calls` calls are finished."""
        self._feed(reads)
        if self.engine.finished >= self.batch_calls:
            self.flush()

    def _feed(self, reads: list[tuple[list[Any], float]]) -> None:
        feed_ami = self.ami.feed
        count = 0
        for events, received in reads:
            for event in events:
                feed_ami(event, received)
            count += len(events)
        self.totals.events += count

    def start_writer(self) -> None:
        """Write batches from a thread from now on (`threaded`; None: on PostgreSQL only)."""
        threaded = self.threaded
        if threaded is None:
            threaded = db.engine_for(self.url).dialect.name == "postgresql"
        self._use_writer = threaded
        if threaded and self._writer is None:
            self._writer = BatchWriter(self.url, depth=WRITER_DEPTH, on_stored=self._stored)

    def stop_writer(self) -> None:
        """Commit every queued batch, then stop the thread (errors are raised here)."""
        writer, self._writer = self._writer, None
        self._use_writer = False
        if writer is not None:
            writer.close()
        self._prune()
        self._handed = 0

    # -- the live loop ----------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Make `run()` store what it received and return (SIGTERM, SIGINT)."""
        self.stop.set()
        self._wake.set()

    def _on_events(self, events: list[Any], _time: Any = time.time) -> None:
        # The AMI client's batch handler: the events of one read, received together.
        inbox = self._inbox
        inbox.append((events, _time()))
        self._inbox_events += len(events)
        if len(inbox) == 1:
            self._wake.set()

    def _on_reconnect(self, _client: Any) -> None:
        # The client calls this right after the login, before the loop runs the consumer again,
        # so events that came with or after the login are fed only after the files are read.
        # The marker only wakes an idle consumer.
        log.warning("ami reconnected; reading Asterisk's files for what was missed")
        self._missed = True
        self._wake.set()

    async def _try_catch_up(self) -> bool:
        """`_catch_up`, unless the database is away (then False; it is tried again later)."""
        try:
            await self._catch_up()
        except DATABASE_AWAY as exc:
            self._database_away(exc)
            return False
        self._database_back()
        return True

    def _last_write(self) -> None:
        """At a stop: write everything while the database answers, the writer thread's queue
        included; then say what could not be written."""
        self._retry_at = 0.0
        try:
            self.flush()
            self.stop_writer()
        except DATABASE_AWAY as exc:
            self._database_away(exc)
        # What is left (more than one write takes, or what a failed writer held): inline.
        while self._backlog:
            left = len(self._backlog)
            self._retry_at = 0.0
            self._write()
            if len(self._backlog) == left:
                break  # still away
        held = self.held_calls()
        if held:
            raise OperationalError(
                f"Stopped with {held} calls not stored: the database is unavailable; the next start "
                "stores them from Asterisk's files.")

    async def _catch_up(self) -> None:
        # In a thread, so the loop keeps reading AMI meanwhile (Asterisk drops a session whose
        # events it cannot write for `writetimeout`); only this coroutine's caller feeds the
        # engine, and it waits here, so the thread has the engine to itself.
        await asyncio.to_thread(self.catch_up)

    async def _follow(self) -> None:
        """Feed live events and write batches until `stop` is set (files read now and then)."""
        loop = asyncio.get_running_loop()
        next_flush = time.monotonic() + self.flush_interval
        next_tail = time.monotonic() + self.tail_interval
        while not self.stop.is_set():
            read_files = self._missed and self.database_up()
            if not read_files and not (self._inbox and not self._missed):
                # While the database is away, wake for the retry only if there is something
                # to retry (else the past retry time would make this loop spin).
                retry = self._away_since is not None and bool(self._backlog or self._missed)
                wake_at = min(next_flush, self._retry_at) if retry else next_flush
                if not self._wake.is_set():
                    # A timer that sets `_wake`, not wait_for: this waits once per AMI read on
                    # a busy PBX, and wait_for makes a task and a timeout each time.
                    timer = loop.call_later(max(0.0, wake_at - time.monotonic()), self._wake.set)
                    try:
                        await self._wake.wait()
                    finally:
                        timer.cancel()
            self._wake.clear()
            if self._missed and self.database_up():
                self.flush()
                if await self._try_catch_up():
                    self._missed = False
            if self._inbox and not self._missed:
                reads, self._inbox, self._inbox_events = self._inbox, [], 0
                self.feed(reads)
            now = time.monotonic()
            if now >= next_flush or (self._away_since is not None and self._backlog and self.database_up()):
                self.flush()
                next_flush = now + self.flush_interval
            if now >= next_tail and self.database_up():
                await self._try_catch_up()
                next_tail = now + self.tail_interval
            self._check_held()

    async def run(self) -> Totals:
        from ..ami import AmiClient, AmiError

        db.ensure_current(self.url)
        client = AmiClient.from_settings(self.settings.ami, reconnect=True, ping_interval=20.0)
        client.add_batch_handler(self._on_events)
        client.on_reconnect(self._on_reconnect)
        # The collector is the resident AMI client: it also carries recordings over after
        # transfers made from the agents' phones (see homepbx.asterisk.transfer_watch).
        watch = TransferWatch(client).attach()
        try:
            await client.connect()
        except AmiError as exc:
            # Still store what the files hold: the next start resumes from there.
            await self._try_catch_up()
            raise OperationalError(f"Cannot reach Asterisk's AMI at {client.where}: {exc}") from None
        try:
            await self._catch_up()
        except DATABASE_AWAY as exc:
            await watch.close()
            await client.close()
            raise OperationalError(f"Cannot write to the database: {_first_line(exc)}") from None
        except BaseException:
            await watch.close()
            await client.close()
            raise
        log.info("collecting", extra={"ami": client.where})
        self.start_writer()
        try:
            with records_gc():
                await self._follow()
        finally:
            # Whatever was received is stored before leaving (the writer thread drained too);
            # calls still open will be finished from the files by the next start. Live events
            # still waiting for a reconnect's file read are left to the files as well.
            reads, self._inbox, self._inbox_events = self._inbox, [], 0
            if not self._missed:
                self._feed(reads)
            try:
                self._last_write()
            finally:
                await watch.close()
                await client.close()
            log.info("stopped", extra={"calls": self.totals.calls, "agent_events": self.totals.agent_events,
                                       "events": self.totals.events, "open_calls": self.engine.open_calls})
        return self.totals


@contextmanager
def records_gc() -> Iterator[None]:
    """The garbage collector as the collector runs it (bench/records.py measures under it too).

    Every event allocates a few objects that live until its call is stored: with the default
    thresholds the cyclic GC runs every few hundred events and walks them again and again (a
    quarter of the CPU at thousands of events a second). What is loaded by now (modules,
    SQLAlchemy) is frozen out of its reach, and it runs every 100,000 allocations instead. The
    records make no reference cycles that matter; restored at exit.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _first_line(exc: BaseException) -> str:
    """A database error in one line (its driver's message, without SQLAlchemy's footer)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
