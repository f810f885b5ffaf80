"""`homepbx collect` on FreeSWITCH: ESL events in, call records and agent events out.

The same contract as the Asterisk collector: at start and after every ESL reconnect it asks
FreeSWITCH which channels are up (so it knows which calls are still in progress), then reads the
JSON CDR files written since its cursor (backfill), then feeds the live events that came
meanwhile. ESL is subscribed before the files are read, so a leg is either in the files or in
the events after the subscription, never in neither (the engine drops what both deliver).

A batch is written every `flush_interval` seconds, in one transaction; the cursor moves only in
the transaction that stores what the files finished, so a SIGKILL loses nothing: the next start
reads those files again. While the database is away, finished calls wait in memory (in order)
and are retried; at a stop with the database still away the collector says so in one line (the
files hold those calls; the next start stores them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any

from ... import db
from ...config import Settings
from ...errors import OperationalError
from ...records.daemon import DATABASE_AWAY, RETRY_DELAYS, Totals, setup_logging
from ...records.events import Engine
from ...records.store import store
from ...records.types import Batch
from .backfill import Backfill
from .feed import EVENTS, EslFeed
from .legs import _user

log = logging.getLogger("homepbx.collector")

JSON_CDR_DIR = "json_cdr"


class Collector:
    """Owns the engine, the live feed, the backfill and the writes; `run()` until `stop` is set."""

    def __init__(self, settings: Settings, *, flush_interval: float = 1.0, tail_interval: float = 10.0) -> None:
        self.settings = settings
        self.url = settings.database.url
        self.engine = Engine()
        self.live = EslFeed(self.engine)
        cdr_dir = settings.host_path(settings.freeswitch.log_dir) / JSON_CDR_DIR
        self.backfill = Backfill(self.engine, cdr_dir, self.live.calls, self.live.open_legs)
        self.flush_interval = flush_interval
        self.tail_interval = tail_interval
        self.totals = Totals()
        self.stop = asyncio.Event()
        self._inbox: list[tuple[Any, float]] = []
        self._wake = asyncio.Event()
        self._missed = False
        # Finished batches not known to be committed, oldest first.
        self._backlog: deque[Batch] = deque()
        self._away_since: float | None = None
        self._retry_at = 0.0
        self._retry_delay = RETRY_DELAYS[0]

    # -- the parts that need no ESL (tests drive these directly) ---------------------------------
    def catch_up(self) -> None:
        """Read the files, store what finished (and what waits), move the cursor: one transaction."""
        with db.engine_for(self.url).begin() as conn:
            stats = self.backfill.read(conn)
            batch = self.engine.drain()
            if batch:
                self._backlog.append(batch)
            calls = agent_events = 0
            for held in self._backlog:
                got = store(conn, held)
                calls += got.calls
                agent_events += got.agent_events
            self.backfill.commit_cursor(conn)
        self._backlog.clear()
        self.totals.backfills += 1
        self.totals.calls += calls
        self.totals.agent_events += agent_events
        log.info("backfill", extra={"cdr_files": stats.files, "skipped": stats.skipped, "calls": calls,
                                    "agent_events": agent_events, "open_calls": self.engine.open_calls})

    def feed(self, items: list[tuple[Any, float]]) -> None:
        """Feed live events (event, time received) to the engine."""
        feed = self.live.feed
        for event, received in items:
            feed(event, received)
        self.totals.events += len(items)

    def flush(self) -> None:
        """Write what the engine finished (held while the database is away)."""
        now = time.time()
        self.live.tick(now)
        self.engine.expire(now)
        batch = self.engine.drain()
        if batch:
            self._backlog.append(batch)
        if not self._backlog or not self.database_up():
            return
        try:
            while self._backlog:
                with db.engine_for(self.url).begin() as conn:
                    got = store(conn, self._backlog[0])
                self._backlog.popleft()
                self.totals.calls += got.calls
                self.totals.agent_events += got.agent_events
                if got.calls or got.agent_events:
                    log.info("stored", extra={"calls": got.calls, "agent_events": got.agent_events,
                                              "open_calls": self.engine.open_calls})
        except DATABASE_AWAY as exc:
            self._database_away(exc)
            return
        self._database_back()

    def database_up(self) -> bool:
        return self._away_since is None or time.monotonic() >= self._retry_at

    def _database_away(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._away_since is None:
            self._away_since, self._retry_delay = now, RETRY_DELAYS[0]
        else:
            self._retry_delay = min(self._retry_delay * 2, RETRY_DELAYS[1])
        self._retry_at = now + self._retry_delay
        log.warning("database unavailable; holding calls in memory", extra={
            "error": str(getattr(exc, "orig", None) or exc).strip().splitlines()[0],
            "held_calls": sum(len(b.calls) for b in self._backlog), "retry_in_s": self._retry_delay})

    def _database_back(self) -> None:
        if self._away_since is not None:
            log.info("database available again", extra={"away_s": round(time.monotonic() - self._away_since, 1)})
            self._away_since = None

    # -- what needs ESL ----------------------------------------------------------------------------
    async def seed(self, client: Any) -> None:
        """Which legs are up now (and whose call they are), and each agent's status."""
        open_legs, calls = self.live.open_legs, self.live.calls
        open_legs.reset()
        raw = await client.api("show", "channels as json")
        try:
            rows = json.loads(raw).get("rows") or []
        except ValueError:
            rows = []
        for row in rows:
            uuid = str(row.get("uuid") or "")
            if not uuid:
                continue
            member_of = originator = ""
            if uuid not in calls._of:
                member_of = _value(await client.api("uuid_getvar", f"{uuid} cc_member_session_uuid"))
                originator = _value(await client.api("uuid_getvar", f"{uuid} originator"))
            open_legs.open(uuid, calls.assign(uuid, member_of, originator))
        listing = await client.api("callcenter_config", "agent list")
        lines = [line.split("|") for line in listing.splitlines() if "|" in line]
        if lines and "status" in lines[0]:
            name_at, status_at = lines[0].index("name"), lines[0].index("status")
            for cols in lines[1:]:
                if len(cols) > max(name_at, status_at):
                    self.live.agents.status[_user(cols[name_at])] = cols[status_at]

    def request_stop(self) -> None:
        """Make `run()` store what it received and return (SIGTERM, SIGINT)."""
        self.stop.set()
        self._wake.set()

    def _on_event(self, event: Any) -> None:
        self._inbox.append((event, time.time()))
        if len(self._inbox) == 1:
            self._wake.set()

    def _on_reconnect(self, _client: Any) -> None:
        log.warning("esl reconnected; reading FreeSWITCH's CDR files for what was missed")
        self._missed = True
        self._wake.set()

    async def _resync(self, client: Any) -> bool:
        """After a (re)connect: which legs are up, then the files; False if the database is away."""
        await self.seed(client)
        try:
            await asyncio.to_thread(self.catch_up)
        except DATABASE_AWAY as exc:
            self._database_away(exc)
            return False
        self._database_back()
        return True

    async def _follow(self, client: Any) -> None:
        next_flush = time.monotonic() + self.flush_interval
        next_tail = time.monotonic() + self.tail_interval
        while not self.stop.is_set():
            if not (self._inbox and not self._missed):
                try:
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_flush - time.monotonic()))
                except TimeoutError:
                    pass
            self._wake.clear()
            if self._missed and self.database_up():
                self.flush()
                try:
                    if await self._resync(client):
                        self._missed = False
                except Exception as exc:  # noqa: BLE001 - ESL dropped again: the next reconnect retries
                    log.warning("resync failed", extra={"error": str(exc)})
            if self._inbox and not self._missed:
                items, self._inbox = self._inbox, []
                self.feed(items)
            now = time.monotonic()
            if now >= next_flush:
                self.flush()
                next_flush = now + self.flush_interval
            if now >= next_tail and self.database_up() and not self._missed:
                try:
                    await asyncio.to_thread(self.catch_up)
                except DATABASE_AWAY as exc:
                    self._database_away(exc)
                next_tail = now + self.tail_interval

    async def run(self) -> Totals:
        from ..esl import EslClient, EslError

        db.ensure_current(self.url)
        client = EslClient.from_settings(self.settings.esl, reconnect=True, keepalive_interval=20.0,
                                         events=EVENTS)
        client.add_event_handler("*", self._on_event)
        client.on_reconnect(self._on_reconnect)
        try:
            await client.connect()
        except EslError as exc:
            # Store what the files hold all the same (no leg can be known to be up: the calls
            # whose last hangup is recent wait for the next start).
            try:
                await asyncio.to_thread(self.catch_up)
            except DATABASE_AWAY:
                pass
            raise OperationalError(f"Cannot reach FreeSWITCH's event socket at {client.where}: {exc}") from None
        try:
            if not await self._resync(client):
                raise OperationalError("Cannot write to the database: it is unavailable.")
            log.info("collecting", extra={"esl": client.where})
            await self._follow(client)
        finally:
            items, self._inbox = self._inbox, []
            if not self._missed:
                self.feed(items)
            try:
                self._last_write()
            finally:
                await client.close()
            log.info("stopped", extra={"calls": self.totals.calls, "agent_events": self.totals.agent_events,
                                       "events": self.totals.events, "open_calls": self.engine.open_calls})
        return self.totals

    def _last_write(self) -> None:
        self._retry_at = 0.0
        self.flush()
        held = sum(len(b.calls) for b in self._backlog)
        if held:
            raise OperationalError(f"Stopped with {held} calls not stored: the database is unavailable; the next "
                                   "start stores them from FreeSWITCH's CDR files.")


def _value(answer: str) -> str:
    """A `uuid_getvar` answer: the value, or '' for `_undef_` and errors."""
    text = answer.strip()
    return "" if not text or text == "_undef_" or text.startswith("-ERR") else text


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


def cdr_dir_of(settings: Settings) -> Path:
    """Where FreeSWITCH writes the JSON CDR files, as this host sees it."""
    return settings.host_path(settings.freeswitch.log_dir) / JSON_CDR_DIR
