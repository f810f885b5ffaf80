"""Call records on the real PBX: `homepbx collect` as a process, real calls, real crashes.

Calls are placed with baresip softphones through the rendered dialplan (outside caller ->
queue -> agents); every duration asserted is measured here on the wall clock while the call is
played, and compared with what the collector stored (within a second). The crash and AMI-cut
tests then check the no-loss/no-duplicate promise against Asterisk's own CEL CSV: every call
Asterisk wrote down is in the database exactly once.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from homepbx import db
from homepbx.asterisk.ami import AmiClient
from homepbx.lab.softphone import Softphone
from homepbx.models import AgentEvent, CallLeg, CallRecord, QueueEvent, Recording
from homepbx.asterisk.records.collector import CEL_FILE

from ..conftest import DatabaseCut
from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ
from .site import LabSite

TEAM = "rec-team"
AGENTS = {"4501": "Rec Anaïs", "4502": "Rec Bruno", "4503": "Rec Chloé", "4504": "Rec Dario"}
MAIN_Q, MAIN_EXT = "rec-main", "581"  # answered, abandoned, transferred
RECORDED_Q, RECORDED_EXT = "rec-recorded", "582"
BATCH_Q, BATCH_EXT = "rec-batch", "583"  # crash and AMI-cut tests
# The same calls again with no collector running, to compare what the backfill makes of them.
OFFLINE_Q, OFFLINE_EXT = "rec-offline", "584"
OFFLINE_RECORDED_Q, OFFLINE_RECORDED_EXT = "rec-offline-rec", "585"
# Wall clock vs stored figures: CEL stamps to the microsecond, but softphone events reach the
# test a few milliseconds late and queue_log/agent events keep whole seconds.
TOLERANCE = 1.0


# -- helpers ---------------------------------------------------------------------------------------
def _ami(site: LabSite, action: str, headers: dict[str, str] | None = None) -> Any:
    async def run() -> Any:
        async with AmiClient.from_settings(site.settings.ami, events=False) as ami:
            return await ami.action(action, headers or {})

    return asyncio.run(run())


def _live_channels(site: LabSite) -> list[dict[str, str]]:
    response = _ami(site, "CoreShowChannels")
    return [{k: ev.get(k) or "" for k in ("Channel", "Uniqueid", "Linkedid", "ChannelStateDesc")}
            for ev in response.events]


def _caller_linkedid(site: LabSite, known: frozenset[str] | set[str] = frozenset(), timeout: float = 10.0) -> str:
    """The linkedid of the outside caller's live channel (the call being played)."""
    deadline = time.monotonic() + timeout
    while True:
        for ch in _live_channels(site):
            if ch["Channel"].startswith("PJSIP/outside-") and ch["Linkedid"] not in known:
                return ch["Linkedid"]
        if time.monotonic() > deadline:
            raise AssertionError("the outside caller has no live channel")
        time.sleep(0.1)


def _agent_channel(site: LabSite, ext: str) -> str:
    for ch in _live_channels(site):
        if ch["Channel"].startswith(f"PJSIP/{ext}-") and ch["ChannelStateDesc"] == "Up":
            return ch["Channel"]
    raise AssertionError(f"agent {ext} is not on a call")


def _records(site: LabSite, linkedids: set[str] | list[str]) -> dict[str, Any]:
    with db.engine_for(site.settings.database.url).connect() as conn:
        rows = conn.execute(select(CallRecord).where(CallRecord.linkedid.in_(list(linkedids)))).all()
    return {r.linkedid: r for r in rows}


def _wait_records(site: LabSite, linkedids: set[str] | list[str], timeout: float = 60.0) -> dict[str, Any]:
    """Poll the database until every call is stored (the collector flushes about every second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _records(site, linkedids)
        if set(found) >= set(linkedids) or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def _count(site: LabSite, table: Any, *where: Any) -> int:
    with db.engine_for(site.settings.database.url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _cel_path(site: LabSite) -> Path:
    return site.settings.host_path(site.settings.asterisk.log_dir) / CEL_FILE


def _cel_size(site: LabSite) -> int:
    path = _cel_path(site)
    return path.stat().st_size if path.exists() else 0


def _cel_rows(site: LabSite, since: int) -> list[list[str]]:
    """CEL CSV lines Asterisk wrote after byte offset `since`."""
    with _cel_path(site).open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode("utf-8", errors="replace")
    return [row for row in csv.reader(text.splitlines()) if len(row) > 3]


def _cel_linkedids(site: LabSite, since: int) -> set[str]:
    """Calls Asterisk finished (LINKEDID_END) after `since`, according to its own CSV."""
    return {row[2] for row in _cel_rows(site, since) if row[1] == "LINKEDID_END"}


def _utc(moment: float) -> dt.datetime:
    """Epoch seconds to the database's naive UTC, truncated to the second as agent events are."""
    return dt.datetime.fromtimestamp(int(moment), dt.timezone.utc).replace(tzinfo=None)


