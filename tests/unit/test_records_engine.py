"""The records engine, pure: scripted Asterisk events in, call records and agent events out."""

from __future__ import annotations

from datetime import datetime, timezone

from homepbx.asterisk.records.feed import AmiFeed
from homepbx.records.events import Engine
from homepbx.asterisk.records.sources import endpoint_of, parse_cel_line, parse_queue_log_line
from homepbx.records.types import Batch, CelEvent

from .records_data import day_one


def live(stream) -> Batch:  # type: ignore[no-untyped-def]
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    for event in stream.ami:
        feed_ami(event, now=0.0)
    return engine.drain()


def from_files(stream) -> Batch:  # type: ignore[no-untyped-def]
    engine = Engine()
    for line in stream.queue_log:
        engine.feed(parse_queue_log_line(line))
    for line in stream.cel_lines:
        engine.feed(parse_cel_line(line))
    return engine.drain()


def by_id(batch: Batch) -> dict:  # type: ignore[type-arg]
    return {c.call.linkedid: c for c in batch.calls}


def test_one_record_per_call_with_hand_known_figures() -> None:
    stream, ids = day_one()
    calls = by_id(live(stream))
    assert set(calls) == set(ids.values())

    answered = calls[ids["answered"]].call
    assert (answered.disposition, answered.queue, answered.agent, answered.caller) == ("answered", "sales", "1001", "0611")
    assert (answered.wait_s, answered.ring_s, answered.talk_s, answered.hold_s) == (12.0, 4.0, 95.0, 20.0)
    assert answered.hangup_side == "caller"
    assert answered.started_at == datetime(2026, 1, 1, 10, 0, 0)
    assert answered.answered_at == datetime(2026, 1, 1, 10, 0, 12)
    assert answered.recording.endswith("/a.wav")
    legs = {(leg.role, leg.agent) for leg in calls[ids["answered"]].legs}
    assert legs == {("caller", ""), ("agent", "1001"), ("agent", "1002")}  # ring-all: both rang

    abandoned = calls[ids["abandoned"]].call
    assert (abandoned.disposition, abandoned.wait_s, abandoned.agent, abandoned.hangup_side) == ("abandoned", 30.0, "", "caller")

    timeout = calls[ids["timeout"]].call
    assert (timeout.disposition, timeout.wait_s, timeout.hangup_side) == ("timeout", 300.0, "system")

    moved = calls[ids["transferred"]].call
    assert (moved.agent, moved.last_agent, moved.transfers, moved.talk_s) == ("1001", "1003", 1, 100.0)

    agent_hung = calls[ids["agent_hangup"]].call
    assert (agent_hung.hangup_side, agent_hung.talk_s, agent_hung.wait_s) == ("agent", 200.0, 25.0)


def test_queue_events_and_wrapup() -> None:
    stream, ids = day_one()
    calls = by_id(live(stream))
    events = [(q.event, q.agent, q.wait_s) for q in calls[ids["answered"]].queue_events]
    assert events == [("ENTERQUEUE", "", None), ("CONNECT", "1001", 12.0), ("COMPLETECALLER", "1001", 12.0)]
    # AMI has no timeout event: the engine tells it from the channel events.
    assert [q.event for q in calls[ids["timeout"]].queue_events] == ["ENTERQUEUE", "EXITWITHTIMEOUT"]
    assert [(a.event, a.agent) for a in calls[ids["answered"]].agent_events] == [("wrapup", "1001")]


def test_files_and_live_give_the_same_calls() -> None:
    stream, _ = day_one()
    a, b = by_id(live(stream)), by_id(from_files(stream))
    assert set(a) == set(b)
    for linkedid, call in a.items():
        other = b[linkedid]
        # CEL has no hold event: only the live stream knows hold times.
        assert call.call.hold_s == 0 or other.call.hold_s == 0
        other.call.hold_s, other_legs = call.call.hold_s, [(x.uniqueid, x.talk_s) for x in other.legs]
        assert other.call == call.call
        assert other_legs == [(x.uniqueid, x.talk_s) for x in call.legs]
        assert [(q.event, q.at, q.agent) for q in other.queue_events] == [(q.event, q.at, q.agent) for q in call.queue_events]


def test_an_event_seen_live_and_again_in_the_file_counts_once() -> None:
    stream, ids = day_one()
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    half = len(stream.ami) // 2
    for event in stream.ami[:half]:
        feed_ami(event, now=0.0)
    # The collector lost AMI here; the backfill replays the whole files, then live resumes.
    for line in stream.queue_log:
        engine.feed(parse_queue_log_line(line))
    for line in stream.cel_lines:
        engine.feed(parse_cel_line(line))
    for event in stream.ami[half:]:
        feed_ami(event, now=0.0)
    batch = engine.drain()
    reference = by_id(live(stream))
    linkedids = [c.call.linkedid for c in batch.calls]
    # Calls finished before the cut come out twice (once live, once from the file): the store
    # keeps the first; the rest come out exactly once, and all agree with the live-only run.
    assert set(linkedids) == set(ids.values())
    for call in batch.calls:
        ref = reference[call.call.linkedid].call
        assert (call.call.disposition, call.call.talk_s, call.call.wait_s, call.call.agent) == (
            ref.disposition, ref.talk_s, ref.wait_s, ref.agent)


