"""Idempotent ingestion on SQLite and PostgreSQL: replaying what was stored adds nothing."""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import func, select

from homepbx import db
from homepbx.models import AgentEvent, CallLeg, CallRecord, QueueEvent, Recording
from homepbx.records.events import Engine
from homepbx.records.sources import parse_cel_line, parse_queue_log_line
from homepbx.records.store import Stored, store

from .records_data import day_one


def counts(url: str) -> dict[str, int]:
    with db.engine_for(url).connect() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (CallRecord, CallLeg, QueueEvent, AgentEvent, Recording)
        }


def ingest_live(url: str, events, chunk: int = 7) -> Stored:  # type: ignore[no-untyped-def]
    engine = Engine(asterisk_tz=timezone.utc)
    total_calls = total_events = 0
    for i in range(0, len(events), chunk):
        for event in events[i:i + chunk]:
            engine.feed_ami(event, now=0.0)
        with db.engine_for(url).begin() as conn:
            got = store(conn, engine.drain())
        total_calls += got.calls
        total_events += got.agent_events
    return Stored(total_calls, total_events)


def ingest_files(url: str, stream) -> Stored:  # type: ignore[no-untyped-def]
    engine = Engine(asterisk_tz=timezone.utc)
    for line in stream.queue_log:
        engine.feed(parse_queue_log_line(line))
    for line in stream.cel_lines:
        engine.feed(parse_cel_line(line))
    with db.engine_for(url).begin() as conn:
        return store(conn, engine.drain())


def test_live_then_replay_of_the_files_adds_nothing(migrated_url: str) -> None:
    stream, ids = day_one()
    first = ingest_live(migrated_url, stream.ami)
    assert first.calls == len(ids)
    # 3 logins, 1 pause, 1 unpause, 1 logout, plus a wrap-up for each of the 3 answering agents' completions
    assert first.agent_events == 5 + 3
    after_live = counts(migrated_url)
    assert after_live == {"call_records": 5, "call_legs": 11, "queue_events": 13, "agent_events": 8, "recordings": 1}

    again = ingest_files(migrated_url, stream)
    assert again == Stored(0, 0)
    assert ingest_live(migrated_url, stream.ami) == Stored(0, 0)
    assert counts(migrated_url) == after_live


def test_files_first_then_live(migrated_url: str) -> None:
    stream, ids = day_one()
    assert ingest_files(migrated_url, stream).calls == len(ids)
    snapshot = counts(migrated_url)
    assert ingest_live(migrated_url, stream.ami) == Stored(0, 0)
    assert counts(migrated_url) == snapshot


def test_agent_change_stamped_a_second_apart_is_one_change(migrated_url: str) -> None:
    # queue_log and AMI may stamp the same pause on either side of a second boundary.
    from homepbx.records.types import AgentEventRow, Batch, utc

    with db.engine_for(migrated_url).begin() as conn:
        assert store(conn, Batch([], [AgentEventRow(utc(1000), "1001", "sales", "pause", "lunch")])).agent_events == 1
        assert store(conn, Batch([], [AgentEventRow(utc(1001), "1001", "sales", "pause", "lunch")])).agent_events == 0
        assert store(conn, Batch([], [AgentEventRow(utc(1003), "1001", "sales", "pause", "lunch")])).agent_events == 1
    assert counts(migrated_url)["agent_events"] == 2


def test_stored_call_reads_back(migrated_url: str) -> None:
    stream, ids = day_one()
    ingest_live(migrated_url, stream.ami)
    with db.session_scope(migrated_url) as session:
        call = session.scalars(select(CallRecord).where(CallRecord.linkedid == ids["transferred"])).one()
        assert (call.agent, call.last_agent, call.talk_s, call.transfers) == ("1001", "1003", 100.0, 1)
        assert sorted(leg.agent for leg in call.legs) == ["", "1001", "1003"]