def _epoch(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def _report(site: LabSite, name: str, since: float, until: float) -> list[dict[str, Any]]:
    """`homepbx report NAME --json` over [since, until] (UTC, whole seconds).

    A window, not the day: the lab's Asterisk files outlive a test session, and a fresh
    database backfills every call an earlier run left in them.
    """
    def iso(moment: float) -> str:
        return dt.datetime.fromtimestamp(moment, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")

    return json.loads(site.run("report", name, "--from", iso(int(since)), "--to", iso(int(until) + 1), "--json").stdout)


def _window(p: dict[str, Played]) -> tuple[float, float]:
    """From the first login to a little after the last logout of a `_play`."""
    s = p["login"].t
    return s["login"] - 1, s["logout"] + 3


def _close(phone: Softphone, timeout: float = 15.0) -> None:
    phone.wait_event("CALL_CLOSED", timeout)


@dataclass
class Played:
    """What the test did, measured on the wall clock (epoch seconds)."""

    linkedid: str = ""
    t: dict[str, float] = field(default_factory=dict)


class Phones:
    """Softphones owned by a module fixture (the `softphone` factory is per test)."""

    def __init__(self, site: LabSite) -> None:
        self.site = site
        self.started: list[Softphone] = []

    def start(self, ext: str, tone_hz: int, **options: Any) -> Softphone:
        phone = Softphone(self.site.pbx.chroot, self.site.phone(ext, tone_hz, **options))
        self.started.append(phone)
        phone.start()
        phone.wait_registered(15)
        return phone

    def stop(self) -> None:
        for phone in self.started:
            try:
                phone.stop()
            except Exception:  # noqa: BLE001 - teardown must reach every phone
                pass


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rec(request: pytest.FixtureRequest) -> Iterator[LabSite]:
    """Agents, three queues (wrap-up 0 so calls can follow each other), applied to Asterisk.

    The whole module runs once per database: the session's SQLite site, then a PostgreSQL one.
    """
    site: LabSite = request.getfixturevalue("site" if request.param == "sqlite" else "pg_site")
    site.ensure_team(TEAM)
    for ext, name in AGENTS.items():
        site.add_agent(ext, name, "--team", TEAM)
    common = ("--strategy", "ringall", "--wrapup", "0", "--ring-timeout", "20", "--max-wait", "120")
    site.run("queue", "add", MAIN_Q, "--extension", MAIN_EXT, *common)
    site.run("queue", "add", RECORDED_Q, "--extension", RECORDED_EXT, *common, "--record")
    site.run("queue", "add", BATCH_Q, "--extension", BATCH_EXT, *common)
    site.run("queue", "add", OFFLINE_Q, "--extension", OFFLINE_EXT, *common)
    site.run("queue", "add", OFFLINE_RECORDED_Q, "--extension", OFFLINE_RECORDED_EXT, *common, "--record")
    site.run("queue", "member", "add", MAIN_Q, "4501", "4502")
    site.run("queue", "member", "add", OFFLINE_Q, "4501", "4502")
    site.run("queue", "member", "add", RECORDED_Q, "4503")
    site.run("queue", "member", "add", OFFLINE_RECORDED_Q, "4503")
    site.run("queue", "member", "add", BATCH_Q, "4504")
    site.add_outside_caller()
    site.apply()
    # Queue members survive Asterisk restarts (persistentmembers): an earlier run that died
    # before logging its agents out would otherwise swallow this run's login events.
    for ext in AGENTS:
        site.cli("agent", "logout", ext)
    try:
        yield site
    finally:
        for ext in AGENTS:
            site.cli("agent", "logout", ext)  # not logged in is fine too


@pytest.fixture(scope="module")
def cel_dir(rec: LabSite) -> Path:
    """Asterisk's cel-custom directory, which `homepbx apply` creates (Debian's package does not).

    Without it cel_custom writes no CSV at all and every crash loses calls.
    """
    rec.apply()
    path = rec.settings.host_path(rec.settings.asterisk.log_dir) / "cel-custom"
    assert path.is_dir(), f"{path} does not exist after `homepbx apply`"
    return path


def _collector(site: LabSite, tmp: Path, name: str) -> CollectorProcess:
    return CollectorProcess(site.config_path, tmp / f"{name}.log")


def _play(site: LabSite, phones: Phones, main: tuple[str, str], recorded: tuple[str, str]) -> dict[str, Played]:
    """The four calls of issue 5 and the agents' state changes around them, timed on the wall clock.

    `main` (agents 4501 and 4502) and `recorded` (agent 4503) are (queue, extension).
    """
    (main_q, main_ext), (recorded_q, recorded_ext) = main, recorded
    out: dict[str, Played] = {"login": Played(), "answered": Played(), "abandoned": Played(),
                              "transferred": Played(), "recorded": Played()}
    a1 = phones.start("4501", AGENT_HZ, auto_answer=False)
    a2 = phones.start("4502", AGENT_HZ)
    a3 = phones.start("4503", AGENT_HZ)
    caller = phones.start("outside", CALLER_HZ)
    states = out["login"].t
    states["login"] = time.time()
    site.run("agent", "login", "4501", "--queue", main_q)
    site.run("agent", "login", "4502", "--queue", main_q)
    states["pause_lunch"] = time.time()
    site.run("agent", "pause", "4502", "--reason", "lunch")

    # 1. Answered: the agent answers by hand after ~3 s of ringing; ~6 s of talk; caller hangs up.
    t = out["answered"].t
    t["dial"] = time.time()
    caller.dial(main_ext)
    caller.wait_event("CALL_ESTABLISHED", 20)  # the queue answers, then plays hold
    t["queued"] = time.time()
    a1.wait_event("CALL_INCOMING", 20)
    t["ringing"] = time.time()
    out["answered"].linkedid = _caller_linkedid(site)
    time.sleep(3)
    a1.answer()
    a1.wait_event("CALL_ESTABLISHED", 10)
    t["answered"] = time.time()
    time.sleep(6)
    t["hangup"] = time.time()
    caller.hangup()
    _close(a1)
    _close(caller)

    # 2. Abandoned: every agent of the queue paused; the caller gives up after ~4 s.
    states["pause_break"] = time.time()
    site.run("agent", "pause", "4501", "--reason", "break")
    t = out["abandoned"].t
    t["dial"] = time.time()
    caller.dial(main_ext)
    caller.wait_event("CALL_ESTABLISHED", 20)
    t["queued"] = time.time()
    out["abandoned"].linkedid = _caller_linkedid(site, {out["answered"].linkedid})
    time.sleep(4)
    t["hangup"] = time.time()
    caller.hangup()
    _close(caller)
    states["unpause_break"] = time.time()
    site.run("agent", "unpause", "4501")

    # 3. Blind transfer 4501 -> 4502 (AMI BlindTransfer on the agent's channel).
    t = out["transferred"].t
    t["dial"] = time.time()
    caller.dial(main_ext)
    caller.wait_event("CALL_ESTABLISHED", 20)
    t["queued"] = time.time()
    a1.wait_event("CALL_INCOMING", 20)
    out["transferred"].linkedid = _caller_linkedid(site, {out["answered"].linkedid, out["abandoned"].linkedid})
    a1.answer()
    a1.wait_event("CALL_ESTABLISHED", 10)
    t["answered"] = time.time()
    time.sleep(3)
    t["transfer"] = time.time()
    _ami(site, "BlindTransfer", {"Channel": _agent_channel(site, "4501"), "Exten": "4502",
                                 "Context": "homepbx-agents"}).raise_for_error()
    a2.wait_event("CALL_ESTABLISHED", 15)
    t["answered2"] = time.time()
    _close(a1)
    time.sleep(4)
    t["hangup"] = time.time()
    caller.hangup()
    _close(a2)
    _close(caller)
    states["unpause_lunch"] = time.time()
    site.run("agent", "unpause", "4502")

    # 4. Recorded queue: the agent (auto-answer) hangs up after ~4 s of talk.
    site.run("agent", "login", "4503", "--queue", recorded_q)
    t = out["recorded"].t
    t["dial"] = time.time()
    caller.dial(recorded_ext)
    caller.wait_event("CALL_ESTABLISHED", 20)
    t["queued"] = time.time()
    a3.wait_event("CALL_ESTABLISHED", 20)
    t["answered"] = time.time()
    out["recorded"].linkedid = _caller_linkedid(site, {p.linkedid for p in out.values()})
    time.sleep(4)
    t["hangup"] = time.time()
    a3.hangup()
    _close(caller)
    _close(a3)
    states["logout"] = time.time()
    for ext in ("4501", "4502", "4503"):
        site.run("agent", "logout", ext)

    return out


@pytest.fixture(scope="module")
def played(rec: LabSite, cel_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Played]]:
    """The four calls of issue 5, played once with the collector running; SIGTERM at the end."""
    site = rec
    collector = _collector(site, tmp_path_factory.mktemp("collector"), "played")
    phones = Phones(site)
    try:
        collector.start()
        out = _play(site, phones, (MAIN_Q, MAIN_EXT), (RECORDED_Q, RECORDED_EXT))
        calls = [p.linkedid for k, p in out.items() if k != "login"]
        _wait_records(site, calls)
        time.sleep(2)  # the logout events: flushed within a second or two
        code = collector.terminate()
        assert code == 0, f"SIGTERM: exit {code}: {collector.tail()}"
        assert any(e.get("msg") == "stopped" for e in collector.logs())
        yield out
    finally:
        phones.stop()
        collector.reap()


# -- 0. the install -----------------------------------------------------------------------------------
def test_applied_site_lets_asterisk_write_its_cel_csv(rec: LabSite) -> None:
    """`homepbx apply` configures cel_custom to write <log_dir>/cel-custom/homepbx-cel.csv, the
    collector's only durable source of channel events; Debian's asterisk package does not create
    that directory and cel_custom does not either (it logs 'Unable to write CEL to file ... No such
    file or directory' for every event). Whoever configures the file must make its directory.
    The lab's chroot is cached between runs and later tests here make the directory, so it is
    removed first (with the lab's old CEL lines: only this lab's history).
    """
    import shutil

    path = rec.settings.host_path(rec.settings.asterisk.log_dir) / "cel-custom"
    shutil.rmtree(path, ignore_errors=True)
    rec.apply()
    assert path.is_dir(), f"{path} does not exist after `homepbx apply`: Asterisk writes no CEL CSV"


# -- 1. real calls -----------------------------------------------------------------------------------
def _near(value: float, expected: float, what: str) -> None:
    assert abs(value - expected) <= TOLERANCE, f"{what}: stored {value:.3f} s, measured {expected:.3f} s"


def test_each_call_is_one_record(rec: LabSite, played: dict[str, Played]) -> None:
    ids = [p.linkedid for k, p in played.items() if k != "login"]
    assert len(set(ids)) == 4 and all(ids)
    rows = _records(rec, ids)
    assert set(rows) == set(ids)
    for linkedid in ids:
        assert _count(rec, CallRecord.__table__, CallRecord.linkedid == linkedid) == 1


def test_answered_call(rec: LabSite, played: dict[str, Played]) -> None:
    p = played["answered"]
    r = _records(rec, [p.linkedid])[p.linkedid]
    t = p.t
    assert (r.disposition, r.agent, r.last_agent, r.hangup_side, r.queue) == ("answered", "4501", "4501", "caller", MAIN_Q)
    assert (r.transfers, r.recording, r.complete, r.caller) == (0, "", True, "outside")
    _near(_epoch(r.started_at), t["dial"], "start")
    _near(r.wait_s, t["answered"] - t["queued"], "wait")
    _near(r.ring_s, t["answered"] - t["ringing"], "ring")
    _near(r.talk_s, t["hangup"] - t["answered"], "talk")
    _near(_epoch(r.ended_at), t["hangup"], "end")
    legs = _legs(rec, p.linkedid)
    assert sorted((leg.role, leg.agent) for leg in legs) == [("agent", "4501"), ("caller", "")]


def _legs(site: LabSite, linkedid: str) -> list[Any]:
    with db.engine_for(site.settings.database.url).connect() as conn:
        return list(conn.execute(select(CallLeg).where(CallLeg.linkedid == linkedid)).all())


def _queue_events(site: LabSite, linkedid: str) -> list[tuple[str, str]]:
    with db.engine_for(site.settings.database.url).connect() as conn:
        rows = conn.execute(select(QueueEvent.event, QueueEvent.agent).where(QueueEvent.linkedid == linkedid)
                            .order_by(QueueEvent.at, QueueEvent.id)).all()
    return [(e, a) for e, a in rows]


def test_abandoned_call(rec: LabSite, played: dict[str, Played]) -> None:
    p = played["abandoned"]
    r = _records(rec, [p.linkedid])[p.linkedid]
    assert (r.disposition, r.agent, r.hangup_side, r.queue, r.answered_at) == ("abandoned", "", "caller", MAIN_Q, None)
    assert r.talk_s == 0
    _near(r.wait_s, p.t["hangup"] - p.t["queued"], "wait")
    events = [e for e, _ in _queue_events(rec, p.linkedid)]
    assert events == ["ENTERQUEUE", "ABANDON"]


def test_blind_transferred_call(rec: LabSite, played: dict[str, Played]) -> None:
    p = played["transferred"]
    r = _records(rec, [p.linkedid])[p.linkedid]
    t = p.t
    assert (r.disposition, r.agent, r.last_agent, r.transfers, r.hangup_side) == ("answered", "4501", "4502", 1, "caller")
    _near(r.talk_s, (t["transfer"] - t["answered"]) + (t["hangup"] - t["answered2"]), "talk")
    legs = _legs(rec, p.linkedid)
    assert sorted((leg.role, leg.agent) for leg in legs) == [("agent", "4501"), ("agent", "4502"), ("caller", "")]
    by_agent = {leg.agent: leg for leg in legs if leg.role == "agent"}
    _near(by_agent["4501"].talk_s, t["transfer"] - t["answered"], "talk with 4501")
    _near(by_agent["4502"].talk_s, t["hangup"] - t["answered2"], "talk with 4502")


def test_recorded_call(rec: LabSite, played: dict[str, Played]) -> None:
    p = played["recorded"]
    r = _records(rec, [p.linkedid])[p.linkedid]
    # The dialplan records to <recordings_dir>/${UNIQUEID}.wav on the caller's channel, whose
    # uniqueid is the call's linkedid.
    expected = f"{rec.settings.asterisk.recordings_dir}/{p.linkedid}.wav"
    assert (r.disposition, r.agent, r.hangup_side, r.queue, r.recording) == ("answered", "4503", "agent", RECORDED_Q, expected)
    _near(r.talk_s, p.t["hangup"] - p.t["answered"], "talk")
    wav = rec.settings.host_path(expected)
    assert wav.is_file() and wav.stat().st_size > 8000 * 2  # > 1 s of 8 kHz 16-bit audio
    with db.engine_for(rec.settings.database.url).connect() as conn:
        stored = conn.execute(select(Recording.path, Recording.agent).where(Recording.linkedid == p.linkedid)).all()
    assert [tuple(s) for s in stored] == [(expected, "4503")]


def test_agent_events(rec: LabSite, played: dict[str, Played]) -> None:
    lo, hi = _window(played)
    with db.engine_for(rec.settings.database.url).connect() as conn:
        rows = conn.execute(select(AgentEvent.agent, AgentEvent.queue, AgentEvent.event, AgentEvent.reason, AgentEvent.at)
                            .where(AgentEvent.agent.in_(["4501", "4502", "4503"]), AgentEvent.event != "wrapup",
                                   AgentEvent.at >= _utc(lo), AgentEvent.at <= _utc(hi))
                            .order_by(AgentEvent.at, AgentEvent.id)).all()
    per_queue = [(a, q, e, why) for a, q, e, why, _ in rows if q]
    # One row per change and queue, whichever of AMI and queue_log told the collector first.
    assert sorted(per_queue) == sorted([
        ("4501", MAIN_Q, "login", ""), ("4502", MAIN_Q, "login", ""),
        ("4502", MAIN_Q, "pause", "lunch"), ("4501", MAIN_Q, "pause", "break"),
        ("4501", MAIN_Q, "unpause", ""), ("4502", MAIN_Q, "unpause", ""),
        ("4503", RECORDED_Q, "login", ""),
        ("4501", MAIN_Q, "logout", ""), ("4502", MAIN_Q, "logout", ""), ("4503", RECORDED_Q, "logout", ""),
    ])
    s = played["login"].t
    at = {(a, q, e, why): _epoch(when) for a, q, e, why, when in rows if q}
    _near(at[("4502", MAIN_Q, "pause", "lunch")], s["pause_lunch"], "pause time")
    _near(at[("4502", MAIN_Q, "unpause", "")], s["unpause_lunch"], "unpause time")


def test_reports(rec: LabSite, played: dict[str, Played]) -> None:
    window = _window(played)
    calls = {row["linkedid"]: row for row in _report(rec, "calls", *window)}
    for name, p in played.items():
        if name == "login":
            continue
        row = calls[p.linkedid]
        r = _records(rec, [p.linkedid])[p.linkedid]
        assert (row["disposition"], row["agent"], row["hangup_side"], row["recording"]) == (
            r.disposition, r.agent, r.hangup_side, r.recording), name
    assert sum(1 for row in calls.values() if row["queue"] in (MAIN_Q, RECORDED_Q)) == 4

    queues = {row["queue"]: row for row in _report(rec, "queues", *window)}
    main = queues[MAIN_Q]
    assert (main["offered"], main["answered"], main["abandoned"], main["timeout"]) == (3, 2, 1, 0)
    recorded = queues[RECORDED_Q]
    assert (recorded["offered"], recorded["answered"], recorded["abandoned"]) == (1, 1, 0)

    agents = {row["agent"]: row for row in _report(rec, "agents", *window)}
    assert (agents["4501"]["answered"], agents["4502"]["answered"], agents["4503"]["answered"]) == (2, 1, 1)
    a, t = played["answered"].t, played["transferred"].t
    _near(agents["4501"]["talk_s"], (a["hangup"] - a["answered"]) + (t["transfer"] - t["answered"]), "4501 talk")
    s = played["login"].t
    lunch = agents["4502"]["pause_by_reason"]
    assert set(lunch) == {"lunch"}
    _near(lunch["lunch"], s["unpause_lunch"] - s["pause_lunch"], "4502 lunch pause")
    assert set(agents["4501"]["pause_by_reason"]) == {"break"}
    _near(agents["4501"]["pause_by_reason"]["break"], s["unpause_break"] - s["pause_break"], "4501 break pause")


# -- 1b. the same calls, collected only afterwards from Asterisk's files ------------------------------
@pytest.fixture(scope="module")
def offline(rec: LabSite, cel_dir: Path, played: dict[str, Played],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Played]]:
    """The calls of `played` again while no collector runs; then one starts and backfills them.

    Requests `played` so that runs first (its reports count the main queues exactly).
    """
    phones = Phones(rec)
    collector = _collector(rec, tmp_path_factory.mktemp("collector"), "offline")
    try:
        out = _play(rec, phones, (OFFLINE_Q, OFFLINE_EXT), (OFFLINE_RECORDED_Q, OFFLINE_RECORDED_EXT))
        collector.start()
        _wait_records(rec, [p.linkedid for k, p in out.items() if k != "login"])
        assert collector.terminate() == 0
        yield out
    finally:
        phones.stop()
        collector.reap()


