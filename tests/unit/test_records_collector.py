"""The collector's live path: batches written by its writer thread are never overtaken.

The backfill cursors must not move past calls whose rows are still queued for the writer (a
kill -9 then would lose them for good), and a stop (SIGTERM's path) stores everything received.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from homepbx import db
from homepbx.config import AmiSettings, AsteriskSettings, DatabaseSettings, Settings
from homepbx.errors import OperationalError
from homepbx.models import CallRecord
from homepbx.records import store as store_module
from homepbx.asterisk.records.collector import Collector
from homepbx.asterisk.records.simulate import Pbx

from ..conftest import DatabaseCut

from .fake_ami import FakeAmi


def settings_for(tmp_path: Path, url: str, port: int = 5038) -> Settings:
    return replace(Settings(), database=DatabaseSettings(url=url),
                   asterisk=AsteriskSettings(root=str(tmp_path), log_dir="/var/log/asterisk"),
                   ami=AmiSettings(port=port, username="homepbx", secret="s3cret"))


def live_calls(n: int = 6) -> tuple[list[dict[str, str]], list[str]]:
    """`n` answered calls starting a minute from now (live events are recent: the collector closes
    calls silent for hours)."""
    t0 = float(int(time.time()) // 60 * 60 + 60)
    p = Pbx()
    ids = [p.answered(t0 + 50 * i, "sales", f"06{i:02d}", "1001", wait=5, ring=2, talk=30) for i in range(n)]
    return p.out.sorted().ami, ids


def stored_calls(url: str) -> int:
    with db.engine_for(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(CallRecord)).scalar_one()


@pytest.fixture
def slow_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch takes a while in the writer thread, so queued batches are still queued when
    the collector goes on (only the writer's `store` is slowed: the collector's own is not)."""
    real = store_module.store

    def slow(conn: Any, batch: Any) -> Any:
        time.sleep(0.05)
        return real(conn, batch)

    monkeypatch.setattr(store_module, "store", slow)


def test_live_events_come_a_read_at_a_time_and_count_as_held_while_waiting(
    tmp_path: Path, migrated_url: str
) -> None:
    """The AMI client hands over each read's events at once; until fed they count toward the
    calls held in memory (20 events to a call), and feeding them empties the count."""
    collector = Collector(settings_for(tmp_path, migrated_url))
    events, _ids = live_calls(2)
    collector._on_events(events[:30])
    assert collector._wake.is_set()
    collector._on_events(events[30:])
    assert collector.held_calls() == len(events) // 20 > 0
    reads, collector._inbox, collector._inbox_events = collector._inbox, [], 0
    collector.feed(reads)
    assert collector.held_calls() == 0 and collector.engine.finished == 2
    assert collector.totals.events == len(events)


def test_catch_up_commits_the_writers_batches_before_moving_the_cursors(
    tmp_path: Path, migrated_url: str, slow_writer: None
) -> None:
    events, ids = live_calls()
    collector = Collector(settings_for(tmp_path, migrated_url), threaded=True, batch_calls=1)
    at_cursor_commit: list[int] = []
    commit_cursors = collector.backfill.commit_cursors

    def spy(conn: Any) -> None:
        # What another connection (the next start after a kill -9) would find committed.
        at_cursor_commit.append(stored_calls(migrated_url))
        commit_cursors(conn)

    collector.backfill.commit_cursors = spy  # type: ignore[method-assign]
    collector.start_writer()
    try:
        for event in events:
            collector.feed([([event], 0.0)])  # a batch queued as each call finishes
        collector.catch_up()
    finally:
        collector.stop_writer()
    assert at_cursor_commit == [len(ids)]
    assert collector.totals.calls == len(ids)


def _wire(events: list[dict[str, str]]) -> bytes:
    return b"".join(("".join(f"{k}: {v}\r\n" for k, v in e.items()) + "\r\n").encode() for e in events)


@pytest.mark.parametrize("threaded", [True, False])
def test_stop_stores_everything_received(tmp_path: Path, migrated_url: str, slow_writer: None,
                                         threaded: bool) -> None:
    """Events over a real AMI connection, then a stop (what SIGTERM does): every call is stored
    by the time run() returns, the writer thread's queue included."""
    events, ids = live_calls()

    async def scenario() -> int:
        async with FakeAmi() as ami:
            collector = Collector(settings_for(tmp_path, migrated_url, ami.port), threaded=threaded,
                                  batch_calls=1, flush_interval=3600.0)
            task = asyncio.create_task(collector.run())
            async with asyncio.timeout(30):  # a safety net against a hang, not a measurement
                while not (ami.connections and collector.totals.events):  # FullyBooted fed: live
                    await asyncio.sleep(0.01)
                await ami.send(_wire(events))
                while collector.totals.events < len(events) + 1:
                    await asyncio.sleep(0.01)
                collector.request_stop()
                totals = await task
            return totals.calls

    assert asyncio.run(scenario()) == len(ids)
    assert stored_calls(migrated_url) == len(ids)


