"""FreeSWITCH live control without FreeSWITCH: which leg is whose, calls, spy commands, queue states.

The rows are FreeSWITCH 1.10.12's own `show channels as json` / `show calls as json` and
`callcenter_config` answers as seen on the lab (trimmed to the fields read); the client is a stub
that records the api commands and answers from a script. The real thing is proven in
tests/lab/test_freeswitch_control_lab.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from homepbx.errors import InvalidInput, OperationalError
from homepbx.freeswitch import calls, live, queues, recording, spy
from homepbx.freeswitch.esl import Event
from homepbx.pbx import QueueTarget, SpyPlan, Target

DOMAIN = "pbx.example"
CALLER, AGENT, NEW = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002", \
    "cccccccc-0000-0000-0000-000000000003"


def row(uuid: str, **fields: str) -> dict[str, str]:
    base = {"uuid": uuid, "direction": "outbound", "name": "", "callstate": "ACTIVE", "cid_num": "", "cid_name": "",
            "dest": "", "application": "", "context": "default", "presence_id": "", "call_uuid": uuid,
            "created_epoch": "1000", "initial_cid_num": "", "initial_cid_name": ""}
    base.update(fields)
    return base


def caller_row(**fields: str) -> dict[str, str]:
    values = {"direction": "inbound", "name": "sofia/homepbx/4102@10.0.0.5:5060", "context": "homepbx-agents",
                  "cid_num": "4102", "initial_cid_num": "4102", "cid_name": "Caller", "initial_cid_name": "Caller", "dest": "560",
                  "created_epoch": "1000"}
    return row(CALLER, **{**values, **fields})


def agent_row(uuid: str = AGENT, ext: str = "4101", created: str = "1002", **fields: str) -> dict[str, str]:
    values = {"name": f"sofia/homepbx/{ext}-0x55@10.0.0.6:40000", "presence_id": f"{ext}@{DOMAIN}",
                  "call_uuid": CALLER, "created_epoch": created}
    return row(uuid, **{**values, **fields})


class StubEsl:
    """Records api commands; answers from `answers` (a command prefix -> text or callable)."""

    def __init__(self, answers: dict[str, str | Callable[[str], str]]) -> None:
        self.answers = answers
        self.sent: list[str] = []
        self.handlers: dict[str, list[Callable[[Event], Any]]] = {}
        self.jobs: list[str] = []
        self.job_output = "+OK sup\n"
        self.on_job: Callable[[StubEsl], None] = lambda _client: None

    async def api(self, command: str, arg: str = "", *, timeout: float | None = None, check: bool = False) -> str:
        line = f"{command} {arg}".strip()
        self.sent.append(line)
        for prefix, answer in self.answers.items():
            if line.startswith(prefix):
                text = answer(line) if callable(answer) else answer
                if check and text.startswith("-ERR"):
                    from homepbx.freeswitch.esl import raise_for_error
                    raise_for_error(text, f"api {command}")
                return text
        return "true" if command == "uuid_exists" else "+OK\n"

    async def start_job(self, command: str, arg: str = "", *, timeout: float | None = None) -> Any:
        self.jobs.append(f"{command} {arg}")
        self.on_job(self)
        output = self.job_output

        class Job:
            async def result(self, *, timeout: float | None = None) -> str:
                return output

        return Job()

    def add_event_handler(self, name: str, handler: Callable[[Event], Any]) -> None:
        self.handlers.setdefault(name.lower(), []).append(handler)

    def remove_event_handler(self, name: str, handler: Callable[[Event], Any]) -> None:
        self.handlers.get(name.lower(), []).remove(handler)

    def fire(self, headers: dict[str, str]) -> None:
        for handler in list(self.handlers.get(headers["Event-Name"].lower(), [])):
            handler(Event(headers))


def channels(*rows: dict[str, str]) -> str:
    return json.dumps({"row_count": len(rows), "rows": list(rows)}) if rows else '{"row_count":0}'


def bridges(*pairs: tuple[str, str]) -> str:
    return json.dumps({"row_count": len(pairs), "rows": [{"uuid": a, "b_uuid": b} for a, b in pairs]})


def snapshot(*rows: dict[str, str], pairs: tuple[tuple[str, str], ...] = ()) -> live.Snapshot:
    chans = tuple(live.Channel.from_row(r) for r in rows)
    bridged = {a: b for x, y in pairs for a, b in ((x, y), (y, x))}
    return live.Snapshot(chans, bridged)


# --- which leg is whose -----------------------------------------------------------------------

def test_an_account_is_read_from_presence_or_from_an_authenticated_inbound_leg() -> None:
    assert live.Channel.from_row(agent_row()).account == "4101"
    assert live.Channel.from_row(caller_row()).account == "4102"
    # An outside caller (not authenticated: the inbound context) is nobody's, whatever its From.
    outside = row(CALLER, direction="inbound", name="sofia/homepbx/4101@1.2.3.4", context="homepbx-inbound")
    assert live.Channel.from_row(outside).account == ""
    # A leg to a softphone is named after its contact user, never used as the account.
    assert live.Channel.from_row(row(NEW, name="sofia/homepbx/4101@10.0.0.6")).account == ""


def test_the_agent_leg_is_the_answered_one_and_no_call_says_so() -> None:
    snap = snapshot(caller_row(), agent_row(callstate="RINGING"))
    with pytest.raises(live.NotOnCall, match="Agent 4101 is not on a call."):
        live.agent_channel(snap, "4101")
    snap = snapshot(caller_row(), agent_row(), pairs=((CALLER, AGENT),))
    assert live.agent_channel(snap, "4101").uuid == AGENT
    assert live.call_id(snap, live.agent_channel(snap, "4101")) == CALLER


# --- calls ------------------------------------------------------------------------------------

def test_a_queue_call_talking_waiting_and_after_an_attended_transfer() -> None:
    agents, queues_by_ext = {"4101", "4102", "4103"}, {"560": "support"}
    waiting = snapshot(caller_row(application="callcenter"))
    [call] = calls.group_calls(waiting, agents, queues_by_ext, now=1010)
    assert (call.call_id, call.caller, call.queue, call.state, call.agents, call.seconds) == \
        (CALLER, "4102", "support", "waiting", (), 10)
    talking = snapshot(caller_row(application="uuid_bridge"), agent_row(), pairs=((CALLER, AGENT),))
    [call] = calls.group_calls(talking, agents, queues_by_ext, now=1010)
    assert (call.agents, call.state, call.queue) == (("4101",), "talking", "support")
    # att_xfer's uuid_bridge rewrites the caller's call_uuid and caller id: still the same call.
    moved = snapshot(caller_row(call_uuid=NEW, cid_num="4103-0x55"),
                     agent_row(NEW, "4103", created="1005", call_uuid=NEW), pairs=((CALLER, NEW),))
    [call] = calls.group_calls(moved, agents, queues_by_ext, now=1010)
    assert (call.call_id, call.caller, call.agents, call.state) == (CALLER, "4102", ("4103",), "talking")


def test_hangup_kills_both_legs_and_blind_transfer_moves_the_caller() -> None:
    client = StubEsl({"show channels": channels(caller_row(), agent_row()), "show calls": bridges((CALLER, AGENT)),
                      "sofia_contact": "sofia/homepbx/sip:4103@10.0.0.7\n"})
    assert asyncio.run(calls.hangup(client, "4101")) == [AGENT, CALLER]  # type: ignore[arg-type]
    assert [s for s in client.sent if s.startswith("uuid_kill")] == [f"uuid_kill {AGENT} NORMAL_CLEARING",
                                                                     f"uuid_kill {CALLER} NORMAL_CLEARING"]
    asyncio.run(calls.transfer(client, "4101", Target("4103", "agent 4103", agent="4103"), DOMAIN))  # type: ignore[arg-type]
    assert client.sent[-1] == f"uuid_transfer {CALLER} 4103 XML homepbx-agents"
    asyncio.run(calls.transfer(client, "4101", Target("4103", "agent 4103", agent="4103"), DOMAIN,  # type: ignore[arg-type]
                               attended=True))
    assert client.sent[-1] == f"uuid_broadcast {AGENT} att_xfer::{{leg_timeout=15}}user/4103@{DOMAIN} aleg,holdb"


def test_transfer_refusals_reach_nothing() -> None:
    client = StubEsl({"show channels": channels(caller_row(), agent_row()), "show calls": bridges((CALLER, AGENT)),
                      "sofia_contact": "error/user_not_registered\n"})
    with pytest.raises(InvalidInput, match="softphone is not registered"):
        asyncio.run(calls.transfer(client, "4101", Target("4103", "agent 4103", agent="4103"), DOMAIN))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="cannot transfer a call to themselves"):
        asyncio.run(calls.transfer(client, "4101", Target("4101", "agent 4101", agent="4101"), DOMAIN))  # type: ignore[arg-type]
    assert not [s for s in client.sent if s.startswith(("uuid_transfer", "uuid_broadcast"))]


# --- recording --------------------------------------------------------------------------------

BUGS = ("<media-bugs>\n <media-bug>\n  <function>session_record</function>\n"
        "  <target>/rec/a.wav</target>\n  <thread-locked>0</thread-locked>\n </media-bug>\n</media-bugs>\n")


def test_recording_runs_on_the_callers_leg_and_is_found_in_its_bug_list() -> None:
    bugs = {CALLER: "<media-bugs>\n</media-bugs>\n"}
    client = StubEsl({"show channels": channels(caller_row(), agent_row()), "show calls": bridges((CALLER, AGENT)),
                      "uuid_buglist": lambda line: bugs.get(line.split()[1], "<media-bugs>\n</media-bugs>\n"),
                      "uuid_getvar": "_undef_"})
    asyncio.run(recording.start(client, "4101", "/rec/a.wav"))  # type: ignore[arg-type]
    assert client.sent[-1] == f"uuid_record {CALLER} start /rec/a.wav"
    bugs[CALLER] = BUGS
    with pytest.raises(InvalidInput, match="already being recorded"):
        asyncio.run(recording.start(client, "4101", "/rec/b.wav"))  # type: ignore[arg-type]
    active = asyncio.run(recording.mute(client, "4101", True))  # type: ignore[arg-type]
    assert active.muted and active.path == "/rec/a.wav" and active.call_id == CALLER
    assert f"uuid_record {CALLER} mask /rec/a.wav" in client.sent
    assert client.sent[-1] == f"uuid_setvar {CALLER} {recording.RECORDING_MUTED_VAR} 1"


# --- spy --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "switch", "aleg", "bleg", "dtmf"), [
    ("listen", False, "false", "false", "false"),
    ("whisper", True, "false", "true", "true"),
    ("barge", False, "true", "true", "false"),
])
def test_originate_variables_per_mode(mode: str, switch: bool, aleg: str, bleg: str, dtmf: str) -> None:
    text = spy.originate_variables(SpyPlan("4901", "4101", mode, mode_switch=switch), "sup-uuid", 30)
    variables = dict(item.split("=", 1) for item in text.strip("{}").split(","))
    assert variables["eavesdrop_whisper_aleg"] == aleg and variables["eavesdrop_whisper_bleg"] == bleg
    assert variables["eavesdrop_enable_dtmf"] == dtmf and variables["origination_uuid"] == "sup-uuid"
    assert " " not in text


def _spy_client() -> StubEsl:
    return StubEsl({"show channels": channels(caller_row(), agent_row()), "show calls": bridges((CALLER, AGENT))})


def test_spy_returns_once_the_eavesdrop_is_on_the_agents_leg() -> None:
    client = _spy_client()
    client.on_job = lambda c: c.fire({"Event-Name": "MEDIA_BUG_START", "Unique-ID": AGENT,
                                      "Media-Bug-Function": "eavesdrop"})
    result = asyncio.run(spy.start(client, SpyPlan("4901", "4101", "whisper"), DOMAIN))  # type: ignore[arg-type]
    assert result.call_id == CALLER and result.detail["agent_uuid"] == AGENT
    [job] = client.jobs
    assert job.startswith("originate {") and job.endswith(f"}}user/4901@{DOMAIN} &eavesdrop({AGENT})")
    assert not [s for s in client.sent if s.startswith("uuid_kill")]


def test_a_spy_that_does_not_start_hangs_the_supervisor_up() -> None:
    client = _spy_client()
    with pytest.raises(OperationalError, match="did not start"):
        asyncio.run(spy.start(client, SpyPlan("4901", "4101", "listen"), DOMAIN, start_timeout=0.1))  # type: ignore[arg-type]
    assert client.sent[-1].startswith("uuid_kill ")
    client = _spy_client()
    client.job_output = "-ERR USER_NOT_REGISTERED\n"
    with pytest.raises(OperationalError, match=r"Supervisor 4901's softphone could not be called \(is the softphone"):
        asyncio.run(spy.start(client, SpyPlan("4901", "4101", "listen"), DOMAIN))  # type: ignore[arg-type]


def test_spy_on_an_agent_with_no_call_rings_nobody() -> None:
    client = StubEsl({"show channels": channels(), "show calls": bridges()})
    with pytest.raises(live.NotOnCall):
        asyncio.run(spy.start(client, SpyPlan("4901", "4101", "listen"), DOMAIN))  # type: ignore[arg-type]
    assert client.jobs == []


# --- queue states -----------------------------------------------------------------------------

AGENTS = ("name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|calls_answered\n"
          f"4101@{DOMAIN}|single_box||callback|user/4101@{DOMAIN}|{{status}}|Waiting|0|0|3\n"
          "9999@other|single_box||callback|user/9999@other|Available|Waiting|0|0|0\n+OK\n")
TIERS = (f"queue|agent|state|level|position\nsupport@{DOMAIN}|4101@{DOMAIN}|Ready|2|1\n"
         f"sales@{DOMAIN}|4101@{DOMAIN}|Ready|1|1\n+OK\n")
QUEUES = f"name|strategy\nsupport@{DOMAIN}|ring-all\nsales@{DOMAIN}|ring-all\nelse@other|ring-all\n+OK\n"


def _cc(status: list[str]) -> StubEsl:
    def agents(_line: str) -> str:
        return AGENTS.replace("{status}", status[0])

    def set_status(line: str) -> str:
        status[0] = line.split("'")[1]
        return "+OK\n"

    return StubEsl({"callcenter_config agent list": agents, "callcenter_config tier list": TIERS,
                    "callcenter_config queue list": QUEUES, "callcenter_config agent set status": set_status,
                    "global_getvar": "homepbx_sip_port=5080\nhomepbx_pause_reason_4101=Pause déjeuner\n"})


def test_pause_keeps_the_reason_homepbx_records_before_the_status() -> None:
    status = ["Available"]
    client = _cc(status)
    state = asyncio.run(queues.set_paused(client, DOMAIN, "4101", True, "Pause déjeuner"))  # type: ignore[arg-type]
    assert state.paused and state.reason == "Pause déjeuner" and state.queues == ("sales", "support")
    changes = [s for s in client.sent if s.startswith(("global_setvar", "callcenter_config agent set"))]
    assert changes == ["global_setvar homepbx_pause_reason_4101=Pause déjeuner",
                       f"callcenter_config agent set status 4101@{DOMAIN} 'On Break'"]
    assert {m.penalty for m in state.memberships} == {0, 1}


def test_login_logout_and_a_logged_out_agent_cannot_pause() -> None:
    status = ["Logged Out"]
    client = _cc(status)
    with pytest.raises(InvalidInput, match="not logged in to any queue"):
        asyncio.run(queues.set_paused(client, DOMAIN, "4101", True, "break"))  # type: ignore[arg-type]
    state = asyncio.run(queues.login(client, DOMAIN, "4101", [QueueTarget("support", 1)]))  # type: ignore[arg-type]
    assert state.state == "available" and status == ["Available"]
    with pytest.raises(OperationalError, match="no queue 'nope'"):
        asyncio.run(queues.login(client, DOMAIN, "4101", [QueueTarget("nope", 0)]))  # type: ignore[arg-type]
    # Out of one queue of two: that tier goes, the status stays.
    asyncio.run(queues.logout(client, DOMAIN, "4101", [QueueTarget("sales", 0)]))  # type: ignore[arg-type]
    assert f"callcenter_config tier del sales@{DOMAIN} 4101@{DOMAIN}" in client.sent
    assert status == ["Available"]
    state = asyncio.run(queues.logout(client, DOMAIN, "4101",  # type: ignore[arg-type]
                                      [QueueTarget("sales", 0), QueueTarget("support", 1)]))
    assert state.state == "logged out" and status == ["Logged Out"]


def test_an_attended_transfer_to_a_queue_is_one_call_through_its_loopback() -> None:
    # As seen on the lab: caller <-> loopback/5711-a, loopback/5711-b <-> the queue's agent; the
    # two halves share no uuid.
    la, lb = "dddddddd-0000-0000-0000-000000000004", "eeeeeeee-0000-0000-0000-000000000005"
    snap = snapshot(caller_row(call_uuid=la, cid_num="homepbx-agents"),
                    row(la, name="loopback/5711-a", created_epoch="1005"),
                    row(lb, name="loopback/5711-b", direction="inbound", created_epoch="1005"),
                    agent_row(NEW, "4103", created="1005", call_uuid=lb),
                    pairs=((CALLER, la), (lb, NEW)))
    [call] = calls.group_calls(snap, {"4101", "4102", "4103"}, {"560": "support"}, now=1010)
    assert (call.call_id, call.caller, call.agents, call.state) == (CALLER, "4102", ("4103",), "talking")


def test_a_leg_the_core_database_still_lists_after_its_hang_up_is_no_call() -> None:
    client = StubEsl({"show channels": channels(caller_row(), agent_row()), "show calls": bridges((CALLER, AGENT)),
                      "uuid_exists": "false"})
    with pytest.raises(live.NotOnCall, match="Agent 4101 is not on a call."):
        asyncio.run(spy.start(client, SpyPlan("4901", "4101", "listen"), DOMAIN))  # type: ignore[arg-type]
    assert client.jobs == []