def _shape(site: LabSite, linkedid: str, queues: dict[str, str]) -> dict[str, Any]:
    """What must not depend on the source: everything but times, with the queue names unified."""
    r = _records(site, [linkedid])[linkedid]
    rename = lambda name: queues.get(name, name)  # noqa: E731
    recording = r.recording.replace(linkedid, "<linkedid>")
    return {
        "call": (r.disposition, r.agent, r.last_agent, r.hangup_side, rename(r.queue), r.transfers, recording,
                 r.complete, r.caller, r.called and "queue"),
        "legs": sorted((leg.role, leg.agent, leg.hangup_cause) for leg in _legs(site, linkedid)),
        "queue_events": _queue_events(site, linkedid),
    }


@pytest.mark.parametrize("call", ["answered", "abandoned", "transferred", "recorded"])
def test_backfill_makes_the_same_record_as_live_collection(
    rec: LabSite, played: dict[str, Played], offline: dict[str, Played], call: str
) -> None:
    live = _shape(rec, played[call].linkedid, {})
    late = _shape(rec, offline[call].linkedid, {OFFLINE_Q: MAIN_Q, OFFLINE_RECORDED_Q: RECORDED_Q})
    assert late == live
    # and the durations still match the wall clock
    r = _records(rec, [offline[call].linkedid])[offline[call].linkedid]
    t = offline[call].t
    if "answered" in t:
        talk = t["hangup"] - t["answered"]
        if call == "transferred":
            talk = (t["transfer"] - t["answered"]) + (t["hangup"] - t["answered2"])
        _near(r.talk_s, talk, "talk")
    else:
        _near(r.wait_s, t["hangup"] - t["queued"], "wait")


