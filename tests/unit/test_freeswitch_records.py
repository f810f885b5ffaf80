"""The FreeSWITCH records adapter and collector on events and JSON CDR files recorded from the
real FreeSWITCH 1.10.12 (tests/data/freeswitch/RECORDED.md): one record per call, the same
records whichever source told them, and a backfill that adds nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from homepbx import db
from homepbx.config import DatabaseSettings, FreeswitchSettings, Settings
from homepbx.freeswitch.records.collector import Collector, cdr_dir_of
from homepbx.freeswitch.records.feed import EslFeed
from homepbx.freeswitch.records.legs import leg_from_cdr
from homepbx.models import AgentEvent, CallRecord, RecordSource
from homepbx.records.events import Engine
from homepbx.records.types import Batch

DATA = Path(__file__).resolve().parents[1] / "data" / "freeswitch" / "queue_calls"
QUEUE_CALLS = {"526e6c72-f671-4063-be3e-de877711a70f", "76e2c1f9-e164-4e7f-905f-c28e25112c4c",
               "45e179f2-10d9-4033-b480-a4be6bd0fb1f"}
DIRECT = "497a5e66-08dc-4703-a651-d8b376ed01eb"


def events() -> list[dict[str, str]]:
    return json.loads((DATA / "events.json").read_text(encoding="utf-8"))


def live_batch() -> Batch:
    engine = Engine()
    feed = EslFeed(engine)
    for event in events():
        feed.feed(event, 0.0)
    feed.tick(1e12)
    return engine.drain()


def summary(batch: Batch) -> dict[str, tuple]:
    return {c.call.linkedid: (c.call.disposition, c.call.queue, c.call.agent, c.call.hangup_side, c.call.talk_s,
                              round(c.call.wait_s, 1), len(c.legs)) for c in batch.calls}


def test_live_events_give_one_record_per_call_with_agent_queue_and_talk_time() -> None:
    calls = summary(live_batch())
    # 11 calls: 3 queue calls, one direct call, 7 feature-code calls.
    assert len(calls) == 11
    answered_by_caller = calls["526e6c72-f671-4063-be3e-de877711a70f"]
    assert answered_by_caller[:4] == ("answered", "sales", "7002", "caller")
    assert answered_by_caller[4] == pytest.approx(3.98, abs=0.05) and answered_by_caller[6] == 2
    answered_by_agent = calls["76e2c1f9-e164-4e7f-905f-c28e25112c4c"]
    assert answered_by_agent[:4] == ("answered", "sales", "7002", "agent")
    # The caller waited for 7002's wrap-up.
    assert answered_by_agent[5] == pytest.approx(9.2, abs=0.1)
    assert calls["45e179f2-10d9-4033-b480-a4be6bd0fb1f"][:4] == ("abandoned", "sales", "", "caller")
    assert calls[DIRECT][:3] == ("answered", "", "7003")


def test_queue_events_and_wrapups_follow_the_calls() -> None:
    batch = live_batch()
    by_call = {c.call.linkedid: c for c in batch.calls}
    answered = by_call["526e6c72-f671-4063-be3e-de877711a70f"]
    assert [q.event for q in answered.queue_events] == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"]
    assert [(a.event, a.agent, a.queue) for a in answered.agent_events] == [("wrapup", "7002", "sales")]
    abandoned = by_call["45e179f2-10d9-4033-b480-a4be6bd0fb1f"]
    assert [q.event for q in abandoned.queue_events] == ["ENTERQUEUE", "ABANDON"]


def test_agent_events_carry_the_pause_reason_from_the_dialplan() -> None:
    rows = [(a.agent, a.event, a.reason) for a in live_batch().agent_events]
    assert rows == [("7002", "login", ""), ("7003", "login", ""), ("7003", "pause", "lunch"),
                    ("7002", "pause", "break"), ("7002", "unpause", ""), ("7003", "logout", ""),
                    ("7002", "logout", "")]


def test_a_pause_whose_reason_never_comes_is_kept_without_one() -> None:
    engine = Engine()
    feed = EslFeed(engine)
    feed.feed({"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info", "CC-Action": "agent-status-change",
               "CC-Agent": "7002@pbx", "CC-Agent-Status": "On Break",
               "Event-Date-Timestamp": "1796141000000000"}, 0.0)
    feed.tick(1796141000.5)
    # Still waiting for its reason (the agent was unknown: logged in by this change).
    assert [(a.agent, a.event) for a in engine.drain().agent_events] == [("7002", "login")]
    feed.tick(1796141003.0)
    assert [(a.agent, a.event, a.reason) for a in engine.drain().agent_events] == [("7002", "pause", "")]


def test_the_cdr_files_say_what_the_events_said() -> None:
    from homepbx.freeswitch.records.legs import CallIds, agent_action_row, end_event, leg_events

    engine = Engine()
    ids = CallIds()
    legs = sorted((leg_from_cdr(json.loads(p.read_text())) for p in DATA.glob("*.cdr.json")), key=lambda g: g.start)
    ends: dict[str, float] = {}
    for leg in legs:
        assert leg is not None
        call = ids.assign(leg.uuid, leg.member_of, leg.originator)
        for item in leg_events(leg, call):
            engine.feed(item)
        row = agent_action_row(leg)
        if row is not None:
            engine.feed(row)
        ends[call] = max(ends.get(call, 0.0), leg.hangup)
    for call, at in ends.items():
        engine.feed_cel(end_event(call, at))
    from_files = engine.drain()
    live = live_batch()
    a, b = summary(from_files), summary(live)
    assert a.keys() == b.keys()
    for call in a:
        # Same outcome, agent, queue, legs and talk; waits agree within FreeSWITCH's 20 ms clock
        # (the live queue join is the event's stamp, the file's the application's).
        assert a[call][:5] == b[call][:5] and a[call][6] == b[call][6]
        assert a[call][5] == pytest.approx(b[call][5], abs=0.1)
    assert [(r.agent, r.event, r.reason) for r in from_files.agent_events] == \
        [(r.agent, r.event, r.reason) for r in live.agent_events]
    assert [r.at for r in from_files.agent_events] == [r.at for r in live.agent_events]


# -- the collector's backfill ---------------------------------------------------------------------
def settings_for(tmp_path: Path, url: str) -> Settings:
    return replace(Settings(), backend="freeswitch", database=DatabaseSettings(url=url),
                   freeswitch=FreeswitchSettings(root=str(tmp_path), log_dir="/var/log/freeswitch"))


def copy_cdrs(target: Path, names: list[str], mtime: float | None = None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(DATA / name, target / name)
        if mtime is not None:
            os.utime(target / name, (mtime, mtime))


def counts(url: str) -> tuple[list[str], int]:
    with db.engine_for(url).connect() as conn:
        calls = [r[0] for r in conn.execute(select(CallRecord.linkedid).order_by(CallRecord.linkedid))]
        agents = conn.execute(select(func.count()).select_from(AgentEvent)).scalar_one()
    return calls, agents


def cdr_names() -> list[str]:
    return sorted(p.name for p in DATA.glob("*.cdr.json"))


def test_backfill_stores_every_call_once_across_restarts(tmp_path: Path, sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    settings = settings_for(tmp_path, sqlite_url)
    directory = cdr_dir_of(settings)
    # The files of the first calls (each call's legs are all written when its last leg hangs up).
    first_calls = ("57b4c598", "8d5f0c86", "f0e8edf7", "526e6c72", "d6f9ba8f")
    early = [n for n in cdr_names() if n.removeprefix("a_").startswith(first_calls)]
    later = [n for n in cdr_names() if n not in early]
    copy_cdrs(directory, early, mtime=time.time() - 60)
    first = Collector(settings)
    first.catch_up()
    calls_after_first, _ = counts(sqlite_url)
    # A crash, more calls, a restart: the rest, nothing twice.
    copy_cdrs(directory, later, mtime=time.time() - 30)
    Collector(settings).catch_up()
    Collector(settings).catch_up()
    calls, agent_events = counts(sqlite_url)
    assert len(calls) == 11 and len(set(calls)) == 11
    assert set(calls_after_first) <= set(calls)
    assert QUEUE_CALLS | {DIRECT} <= set(calls)
    # login x2, pause x2, unpause, logout x2 (from the feature-code calls' files) and 2 wrap-ups.
    assert agent_events == 9
    with db.engine_for(sqlite_url).connect() as conn:
        assert conn.execute(select(RecordSource.offset)).scalar_one() > 0


def test_live_then_files_add_nothing(tmp_path: Path, sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    settings = settings_for(tmp_path, sqlite_url)
    collector = Collector(settings)
    collector.feed([(e, 0.0) for e in events()])
    collector.live.tick(1e12)
    collector.flush()
    live_calls, live_agents = counts(sqlite_url)
    assert len(live_calls) == 11
    copy_cdrs(cdr_dir_of(settings), cdr_names(), mtime=time.time() - 30)
    Collector(settings).catch_up()
    assert counts(sqlite_url) == (live_calls, live_agents)


def test_a_call_still_up_is_left_to_the_live_events(tmp_path: Path, sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    settings = settings_for(tmp_path, sqlite_url)
    collector = Collector(settings)
    # The agent's leg of a queue call hung up; the caller's is still up (as FreeSWITCH says).
    caller = "526e6c72-f671-4063-be3e-de877711a70f"
    collector.live.open_legs.open(caller, collector.live.calls.assign(caller))
    copy_cdrs(cdr_dir_of(settings), ["d6f9ba8f-2e54-4813-8f8f-d323de0f6e1a.cdr.json"], mtime=time.time() - 30)
    collector.catch_up()
    assert counts(sqlite_url)[0] == []
    # Its hangup comes live: the call is whole.
    hangup = next(e for e in events() if e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE" and e["Unique-ID"] == caller)
    collector.feed([(hangup, 0.0)])
    collector.flush()
    with db.engine_for(sqlite_url).connect() as conn:
        row = conn.execute(select(CallRecord.disposition, CallRecord.agent, CallRecord.talk_s)
                           .where(CallRecord.linkedid == caller)).one()
    assert row[0] == "answered" and row[1] == "7002" and row[2] > 3.5


def test_a_file_still_being_written_holds_the_cursor(tmp_path: Path, sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    settings = settings_for(tmp_path, sqlite_url)
    directory = cdr_dir_of(settings)
    copy_cdrs(directory, cdr_names()[:2], mtime=time.time() - 30)
    half = directory / "a_0000.cdr.json"
    half.write_text('{"variables": {"uuid": "x"', encoding="utf-8")
    Collector(settings).catch_up()
    with db.engine_for(sqlite_url).connect() as conn:
        cursor = conn.execute(select(RecordSource.offset)).scalar_one()
    assert cursor <= half.stat().st_mtime_ns
