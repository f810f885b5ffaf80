"""Idempotent ingestion on SQLite and PostgreSQL: replaying what was stored adds nothing."""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import func, select

from homepbx import db
from homepbx.models import AgentEvent, CallLeg, CallRecord, QueueEvent, Recording
from homepbx.asterisk.records.feed import AmiFeed
from homepbx.records.events import Engine
from homepbx.asterisk.records.sources import parse_cel_line, parse_queue_log_line
from homepbx.records.store import Stored, store

from .records_data import day_one


def counts(url: str) -> dict[str, int]:
    with db.engine_for(url).connect() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (CallRecord, CallLeg, QueueEvent, AgentEvent, Recording)
        }


def ingest_live(url: str, events, chunk: int = 7) -> Stored:  # type: ignore[no-untyped-def]
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    total_calls = total_events = 0
    for i in range(0, len(events), chunk):
        for event in events[i:i + chunk]:
            feed_ami(event, now=0.0)
        with db.engine_for(url).begin() as conn:
            got = store(conn, engine.drain())
        total_calls += got.calls
        total_events += got.agent_events
    return Stored(total_calls, total_events)


def ingest_files(url: str, stream) -> Stored:  # type: ignore[no-untyped-def]
    engine = Engine()
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


def _call(i: int, **over):  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta

    from homepbx.records.types import CallRow, FinishedCall, LegRow, QueueEventRow, RecordingRow

    at = datetime(2026, 1, 1) + timedelta(seconds=i, microseconds=i % 7)
    lid = f"1900000000.{i}"
    call = CallRow(lid, at, None if i % 2 else at, at + timedelta(seconds=30), f"06{i}", "", "500", "sales",
                   "" if i % 2 else "1001", "", "answered", "caller", 1.5, 0.0, 28.5, 0.0, 0, "", bool(i % 3))
    legs = [LegRow(lid, lid, "PJSIP/trunk-1", "caller", "", at, None, None, 0.0, 0.0, 0.0, None),
            LegRow(lid, lid + "1", "PJSIP/1001-1", "agent", "1001", at, at, at, 1.0, 28.5, 0.0, 16)]
    queue = [QueueEventRow(lid, lid, "sales", "ENTERQUEUE", at.replace(microsecond=0), "", None, None)]
    recs = [RecordingRow(f"/r/{i}.wav", lid, "1001", at, None)] if i % 5 == 0 else []
    return FinishedCall(over.get("call", call), legs, queue, recs, [])


def test_batch_writes_read_back_exactly_and_share_keys_with_orm_rows(migrated_url: str) -> None:
    """The batch path skips the ORM: what it writes must read back equal, and its stored form of a
    key (times included) must be the one the ORM writes, or replays would duplicate rows."""
    from dataclasses import astuple

    from homepbx.records.types import Batch, QueueEventRow

    # More calls than one multi-row INSERT holds on SQLite, and one linkedid twice.
    finished = [_call(i) for i in range(1200)] + [_call(7)]
    with db.engine_for(migrated_url).begin() as conn:
        assert store(conn, Batch(finished, [])) == Stored(1200, 0)
    with db.session_scope(migrated_url) as session:
        got = {c.linkedid: c for c in session.scalars(select(CallRecord))}
        for f in finished[:1200]:
            row = got[f.call.linkedid]
            assert tuple(getattr(row, n) for n in f.call.__slots__) == astuple(f.call)
        legs = {(leg.linkedid, leg.uniqueid): leg for leg in session.scalars(select(CallLeg))}
        leg = finished[3].legs[1]
        assert tuple(getattr(legs[(leg.linkedid, leg.uniqueid)], n) for n in leg.__slots__) == astuple(leg)
        recs = session.scalars(select(Recording)).all()
        assert len(recs) == 240 and {r.paused for r in recs} == {"[]"}
        # A queue event the ORM wrote first has the same key as the batch path's twin.
        at = finished[0].queue_events[0].at
        session.add(QueueEvent(linkedid=finished[1].call.linkedid, callid="x", queue="sales", event="ENTERQUEUE",
                               at=at, agent="", wait_s=None, talk_s=None))
    twin = QueueEventRow(finished[1].call.linkedid, "x", "sales", "ENTERQUEUE", at, "", None, None)
    from homepbx.records.store import _insert

    with db.engine_for(migrated_url).begin() as conn:
        _insert(conn, QueueEventRow, [twin])
        # Replaying everything adds nothing.
        assert store(conn, Batch(finished, [])) == Stored(0, 0)
    assert counts(migrated_url) == {"call_records": 1200, "call_legs": 2400, "queue_events": 1201,
                                    "agent_events": 0, "recordings": 240}


def test_batch_writer_stores_in_order_like_inline_and_reports_failures(migrated_url: str) -> None:
    """The writer thread stores batches one after the other, as inline `store` calls would: a
    later batch repeating a call adds nothing; after a failed batch nothing more is written and
    the error reaches the producer."""
    import pytest

    from homepbx.records.store import BatchWriter
    from homepbx.records.types import Batch

    writer = BatchWriter(migrated_url, depth=2)
    for start in range(0, 300, 50):
        writer.put(Batch([_call(i) for i in range(start, start + 60)], []))  # 10 overlap each time
    assert writer.wait() == Stored(300 + 10, 0)
    assert writer.close() == Stored(310, 0)
    assert counts(migrated_url)["call_records"] == 310

    broken = BatchWriter(migrated_url)
    bad = _call(1000)
    bad.legs[0].started_at = None  # NOT NULL: the whole batch fails
    broken.put(Batch([bad], []))
    with pytest.raises(Exception):
        broken.wait()
    with pytest.raises(Exception):
        broken.put(Batch([_call(2000)], []))
    with pytest.raises(Exception):
        broken.close()
    assert counts(migrated_url)["call_records"] == 310