def test_backfill_makes_the_same_agent_events_as_live_collection(
    rec: LabSite, played: dict[str, Played], offline: dict[str, Played]
) -> None:
    def events(queues: tuple[str, ...], since: float, until: float) -> list[tuple[str, str, str, str]]:
        with db.engine_for(rec.settings.database.url).connect() as conn:
            rows = conn.execute(select(AgentEvent.agent, AgentEvent.queue, AgentEvent.event, AgentEvent.reason)
                                .where(AgentEvent.agent.in_(["4501", "4502", "4503"]),
                                       AgentEvent.at >= _utc(since), AgentEvent.at <= _utc(until))
                                .order_by(AgentEvent.at, AgentEvent.id)).all()
        names = {OFFLINE_Q: MAIN_Q, OFFLINE_RECORDED_Q: RECORDED_Q}
        # Rows without a queue (queue_log's PAUSEALL/UNPAUSEALL) come only from the files, so a
        # live collector stores them or not depending on when it last read them: left out here.
        return sorted((a, names.get(q, q), e, why) for a, q, e, why in rows if q in queues)

    live = events((MAIN_Q, RECORDED_Q), *_window(played))
    late = events((OFFLINE_Q, OFFLINE_RECORDED_Q), *_window(offline))
    assert late == live


# -- 2. SIGKILL in the middle of a batch ------------------------------------------------------------
def _short_call(site: LabSite, caller: Softphone, agent: Softphone, talk: float = 1.5) -> dict[str, float]:
    t = {"dial": time.time()}
    caller.dial(BATCH_EXT)
    caller.wait_event("CALL_ESTABLISHED", 20)
    agent.wait_event("CALL_ESTABLISHED", 20)
    t["answered"] = time.time()
    time.sleep(talk)
    t["hangup"] = time.time()
    caller.hangup()
    _close(caller)
    _close(agent)
    return t


