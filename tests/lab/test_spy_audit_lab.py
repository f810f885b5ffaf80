"""Feature-code spies reach the audit log through `homepbx collect`, on the real lab.

A supervisor dials `*22<agent>` from their softphone during a call: only Asterisk knows, and the
running collector must write one audit entry for it (actor the supervisor's extension, target
the agent, `spy.whisper`), still one after a restart re-reads Asterisk's CEL file. A CLI spy in
the same session stays audited once, by the CLI alone. Extensions 47xx/49x7 and team spy-audit
belong to this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from homepbx import db
from homepbx.lab.softphone import Softphone
from homepbx.models import AuditEntry

from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ, SUPERVISOR_HZ
from .site import LabSite

TEAM = "spy-audit"
AGENT = "4701"
CALLER = "4702"
SUPERVISOR = "4907"


@pytest.fixture(scope="module")
def audit_site(site: LabSite) -> LabSite:
    site.ensure_team(TEAM)
    site.add_agent(AGENT, "Agent Spy Audit", "--team", TEAM)
    site.add_agent(CALLER, "Caller Spy Audit", "--team", TEAM)
    site.add_agent(SUPERVISOR, "Supervisor Spy Audit", "--role", "supervisor")
    site.run("supervisor", "scope", "add", SUPERVISOR, TEAM)
    site.apply()  # also creates cel-custom/, without which cel_custom writes no CSV
    return site


@pytest.fixture(scope="module")
def collector(audit_site: LabSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    proc = CollectorProcess(audit_site.config_path, tmp_path_factory.mktemp("spy-audit") / "collector.log")
    try:
        proc.start()
        yield proc
    finally:
        proc.reap()


def spy_entries(site: LabSite) -> list[AuditEntry]:
    with db.session_scope(site.settings.database.url) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.startswith("spy."), AuditEntry.target == AGENT)
                         .order_by(AuditEntry.id)).all()
        s.expunge_all()
        return list(rows)


def feature_code_entries(site: LabSite) -> list[AuditEntry]:
    return [e for e in spy_entries(site) if json.loads(e.details or "{}").get("source") == "feature code"]


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def call_agent(site: LabSite, softphone: Callable[..., Softphone]) -> tuple[Softphone, Softphone, Softphone]:
    caller = site.start_phone(softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    sup = site.start_phone(softphone, SUPERVISOR, SUPERVISOR_HZ)
    caller.dial(AGENT)
    caller.wait_event("CALL_ESTABLISHED", 15)
    agent.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(1.0)
    return caller, agent, sup


def hang_up(caller: Softphone, agent: Softphone, sup: Softphone) -> None:
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    agent.wait_event("CALL_CLOSED", 10)
    sup.wait_event("CALL_CLOSED", 10)  # ChanSpy's E: the spy ends with the agent's call


def test_feature_code_whisper_is_audited_once(audit_site: LabSite, collector: CollectorProcess,
                                              softphone: Callable[..., Softphone]) -> None:
    before = len(feature_code_entries(audit_site))
    caller, agent, sup = call_agent(audit_site, softphone)
    dialled = time.time()
    sup.dial(f"*22{AGENT}")
    sup.wait_event("CALL_ESTABLISHED", 10)
    # Live: written while the spy is still on, within the collector's flush interval.
    assert wait_for(lambda: len(feature_code_entries(audit_site)) == before + 1, 15), collector.tail()
    time.sleep(2.0)
    hang_up(caller, agent, sup)
    time.sleep(3.0)  # the rest of the supervisor's call reaches the collector and its file
    # A restart reads the CEL file again (backfill): still one entry.
    assert collector.terminate() == 0, collector.tail()
    collector.start()
    time.sleep(2.0)
    entries = feature_code_entries(audit_site)
    assert len(entries) == before + 1, [(e.actor, e.action, e.details) for e in entries]
    entry = entries[-1]
    details = json.loads(entry.details)
    assert (entry.actor, entry.action, entry.target) == (SUPERVISOR, "spy.whisper", AGENT)
    assert (details["supervisor"], details["agent"], details["mode"]) == (SUPERVISOR, AGENT, "whisper")
    assert details["supervisor_channel"].startswith(f"PJSIP/{SUPERVISOR}-")
    assert details["exten"] == f"*22{AGENT}"
    # The time is Asterisk's event time (naive UTC), between the dial and now.
    at = (entry.at - datetime(1970, 1, 1)).total_seconds()
    assert dialled - 1 <= at <= time.time() + 1


def test_cli_spy_is_audited_once_with_the_collector_running(audit_site: LabSite, collector: CollectorProcess,
                                                            softphone: Callable[..., Softphone]) -> None:
    before = spy_entries(audit_site)
    caller, agent, sup = call_agent(audit_site, softphone)
    audit_site.run("spy", "listen", AGENT, "--supervisor", SUPERVISOR, "--json")
    sup.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(3.0)
    hang_up(caller, agent, sup)
    time.sleep(3.0)
    assert collector.terminate() == 0, collector.tail()
    collector.start()  # and a backfill of the CLI's ChanSpy lines
    time.sleep(2.0)
    new = spy_entries(audit_site)[len(before):]
    assert [(e.action, e.target) for e in new] == [("spy.listen", AGENT)], [(e.actor, e.details) for e in new]
    assert "source" not in json.loads(new[0].details)
    assert json.loads(new[0].details)["supervisor"] == SUPERVISOR
