"""The collector's transfer watch (homepbx.asterisk.transfer_watch) against a fake AMI.

Transfers dialled on the agents' phones reach homepbx only as `BlindTransfer` and
`AttendedTransfer` events. Proven with real phones and the WAV in tests/lab/test_recording_lab.py;
here: which actions follow which event, and what is left alone (unrecorded calls, failed
transfers, a transfer whose recording `homepbx call transfer` is already moving, an attended
transfer handed back to the first agent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from homepbx.asterisk import calls
from homepbx.asterisk.ami import AmiClient
from homepbx.asterisk.transfer_watch import TransferWatch

from .fake_ami import FakeAmi, frame
from .test_calls_ami import CALLER, FILE, FIRST, SECOND, FakePbx

LOCAL_1 = "Local/4302@homepbx-agents-00000004;1"
LOCAL_2 = "Local/4302@homepbx-agents-00000004;2"


def blind_event(result: str = "Success") -> bytes:
    return frame("Event: BlindTransfer", "Privilege: call,all", f"Result: {result}",
                 f"TransfererChannel: {FIRST}", "TransfererUniqueid: 1.2", f"TransfereeChannel: {CALLER}",
                 "TransfereeUniqueid: 1.1", "IsExternal: No", "Context: homepbx-agents", "Extension: 4302")


def attended_event(result: str = "Success") -> bytes:
    return frame("Event: AttendedTransfer", "Privilege: call,all", f"Result: {result}",
                 f"OrigTransfererChannel: {FIRST}", "OrigBridgeUniqueid: b1",
                 "SecondTransfererChannel: PJSIP/4301-00000005", f"TransfereeChannel: {CALLER}",
                 f"TransferTargetChannel: {LOCAL_1}", "IsExternal: No", "DestType: Bridge",
                 "DestBridgeUniqueid: b1")


def run(scenario: Callable[[FakeAmi, FakePbx, TransferWatch], Awaitable[None]]) -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            pbx = FakePbx(ami)
            async with AmiClient("127.0.0.1", ami.port, "homepbx", "s3cret", timeout=1.0) as client:
                watch = TransferWatch(client, blind_wait=1.0, attended_wait=1.0).attach()
                await scenario(ami, pbx, watch)
                await watch.close(grace=3.0)

    asyncio.run(main())


def phone_blind_transfer(pbx: FakePbx) -> None:
    """What Asterisk's channels look like once the caller left the first agent for 4302."""
    pbx.transferred = True
    del pbx.chans[FIRST]
    pbx.chans[CALLER] = ("", "Up")


async def settle(watch: TransferWatch) -> None:
    await asyncio.sleep(0.05)  # the event reaches the handler
    await watch.close(grace=3.0)


def test_a_blind_phone_transfer_of_a_recorded_call_moves_the_recording_to_the_new_agent() -> None:
    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        pbx.recorded()
        phone_blind_transfer(pbx)
        await ami.send(blind_event())
        await settle(watch)
        [stop] = pbx.sent("StopMixMonitor")
        assert stop.get("Channel") == CALLER and stop.get("MixMonitorID") == "0x7f01"
        [start] = pbx.sent("MixMonitor")
        assert (start.get("Channel"), start.get("File")) == (SECOND, FILE)
        assert start.get("Options") == calls.RECORDING_APPEND_OPTIONS and not start.get("Command")
        assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == ""
        assert watch.handed_over == 1

    run(scenario)


def test_an_unrecorded_or_failed_transfer_is_left_alone() -> None:
    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        phone_blind_transfer(pbx)
        await ami.send(blind_event())  # no recording on the caller
        await ami.wait_for("Getvar", 2)  # the mark, then the recording id: empty
        await asyncio.sleep(0.05)
        pbx.recorded()
        await ami.send(blind_event("Fail"))
        await ami.send(attended_event("Fail"))
        await settle(watch)
        assert not {"StopMixMonitor", "MixMonitor", "Setvar"} & set(ami.names())
        assert watch.handed_over == 0

    run(scenario)


def test_a_transfer_homepbx_call_transfer_is_handing_over_is_left_to_it() -> None:
    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        pbx.recorded()
        pbx.vars[(CALLER, calls.TRANSFER_OWNER_VAR)] = f"{time.time() + 30:.0f}"
        phone_blind_transfer(pbx)
        await ami.send(blind_event())
        await ami.send(attended_event())
        await settle(watch)
        assert not {"StopMixMonitor", "MixMonitor"} & set(ami.names())

    run(scenario)


def test_an_expired_mark_does_not_block_a_later_phone_transfer() -> None:
    """A `call transfer` that died mid-way leaves its mark behind: it only holds until its deadline."""

    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        pbx.recorded()
        pbx.vars[(CALLER, calls.TRANSFER_OWNER_VAR)] = f"{time.time() - 1:.0f}"
        phone_blind_transfer(pbx)
        await ami.send(blind_event())
        await settle(watch)
        assert [a.get("Channel") for a in pbx.sent("MixMonitor")] == [SECOND]

    run(scenario)


def test_an_attended_phone_transfer_moves_the_recording_behind_the_local_channel() -> None:
    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        pbx.recorded()
        # Merged: the caller is bridged with Atxfer's Local channel, whose other half is
        # bridged with the new agent.
        pbx.chans = {CALLER: ("b1", "Up"), LOCAL_1: ("b1", "Up"), LOCAL_2: ("b3", "Up"), SECOND: ("b3", "Up")}
        await ami.send(attended_event())
        await settle(watch)
        [stop] = pbx.sent("StopMixMonitor")
        assert stop.get("Channel") == CALLER
        [start] = pbx.sent("MixMonitor")
        assert (start.get("Channel"), start.get("File")) == (SECOND, FILE)
        assert watch.handed_over == 1

    run(scenario)


def test_an_attended_transfer_handed_back_to_the_first_agent_keeps_the_recording_on_the_caller() -> None:
    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        pbx.recorded()
        # The caller is still (or again) with the first agent: nothing to move.
        await ami.send(attended_event())
        await settle(watch)
        assert not {"StopMixMonitor", "MixMonitor"} & set(ami.names())
        assert pbx.vars[(CALLER, calls.RECORDING_ID_VAR)] == "0x7f01"

    run(scenario)


def test_a_paused_recording_stays_paused_on_the_new_agent() -> None:
    async def scenario(ami: FakeAmi, pbx: FakePbx, watch: TransferWatch) -> None:
        pbx.recorded()
        pbx.vars[(CALLER, calls.RECORDING_MUTED_VAR)] = "1"
        phone_blind_transfer(pbx)
        await ami.send(blind_event())
        await settle(watch)
        [mute] = pbx.sent("MixMonitorMute")
        assert (mute.get("Channel"), mute.get("State")) == (SECOND, "1")

    run(scenario)
