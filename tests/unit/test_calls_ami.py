"""Call control and recording edge cases against a fake AMI: what reaches "Asterisk", exit codes.

The happy paths (who hears whom, what the WAV holds) are proven on the real lab in
tests/lab/test_calls_lab.py and tests/lab/test_recording_lab.py. Here: an agent with no call,
unknown agents, Asterisk refusing BlindTransfer or MixMonitor, AMI lost mid-transfer, and no
CR/LF reaching AMI from a transfer target, plus the blind-transfer hand-over of a recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from homepbx.asterisk import calls
from homepbx.asterisk.ami import AmiClient
from homepbx.errors import InvalidInput

from .cli_helpers import Cli, assert_plain_error, db_fingerprint
from .fake_ami import Action, Connection, FakeAmi, fake_ami_in_thread
from .cli_helpers import make_cli, url_of
from .test_supervision import point_at

CALLER = "PJSIP/outside-00000001"
FIRST = "PJSIP/4301-00000002"
SECOND = "PJSIP/4302-00000003"
FILE = "/var/spool/asterisk/monitor/homepbx/call-1.wav"


class FakePbx:
    """Live channels, channel variables and a blind transfer that moves the caller, in a FakeAmi."""

    def __init__(self, ami: FakeAmi) -> None:
        self.ami = ami
        # name -> (bridge id, state)
        self.chans: dict[str, tuple[str, str]] = {CALLER: ("b1", "Up"), FIRST: ("b1", "Up")}
        self.vars: dict[tuple[str, str], str] = {}
        self.devices = {"PJSIP/4302": "NOT_INUSE", "PJSIP/4303": "UNAVAILABLE"}
        self.polls_until_answer = 2  # CoreShowChannels answers before the new agent is bridged
        self.transferred = False
        self.refuse: dict[str, str] = {}  # action name (lower) -> error message
        for name, handler in (("coreshowchannels", self.show), ("getvar", self.getvar), ("setvar", self.setvar),
                              ("devicestatelist", self.devices_list), ("blindtransfer", self.blind),
                              ("mixmonitor", self.generic), ("stopmixmonitor", self.generic),
                              ("mixmonitormute", self.generic), ("atxfer", self.generic),
                              ("hangup", self.generic)):
            ami.scripts[name] = handler

    def recorded(self, channel: str = CALLER, mixmonitor_id: str = "0x7f01") -> None:
        self.vars[(channel, calls.RECORDING_ID_VAR)] = mixmonitor_id
        self.vars[(channel, "MIXMONITOR_FILENAME")] = FILE

    async def refused(self, conn: Connection, action: Action) -> bool:
        message = self.refuse.get(action.name.lower())
        if message is None:
            return False
        await conn.reply(action, "Response: Error", f"Message: {message}")
        return True

    async def generic(self, conn: Connection, action: Action) -> None:
        if not await self.refused(conn, action):
            await conn.reply(action, "Response: Success", "Message: OK")

    async def show(self, conn: Connection, action: Action) -> None:
        if self.transferred and SECOND not in self.chans:
            self.polls_until_answer -= 1
            if self.polls_until_answer <= 0:
                self.chans[SECOND] = ("b2", "Up")
                self.chans[CALLER] = ("b2", "Up")
        await conn.reply(action, "Response: Success", "EventList: start")
        for i, (name, (bridge, state)) in enumerate(self.chans.items()):
            uid = {CALLER: "1.1", FIRST: "1.2", SECOND: "1.3"}.get(name, f"1.{10 + i}")
            await conn.reply(action, "Event: CoreShowChannel", f"Channel: {name}", f"ChannelStateDesc: {state}",
                             f"Uniqueid: {uid}", "Linkedid: 1.1", f"BridgeId: {bridge}", "Duration: 00:00:30",
                             "CallerIDNum: 0612")
        await conn.reply(action, "Event: CoreShowChannelsComplete", "EventList: Complete",
                         f"ListItems: {len(self.chans)}")

    async def getvar(self, conn: Connection, action: Action) -> None:
        if action.get("Channel") not in self.chans:
            await conn.reply(action, "Response: Error", "Message: No such channel")
            return
        value = self.vars.get((action.get("Channel"), action.get("Variable")), "")
        await conn.reply(action, "Response: Success", f"Variable: {action.get('Variable')}", f"Value: {value}")

    async def setvar(self, conn: Connection, action: Action) -> None:
        self.vars[(action.get("Channel"), action.get("Variable"))] = action.get("Value")
        await conn.reply(action, "Response: Success", "Message: Variable Set")

    async def devices_list(self, conn: Connection, action: Action) -> None:
        await conn.reply(action, "Response: Success", "EventList: start")
        for device, state in self.devices.items():
            await conn.reply(action, "Event: DeviceStateChange", f"Device: {device}", f"State: {state}")
        await conn.reply(action, "Event: DeviceStateListComplete", "EventList: Complete")

    async def blind(self, conn: Connection, action: Action) -> None:
        if await self.refused(conn, action):
            return
        self.transferred = True
        del self.chans[FIRST]
        self.chans[CALLER] = ("", "Up")  # dialling the target
        await conn.reply(action, "Response: Success", "Message: Transfer succeeded")

    def sent(self, name: str) -> list[Action]:
        return [a for a in self.ami.actions if a.name == name]


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (("team", "add", "t"), ("agent", "add", "4301", "--name", "A", "--team", "t"),
                 ("agent", "add", "4302", "--name", "B", "--team", "t"),
                 ("agent", "add", "4303", "--name", "C", "--team", "t")):
        assert cli(*args).exit_code == 0, args
    return cli


@pytest.fixture
def pbx() -> Iterator[FakePbx]:
    with fake_ami_in_thread() as ami:
        yield FakePbx(ami)


# -- through the CLI -----------------------------------------------------------------------------

def test_a_recorded_call_blindly_transferred_is_recorded_on_the_new_agents_channel(cli: Cli, pbx: FakePbx) -> None:
    pbx.recorded()
    point_at(cli, pbx.ami.port)
    res = cli("call", "transfer", "4301", "--to", "4302")
    assert res.exit_code == 0, res.stderr
    names = pbx.ami.after_login()
    # Transfer first (a refused transfer must leave the recording alone), then the hand-over.
    assert names.index("BlindTransfer") < names.index("StopMixMonitor") < names.index("MixMonitor")
    [stop] = pbx.sent("StopMixMonitor")
    assert stop.get("Channel") == CALLER and stop.get("MixMonitorID") == "0x7f01"
    [start] = pbx.sent("MixMonitor")
    assert start.get("Channel") == SECOND and start.get("File") == FILE
    assert start.get("Options") == "abi(HOMEPBX_MIXMON)" and not start.get("Command")
    assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == ""
    assert not pbx.sent("MixMonitorMute")
    # The caller is marked as handed over by this command before the transfer (the collector's
    # watch then leaves it alone), and unmarked once done.
    marks = [a.get("Value") for a in pbx.sent("Setvar") if a.get("Variable") == calls.TRANSFER_OWNER_VAR]
    assert len(marks) == 2 and float(marks[0]) > 0 and marks[1] == ""
    first_mark = next(i for i, a in enumerate(pbx.ami.actions) if a.get("Variable") == calls.TRANSFER_OWNER_VAR)
    assert first_mark < pbx.ami.names().index("BlindTransfer")


def test_a_paused_recording_stays_paused_after_the_hand_over(cli: Cli, pbx: FakePbx) -> None:
    pbx.recorded()
    pbx.vars[(CALLER, calls.RECORDING_MUTED_VAR)] = "1"
    point_at(cli, pbx.ami.port)
    assert cli("call", "transfer", "4301", "--to", "4302").exit_code == 0
    [mute] = pbx.sent("MixMonitorMute")
    assert (mute.get("Channel"), mute.get("Direction"), mute.get("State")) == (SECOND, "both", "1")
    assert pbx.vars[(SECOND, calls.RECORDING_MUTED_VAR)] == "1" and pbx.vars[(CALLER, calls.RECORDING_MUTED_VAR)] == ""


def test_an_unrecorded_call_is_transferred_without_recording_actions(cli: Cli, pbx: FakePbx) -> None:
    point_at(cli, pbx.ami.port)
    assert cli("call", "transfer", "4301", "--to", "4302").exit_code == 0
    assert not {"StopMixMonitor", "MixMonitor", "MixMonitorMute"} & set(pbx.ami.names())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("call", "transfer", "4399", "--to", "4302"), "No agent has extension 4399"),
        (("call", "transfer", "4301", "--to", "4398"), "No agent or queue has extension 4398"),
        (("call", "transfer", "4301", "--to", "4301"), "themselves"),
        (("call", "transfer", "4301", "--to", "4302\r\nAction: Originate"), ""),
        (("call", "transfer", "4301", "--to", "4302\nAction: Hangup"), ""),
        (("call", "hangup", "43\r\n01"), ""),
        (("record", "start", "4301\r\nAction: Originate"), ""),
    ],
)
def test_bad_input_reaches_no_pbx_and_no_cr_lf_reaches_ami(cli: Cli, pbx: FakePbx, args: tuple[str, ...],
                                                           message: str) -> None:
    point_at(cli, pbx.ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli(*args)
    assert_plain_error(res, 2)
    assert message in res.stderr
    assert not {"BlindTransfer", "Atxfer", "Hangup", "MixMonitor"} & set(pbx.ami.names())
    assert b"Action: Originate" not in pbx.ami.raw and b"Action: Hangup" not in pbx.ami.raw
    assert db_fingerprint(url_of(cli)) == before


@pytest.mark.parametrize("args", [("call", "transfer", "4302", "--to", "4301"), ("call", "hangup", "4302"),
                                  ("record", "start", "4302"), ("record", "pause", "4302")])
def test_an_agent_with_no_call(cli: Cli, pbx: FakePbx, args: tuple[str, ...]) -> None:
    point_at(cli, pbx.ami.port)
    res = cli(*args)
    assert_plain_error(res, 2)
    assert "Agent 4302 is not on a call" in res.stderr
    assert not {"BlindTransfer", "Hangup", "MixMonitor", "MixMonitorMute"} & set(pbx.ami.names())


def test_a_target_that_cannot_ring_is_refused_before_any_transfer(cli: Cli, pbx: FakePbx) -> None:
    pbx.recorded()
    point_at(cli, pbx.ami.port)
    res = cli("call", "transfer", "4301", "--to", "4303")
    assert_plain_error(res, 2)
    assert "not registered" in res.stderr
    assert not {"BlindTransfer", "StopMixMonitor"} & set(pbx.ami.names())


def test_asterisk_refusing_the_blind_transfer_leaves_the_call_and_its_recording(cli: Cli, pbx: FakePbx) -> None:
    pbx.recorded()
    pbx.refuse["blindtransfer"] = "Transfer failed"
    point_at(cli, pbx.ami.port)
    res = cli("call", "transfer", "4301", "--to", "4302")
    assert_plain_error(res, 1)
    assert "Transfer failed" in res.stderr
    assert not {"StopMixMonitor", "MixMonitor"} & set(pbx.ami.names())
    # Only the hand-over mark was set (before the transfer) and cleared (after its refusal).
    assert {a.get("Variable") for a in pbx.sent("Setvar")} == {calls.TRANSFER_OWNER_VAR}
    assert pbx.vars[(CALLER, calls.TRANSFER_OWNER_VAR)] == ""
    assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == "0x7f01"


def test_asterisk_refusing_mixmonitor_is_a_plain_error_and_unindexed(cli: Cli, pbx: FakePbx) -> None:
    pbx.refuse["mixmonitor"] = "Could not start MixMonitor"
    point_at(cli, pbx.ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("record", "start", "4301")
    assert_plain_error(res, 1)
    assert "Could not start MixMonitor" in res.stderr
    assert db_fingerprint(url_of(cli)) == before  # the index row rolled back


# -- the service, with control over the connection ---------------------------------------------

def client_for(ami: FakeAmi) -> AmiClient:
    return AmiClient("127.0.0.1", ami.port, "homepbx", "s3cret", timeout=1.0, events=False)


def test_ami_lost_right_after_the_transfer_leaves_the_recording_on_the_caller() -> None:
    """A lost connection between BlindTransfer and the hand-over must not stop the recording."""

    async def main() -> None:
        async with FakeAmi() as ami:
            pbx = FakePbx(ami)
            pbx.recorded()
            blind = ami.scripts["blindtransfer"]

            async def blind_then_drop(conn: Connection, action: Action) -> None:
                await blind(conn, action)  # type: ignore[misc]
                conn.writer.close()

            ami.scripts["blindtransfer"] = blind_then_drop
            async with client_for(ami) as client:
                with pytest.raises(Exception):  # noqa: B017,PT011 - whichever AMI error: the point is below
                    await calls.transfer(client, "4301", calls.Target("4302", "agent 4302", agent="4302"), wait=2)
            # Nothing half-done: the old MixMonitor was never stopped, so it still records the caller.
            assert "StopMixMonitor" not in ami.names()
            assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == "0x7f01"

    asyncio.run(main())


def test_ami_lost_during_the_hand_over_is_not_replayed() -> None:
    """StopMixMonitor/MixMonitor in flight when AMI drops are never re-sent on reconnect."""

    async def main() -> None:
        async with FakeAmi() as ami:
            pbx = FakePbx(ami)
            pbx.recorded()
            ami.hold.add("stopmixmonitor")
            async with client_for(ami) as client:
                task = asyncio.create_task(
                    calls.transfer(client, "4301", calls.Target("4302", "agent 4302", agent="4302"), wait=2))
                await ami.wait_for("StopMixMonitor")
                await ami.drop()
                with pytest.raises(Exception):  # noqa: B017,PT011
                    await task
            assert ami.names().count("StopMixMonitor") == 1 and "MixMonitor" not in ami.names()

    asyncio.run(main())


def test_nobody_answering_leaves_the_recording_on_the_caller() -> None:
    """The caller's recording is only moved once a new agent has the caller: a hand-over that
    never comes (or a process stopped while waiting) leaves it running where it was."""

    async def main() -> None:
        async with FakeAmi() as ami:
            pbx = FakePbx(ami)
            pbx.recorded()
            pbx.polls_until_answer = 10**6
            async with client_for(ami) as client:
                await calls.transfer(client, "4301", calls.Target("4302", "agent 4302", agent="4302"), wait=0.5)
            assert "CoreShowChannels" in ami.names()  # it did wait for an answer
            assert not {"StopMixMonitor", "MixMonitor"} & set(ami.names())
            assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == "0x7f01"
            assert pbx.vars[(CALLER, calls.TRANSFER_OWNER_VAR)] == ""  # the mark is cleared

    asyncio.run(main())


def test_a_hand_over_cancelled_while_waiting_leaves_the_recording_on_the_caller() -> None:
    """The collector stopped (SIGTERM) while a transferred caller waits in a queue."""

    async def main() -> None:
        async with FakeAmi() as ami:
            pbx = FakePbx(ami)
            pbx.recorded()
            pbx.polls_until_answer = 10**6
            async with client_for(ami) as client:
                task = asyncio.create_task(calls.hand_recording_over(
                    client, CALLER, FIRST, calls.MixMonitor("0x7f01", FILE, False), 60.0))
                await ami.wait_for("CoreShowChannels")
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert not {"StopMixMonitor", "MixMonitor", "Setvar"} & set(ami.names())

    asyncio.run(main())


def test_transfer_service_refuses_self_and_unknown_before_ami() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            FakePbx(ami)
            async with client_for(ami) as client:
                with pytest.raises(InvalidInput):
                    await calls.transfer(client, "4301", calls.Target("4301", "agent 4301", agent="4301"))
                with pytest.raises(InvalidInput):
                    await calls.transfer(client, "43;01", calls.Target("4302", "agent 4302", agent="4302"))
            assert [n for n in ami.after_login() if n != "Logoff"] == []

    asyncio.run(main())


def test_a_blind_transfer_to_a_queue_returns_at_once_and_a_follower_hands_the_recording_over(
    cli: Cli, pbx: FakePbx
) -> None:
    """The caller may wait minutes in the queue: `call transfer` leaves that wait to a detached
    `python -m homepbx.asterisk.follow --blind`, which moves the recording once an agent has the caller."""
    import time

    assert cli("queue", "add", "waitq", "--extension", "563", "--max-wait", "30").exit_code == 0
    pbx.recorded()
    pbx.polls_until_answer = 4
    point_at(cli, pbx.ami.port)
    res = cli("call", "transfer", "4301", "--to", "waitq")
    assert res.exit_code == 0, res.stderr
    assert "queue waitq" in res.stdout
    # The command itself only marked the caller (until the queue's 30 s + a minute + slack) and
    # transferred; the follower process does the rest.
    [mark] = [a for a in pbx.sent("Setvar") if a.get("Variable") == calls.TRANSFER_OWNER_VAR]
    assert 95 <= float(mark.get("Value")) - time.time() <= 101
    deadline = time.monotonic() + 20
    while not pbx.sent("MixMonitor") or pbx.vars.get((CALLER, calls.TRANSFER_OWNER_VAR)) != "":
        assert time.monotonic() < deadline, pbx.ami.after_login()
        time.sleep(0.1)
    [start] = pbx.sent("MixMonitor")
    assert (start.get("Channel"), start.get("File")) == (SECOND, FILE)
    [stop] = pbx.sent("StopMixMonitor")
    assert stop.get("Channel") == CALLER


def test_how_long_a_hand_over_waits() -> None:
    agent = calls.Target("4302", "agent 4302", agent="4302")
    assert calls.handover_wait(agent, 35.0) == 35.0
    assert calls.handover_wait(calls.Target("563", "queue q", max_wait=300), 35.0) == 360.0
    assert calls.handover_wait(calls.Target("563", "queue q", max_wait=0), 35.0) == calls.UNLIMITED_QUEUE_WAIT


def test_a_recording_already_handed_to_the_agent_follows_the_next_transfer(cli: Cli, pbx: FakePbx) -> None:
    """A second transfer in a chain: after the first hand-over the recording runs on the
    transferring agent's channel, which the transfer is about to end; it moves on again."""
    pbx.recorded(channel=FIRST)
    point_at(cli, pbx.ami.port)
    assert cli("call", "transfer", "4301", "--to", "4302").exit_code == 0
    [stop] = pbx.sent("StopMixMonitor")
    assert stop.get("Channel") == FIRST
    [start] = pbx.sent("MixMonitor")
    assert (start.get("Channel"), start.get("File"), start.get("Options")) == (SECOND, FILE, "abi(HOMEPBX_MIXMON)")


