"""Grouping live channels into calls, and transfer targets' validation (no PBX needed)."""

from __future__ import annotations

import pytest

from homepbx import names
from homepbx.asterisk.calls import group_calls
from homepbx.asterisk.live import Channel
from homepbx.errors import InvalidInput


def chan(name: str, uid: str, linked: str, bridge: str = "", app: str = "", exten: str = "", secs: int = 5,
         state: str = "Up", num: str = "") -> Channel:
    return Channel(name=name, uniqueid=uid, linkedid=linked, state=state, caller_num=num or name, caller_name="",
                   connected_num="", connected_name="", context="", exten=exten, application=app,
                   bridge_id=bridge, duration=f"00:00:{secs:02d}")


def test_a_consultation_call_joins_the_call_it_belongs_to() -> None:
    chans = [
        chan("PJSIP/outside-1", "a.0", "a.0", "b1", "Queue", "560", 30, num="0612"),
        chan("PJSIP/4301-2", "a.1", "a.0", "b1", secs=25),
        chan("PJSIP/4301-3", "c.0", "c.0", "b2", secs=3),  # the agent's consultation leg
        chan("PJSIP/4302-4", "c.1", "c.0", "b2", secs=3),
        chan("PJSIP/4303-5", "d.0", "d.0", "", secs=1, state="Ringing"),  # someone else's call
    ]
    calls = group_calls(chans, {"4301", "4302", "4303"}, {"560": "sales"})
    assert len(calls) == 2
    main = calls[0]
    assert main.caller == "0612" and main.queue == "sales" and main.state == "talking"
    # The call carries the caller's linkedid (the id its record will have), no channel names.
    assert main.agents == ("4301", "4302") and main.seconds == 30 and main.call_id == "a.0"
    assert calls[1].call_id == "d.0" and calls[1].state == "ringing"  # not part of the main call


def test_a_caller_waiting_in_a_queue() -> None:
    [call] = group_calls([chan("PJSIP/outside-1", "a.0", "a.0", "", "Queue", "563", 9)], {"4301"}, {"563": "wait"})
    assert call.state == "waiting" and call.queue == "wait" and call.agents == ()


@pytest.mark.parametrize("bad", ["4301;x", "../etc", "", "Sales"])
def test_transfer_targets_and_call_ids_are_validated(bad: str) -> None:
    with pytest.raises(InvalidInput):
        names.transfer_target(bad)
    with pytest.raises(InvalidInput):
        names.call_id(bad if bad != "Sales" else "a/b")


def test_valid_targets() -> None:
    assert names.transfer_target(" 4302 ") == "4302"
    assert names.transfer_target("sales-q") == "sales-q"
    assert names.call_id("homepbx-lab-1795814778.0") == "homepbx-lab-1795814778.0"
