"""Agents' queue states on the real lab: CLI and softphone feature codes, checked against
what Asterisk reports and against where queue calls actually go.

Extensions 4111/4112, queue supq (541), team st-a and the outside caller sup-outside belong
to this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from homepbx.lab.softphone import Softphone

from ..unit.cli_helpers import assert_plain_error
from .conftest import AGENT_HZ, CALLER_HZ, ToneHelper
from .site import LabSite

AGENT = "4111"
NOT_A_MEMBER = "4112"
QUEUE, QUEUE_EXT = "supq", "541"
OUTSIDE = "sup-outside"


@pytest.fixture(scope="module")
def st_site(site: LabSite) -> LabSite:
    site.ensure_team("st-a")
    site.add_agent(AGENT, "Agent Queue", "--team", "st-a")
    site.add_agent(NOT_A_MEMBER, "Agent No Queue", "--team", "st-a")
    site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT)
    site.run("queue", "member", "add", QUEUE, AGENT)
    site.add_outside_caller(OUTSIDE, "sup-outside-secret-1")
    site.apply()
    return site


def status(site: LabSite, *args: str) -> dict[str, object]:
    return json.loads(site.run("agent", "status", AGENT, "--json", *args).stdout)


@pytest.fixture
def logged_out(st_site: LabSite) -> LabSite:
    st_site.run("agent", "logout", AGENT)
    assert status(st_site)["state"] == "logged out"
    return st_site


def test_pause_stops_queue_calls_and_unpause_resumes_them(logged_out: LabSite, softphone: Callable[..., Softphone],
                                                          tones: ToneHelper) -> None:
    site = logged_out
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    caller = site.start_phone(softphone, OUTSIDE, CALLER_HZ)

    shown = json.loads(site.run("agent", "login", AGENT, "--json").stdout)
    assert shown["state"] == "available" and shown["queues"] == QUEUE
    shown = json.loads(site.run("agent", "pause", AGENT, "--reason", "Pause déjeuner", "--json").stdout)
    assert shown["state"] == "paused" and shown["reason"] == "Pause déjeuner"
    # The status is read back from Asterisk, by a separate command.
    row = status(site)
    assert row["state"] == "paused" and row["reason"] == "Pause déjeuner" and row["paused_in"] == QUEUE
    everyone = json.loads(site.run("agent", "status", "--json").stdout)
    assert {"agent": AGENT, "state": "paused"}.items() <= next(r for r in everyone if r["agent"] == AGENT).items()
    assert next(r for r in everyone if r["agent"] == NOT_A_MEMBER)["state"] == "logged out"

    caller.dial(QUEUE_EXT)
    caller.wait_event("CALL_ESTABLISHED", 15)  # the queue answers and holds the caller
    time.sleep(10)  # two queue retry periods: a paused agent is never rung
    assert not [e for e in agent.events if e.get("type") == "CALL_INCOMING"], "a paused agent was rung"

    shown = json.loads(site.run("agent", "unpause", AGENT, "--json").stdout)
    assert shown["state"] == "available" and shown["reason"] == ""
    agent.wait_event("CALL_ESTABLISHED", 20)
    time.sleep(1.0)
    assert status(site)["state"] == "on call"
    time.sleep(4.0)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    agent.wait_event("CALL_CLOSED", 10)
    assert tones.heard(agent) == {CALLER_HZ}
    assert AGENT_HZ in tones.heard(caller)

    shown = json.loads(site.run("agent", "logout", AGENT, "--json").stdout)
    assert shown["state"] == "logged out" and shown["queues"] == ""


def _feature(phone: Softphone, code: str) -> None:
    phone.dial(code)
    phone.wait_event("CALL_ESTABLISHED", 10)
    phone.wait_event("CALL_CLOSED", 10)  # the dialplan confirms with a tone and hangs up


def test_feature_codes_from_the_softphone(logged_out: LabSite, softphone: Callable[..., Softphone]) -> None:
    site = logged_out
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    _feature(agent, "*41")
    row = status(site)
    assert row["state"] == "available" and row["queues"] == QUEUE
    _feature(agent, "*432")
    row = status(site)
    assert row["state"] == "paused" and row["reason"] == "lunch"
    _feature(agent, "*44")
    assert status(site)["state"] == "available"
    _feature(agent, "*43")
    row = status(site)
    assert row["state"] == "paused" and row["reason"] == "break"
    _feature(agent, "*42")
    assert status(site)["state"] == "logged out"


def test_an_agent_without_queues_logs_in_to_nothing_by_feature_code(st_site: LabSite,
                                                                      softphone: Callable[..., Softphone]) -> None:
    phone = st_site.start_phone(softphone, NOT_A_MEMBER, AGENT_HZ)
    _feature(phone, "*41")
    row = json.loads(st_site.run("agent", "status", NOT_A_MEMBER, "--json").stdout)
    assert row["state"] == "logged out"


def test_bad_requests_change_nothing(logged_out: LabSite) -> None:
    site = logged_out
    res = site.cli("agent", "pause", AGENT, "--reason", "break")
    assert_plain_error(res, 2)
    assert "not logged in" in res.stderr
    assert_plain_error(site.cli("agent", "login", "4199"), 2)  # unknown agent
    res = site.cli("agent", "login", NOT_A_MEMBER)
    assert_plain_error(res, 2)
    assert "not a member of any queue" in res.stderr
    assert_plain_error(site.cli("agent", "pause", AGENT, "--reason", "a\r\nAction: Hangup"), 2)
    assert status(site)["state"] == "logged out"