@pytest.fixture
def batch(rec: LabSite, cel_dir: Path, softphone: Any) -> Iterator[tuple[Softphone, Softphone]]:
    """The batch agent logged in to its queue, and the outside caller."""
    agent = rec.start_phone(softphone, "4504", AGENT_HZ)
    caller = rec.start_phone(softphone, "outside", CALLER_HZ)
    rec.run("agent", "login", "4504", "--queue", BATCH_Q)
    try:
        yield caller, agent
    finally:
        rec.cli("agent", "logout", "4504")


def _check_batch(site: LabSite, since: int, measured: list[dict[str, float]]) -> None:
    """Every call Asterisk finished since `since` is stored once, whole, with its talk time."""
    finished = _cel_linkedids(site, since)
    assert len(finished) == len(measured), f"Asterisk's CSV shows {len(finished)} calls, {len(measured)} played"
    rows = _wait_records(site, finished)
    assert set(rows) == finished, f"missing: {sorted(finished - set(rows))}"
    for linkedid in finished:
        assert _count(site, CallRecord.__table__, CallRecord.linkedid == linkedid) == 1
        assert len(_legs(site, linkedid)) == 2, linkedid
        assert sorted(_queue_events(site, linkedid)) == sorted(
            [("ENTERQUEUE", ""), ("CONNECT", "4504"), ("COMPLETECALLER", "4504")]), linkedid
    by_start = sorted(rows.values(), key=lambda r: r.started_at)
    for r, t in zip(by_start, measured, strict=True):
        assert (r.disposition, r.agent, r.hangup_side, r.complete) == ("answered", "4504", "caller", True), r.linkedid
        _near(r.talk_s, t["hangup"] - t["answered"], f"talk of {r.linkedid}")
        _near(_epoch(r.started_at), t["dial"], f"start of {r.linkedid}")