def test_calls_without_linkedid_end_expire_as_incomplete() -> None:
    engine = Engine(max_age=60)
    engine.feed(CelEvent(100.0, "CHAN_START", "1.1", "1.1", "PJSIP/trunk-1", cid_num="0600"))
    engine.feed(CelEvent(101.0, "HANGUP", "1.1", "1.1", "PJSIP/trunk-1", extra={"hangupsource": "PJSIP/trunk-1"}))
    assert engine.expire(now=150.0) == 0
    assert engine.expire(now=200.0) == 1
    (call,) = engine.drain().calls
    assert call.call.complete is False and call.call.caller == "0600"
    assert engine.open_calls == 0


def test_agent_events_from_both_sources() -> None:
    stream, _ = day_one()
    a = [(e.agent, e.event, e.reason, e.at) for e in live(stream).agent_events]
    b = [(e.agent, e.event, e.reason, e.at) for e in from_files(stream).agent_events]
    assert a == b
    assert ("1002", "pause", "lunch", datetime(2026, 1, 1, 10, 20)) in a


def test_parsers_refuse_garbage() -> None:
    assert parse_cel_line("not,a,cel,line") is None
    assert parse_cel_line('"x","CHAN_START"' + ',""' * 13) is None
    assert parse_queue_log_line("garbage") is None
    assert parse_queue_log_line("1700000000|NONE|NONE|NONE|QUEUESTART|") is None
    assert endpoint_of("PJSIP/1001-0000000a") == "1001"
    assert endpoint_of("Local/1001@homepbx-agents-00000001;1") == "1001"
    assert endpoint_of("") == ""


def test_cel_csv_quotes_and_user_events() -> None:
    line = '"1700000000.250000","USER_DEFINED","1.1","1.1","PJSIP/a-1","c","s","","","","MYEVT","{""k"": 1}","","06 ""x""","n"\n'
    ev = parse_cel_line(line)
    assert ev is not None
    assert (ev.event, ev.extra, ev.cid_num, ev.time) == ("MYEVT", {"k": 1}, '06 "x"', 1700000000.25)


def test_an_unhold_after_the_call_ended_leaves_no_open_call() -> None:
    # Asterisk may send a held agent's Unhold as the call hangs up, after LINKEDID_END.
    stream, ids = day_one()
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    for event in stream.ami:
        feed_ami(event, now=0.0)
    finished = {c.call.linkedid: c.call.hold_s for c in engine.drain().calls}
    assert engine.open_calls == 0
    feed_ami({"Event": "Unhold", "Channel": "PJSIP/1001-000000ff", "Uniqueid": "x.1",
                     "Linkedid": ids["answered"], "Timestamp": "1767261600.0"}, now=0.0)
    assert engine.open_calls == 0
    # A Hold for a call not seen yet still opens it (its channel events may come from the files).
    feed_ami({"Event": "Hold", "Channel": "PJSIP/1001-000000ff", "Uniqueid": "y.1",
                     "Linkedid": "y.1", "Timestamp": "1767261600.0"}, now=0.0)
    assert engine.open_calls == 1
    assert finished[ids["answered"]] == 20.0


def test_the_engine_reads_agents_from_the_event_not_the_channel_name() -> None:
    # Neutral events: whichever PBX named the channels, `agent` alone says whose phone it is.
    def call(agent_leg_agent: str) -> Batch:
        engine = Engine()
        for t, name, uid, channel, agent, extra in (
            (0.0, "CHAN_START", "c.1", "sofia/external/0611", "", {}),
            (1.0, "CHAN_START", "a.1", "sofia/internal/x@y", agent_leg_agent, {}),
            (3.0, "ANSWER", "a.1", "sofia/internal/x@y", agent_leg_agent, {}),
            (3.0, "BRIDGE_ENTER", "c.1", "sofia/external/0611", "", {"bridge_id": "b"}),
            (3.0, "BRIDGE_ENTER", "a.1", "sofia/internal/x@y", agent_leg_agent, {"bridge_id": "b"}),
            (13.0, "HANGUP", "c.1", "sofia/external/0611", "", {"hangupsource": "sofia/external/0611"}),
            (13.0, "HANGUP", "a.1", "sofia/internal/x@y", agent_leg_agent, {}),
            (13.0, "LINKEDID_END", "c.1", "sofia/external/0611", "", {}),
        ):
            engine.feed_cel(CelEvent(t, name, "c.1", uid, channel, extra=extra, agent=agent))
        return engine.drain()

    (answered,) = call("1001").calls
    assert (answered.call.agent, answered.call.disposition, answered.call.talk_s) == ("1001", "answered", 10.0)
    assert [(leg.role, leg.agent) for leg in answered.legs] == [("caller", ""), ("agent", "1001")]
    (other,) = call("").calls
    assert (other.call.agent, other.call.disposition) == ("", "failed")
    assert [leg.role for leg in other.legs] == ["caller", "other"]


def test_the_adapter_marks_agent_channels_only() -> None:
    line = '"1700000000.0","CHAN_START","1.1","1.2","{}","c","s","","","","","","","",""\n'
    for channel, agent in (("PJSIP/1001-0000000a", "1001"), ("PJSIP/trunk-00000001", "trunk"),
                           ("Local/1001@homepbx-agents-00000001;1", ""), ("", "")):
        ev = parse_cel_line(line.format(channel))
        assert ev is not None and ev.agent == agent
