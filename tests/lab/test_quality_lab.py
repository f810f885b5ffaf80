"""Line quality on the real PBX: a clean queue call between baresip phones on the loopback.

The agent's leg gets its RTCP summary at hang-up (the `homepbx-quality` hangup handler writes
CHANNEL(rtcp,all) as a CEL user event), the records store it, `report quality` shows it.
Shaped lines (tc netem on a namespaced agent: loss within 2 points of what was set, the shaped
agent alone flagged) are the NAT work's later test; this one proves the clean end: ~0 loss and
an estimated MOS above 4.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable

from homepbx import db
from homepbx.asterisk.records.collector import CEL_FILE
from homepbx.asterisk.records.sources import cel_from_csv
from homepbx.lab.softphone import Softphone
from homepbx.records.events import Engine
from homepbx.records.store import store

from .conftest import AGENT_HZ, CALLER_HZ
from .site import LabSite
from .test_calls_lab import logged_in

AGENT = "4371"
QUEUE, QUEUE_EXT = "quality-q", "571"
# RTCP reports go every 5 s (rtp.conf's default): a call of a few reports' length.
TALK_S = 12.0


def _cel_rows(site: LabSite, since: int) -> list[list[str]]:
    path = site.settings.host_path(site.settings.asterisk.log_dir) / CEL_FILE
    with path.open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode("utf-8", errors="replace")
    return [row for row in csv.reader(text.splitlines()) if len(row) > 3]


def _cel_size(site: LabSite) -> int:
    path = site.settings.host_path(site.settings.asterisk.log_dir) / CEL_FILE
    return path.stat().st_size if path.exists() else 0


def test_clean_queue_call_has_no_loss_and_a_good_mos(site: LabSite, softphone: Callable[..., Softphone]) -> None:
    known = {a["extension"] for a in json.loads(site.run("agent", "list", "--json").stdout)}
    if AGENT not in known:
        site.add_agent(AGENT, "Quentin Quality")
        site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall", "--wrapup", "0")
    site.add_outside_caller()
    site.apply()
    since = _cel_size(site)
    t0 = time.time()
    with logged_in(site, (QUEUE, AGENT)):
        caller = site.start_phone(softphone, "outside", CALLER_HZ)
        agent = site.start_phone(softphone, AGENT, AGENT_HZ)
        caller.dial(QUEUE_EXT)
        agent.wait_event("CALL_ESTABLISHED", 20)
        caller.wait_event("CALL_ESTABLISHED", 20)
        time.sleep(TALK_S)
        agent.hangup()
        caller.wait_event("CALL_CLOSED", 15)
    deadline = time.monotonic() + 10
    while True:
        rows = _cel_rows(site, since)
        qos = [r for r in rows if "HOMEPBX_QOS" in (r[1], r[10])]
        if qos or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(qos) == 1, rows
    assert qos[0][4].startswith(f"PJSIP/{AGENT}-")
    # The records from the CEL file, as the collector's backfill reads it after a restart.
    engine = Engine()
    for row in rows:
        ev = cel_from_csv(row)
        if ev is not None:
            engine.feed(ev)
    with db.engine_for(site.settings.database.url).begin() as conn:
        store(conn, engine.drain())
    day = time.strftime("%Y-%m-%d", time.gmtime(t0))
    report = json.loads(site.run("report", "quality", "--from", day, "--to", day, "--agent", AGENT, "--json").stdout)
    (line,) = report
    # On the loopback: nothing lost either way, sub-millisecond round trip, G.711's best MOS.
    assert line["calls"] >= 1
    assert line["worst_loss_from_pct"] <= 0.5 and (line["worst_loss_to_pct"] or 0.0) <= 0.5, line
    assert line["worst_mos"] > 4.0 and not line["flagged"], line
    # Shaped lines (tc netem: 5 % loss, 40 ms jitter on a namespaced agent; the report within 2
    # points of what was set, only that agent flagged) come with the NAT namespace scenario.
