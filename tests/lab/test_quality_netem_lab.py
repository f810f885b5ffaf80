"""Line quality on a shaped line: the home agent's line loses packets, a clean agent's does not,
and `homepbx report quality` tells them apart.

The home agent (4661) sits behind the NAT of homepbx.lab.netns; its line is shaped on the veth
between the home and its router, both ways: netem on each end (netem shapes what a device
sends, so hpx-lan0 in the home shapes upstream and hpx-lan1 in the router downstream). On a
kernel without sch_netem (some CI kernels, and the one this was written on) the same random
loss comes from nftables in the router, without the delay and jitter: the test prints which.
The clean agent (4662) is on the host side, no router. Both take queue calls at the same time,
recorded by the real `homepbx collect`.

Extensions 4661 and 4662, queues shaped-q (661) and clean-q (662) and the outside callers
q-outside-1 and q-outside-2 belong to this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from homepbx.lab.netns import HomeNat
from homepbx.lab.softphone import Softphone

from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ
from .site import LabSite

SHAPED, CLEAN = "4661", "4662"
QUEUES = {SHAPED: ("shaped-q", "661"), CLEAN: ("clean-q", "662")}
CALLERS = {SHAPED: "q-outside-1", CLEAN: "q-outside-2"}
LOSS_PCT, DELAY_MS, JITTER_MS = 5.0, 40, 20
CALLS = 2
# Asterisk counts its losses (`lp`) at each RTCP report (every 5 s) but its packets up to the
# hang-up, and the phone's reports (`rlp`) lag the same way: a leg's loss reads up to 5 s of
# packets low. 30 s calls keep that under a sixth, and 2 x 1,500 packets each way keep the
# sampling spread of a 5 % loss near 0.4 points.
TALK_S = 30.0


@pytest.fixture(scope="module")
def quality_world(nat_site: LabSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSite]:
    """The two agents and their queues, applied; the collector running for the module."""
    site = nat_site
    site.add_agent(SHAPED, "Sonia Maison")
    site.add_agent(CLEAN, "Cyril Bureau")
    for agent, (queue, ext) in QUEUES.items():
        site.run("queue", "add", queue, "--extension", ext, "--strategy", "ringall", "--wrapup", "0")
        site.run("queue", "member", "add", queue, agent)
        site.add_outside_caller(CALLERS[agent], f"{CALLERS[agent]}-secret")
    site.apply()
    collector = CollectorProcess(site.config_path, tmp_path_factory.mktemp("netem") / "collector.log")
    try:
        collector.start()
        yield site
    finally:
        collector.reap()


def _quality(site: LabSite, since: float) -> dict[str, dict[str, Any]]:
    """The report's lines by agent, for the legs that ended from `since` on (the lab's Asterisk
    keeps its call records across runs, and the collector reads them all)."""
    start, end = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) for t in (since, time.time() + 60))
    rows = json.loads(site.run("report", "quality", "--from", start, "--to", end, "--json").stdout)
    return {row["agent"]: row for row in rows}


def test_shaped_line_shows_its_loss_and_alone_is_flagged(
    quality_world: LabSite, nat_softphone: Callable[..., Softphone], behind_nat: dict[str, str], home_nat: HomeNat
) -> None:
    site = quality_world
    since = time.time() - 1
    shaping = home_nat.shape(LOSS_PCT, DELAY_MS, JITTER_MS)
    print(f"\nshaping: {shaping.describe()}")
    try:
        agents = {SHAPED: site.start_phone(nat_softphone, SHAPED, AGENT_HZ, **behind_nat),
                  CLEAN: site.start_phone(nat_softphone, CLEAN, AGENT_HZ)}
        callers = {a: site.start_phone(nat_softphone, CALLERS[a], CALLER_HZ) for a in agents}
        for agent in agents:
            site.run("agent", "login", agent, "--queue", QUEUES[agent][0])
        try:
            for _ in range(CALLS):
                for agent, caller in callers.items():
                    caller.dial(QUEUES[agent][1])
                for agent in agents:
                    agents[agent].wait_event("CALL_ESTABLISHED", 30)
                    callers[agent].wait_event("CALL_ESTABLISHED", 30)
                time.sleep(TALK_S)
                for caller in callers.values():
                    caller.hangup()
                for agent in agents:
                    callers[agent].wait_event("CALL_CLOSED", 15)
                    agents[agent].wait_event("CALL_CLOSED", 15)
        finally:
            for agent in agents:
                site.run("agent", "logout", agent)
    finally:
        home_nat.unshape()

    deadline = time.monotonic() + 30
    while True:
        lines = _quality(site, since)
        if all(lines.get(a, {}).get("calls", 0) >= CALLS for a in agents) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(json.dumps({a: lines.get(a) for a in agents}, indent=1))
    shaped, clean = lines[SHAPED], lines[CLEAN]
    assert shaped["calls"] == clean["calls"] == CALLS
    # Each way, the shaped line's loss is within 2 points of what was set; the clean line's is ~0.
    assert abs(shaped["loss_from_pct"] - LOSS_PCT) <= 2.0, shaped
    assert shaped["loss_to_pct"] is not None and abs(shaped["loss_to_pct"] - LOSS_PCT) <= 2.0, shaped
    assert clean["loss_from_pct"] <= 0.5 and (clean["loss_to_pct"] or 0.0) <= 0.5, clean
    assert shaped["flagged"] and "loss" in shaped["reason"], shaped
    assert not clean["flagged"], clean