def test_sigkill_mid_batch_loses_and_duplicates_nothing(
    rec: LabSite, batch: tuple[Softphone, Softphone], tmp_path: Path
) -> None:
    caller, agent = batch
    since = _cel_size(rec)
    collector = _collector(rec, tmp_path, "kill")
    measured: list[dict[str, float]] = []
    try:
        collector.start()
        for _ in range(3):
            measured.append(_short_call(rec, caller, agent))
        # The third call ended a few ms ago: it is at best in the collector's unflushed batch.
        assert collector.kill() == -9
        measured.append(_short_call(rec, caller, agent))  # while nobody listens
        # Start again in the middle of the fifth call: its start comes from the files, its end live.
        t = {"dial": time.time()}
        caller.dial(BATCH_EXT)
        caller.wait_event("CALL_ESTABLISHED", 20)
        agent.wait_event("CALL_ESTABLISHED", 20)
        t["answered"] = time.time()
        collector.start()
        time.sleep(1.0)
        t["hangup"] = time.time()
        caller.hangup()
        _close(caller)
        _close(agent)
        measured.append(t)
        measured.append(_short_call(rec, caller, agent))
        _check_batch(rec, since, measured)
        # And once more from scratch: a restart re-reads the files and adds nothing.
        before = _count(rec, CallRecord.__table__)
        collector.terminate()
        collector.start()
        time.sleep(2)
        assert _count(rec, CallRecord.__table__) == before
        assert collector.terminate() == 0
    finally:
        collector.reap()


