"""Live control on the real FreeSWITCH lab: spy, agent states, transfers, recording, through the CLI.

The same commands as on Asterisk (homepbx spy|agent|call|record), the same permission checks
and audit, heard through real softphones: caller 440 Hz, agent 1000 Hz, supervisor 2000 Hz,
the agent a call is transferred to 1400 Hz. Recordings (uuid_record on the caller's leg) are
read with the same tone detector; the transfer tests prove the recording follows the caller by
itself on FreeSWITCH (no hand-over as on Asterisk). Extensions 57xx and teams fc-* are this
module's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from homepbx import db
from homepbx.config import LabSettings, Settings
from homepbx.freeswitch.lab import FreeswitchLab, how_to_build
from homepbx.lab.softphone import Softphone
from homepbx.lab.tones import ToneWindow, detect_tones
from homepbx.models import AuditEntry

from ..unit.cli_helpers import assert_plain_error
from .conftest import AGENT_HZ, CALLER_HZ, FS_LAB_ROOT, SUPERVISOR_HZ, ToneHelper
from .site import LabSite

_BUILD = FreeswitchLab(Settings(lab=LabSettings(freeswitch_root=FS_LAB_ROOT)))
if not _BUILD.is_built():
    pytest.skip(how_to_build(_BUILD.root), allow_module_level=True)

NEW_AGENT_HZ = 1400
FREQS = (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ, NEW_AGENT_HZ)
AGENT, CALLER, NEW_AGENT = "5701", "5702", "5703"
FULL_SUP, OTHER_SUP = "5791", "5792"
QUEUE, QUEUE_EXT = "fc-q", "5710"  # AGENT
OTHER_QUEUE, OTHER_QUEUE_EXT = "fc-q2", "5711"  # NEW_AGENT
SPY_SECONDS = 6.0


@pytest.fixture(scope="module")
def site(fs_site: LabSite) -> LabSite:
    for team in ("fc-a", "fc-b"):
        fs_site.ensure_team(team)
    known = {a["extension"] for a in json.loads(fs_site.run("agent", "list", "--json").stdout)}
    if AGENT not in known:
        fs_site.add_agent(AGENT, "Agent Control", "--team", "fc-a")
        fs_site.add_agent(CALLER, "Caller Control", "--team", "fc-b")
        fs_site.add_agent(NEW_AGENT, "New Agent Control", "--team", "fc-a")
        fs_site.add_agent(FULL_SUP, "Full Supervisor", "--role", "supervisor")
        fs_site.add_agent(OTHER_SUP, "Other Supervisor", "--role", "supervisor")
        fs_site.run("supervisor", "scope", "add", FULL_SUP, "fc-a")
        fs_site.run("supervisor", "scope", "add", OTHER_SUP, "fc-b")
        for name, ext in ((QUEUE, QUEUE_EXT), (OTHER_QUEUE, OTHER_QUEUE_EXT)):
            fs_site.run("queue", "add", name, "--extension", ext, "--strategy", "ringall", "--wrapup", "0")
        fs_site.run("queue", "member", "add", QUEUE, AGENT)
        fs_site.run("queue", "member", "add", OTHER_QUEUE, NEW_AGENT)
    fs_site.apply()
    return fs_site


# --- helpers --------------------------------------------------------------------------------------

def audit_entries(site: LabSite, prefix: str) -> list[AuditEntry]:
    with db.session_scope(site.settings.database.url) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)).all()
        s.expunge_all()
        return list(rows)


def audit_count(site: LabSite) -> int:
    with db.session_scope(site.settings.database.url) as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def status(site: LabSite, ext: str) -> dict[str, object]:
    return json.loads(site.run("agent", "status", ext, "--json").stdout)


@contextmanager
def logged_in(site: LabSite, *extensions: str) -> Iterator[None]:
    """Agents logged in to their queues with `homepbx agent login`, logged out afterwards."""
    for ext in extensions:
        site.run("agent", "login", ext)
    try:
        yield
    finally:
        for ext in extensions:
            site.cli("agent", "logout", ext)


def heard_after(phone: Softphone, since: float, min_windows: int = 3) -> set[float]:
    """Tones in at least `min_windows` one-second windows of what `phone` heard after second `since`."""
    counts: dict[float, int] = {}
    for w in detect_tones(phone.recording_path, FREQS):
        if w.start >= since:
            for f in w.present:
                counts[f] = counts.get(f, 0) + 1
    return {f for f, n in counts.items() if n >= min_windows}


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def call_list(site: LabSite) -> list[dict]:
    return json.loads(site.run("call", "list", "--json").stdout)


def the_call(site: LabSite) -> dict:
    found = [c for c in call_list(site) if c["caller"] == CALLER]
    assert len(found) == 1, found
    return found[0]


def recording_windows(site: LabSite, path: str) -> list[ToneWindow]:
    host = site.settings.host_path(path)
    wait_for(lambda: host.exists() and host.stat().st_size > 44, 10, f"{host} to be written")
    return detect_tones(host, FREQS)


def between(windows: list[ToneWindow], start: float, end: float) -> list[frozenset[float]]:
    """Tones of the windows lying wholly inside [start, end] seconds of the file."""
    return [w.present for w in windows if w.start >= start and w.start + 1.0 <= end]


def queue_call(site: LabSite, fs_softphone: Callable[..., Softphone]) -> tuple[Softphone, Softphone, float]:
    """CALLER reaches AGENT through QUEUE (AGENT logged in); returns (caller, agent, t0)."""
    caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    caller.dial(QUEUE_EXT)
    agent.wait_event("CALL_ESTABLISHED", 20)
    caller.wait_event("CALL_ESTABLISHED", 20)
    return caller, agent, time.monotonic()


# --- supervision ----------------------------------------------------------------------------------

@dataclass
class Parties:
    caller: Softphone
    agent: Softphone
    supervisor: Softphone


@pytest.fixture
def start_call(site: LabSite, fs_softphone: Callable[..., Softphone]) -> Callable[[str], Parties]:
    """Register caller, agent and the given supervisor, then connect caller and agent directly."""

    def start(supervisor: str) -> Parties:
        caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
        agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
        sup = site.start_phone(fs_softphone, supervisor, SUPERVISOR_HZ)
        caller.dial(AGENT)
        caller.wait_event("CALL_ESTABLISHED", 15)
        agent.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(1.0)
        return Parties(caller, agent, sup)

    return start


def hang_up(p: Parties, supervisor_in_call: bool = True) -> None:
    p.caller.hangup()
    p.caller.wait_event("CALL_CLOSED", 10)
    p.agent.wait_event("CALL_CLOSED", 10)
    if supervisor_in_call:
        # eavesdrop ends with the agent's leg, and the supervisor's leg with it.
        p.supervisor.wait_event("CALL_CLOSED", 10)


@pytest.mark.parametrize(("mode", "agent_hears", "caller_hears"), [
    ("listen", {CALLER_HZ}, {AGENT_HZ}),
    ("whisper", {CALLER_HZ, SUPERVISOR_HZ}, {AGENT_HZ}),
    ("barge", {CALLER_HZ, SUPERVISOR_HZ}, {AGENT_HZ, SUPERVISOR_HZ}),
])
def test_spy_modes_are_heard_as_on_asterisk(start_call: Callable[[str], Parties], site: LabSite, tones: ToneHelper,
                                            mode: str, agent_hears: set[int], caller_hears: set[int]) -> None:
    p = start_call(FULL_SUP)
    before = len(audit_entries(site, "spy."))
    shown = json.loads(site.run("spy", mode, AGENT, "--supervisor", FULL_SUP, "--json").stdout)
    p.supervisor.wait_event("CALL_ESTABLISHED", 10)
    assert shown["call_id"] and shown["agent_uuid"] and shown["supervisor_uuid"]
    assert shown["mode_switching"] is True
    time.sleep(SPY_SECONDS)
    hang_up(p)
    assert tones.heard(p.supervisor) == {CALLER_HZ, AGENT_HZ}
    assert tones.heard(p.agent) == agent_hears
    assert tones.heard(p.caller) == caller_hears
    entries = audit_entries(site, "spy.")
    assert len(entries) == before + 1 and entries[-1].action == f"spy.{mode}" and entries[-1].target == AGENT
    details = json.loads(entries[-1].details)
    assert details["supervisor"] == FULL_SUP and details["agent_uuid"] == shown["agent_uuid"]


def test_out_of_scope_spy_is_refused_by_the_cli_and_nothing_rings(start_call: Callable[[str], Parties],
                                                                  site: LabSite, fs_lab: FreeswitchLab) -> None:
    p = start_call(OTHER_SUP)
    before = audit_count(site)
    res = site.cli("spy", "whisper", AGENT, "--supervisor", OTHER_SUP)
    assert_plain_error(res, 2)
    assert f"not in a team supervisor {OTHER_SUP} may supervise" in res.stderr
    assert audit_count(site) == before
    time.sleep(2)
    assert not [e for e in p.supervisor.events if e.get("type") == "CALL_INCOMING"]  # never rang
    assert "2 total" in fs_lab.api("show channels count")  # caller and agent only
    hang_up(p, supervisor_in_call=False)


def test_spy_on_an_agent_with_no_call_says_so(site: LabSite) -> None:
    before = audit_count(site)
    res = site.cli("spy", "listen", AGENT, "--supervisor", FULL_SUP)
    assert_plain_error(res, 2)
    assert f"Agent {AGENT} is not on a call." in res.stderr
    assert audit_count(site) == before


def test_whisper_code_in_scope_and_dtmf_switch_to_barge(start_call: Callable[[str], Parties], tones: ToneHelper) -> None:
    # The softphone codes go through the same eavesdrop: *21 listen, then eavesdrop's own digit
    # 3 (barge) for a supervisor holding every mode.
    p = start_call(FULL_SUP)
    t0 = time.monotonic() - 1.0  # start_call returns a second into the call
    p.supervisor.dial(f"*21{AGENT}")
    p.supervisor.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(4.0)
    p.supervisor.send_dtmf("3")
    switched = time.monotonic() - t0
    time.sleep(SPY_SECONDS)
    # The code's `eavesdrop all` waits for the agent's next call: the supervisor hangs up.
    p.supervisor.hangup()
    hang_up(p, supervisor_in_call=False)
    listening = [w.present for w in detect_tones(p.caller.recording_path, FREQS) if 1.0 <= w.start <= switched - 1.5]
    assert len(listening) >= 2 and all(SUPERVISOR_HZ not in w for w in listening), listening
    assert SUPERVISOR_HZ in heard_after(p.agent, switched + 1)
    assert SUPERVISOR_HZ in heard_after(p.caller, switched + 1)


def test_whisper_code_out_of_scope_spies_on_nothing(start_call: Callable[[str], Parties], tones: ToneHelper) -> None:
    p = start_call(OTHER_SUP)
    p.supervisor.dial(f"*22{AGENT}")
    time.sleep(SPY_SECONDS)
    try:
        p.supervisor.hangup()
    except Exception:  # noqa: BLE001, S110 - FreeSWITCH may have refused the call already
        pass
    hang_up(p, supervisor_in_call=False)
    assert tones.heard(p.agent) == {CALLER_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ}


# --- agent states ---------------------------------------------------------------------------------

def test_pause_with_a_reason_keeps_queue_calls_away_and_shows_the_reason(
    site: LabSite, fs_softphone: Callable[..., Softphone]
) -> None:
    assert status(site, AGENT)["state"] == "logged out"
    shown = json.loads(site.run("agent", "login", AGENT, "--json").stdout)
    assert shown["state"] == "available" and shown["queues"] == QUEUE
    try:
        shown = json.loads(site.run("agent", "pause", AGENT, "--reason", "Pause déjeuner", "--json").stdout)
        assert shown["state"] == "paused" and shown["reason"] == "Pause déjeuner"
        assert status(site, AGENT)["reason"] == "Pause déjeuner"
        everyone = {row["agent"]: row for row in json.loads(site.run("agent", "status", "--json").stdout)}
        assert everyone[AGENT]["reason"] == "Pause déjeuner" and everyone[NEW_AGENT]["state"] == "logged out"
        caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
        agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
        caller.dial(QUEUE_EXT)
        time.sleep(6)
        assert not [e for e in agent.events if e.get("type") == "CALL_INCOMING"]  # paused: never rung
        assert the_call(site)["state"] == "waiting"
        shown = json.loads(site.run("agent", "unpause", AGENT, "--json").stdout)
        assert shown["state"] in ("available", "on call") and shown["reason"] == ""
        agent.wait_event("CALL_ESTABLISHED", 15)  # the waiting caller reaches the agent now
        caller.hangup()
        agent.wait_event("CALL_CLOSED", 10)
        actions = [e.action for e in audit_entries(site, "agent.")][-3:]
        assert actions == ["agent.login", "agent.pause", "agent.unpause"]
    finally:
        shown = json.loads(site.run("agent", "logout", AGENT, "--json").stdout)
    assert shown["state"] == "logged out"


def test_the_softphone_pause_code_shows_its_reason(site: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    with logged_in(site, AGENT):
        agent.dial("*432")  # pause, reason 2: lunch
        agent.wait_event("CALL_CLOSED", 10)
        shown = status(site, AGENT)
        assert shown["state"] == "paused" and shown["reason"] == "lunch"
        agent.dial("*44")
        agent.wait_event("CALL_CLOSED", 10)
        shown = status(site, AGENT)
        assert shown["state"] == "available" and shown["reason"] == ""


def test_pause_of_a_logged_out_agent_is_refused(site: LabSite) -> None:
    res = site.cli("agent", "pause", AGENT, "--reason", "break")
    assert_plain_error(res, 2)
    assert "not logged in to any queue" in res.stderr


# --- calls ----------------------------------------------------------------------------------------

def test_call_list_shows_the_queue_call_and_hangup_ends_it(site: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    with logged_in(site, AGENT):
        caller, agent, _ = queue_call(site, fs_softphone)
        time.sleep(2)
        call = the_call(site)
        assert call["agents"] == [AGENT] and call["queue"] == QUEUE and call["state"] == "talking"
        assert call["seconds"] >= 1 and call["call_id"]
        res = site.run("call", "hangup", AGENT)
        assert f"Hung up agent {AGENT}'s call (2 parties)" in res.stdout
        caller.wait_event("CALL_CLOSED", 10)
        agent.wait_event("CALL_CLOSED", 10)
    wait_for(lambda: not [c for c in call_list(site) if c["caller"] == CALLER], 10, "the call to end")


def test_recording_holds_both_parties_is_silent_while_paused_and_follows_a_blind_transfer(
    site: LabSite, fs_softphone: Callable[..., Softphone]
) -> None:
    with logged_in(site, AGENT):
        caller, first, t0 = queue_call(site, fs_softphone)
        second = site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ)
        time.sleep(1)
        started = time.monotonic()
        path = json.loads(site.run("record", "start", AGENT, "--json").stdout)["path"]
        assert path.startswith(site.settings.freeswitch.recordings_dir + "/")
        again = site.cli("record", "start", AGENT)
        assert again.exit_code == 2 and "already being recorded" in again.stderr
        time.sleep(5)
        site.run("record", "pause", AGENT)
        paused_at = time.monotonic() - started
        time.sleep(5)
        site.run("record", "resume", AGENT)
        resumed_at = time.monotonic() - started
        time.sleep(4)
        res = site.run("call", "transfer", AGENT, "--to", NEW_AGENT)
        assert f"Blind transfer of agent {AGENT}'s call to agent {NEW_AGENT} done." in res.stdout
        moved = time.monotonic() - started
        moved_call = time.monotonic() - t0
        first.wait_event("CALL_CLOSED", 10)
        second.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(8)
        call = the_call(site)
        assert call["agents"] == [NEW_AGENT] and call["state"] == "talking"
        site.run("record", "stop", NEW_AGENT)  # the recording followed the caller to the new agent
        stopped = time.monotonic() - started
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    assert heard_after(caller, moved_call + 1.5) == {NEW_AGENT_HZ}
    assert heard_after(second, 1) == {CALLER_HZ}
    windows = recording_windows(site, path)
    both, after_both = frozenset({CALLER_HZ, AGENT_HZ}), frozenset({CALLER_HZ, NEW_AGENT_HZ})
    before = between(windows, 0.5, paused_at - 1.0)
    during = between(windows, paused_at + 1.0, resumed_at - 1.0)
    resumed = between(windows, resumed_at + 1.0, moved - 1.0)
    # The file is shorter than the wall clock when the caller's leg had no audio for a while
    # (ringing the new agent): count the time after the transfer back from its end.
    after = between(windows, len(windows) - (stopped - moved) + 3.0, len(windows) - 1.0)
    assert len(before) >= 3 and all(p == both for p in before), before
    assert len(during) >= 2 and all(p == frozenset() for p in during), during
    assert len(resumed) >= 1 and all(p == both for p in resumed), resumed
    assert len(after) >= 3 and all(p == after_both for p in after), [sorted(w.present) for w in windows]
    [row] = [r for r in json.loads(site.run("record", "list", "--json").stdout) if r["path"] == path]
    assert row["agent"] == AGENT and row["linkedid"] and row["ended_at"]
    [[p_start, p_end]] = row["paused"]
    assert p_start and p_end and 3.0 <= row["paused_s"] <= 7.0


def test_attended_transfer_with_two_way_audio_and_the_recording_following(
    site: LabSite, fs_softphone: Callable[..., Softphone]
) -> None:
    with logged_in(site, AGENT):
        caller, first, t0 = queue_call(site, fs_softphone)
        second = site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ)
        time.sleep(1)
        started = time.monotonic()
        path = json.loads(site.run("record", "start", AGENT, "--json").stdout)["path"]
        time.sleep(4)
        res = site.run("call", "transfer", AGENT, "--to", NEW_AGENT, "--attended")
        assert "the caller is on hold" in res.stdout
        second.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(4)
        # The consultation: the first agent talks to the new one while the caller waits.
        assert heard_after(second, 1, min_windows=2) == {AGENT_HZ}
        first.hangup()  # completes the transfer
        moved = time.monotonic() - started
        moved_call = time.monotonic() - t0
        time.sleep(8)
        call = the_call(site)
        assert call["agents"] == [NEW_AGENT] and call["state"] == "talking"
        site.run("record", "stop", NEW_AGENT)
        stopped = time.monotonic() - started
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    assert heard_after(caller, moved_call + 1.5) == {NEW_AGENT_HZ}
    tail = detect_tones(second.recording_path, FREQS)[-6:-1]
    assert tail and all(w.present == frozenset({CALLER_HZ}) for w in tail), [sorted(w.present) for w in tail]
    windows = recording_windows(site, path)
    before = between(windows, 0.5, 3.0)
    after = between(windows, len(windows) - (stopped - moved) + 3.0, len(windows) - 1.0)
    assert len(before) >= 2 and all(p == {CALLER_HZ, AGENT_HZ} for p in before), before
    assert len(after) >= 3 and all(p == {CALLER_HZ, NEW_AGENT_HZ} for p in after), [sorted(w.present) for w in windows]


def test_blind_transfer_to_an_agent_who_does_not_answer_returns_the_caller_to_the_queue(
    site: LabSite, fs_softphone: Callable[..., Softphone]
) -> None:
    with logged_in(site, AGENT):
        caller, first, t0 = queue_call(site, fs_softphone)
        silent = site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ, auto_answer=False)
        time.sleep(2)
        site.run("call", "transfer", AGENT, "--to", NEW_AGENT)
        first.wait_event("CALL_CLOSED", 10)
        silent.wait_event("CALL_INCOMING", 10)
        # The agent's bridge gives up after 30 s: the caller is back in the queue, which rings
        # the first agent again (auto-answer), instead of being hung up on.
        first.wait_event("CALL_ESTABLISHED", 45)
        back = time.monotonic() - t0
        time.sleep(5)
        call = the_call(site)
        assert call["agents"] == [AGENT] and call["queue"] == QUEUE and call["state"] == "talking"
        assert not any(e.get("type") == "CALL_CLOSED" for e in caller.events)
        caller.hangup()
        first.wait_event("CALL_CLOSED", 10)
    assert heard_after(caller, back + 1) == {AGENT_HZ}


def test_blind_transfer_to_a_queue_by_name(site: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    with logged_in(site, AGENT, NEW_AGENT):
        caller, first, t0 = queue_call(site, fs_softphone)
        second = site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ)
        time.sleep(2)
        site.run("call", "transfer", AGENT, "--to", OTHER_QUEUE)
        moved = time.monotonic() - t0
        first.wait_event("CALL_CLOSED", 10)
        second.wait_event("CALL_ESTABLISHED", 20)
        time.sleep(6)
        call = the_call(site)
        assert call["agents"] == [NEW_AGENT] and call["queue"] == OTHER_QUEUE and call["state"] == "talking"
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    assert heard_after(caller, moved + 1.5) == {NEW_AGENT_HZ}, (moved, [(w.start, sorted(w.present)) for w in detect_tones(caller.recording_path, FREQS)])
    assert heard_after(second, 1) == {CALLER_HZ}


def test_attended_transfer_to_a_queue(site: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    with logged_in(site, AGENT, NEW_AGENT):
        caller, first, t0 = queue_call(site, fs_softphone)
        second = site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ)
        time.sleep(2)
        site.run("call", "transfer", AGENT, "--to", OTHER_QUEUE, "--attended")
        second.wait_event("CALL_ESTABLISHED", 20)
        time.sleep(3)
        assert heard_after(second, 1, min_windows=2) == {AGENT_HZ}
        first.hangup()  # completes the transfer
        moved = time.monotonic() - t0
        time.sleep(6)
        call = the_call(site)
        assert call["agents"] == [NEW_AGENT] and call["state"] == "talking", call
        caller.hangup()
        second.wait_event("CALL_CLOSED", 10)
    assert heard_after(caller, moved + 1.5) == {NEW_AGENT_HZ}
    tail = detect_tones(second.recording_path, FREQS)[-6:-1]
    assert tail and all(w.present == frozenset({CALLER_HZ}) for w in tail), [sorted(w.present) for w in tail]


def test_attended_transfer_nobody_answers_returns_the_caller_to_the_agent(
    site: LabSite, fs_softphone: Callable[..., Softphone]
) -> None:
    with logged_in(site, AGENT):
        caller, first, t0 = queue_call(site, fs_softphone)
        silent = site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ, auto_answer=False)
        time.sleep(2)
        site.run("call", "transfer", AGENT, "--to", NEW_AGENT, "--attended")
        silent.wait_event("CALL_INCOMING", 10)
        time.sleep(18)  # the consultation rings 15 s, then the agent is back with the caller
        back = time.monotonic() - t0
        time.sleep(5)
        call = the_call(site)
        assert call["agents"] == [AGENT] and call["state"] == "talking"
        assert not any(e.get("type") == "CALL_CLOSED" for e in caller.events)
        caller.hangup()
        first.wait_event("CALL_CLOSED", 10)
    assert heard_after(caller, back, min_windows=3) == {AGENT_HZ}


def test_transfer_bad_input(site: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    site.start_phone(fs_softphone, NEW_AGENT, NEW_AGENT_HZ)
    cases = [
        (("call", "transfer", "5799", "--to", NEW_AGENT), "No agent has extension 5799"),
        (("call", "transfer", AGENT, "--to", NEW_AGENT), f"Agent {AGENT} is not on a call"),
        (("call", "hangup", AGENT), f"Agent {AGENT} is not on a call"),
        (("record", "start", AGENT), f"Agent {AGENT} is not on a call"),
    ]
    for args, message in cases:
        res = site.cli(*args)
        assert_plain_error(res, 2)
        assert message in res.stderr, (args, res.stderr)
