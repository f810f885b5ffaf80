"""The Asterisk live feed: AMI events -> neutral agent and queue states, and its reconnecting shell."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from homepbx.asterisk.ami import Message
from homepbx.asterisk.watch import LiveTracker, watch
from homepbx.config import AmiSettings, Settings
from homepbx.pbx import LiveEvent

from .fake_ami import Action, Connection, FakeAmi


def msg(event: str, **headers: str) -> Message:
    keys = ("Event", *headers)
    return Message._from_columns(tuple(keys), (event, *headers.values()))


def states(events: list[LiveEvent]) -> list[tuple[str, str, str, str, str]]:
    return [(e.change, a.agent, a.state, a.queue, a.reason) for e in events for a in e.agents]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def tracker() -> LiveTracker:
    t = LiveTracker({"sales": 10}, clock=Clock())
    t.snapshot([msg("QueueParams", Queue="sales")], [])
    return t


def member(event: str, paused: str = "0", reason: str = "", **more: str) -> Message:
    return msg(event, Queue="sales", Interface="PJSIP/1001", MemberName="1001", Paused=paused,
               PausedReason=reason, **more)


def test_a_queue_call_from_login_to_wrap_up(tracker: LiveTracker) -> None:
    out = tracker.feed(member("QueueMemberAdded"))
    assert states(out) == [("login", "1001", "available", "", "")]
    out = tracker.feed(member("QueueMemberPause", "1", "lunch"))
    assert states(out) == [("pause", "1001", "paused", "", "lunch")]
    out = tracker.feed(member("QueueMemberPause", "0"))
    assert states(out) == [("pause", "1001", "available", "", "")][:0] + [("state", "1001", "available", "", "")]
    tracker.feed(msg("QueueCallerJoin", Queue="sales", Uniqueid="c.1", Timestamp="1001.0"))
    tracker.feed(msg("AgentCalled", Queue="sales", Interface="PJSIP/1001", Linkedid="c.1"))
    out = tracker.feed(msg("Newchannel", Channel="PJSIP/1001-00000001", Uniqueid="a.1", Linkedid="c.1",
                           ChannelState="5"))
    assert states(out) == [("state", "1001", "ringing", "sales", "")]
    assert out[0].agents[0].call_id == "c.1"
    tracker.feed(msg("Newstate", Channel="PJSIP/1001-00000001", Uniqueid="a.1", ChannelState="6"))
    out = tracker.feed(msg("QueueCallerLeave", Queue="sales", Uniqueid="c.1"))
    assert out[0].kind == "queue" and out[0].change == "leave" and out[0].queues[0].waiting_since == ()
    tracker.feed(msg("AgentConnect", Queue="sales", Interface="PJSIP/1001", Linkedid="c.1"))
    out = tracker.feed(msg("BridgeEnter", Channel="PJSIP/1001-00000001", Uniqueid="a.1", Timestamp="1005.0"))
    assert states(out) == [("answered", "1001", "on call", "sales", "")]
    assert out[0].agents[0].since == 1005.0
    # A pause while on call is still on call (Asterisk pauses the member, not the call).
    assert tracker.feed(member("QueueMemberPause", "1", "lunch")) == []
    assert states(tracker.feed(member("QueueMemberPause", "0"))) == []
    out = tracker.feed(msg("AgentComplete", Queue="sales", Interface="PJSIP/1001", Timestamp="1065.0"))
    assert out == []  # still bridged until the channel leaves
    tracker.feed(msg("BridgeLeave", Channel="PJSIP/1001-00000001", Uniqueid="a.1", Timestamp="1065.0"))
    out = tracker.feed(msg("Hangup", Channel="PJSIP/1001-00000001", Uniqueid="a.1", Timestamp="1065.0"))
    assert states(out) == [("hangup", "1001", "wrap-up", "sales", "")] or states(out) == []
    assert tracker._shown["1001"].state == "wrap-up"
    assert tracker.tick(1070.0) == []
    assert states(tracker.tick(1076.0)) == [("available", "1001", "available", "", "")]
    out = tracker.feed(member("QueueMemberRemoved"))
    assert states(out) == [("logout", "1001", "logged out", "", "")]


def test_callers_abandon(tracker: LiveTracker) -> None:
    tracker.feed(msg("QueueCallerJoin", Queue="sales", Uniqueid="c.1", Timestamp="1001.0"))
    out = tracker.feed(msg("QueueCallerJoin", Queue="sales", Uniqueid="c.2", Timestamp="1003.0"))
    assert out[0].queues[0].waiting_since == (1001.0, 1003.0)
    out = tracker.feed(msg("QueueCallerAbandon", Queue="sales", Uniqueid="c.1"))
    assert out[0].change == "abandon" and out[0].queues[0].waiting_since == (1003.0,)
    # Asterisk sends Leave after Abandon: nothing more to say.
    assert tracker.feed(msg("QueueCallerLeave", Queue="sales", Uniqueid="c.1")) == []


def test_a_feature_code_call_does_not_look_like_a_call(tracker: LiveTracker) -> None:
    tracker.feed(member("QueueMemberAdded"))
    assert tracker.feed(msg("Newchannel", Channel="PJSIP/1001-00000002", Uniqueid="f.1", ChannelState="4")) == []
    assert tracker.feed(msg("Newstate", Channel="PJSIP/1001-00000002", Uniqueid="f.1", ChannelState="6")) == []
    out = tracker.feed(member("QueueMemberPause", "1", "training"))
    assert states(out) == [("pause", "1001", "paused", "", "training")]
    assert tracker.feed(msg("Hangup", Channel="PJSIP/1001-00000002", Uniqueid="f.1")) == []


def test_snapshot_after_a_restart() -> None:
    clock = Clock()
    tracker = LiveTracker(clock=clock)
    snap = tracker.snapshot(
        [msg("QueueParams", Queue="sales"),
         msg("QueueMember", Queue="sales", Location="PJSIP/1001", Paused="1", PausedReason="break",
             LastPause="900"),
         msg("QueueMember", Queue="sales", Location="PJSIP/1002", Paused="0"),
         msg("QueueMember", Queue="sales", Location="Local/x@y", Paused="0"),
         msg("QueueEntry", Queue="sales", Uniqueid="c.9", Wait="30")],
        [msg("CoreShowChannel", Channel="PJSIP/1002-0000000a", Uniqueid="a.9", Linkedid="c.8", ChannelState="6",
             BridgeId="b1", Duration="00:01:40"),
         msg("CoreShowChannel", Channel="PJSIP/outside-0000000b", Uniqueid="o.9", Linkedid="c.8",
             ChannelState="6", BridgeId="b1", Duration="00:01:41")])
    assert snap.kind == "snapshot"
    got = {a.agent: (a.state, a.since, a.reason, a.call_id) for a in snap.agents}
    assert got["1001"] == ("paused", 900.0, "break", "")
    assert got["1002"] == ("on call", 900.0, "", "c.8")
    assert snap.queues[0].queue == "sales" and snap.queues[0].waiting_since == (970.0,)


# --- the shell over a fake AMI ------------------------------------------------------------------

def queue_status(conn_state: dict[str, str]):  # noqa: ANN201 - a FakeAmi script
    async def script(conn: Connection, action: Action) -> None:
        await conn.reply(action, "Response: Success", "EventList: start")
        await conn.reply(action, "Event: QueueParams", "Queue: sales")
        await conn.reply(action, "Event: QueueMember", "Queue: sales", "Location: PJSIP/1001",
                         f"Paused: {conn_state['paused']}", f"PausedReason: {conn_state['reason']}")
        await conn.reply(action, "Event: QueueStatusComplete", "EventList: Complete")
    return script


async def empty_channels(conn: Connection, action: Action) -> None:
    await conn.reply(action, "Response: Success", "EventList: start")
    await conn.reply(action, "Event: CoreShowChannelsComplete", "EventList: Complete", "ListItems: 0")


async def next_event(events, kind: str) -> LiveEvent:  # noqa: ANN001
    async with asyncio.timeout(10):
        async for ev in events:
            if ev.kind == kind:
                return ev
    raise AssertionError("the feed ended")


def test_watch_snapshots_follows_and_resnapshots_after_a_restart() -> None:
    async def main() -> None:
        state = {"paused": "0", "reason": ""}
        async with FakeAmi() as ami:
            ami.scripts["queuestatus"] = queue_status(state)
            ami.scripts["coreshowchannels"] = empty_channels
            settings = Settings(ami=AmiSettings(port=ami.port, secret="s3cret", timeout=2.0))
            async with watch(settings, {"sales": 0}, retry=(0.1, 0.5)) as events:
                snap = await next_event(events, "snapshot")
                assert [(a.agent, a.state) for a in snap.agents] == [("1001", "available")]
                login = [a for a in ami.actions if a.name == "Login"][0]
                assert login.get("Events") == "call,agent"
                await ami.send(b"Event: QueueMemberPause\r\nQueue: sales\r\nInterface: PJSIP/1001\r\n"
                               b"Paused: 1\r\nPausedReason: lunch\r\n\r\n")
                ev = await next_event(events, "agent")
                assert (ev.change, ev.agents[0].state, ev.agents[0].reason) == ("pause", "paused", "lunch")
                # Asterisk restarts; meanwhile the agent was unpaused: the new snapshot says so.
                state.update(paused="0", reason="")
                await ami.drop()
                # (A "down" event comes first if the gap outlasts the feed's check, 0.25 s.)
                snap = await next_event(events, "snapshot")
                assert [(a.agent, a.state) for a in snap.agents] == [("1001", "available")]

    asyncio.run(main())


def test_watch_keeps_trying_when_asterisk_is_not_there() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            port = ami.port
        settings = Settings(ami=AmiSettings(port=port, secret="s3cret", timeout=1.0))
        async with watch(settings, retry=(0.1, 0.2)) as events:
            down = await next_event(events, "down")
            assert "refused" in down.change or "reached" in down.change
            down = await next_event(events, "down")  # and again: it did not give up

    asyncio.run(main())


def test_the_backend_offers_the_feed() -> None:
    from homepbx import backends

    backend = backends.by_name("asterisk")
    assert callable(backend.watch)
    assert dataclasses.is_dataclass(LiveEvent)
