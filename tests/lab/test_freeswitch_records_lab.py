"""`homepbx collect` on the real FreeSWITCH lab: queue calls through the collector process give
one record per call with agent, queue and talk time; a SIGKILL during calls loses and duplicates
nothing (the restart backfills from FreeSWITCH's JSON CDR files)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from homepbx import db
from homepbx.config import LabSettings, Settings
from homepbx.freeswitch.lab import FreeswitchLab, how_to_build
from homepbx.models import AgentEvent, CallRecord

from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ, FS_LAB_ROOT
from .site import LabSite

_BUILD = FreeswitchLab(Settings(lab=LabSettings(freeswitch_root=FS_LAB_ROOT)))
if not _BUILD.is_built():
    pytest.skip(how_to_build(_BUILD.root), allow_module_level=True)

TEAM = "rec-team"
QUEUE, QUEUE_EXT = "rec-q", "5700"
CALLER, AGENT = "5701", "5702"


@pytest.fixture(scope="module")
def site(fs_site: LabSite) -> LabSite:
    fs_site.ensure_team(TEAM)
    for ext, name in ((CALLER, "Rec Caller"), (AGENT, "Rec Agent")):
        if ext not in fs_site.passwords:
            fs_site.add_agent(ext, name, "--team", TEAM)
    queues = {q["name"] for q in json.loads(fs_site.run("queue", "list", "--json").stdout)}
    if QUEUE not in queues:
        fs_site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall")
        fs_site.run("queue", "member", "add", QUEUE, AGENT)
    fs_site.apply()
    return fs_site


@pytest.fixture
def collector(site: LabSite, tmp_path: Path) -> Iterator[CollectorProcess]:
    proc = CollectorProcess(site.config_path, tmp_path / "collector.log")
    try:
        yield proc
    finally:
        proc.reap()


def _calls(site: LabSite, since: float) -> list[tuple]:
    from homepbx.records.types import utc

    with db.engine_for(site.settings.database.url).connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(CallRecord.linkedid, CallRecord.queue, CallRecord.agent, CallRecord.disposition,
                   CallRecord.talk_s, CallRecord.complete)
            .where(CallRecord.queue == QUEUE, CallRecord.started_at >= utc(since)).order_by(CallRecord.started_at))]


def _queue_call(caller, agent, seconds: float) -> None:
    caller.dial(QUEUE_EXT)
    caller.wait_event("CALL_ESTABLISHED", 15)
    agent.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(seconds)
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    time.sleep(0.5)


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_queue_calls_through_collect_give_one_record_each(site: LabSite, fs_softphone, collector) -> None:
    since = time.time() - 1
    collector.start()
    caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    agent.dial("*41")
    agent.wait_event("CALL_CLOSED", 10)
    _queue_call(caller, agent, 3)
    _queue_call(caller, agent, 2)
    rows = _wait_for(lambda: len(_calls(site, since)) >= 2 and _calls(site, since))
    assert collector.terminate() == 0
    rows = _calls(site, since)
    assert len(rows) == 2, rows
    for _id, queue, who, disposition, talk, complete in rows:
        assert (queue, who, disposition, complete) == (QUEUE, AGENT, "answered", True)
        assert talk > 1.5
    with db.engine_for(site.settings.database.url).connect() as conn:
        logins = conn.execute(select(AgentEvent.event).where(AgentEvent.agent == AGENT,
                                                              AgentEvent.event == "login")).all()
    assert logins


def test_a_sigkill_during_calls_loses_and_duplicates_nothing(site: LabSite, fs_softphone, collector) -> None:
    since = time.time() - 1
    caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    agent.dial("*41")
    agent.wait_event("CALL_CLOSED", 10)
    collector.start()
    _queue_call(caller, agent, 2)           # stored live
    caller.dial(QUEUE_EXT)                  # in progress when the collector dies
    caller.wait_event("CALL_ESTABLISHED", 15)
    agent.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(1.5)
    collector.kill()
    time.sleep(1.5)
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    time.sleep(0.5)
    _queue_call(caller, agent, 2)           # while no collector runs
    collector.start()
    rows = _wait_for(lambda: len(_calls(site, since)) >= 3 and _calls(site, since), timeout=30)
    time.sleep(2)
    assert collector.terminate() == 0
    rows = _calls(site, since)
    assert len(rows) == 3 and len({r[0] for r in rows}) == 3, rows
    for _id, queue, who, disposition, talk, complete in rows:
        assert (queue, who, disposition, complete) == (QUEUE, AGENT, "answered", True)
        assert talk > 1.0
