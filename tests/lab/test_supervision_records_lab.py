"""Supervision in the call records, on the real lab (issue 16).

One queue call (an outside caller, agent 4651) spied on three times by supervisor 4961: a CLI
listen, a feature-code whisper (`*22`) and a CLI barge, with `homepbx collect` running, then
killed (SIGKILL) before the whisper and restarted during it, then stopped and started again
before the barge. Afterwards `report calls` holds exactly the one queue call, supervised by the
three sessions; no failed call (the spies are no calls); `report agents` counts the call once
and shows it coached and listened to; `report supervisors` has the three sessions. The same
again on a fresh database filled only by a full backfill of Asterisk's files. Extensions
4651/4961, queue 591 and team sup-rec belong to this module.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from homepbx.lab.softphone import Softphone

from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ, SUPERVISOR_HZ
from .site import LabSite
from .test_records_lab import Phones, _caller_linkedid

TEAM = "sup-rec"
AGENT = "4651"
SUPERVISOR = "4961"
QUEUE, QUEUE_EXT = "sup-rec", "591"
SPY_SECONDS = 3.0


@pytest.fixture(scope="module")
def sup_site(site: LabSite) -> Iterator[LabSite]:
    site.ensure_team(TEAM)
    site.add_agent(AGENT, "Clémence Sup-Rec", "--team", TEAM)
    site.add_agent(SUPERVISOR, "Supervisor Sup-Rec", "--role", "supervisor")
    site.run("supervisor", "scope", "add", SUPERVISOR, TEAM)
    site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall", "--wrapup", "0",
             "--ring-timeout", "20", "--max-wait", "120")
    site.run("queue", "member", "add", QUEUE, AGENT)
    site.add_outside_caller()
    site.apply()  # also creates cel-custom/, without which Asterisk writes no CEL CSV
    site.cli("agent", "logout", AGENT)
    try:
        yield site
    finally:
        site.cli("agent", "logout", AGENT)


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _report(site: LabSite, name: str, since: float, until: float, *options: str) -> list[dict[str, Any]]:
    """`homepbx report NAME --json` over [since, until] (a window: the lab's files outlive a run)."""
    res = site.run("report", name, "--from", _iso(int(since)), "--to", _iso(int(until) + 1), "--json", *options)
    return json.loads(res.stdout)


def _ours(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This module's calls: its queue's, its agent's, and any the supervisor placed (a spy stored
    as a call would be one). Other modules' calls can end inside the window."""
    return [c for c in calls if c["queue"] == QUEUE or c["agent"] == AGENT or c["caller"] in (AGENT, SUPERVISOR)]


def _spy_cli(site: LabSite, sup: Softphone, mode: str) -> None:
    """`homepbx spy MODE` (the supervisor's softphone answers by itself), a few seconds, hang up."""
    site.run("spy", mode, AGENT, "--supervisor", SUPERVISOR)
    sup.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(SPY_SECONDS)
    sup.hangup()
    sup.wait_event("CALL_CLOSED", 10)


def _wait_supervised(site: LabSite, since: float, until: float, sessions: int, timeout: float = 60.0
                     ) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        calls = _ours(_report(site, "calls", since, until))
        if (len(calls) == 1 and len(calls[0]["supervisions"]) >= sessions) or time.monotonic() > deadline:
            return calls
        time.sleep(0.5)


@pytest.fixture(scope="module")
def played(sup_site: LabSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The call and its three spies, the collector killed and restarted in between."""
    site = sup_site
    phones = Phones(site)
    collector = CollectorProcess(site.config_path, tmp_path_factory.mktemp("sup-rec") / "collector.log")
    try:
        collector.start()
        agent = phones.start(AGENT, AGENT_HZ)  # answers by itself
        sup = phones.start(SUPERVISOR, SUPERVISOR_HZ)  # answers the CLI's Originate by itself
        caller = phones.start("outside", CALLER_HZ)
        since = time.time() - 1
        site.run("agent", "login", AGENT, "--queue", QUEUE)
        caller.dial(QUEUE_EXT)
        caller.wait_event("CALL_ESTABLISHED", 20)
        linkedid = _caller_linkedid(site)
        agent.wait_event("CALL_ESTABLISHED", 20)
        time.sleep(1.0)

        # 1. CLI listen, the collector running.
        _spy_cli(site, sup, "listen")
        time.sleep(1.5)  # stored live (or at least read by the collector) before the crash
        # 2. A crash; the feature-code whisper starts with no collector; it restarts mid-spy.
        assert collector.kill() != 0
        sup.dial(f"*22{AGENT}")
        sup.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(1.0)
        collector.start()
        time.sleep(SPY_SECONDS)
        sup.hangup()
        sup.wait_event("CALL_CLOSED", 10)
        # 3. A clean stop and start, then the CLI barge.
        assert collector.terminate() == 0, collector.tail()
        collector.start()
        _spy_cli(site, sup, "barge")
        time.sleep(1.0)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 10)
        agent.wait_event("CALL_CLOSED", 10)
        site.run("agent", "logout", AGENT)
        until = time.time() + 2
        calls = _wait_supervised(site, since, until, 3)
        assert collector.terminate() == 0, collector.tail()
        yield {"linkedid": linkedid, "since": since, "until": until, "calls": calls}
    finally:
        phones.stop()
        collector.reap()


def _check(site: LabSite, since: float, until: float, linkedid: str) -> None:
    calls = _ours(_report(site, "calls", since, until))
    # Exactly the one queue call: no spy is a call of its own, failed or otherwise.
    assert [(c["linkedid"], c["queue"], c["agent"], c["disposition"]) for c in calls] == [
        (linkedid, QUEUE, AGENT, "answered")], calls
    assert _ours(_report(site, "calls", since, until, "--disposition", "failed")) == []
    (call,) = calls
    sessions = call["supervisions"]
    assert [(s["supervisor"], s["modes"], s["origin"]) for s in sessions] == [
        (SUPERVISOR, ["listen"], "command"),
        (SUPERVISOR, ["whisper"], "feature code"),
        (SUPERVISOR, ["barge"], "command"),
    ], sessions
    assert all(SPY_SECONDS - 1 <= s["seconds"] <= SPY_SECONDS + 6 for s in sessions), sessions
    assert call["supervised"] == f"listen {SUPERVISOR}, whisper {SUPERVISOR}, barge {SUPERVISOR}"
    assert [c["linkedid"] for c in _report(site, "calls", since, until, "--supervised")] == [linkedid]
    agents = {r["agent"]: r for r in _report(site, "agents", since, until)}
    mine = agents[AGENT]
    assert (mine["offered"], mine["answered"], mine["coached"], mine["listened"]) == (1, 1, 1, 1), mine
    # The supervisor's phone is no agent taking calls in this window.
    assert SUPERVISOR not in agents or agents[SUPERVISOR]["offered"] == 0, agents.get(SUPERVISOR)
    sups = {r["supervisor"]: r for r in _report(site, "supervisors", since, until)}
    assert (sups[SUPERVISOR]["sessions"], sups[SUPERVISOR]["calls"]) == (3, 1), sups
    assert (sups[SUPERVISOR]["listen"], sups[SUPERVISOR]["whisper"], sups[SUPERVISOR]["barge"]) == (1, 1, 1)


def test_the_spied_queue_call_is_one_record_with_three_sessions(sup_site: LabSite, played: dict[str, Any]) -> None:
    _check(sup_site, played["since"], played["until"], played["linkedid"])


def test_a_full_backfill_from_the_files_gives_the_same(sup_site: LabSite, played: dict[str, Any],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fresh database, filled by a collector from Asterisk's files alone (no cursor: all of them)."""
    work = tmp_path_factory.mktemp("sup-rec-backfill")
    fresh = LabSite(sup_site.pbx, work)
    collector = CollectorProcess(fresh.config_path, work / "collector.log")
    try:
        collector.start(timeout=120)  # logs "collecting" once the backfill is stored
        calls = _wait_supervised(fresh, played["since"], played["until"], 3)
        assert calls, collector.tail()
        assert collector.terminate() == 0, collector.tail()
    finally:
        collector.reap()
    _check(fresh, played["since"], played["until"], played["linkedid"])


def test_the_report_read_while_collecting_had_the_three_sessions(played: dict[str, Any]) -> None:
    """Before the last stop, the live collection alone had made the one call and its sessions."""
    (call,) = played["calls"]
    assert call["linkedid"] == played["linkedid"] and len(call["supervisions"]) == 3