# -- the database going away while collecting ------------------------------------------------------
def held_calls(n: int) -> tuple[list[dict[str, str]], list[str]]:
    """`n` answered calls, each with a hold: hold times come from AMI alone (no file has them),
    so they are in the database only if the live batches survived the outage."""
    t0 = float(int(time.time()) // 60 * 60 + 60)
    p = Pbx()
    ids = [p.answered(t0 + 50 * i, "sales", f"06{i:02d}", "1001", wait=5, ring=2, talk=30, hold=(5, 10))
           for i in range(n)]
    return p.out.sorted().ami, ids


def short_timeout(url: str) -> str:
    # SQLite waits 5 s for a lock by default; the test's lock is then noticed sooner.
    return url + "?timeout=0.2" if url.startswith("sqlite") else url


async def _until(condition: Any, what: str) -> None:
    try:
        async with asyncio.timeout(30):  # a safety net against a hang, not a measurement
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never: {what}") from None


@pytest.mark.parametrize("threaded", [True, False])
def test_calls_finished_while_the_database_is_away_are_stored_when_it_is_back(
    tmp_path: Path, migrated_url: str, threaded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    url = short_timeout(migrated_url)
    events, ids = held_calls(8)
    half = next(i for i, e in enumerate(events) if e.get("EventName") == "LINKEDID_END" and e["LinkedID"] == ids[3]) + 1
    cut = DatabaseCut(url)

    async def scenario() -> Collector:
        async with FakeAmi() as ami:
            collector = Collector(settings_for(tmp_path, url, ami.port), threaded=threaded, batch_calls=1,
                                  flush_interval=0.1)
            task = asyncio.create_task(collector.run())
            await _until(lambda: ami.connections and collector.totals.events, "live")
            await ami.send(_wire(events[:half]))
            await _until(lambda: collector.totals.calls == 4, "the first 4 calls stored")
            cut.cut()
            try:
                await ami.send(_wire(events[half:]))
                await _until(lambda: collector.totals.events >= len(events) + 1, "every event read")
                await _until(lambda: collector._away_since is not None, "the outage noticed")
                await asyncio.sleep(1.5)  # a retry or two fail meanwhile
                assert not task.done()  # still collecting: AMI is still read
                assert collector.totals.calls == 4
            finally:
                cut.restore()
            await _until(lambda: collector.totals.calls == len(ids), "every call stored after the outage")
            collector.request_stop()
            await task
            return collector

    caplog.set_level("INFO", logger="homepbx")
    collector = asyncio.run(scenario())
    with db.engine_for(url).connect() as conn:
        holds = dict(conn.execute(select(CallRecord.linkedid, CallRecord.hold_s)).all())
    assert holds == {linkedid: 10.0 for linkedid in ids}
    messages = [r.getMessage() for r in caplog.records]
    assert "database unavailable; holding calls in memory" in messages
    assert "database available again" in messages
    assert not collector._backlog


def test_a_stop_while_the_database_is_away_says_so_in_one_line(tmp_path: Path, migrated_url: str) -> None:
    """SIGTERM during an outage: nothing can be written, and the exit says what is left (the
    next start reads those calls from Asterisk's files)."""
    url = short_timeout(migrated_url)
    events, ids = held_calls(3)
    cut = DatabaseCut(url)

    async def scenario() -> None:
        async with FakeAmi() as ami:
            collector = Collector(settings_for(tmp_path, url, ami.port), batch_calls=1, flush_interval=0.1)
            task = asyncio.create_task(collector.run())
            await _until(lambda: ami.connections and collector.totals.events, "live")
            cut.cut()
            try:
                await ami.send(_wire(events))
                await _until(lambda: collector._away_since is not None, "the outage noticed")
                collector.request_stop()
                with pytest.raises(OperationalError) as raised:
                    await task
            finally:
                cut.restore()
            assert str(raised.value) == ("Stopped with 3 calls not stored: the database is unavailable; the next "
                                         "start stores them from Asterisk's files.")

    asyncio.run(scenario())
    assert stored_calls(url) == 0


def test_an_outage_past_the_memory_limit_stops_the_collector(tmp_path: Path, migrated_url: str) -> None:
    url = short_timeout(migrated_url)
    events, ids = held_calls(6)
    cut = DatabaseCut(url)

    async def scenario() -> str:
        async with FakeAmi() as ami:
            collector = Collector(settings_for(tmp_path, url, ami.port), batch_calls=1, flush_interval=0.1,
                                  max_held_calls=4)
            task = asyncio.create_task(collector.run())
            await _until(lambda: ami.connections and collector.totals.events, "live")
            cut.cut()
            try:
                await ami.send(_wire(events))
                with pytest.raises(OperationalError) as raised:
                    async with asyncio.timeout(30):
                        await task
            finally:
                cut.restore()
            return str(raised.value)

    message = asyncio.run(scenario())
    assert "calls are held in memory (the limit); stopping" in message
    assert "\n" not in message


def test_an_outage_with_nothing_to_write_does_not_spin(tmp_path: Path, migrated_url: str) -> None:
    """The files' read fails (nothing finished to hold): the loop waits for its next flush and
    read instead of going round without pause until the database is back."""
    url = short_timeout(migrated_url)
    cut = DatabaseCut(url)
    flushes = 0

    async def scenario() -> int:
        nonlocal flushes
        async with FakeAmi() as ami:
            # The read is retried at its own pace (every 3 s), the database after 1 s.
            collector = Collector(settings_for(tmp_path, url, ami.port), flush_interval=0.1, tail_interval=3.0)
            real_flush = collector.flush

            def counted() -> None:
                nonlocal flushes
                flushes += 1
                real_flush()

            collector.flush = counted  # type: ignore[method-assign]
            task = asyncio.create_task(collector.run())
            await _until(lambda: ami.connections and collector.totals.events, "live")
            cut.cut()
            try:
                await _until(lambda: collector._away_since is not None, "the outage noticed")
                flushes = 0
                await asyncio.sleep(2.5)
                during = flushes
            finally:
                cut.restore()
            collector.request_stop()
            await task
            return during

    during = asyncio.run(scenario())
    # A flush every 0.1 s: about 25 in that time (a spinning loop makes thousands).
    assert during <= 60, during
