"""Recording on the real PBX: `homepbx record start|pause|resume|stop|list` and per-queue recording.

The WAV files MixMonitor writes are read with the same tone detector as the softphones':
both parties' tones while recording, neither while paused, and both sides after a transfer
(Asterisk 22.10 drops the new agent's side from a MixMonitor left on the caller's channel after
a blind transfer, about one run in two: `homepbx call transfer` moves the recording to the new
agent's channel, appending to the same file; see homepbx/asterisk/calls.py `hand_recording_over`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from homepbx.lab.softphone import Softphone
from homepbx.lab.tones import ToneWindow, detect_tones

from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ
from .site import LabSite
from .test_calls_lab import (
    FREQS,
    NEW_AGENT_HZ,
    OTHER_QUEUE,
    QUEUE,
    RECORDED_QUEUE,
    RECORDED_QUEUE_EXT,
    logged_in,
    provision,
    queue_call,
    wait_for,
)


@pytest.fixture(scope="module")
def rec_site(site: LabSite) -> LabSite:
    return provision(site)


def _windows(site: LabSite, path: str) -> list[ToneWindow]:
    host = site.settings.host_path(path)
    wait_for(lambda: host.exists() and host.stat().st_size > 44, 10, f"{host} to be written")
    return detect_tones(host, FREQS)


def _between(windows: list[ToneWindow], start: float, end: float) -> list[frozenset[float]]:
    """Tones of the windows lying wholly inside [start, end] seconds of the file."""
    return [w.present for w in windows if w.start >= start and w.start + 1.0 <= end]


def _recordings(site: LabSite) -> list[dict]:
    return json.loads(site.run("record", "list", "--json").stdout)


def test_record_pause_resume_stop(rec_site: LabSite, softphone: Callable[..., Softphone]) -> None:
    with logged_in(rec_site, (QUEUE, "4301")):
        caller, agent, _ = queue_call(rec_site, softphone)
        time.sleep(1)
        started = time.monotonic()
        path = json.loads(rec_site.run("record", "start", "4301", "--json").stdout)["path"]
        assert path.startswith(rec_site.settings.asterisk.recordings_dir + "/")
        again = rec_site.cli("record", "start", "4301")
        assert again.exit_code == 2 and "already being recorded" in again.stderr
        time.sleep(5)
        rec_site.run("record", "pause", "4301")
        paused_at = time.monotonic() - started
        time.sleep(5)
        rec_site.run("record", "resume", "4301")
        resumed_at = time.monotonic() - started
        time.sleep(5)
        rec_site.run("record", "stop", "4301")
        stopped_at = time.monotonic() - started
        assert rec_site.cli("record", "stop", "4301").exit_code == 2  # nothing left to stop
        caller.hangup()
        agent.wait_event("CALL_CLOSED", 10)
    windows = _windows(rec_site, path)
    both = frozenset({CALLER_HZ, AGENT_HZ})
    # One second of slack either side of each command for process start and AMI round trips.
    before = _between(windows, 0.5, paused_at - 1.0)
    during = _between(windows, paused_at + 1.0, resumed_at - 1.0)
    after = _between(windows, resumed_at + 1.0, stopped_at - 1.0)
    assert len(before) >= 3 and all(p == both for p in before), before
    assert len(during) >= 2 and all(p == frozenset() for p in during), during
    assert len(after) >= 2 and all(p == both for p in after), after
    [row] = [r for r in _recordings(rec_site) if r["path"] == path]
    assert row["agent"] == "4301" and row["linkedid"] and row["ended_at"]
    [[p_start, p_end]] = row["paused"]
    assert p_start and p_end and 3.0 <= row["paused_s"] <= 7.0


def test_recording_keeps_both_sides_after_a_blind_transfer(
    rec_site: LabSite, softphone: Callable[..., Softphone], collector: CollectorProcess
) -> None:
    """`call transfer` moves the recording itself; the running collector sees the transfer and leaves it."""
    with logged_in(rec_site, (QUEUE, "4301")):
        caller, first, _ = queue_call(rec_site, softphone)
        second = rec_site.start_phone(softphone, "4302", NEW_AGENT_HZ)
        started = time.monotonic()
        path = json.loads(rec_site.run("record", "start", "4301", "--json").stdout)["path"]
        time.sleep(4)
        rec_site.run("call", "transfer", "4301", "--to", "4302")
        moved = time.monotonic() - started
        second.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(6)
        rec_site.run("record", "stop", "4302")  # the recording follows the call to the new agent
        stopped = time.monotonic() - started
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    windows = _windows(rec_site, path)
    before = _between(windows, 0.5, moved - 1.0)
    assert len(before) >= 2 and all(p == {CALLER_HZ, AGENT_HZ} for p in before), before
    # With `b`, the file skips the moment the caller was between bridges: count from its end.
    after = [w.present for w in windows[-int(stopped - moved) + 2:-1]]
    assert len(after) >= 3 and all(p == {CALLER_HZ, NEW_AGENT_HZ} for p in after), after
    # One file, one index row: the hand-over appended to it and `record stop 4302` closed it.
    [row] = [r for r in _recordings(rec_site) if r["path"] == path]
    assert row["ended_at"] and row["paused"] == []
    assert not [e for e in collector.logs() if str(e.get("msg", "")).startswith("recording ")], collector.tail()


def test_per_queue_recording_survives_an_attended_transfer_and_is_indexed(
    rec_site: LabSite, softphone: Callable[..., Softphone]
) -> None:
    recordings_dir = rec_site.settings.host_path(rec_site.settings.asterisk.recordings_dir)
    existing = set(Path(recordings_dir).glob("*.wav"))
    with logged_in(rec_site, (RECORDED_QUEUE, "4301")):
        caller, first, _ = queue_call(rec_site, softphone, exten=RECORDED_QUEUE_EXT)
        second = rec_site.start_phone(softphone, "4302", NEW_AGENT_HZ)
        time.sleep(4)
        started = rec_site.cli("record", "start", "4301")
        assert started.exit_code == 2 and "already being recorded" in started.stderr
        rec_site.run("call", "transfer", "4301", "--to", "4302", "--attended")
        second.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(2)
        first.hangup()
        time.sleep(6)
        rec_site.run("record", "pause", "4302")
        time.sleep(1)
        rec_site.run("record", "stop", "4302")
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    [new] = set(Path(recordings_dir).glob("*.wav")) - existing
    windows = _windows(rec_site, str(Path(rec_site.settings.asterisk.recordings_dir) / new.name))
    present = [w.present for w in windows]
    assert present[1:3] == [{CALLER_HZ, AGENT_HZ}] * 2, present
    assert [{CALLER_HZ, NEW_AGENT_HZ}] * 3 == [p for p in present if NEW_AGENT_HZ in p][:3], present
    [row] = [r for r in _recordings(rec_site) if r["path"].endswith(new.name)]
    assert row["agent"] == "4302" and row["ended_at"] and len(row["paused"]) == 1
    assert RECORDED_QUEUE  # the queue whose dialplan started it


# -- transfers made from the agent's phone: the collector's transfer watch hands over ----------

@pytest.fixture
def collector(rec_site: LabSite, tmp_path: Path) -> Iterator[CollectorProcess]:
    """`homepbx collect`, which watches for transfers dialled on the phones (homepbx.asterisk.transfer_watch)."""
    proc = CollectorProcess(rec_site.config_path, tmp_path / "collector.log")
    try:
        yield proc.start()
    finally:
        proc.reap()


def _new_recording(site: LabSite, existing: set[Path]) -> str:
    recordings_dir = site.settings.host_path(site.settings.asterisk.recordings_dir)
    [new] = set(Path(recordings_dir).glob("*.wav")) - existing
    return str(Path(site.settings.asterisk.recordings_dir) / new.name)


def _existing_recordings(site: LabSite) -> set[Path]:
    return set(Path(site.settings.host_path(site.settings.asterisk.recordings_dir)).glob("*.wav"))


@pytest.mark.parametrize("kind", ["blind", "attended"])
def test_recording_follows_a_transfer_dialled_on_the_agents_phone(
    rec_site: LabSite, softphone: Callable[..., Softphone], collector: CollectorProcess, kind: str
) -> None:
    existing = _existing_recordings(rec_site)
    with logged_in(rec_site, (RECORDED_QUEUE, "4301")):
        caller, first, _ = queue_call(rec_site, softphone, exten=RECORDED_QUEUE_EXT)
        second = rec_site.start_phone(softphone, "4302", NEW_AGENT_HZ)
        time.sleep(4)
        # features.conf: #1 blind, #2 attended (the caller waits while the agents talk), then
        # the new agent's extension.
        first.send_dtmf(("#1" if kind == "blind" else "#2") + "4302")
        second.wait_event("CALL_ESTABLISHED", 15)
        if kind == "attended":
            time.sleep(2)
            first.hangup()  # completes the transfer
        first.wait_event("CALL_CLOSED", 10)
        collector.wait_log("recording handed over", 15)
        time.sleep(6)
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    windows = _windows(rec_site, _new_recording(rec_site, existing))
    present = [w.present for w in windows]
    assert present[1:3] == [{CALLER_HZ, AGENT_HZ}] * 2, present
    # The end of the file: the caller with the new agent, both heard (the last window may be partial).
    after = present[-5:-1]
    assert after == [{CALLER_HZ, NEW_AGENT_HZ}] * 4, present
    [entry] = [e for e in collector.logs() if e.get("msg") == "recording handed over"]
    assert entry["transfer"] == kind


def test_recording_follows_a_blind_transfer_to_a_queue_answered_after_a_long_wait(
    rec_site: LabSite, softphone: Callable[..., Softphone]
) -> None:
    """`call transfer` returns at once; its follower moves the recording when an agent answers, 25 s later."""
    existing = _existing_recordings(rec_site)
    with logged_in(rec_site, (RECORDED_QUEUE, "4301")):
        caller, first, _ = queue_call(rec_site, softphone, exten=RECORDED_QUEUE_EXT)
        second = rec_site.start_phone(softphone, "4302", NEW_AGENT_HZ)
        time.sleep(4)
        took = time.monotonic()
        rec_site.run("call", "transfer", "4301", "--to", OTHER_QUEUE)  # nobody logged in there yet
        assert time.monotonic() - took < 5
        first.wait_event("CALL_CLOSED", 10)
        time.sleep(25)
        with logged_in(rec_site, (OTHER_QUEUE, "4302")):
            second.wait_event("CALL_ESTABLISHED", 20)
            time.sleep(8)
            caller.hangup()
            second.wait_event("CALL_CLOSED", 10)
    windows = _windows(rec_site, _new_recording(rec_site, existing))
    present = [w.present for w in windows]
    assert present[1:3] == [{CALLER_HZ, AGENT_HZ}] * 2, present
    assert present[-6:-1] == [{CALLER_HZ, NEW_AGENT_HZ}] * 5, present


def test_recording_follows_a_chain_of_two_transfers(rec_site: LabSite, softphone: Callable[..., Softphone]) -> None:
    """4301 -> 4302 -> 4303: after the first hand-over the recording is on 4302's channel, which
    the second transfer ends; it must move on to 4303, not stop with 4302."""
    third_hz = 1800
    existing = _existing_recordings(rec_site)
    with logged_in(rec_site, (RECORDED_QUEUE, "4301")):
        caller, first, _ = queue_call(rec_site, softphone, exten=RECORDED_QUEUE_EXT)
        second = rec_site.start_phone(softphone, "4302", NEW_AGENT_HZ)
        third = rec_site.start_phone(softphone, "4303", third_hz)
        time.sleep(3)
        rec_site.run("call", "transfer", "4301", "--to", "4302")
        second.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(4)
        rec_site.run("call", "transfer", "4302", "--to", "4303")
        third.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(6)
        caller.hangup()
        third.wait_event("CALL_CLOSED", 10)
    host = rec_site.settings.host_path(_new_recording(rec_site, existing))
    present = [w.present for w in detect_tones(host, (*FREQS, third_hz))]
    assert present[1:3] == [{CALLER_HZ, AGENT_HZ}] * 2, present
    # The window the new agent first appears in is the hand-over's own, partly before it: in 2 of 3
    # full runs with SRTP agents the caller's tone was missing from it (a pause of under a second
    # in the caller's side at the first hand-over; see the issue 12 notes). Every window after it
    # must hold both.
    assert [{CALLER_HZ, NEW_AGENT_HZ}] * 2 == [p for p in present if NEW_AGENT_HZ in p][1:3], present
    assert present[-5:-1] == [{CALLER_HZ, third_hz}] * 4, present