# -- 3. AMI cut while a call is in progress -----------------------------------------------------------
def _kick_ami_sessions(site: LabSite) -> int:
    """`manager kick session` every connected AMI session (only the collector's is open now)."""
    out = site.pbx.rx("manager show connected")
    fds = [m.group(1) for m in re.finditer(r"^\s*\S+\s+\S+\s+\d+\s+\d+\s+(\d+)\s", out, re.M)]
    for fd in fds:
        site.pbx.rx(f"manager kick session {fd}")
    return len(fds)


def test_ami_cut_mid_call_is_backfilled_once(
    rec: LabSite, batch: tuple[Softphone, Softphone], tmp_path: Path
) -> None:
    caller, agent = batch
    since = _cel_size(rec)
    collector = _collector(rec, tmp_path, "cut")
    try:
        collector.start()
        t = {"dial": time.time()}
        caller.dial(BATCH_EXT)
        caller.wait_event("CALL_ESTABLISHED", 20)
        agent.wait_event("CALL_ESTABLISHED", 20)
        t["answered"] = time.time()
        time.sleep(2)
        lines = len(collector.logs())
        assert _kick_ami_sessions(rec) >= 1, rec.pbx.rx("manager show connected")
        # The call ends while the collector is cut off: its end is only in Asterisk's files.
        t["hangup"] = time.time()
        caller.hangup()
        _close(caller)
        _close(agent)
        collector.wait_log("ami reconnected; reading Asterisk's files for what was missed", 30, after=lines)
        measured = [t]
        # And a call after the reconnect is collected live as before.
        measured.append(_short_call(rec, caller, agent))
        _check_batch(rec, since, measured)
        assert collector.terminate() == 0
    finally:
        collector.reap()


# -- 3a. the database away while calls end -----------------------------------------------------------
def test_database_outage_mid_batch_loses_nothing(
    rec: LabSite, batch: tuple[Softphone, Softphone], tmp_path: Path
) -> None:
    """PostgreSQL refusing and cutting connections (a restart, a failover), or SQLite locked by
    another process past the collector's 5 s: the calls that end meanwhile are held and stored
    once it is back, and the collector itself carries on."""
    caller, agent = batch
    since = _cel_size(rec)
    collector = _collector(rec, tmp_path, "dbcut")
    cut = DatabaseCut(rec.settings.database.url)
    measured: list[dict[str, float]] = []
    try:
        collector.start()
        measured.append(_short_call(rec, caller, agent))
        _wait_records(rec, _cel_linkedids(rec, since))
        lines = len(collector.logs())
        cut.cut()
        try:
            measured.append(_short_call(rec, caller, agent))
            measured.append(_short_call(rec, caller, agent))
            collector.wait_log("database unavailable; holding calls in memory", 30, after=lines)
        finally:
            cut.restore()
        collector.wait_log("database available again", 60, after=lines)
        _check_batch(rec, since, measured)
        assert collector.terminate() == 0
    finally:
        collector.reap()