def audit_actions(cli: Cli) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from homepbx import db
    from homepbx.models import AuditEntry

    with db.session_scope(url_of(cli)) as session:
        return [(e.action, e.target) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if e.action.startswith(("record.", "call."))]


def test_record_start_pause_resume_stop_on_the_callers_channel_with_an_index_row(cli: Cli, pbx: FakePbx) -> None:
    """The service's order: the row is indexed, MixMonitor starts on the caller; pause and resume
    mute the same MixMonitor and keep the intervals; stop closes the row; one audit entry each."""
    import json

    point_at(cli, pbx.ami.port)
    res = cli("record", "start", "4301", "--json")
    assert res.exit_code == 0, res.stderr
    started = json.loads(res.stdout)
    assert started["linkedid"] == "1.1" and started["path"].endswith(".wav")
    [start] = pbx.sent("MixMonitor")
    assert (start.get("Channel"), start.get("File"), start.get("Options")) == (CALLER, started["path"],
                                                                               "bi(HOMEPBX_MIXMON)")
    assert not start.get("Command")
    # What Asterisk's i() option and MixMonitor itself leave on the channel.
    pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] = "0x7f01"
    pbx.vars[(CALLER, "MIXMONITOR_FILENAME")] = started["path"]
    again = cli("record", "start", "4301")
    assert_plain_error(again, 2)
    assert "already being recorded" in again.stderr and len(pbx.sent("MixMonitor")) == 1

    assert cli("record", "pause", "4301").exit_code == 0
    assert_plain_error(cli("record", "pause", "4301"), 2)  # already paused: nothing sent
    assert cli("record", "resume", "4301").exit_code == 0
    mutes = [(a.get("Channel"), a.get("Direction"), a.get("State")) for a in pbx.sent("MixMonitorMute")]
    assert mutes == [(CALLER, "both", "1"), (CALLER, "both", "0")]
    [row] = json.loads(cli("record", "list", "--json").stdout)
    assert row["path"] == started["path"] and len(row["paused"]) == 1 and all(row["paused"][0])

    assert cli("record", "stop", "4301").exit_code == 0
    [stop] = pbx.sent("StopMixMonitor")
    assert (stop.get("Channel"), stop.get("MixMonitorID")) == (CALLER, "0x7f01")
    assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == ""
    [row] = json.loads(cli("record", "list", "--json").stdout)
    assert row["ended_at"]
    assert audit_actions(cli) == [("record.start", "4301"), ("record.pause", "4301"), ("record.resume", "4301"),
                                  ("record.stop", "4301")]


