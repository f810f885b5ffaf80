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
from homepbx.models import CallRecord
from homepbx.records import store as store_module
from homepbx.records.collector import Collector
from homepbx.records.simulate import Pbx

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
            collector.feed([(event, 0.0)])  # a batch queued as each call finishes
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