# -- 3b. time zones ---------------------------------------------------------------------------------
def test_live_times_do_not_depend_on_the_collectors_time_zone(
    rec: LabSite, batch: tuple[Softphone, Softphone], tmp_path: Path
) -> None:
    """AMI `CEL` events stamp EventTime in Asterisk's local time, to the second (seen on 22.10:
    `EventTime: 2026-11-27 21:33:02` next to `Timestamp: 1795815182.926728`). Read in the
    collector's own zone, a call is stored hours off whenever the two zones differ (Asterisk in
    a chroot or container, a TZ= in either's service unit) and, where they agree, for the
    repeated hour each autumn. The `Timestamp` header is epoch time and zone-free.
    """
    caller, agent = batch
    collector = _collector(rec, tmp_path, "tz")
    try:
        collector.start(env={"TZ": "Asia/Kolkata"})  # Asterisk in the lab runs on UTC
        since = _cel_size(rec)
        t = _short_call(rec, caller, agent)
        (linkedid,) = _cel_linkedids(rec, since)
        r = _wait_records(rec, [linkedid])[linkedid]
        _near(_epoch(r.started_at), t["dial"], "start")
        _near(_epoch(r.ended_at), t["hangup"], "end")
        assert collector.terminate() == 0
    finally:
        collector.reap()


# -- 4. what happens while the collector starts ---------------------------------------------------------
class InProcessCollector:
    """A `Collector` running its asyncio loop in a thread, so a test can watch its steps."""

    def __init__(self, settings: Any) -> None:
        import threading

        from homepbx.asterisk.records.collector import Collector

        self.collector = Collector(settings)
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="collector", daemon=True)

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self.collector.run())
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def start(self) -> InProcessCollector:
        self.thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.collector.stop.set)
            self.thread.join(timeout)
        assert not self.thread.is_alive(), "the collector did not stop"
        if self.error is not None:
            raise self.error


class WriteLock:
    """Another writer holding the database for a moment: SQLite's write lock, or on PostgreSQL
    a lock on call_records that lets reads through and makes inserts wait."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    def take(self) -> None:
        if self.url.startswith("sqlite:///"):
            import sqlite3

            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=10, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self.conn.execute("LOCK TABLE call_records IN EXCLUSIVE MODE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.rollback() if not self.url.startswith("sqlite:///") else self.conn.execute("ROLLBACK")

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            self.release()
        except Exception:  # noqa: BLE001 - already released
            pass
        self.conn.close()
        self.conn = None


def test_events_during_the_start_up_backfill_are_not_lost(
    rec: LabSite, cel_dir: Path, softphone: Any
) -> None:
    """The collector reads Asterisk's files, then stores what it read, then connects to AMI.

    What Asterisk does between the end of that read and the AMI login is in neither source
    for this run: here the database is busy for a moment (another writer holds it, as
    `homepbx purge` might), and meanwhile the agent answers.
    """
    import threading

    agent = rec.start_phone(softphone, "4504", AGENT_HZ, auto_answer=False)
    caller = rec.start_phone(softphone, "outside", CALLER_HZ)
    rec.run("agent", "login", "4504", "--queue", BATCH_Q)
    lock = WriteLock(rec.settings.database.url)
    running: InProcessCollector | None = None
    try:
        caller.dial(BATCH_EXT)
        caller.wait_event("CALL_ESTABLISHED", 20)
        agent.wait_event("CALL_INCOMING", 20)
        linkedid = _caller_linkedid(rec)
        lock.take()
        running = InProcessCollector(rec.settings)
        read_done = threading.Event()
        original = running.collector.backfill.read

        def read_and_tell(conn: Any) -> Any:
            stats = original(conn)
            read_done.set()
            return stats

        running.collector.backfill.read = read_and_tell  # type: ignore[method-assign]
        running.start()
        assert read_done.wait(30), "the collector never read Asterisk's files"
        agent.answer()
        agent.wait_event("CALL_ESTABLISHED", 10)
        answered = time.time()
        lock.release()
        time.sleep(2)
        hangup = time.time()
        caller.hangup()
        _close(caller)
        _close(agent)
        rows = _wait_records(rec, [linkedid], timeout=30)
        assert linkedid in rows
        r = rows[linkedid]
        assert (r.disposition, r.agent, r.hangup_side) == ("answered", "4504", "caller")
        _near(r.talk_s, hangup - answered, "talk")
    finally:
        lock.close()
        rec.cli("agent", "logout", "4504")
        if running is not None:
            running.stop()