def test_a_recording_the_dialplan_started_is_indexed_when_first_acted_on(cli: Cli, pbx: FakePbx) -> None:
    import json

    pbx.recorded()  # per-queue recording: no index row yet
    point_at(cli, pbx.ami.port)
    assert cli("record", "stop", "4301").exit_code == 0
    [row] = json.loads(cli("record", "list", "--json").stdout)
    assert (row["path"], row["linkedid"], row["agent"]) == (FILE, "1.1", "4301") and row["ended_at"]


def test_transfer_and_hangup_are_audited_after_the_pbx_acted(cli: Cli, pbx: FakePbx) -> None:
    point_at(cli, pbx.ami.port)
    pbx.refuse["blindtransfer"] = "Transfer failed"
    assert_plain_error(cli("call", "transfer", "4301", "--to", "4302"), 1)
    assert audit_actions(cli) == []  # refused: no entry
    del pbx.refuse["blindtransfer"]
    assert cli("call", "transfer", "4301", "--to", "4302").exit_code == 0
    pbx.chans = {CALLER: ("b2", "Up"), SECOND: ("b2", "Up")}
    res = cli("call", "hangup", "4302")
    assert res.exit_code == 0, res.stderr
    assert "2 parties" in res.stdout and {a.get("Channel") for a in pbx.sent("Hangup")} == {CALLER, SECOND}
    assert audit_actions(cli) == [("call.transfer", "4301"), ("call.hangup", "4302")]
