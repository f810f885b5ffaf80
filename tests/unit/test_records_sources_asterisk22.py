"""What Asterisk 22 really writes (seen in the lab), parsed as the collector must."""

from __future__ import annotations

import os
import time

import pytest

from homepbx.asterisk.records.sources import cel_from_ami, parse_queue_log_line
from homepbx.records.types import AgentEventRow, QueueEntry


@pytest.mark.parametrize(
    "line,data",
    [
        ("1795816371|1795816360.12|q|PJSIP/4501|BLINDTRANSFER|4502|homepbx-transfer|4|11|1", ("4", "11", "1")),
        ("1795816371|1795816360.12|q|PJSIP/4501|ATTENDEDTRANSFER|BRIDGE|b-1|5|12|1", ("5", "12", "1")),
        ("1795816371|1795816360.12|q|PJSIP/4501|ATTENDEDTRANSFER|APP|Playback|6|13|1", ("6", "13", "1")),
        ("1795816371|1795816360.12|q|PJSIP/4501|ATTENDEDTRANSFER|LINK|PJSIP/a-1|PJSIP/b-2|7|14|1", ("7", "14", "1")),
    ],
)
def test_a_transfer_out_of_a_queue_completes_the_agents_part(line: str, data: tuple[str, ...]) -> None:
    entry = parse_queue_log_line(line)
    assert isinstance(entry, QueueEntry)
    assert (entry.event, entry.agent, entry.queue, entry.data) == ("COMPLETEAGENT", "4501", "q", data)


def test_pauseall_lines_are_not_agent_events() -> None:
    assert parse_queue_log_line("1795816371|NONE|NONE|PJSIP/4501|PAUSEALL|lunch") is None
    assert parse_queue_log_line("1795816371|NONE|NONE|PJSIP/4501|UNPAUSEALL|") is None
    row = parse_queue_log_line("1795816371|NONE|q|4501|PAUSE|lunch")
    assert isinstance(row, AgentEventRow) and (row.event, row.reason, row.queue) == ("pause", "lunch", "q")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Paris"])
def test_live_cel_time_comes_from_the_epoch_timestamp_whatever_the_collectors_zone(zone: str) -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        # Asterisk (on UTC) sent EventTime 21:32:51 local; Timestamp is the same instant in epoch.
        stamp = 1795815171.250613  # 2026-11-27 21:32:51.250613 UTC
        event = {"Event": "CEL", "EventName": "ANSWER", "EventTime": "2026-11-27 21:32:51",
                 "Timestamp": f"{stamp:.6f}", "LinkedID": "l1", "UniqueID": "u1"}
        assert cel_from_ami(event, None, 0.0).time == pytest.approx(stamp, abs=1e-6)
        # A Timestamp a hair past the second boundary stays in EventTime's second (the CSV twin's).
        late = dict(event, Timestamp="1795815172.000004")
        assert int(cel_from_ami(late, None, 0.0).time) == 1795815171
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()
