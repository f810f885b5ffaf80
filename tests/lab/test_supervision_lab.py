"""Supervision on the real lab: listen, whisper and barge heard through real softphones.

Each party sends its own tone (caller 440 Hz, agent 1000 Hz, supervisor 2000 Hz), so "who
heard whom" is "which tones are in each party's recording". Extensions 41xx/49xx and teams
sup-* belong to this module (the lab site is shared by the whole session).
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
from homepbx.lab.softphone import Softphone
from homepbx.models import AuditEntry

from ..unit.cli_helpers import assert_plain_error
from .conftest import AGENT_HZ, CALLER_HZ, SUPERVISOR_HZ, ToneHelper
from .site import LabSite

AGENT = "4101"
CALLER = "4102"  # an agent of another team calling AGENT directly: the "caller" party
FULL_SUP = "4901"  # all three modes, scope sup-a (AGENT's team)
OTHER_SUP = "4902"  # all three modes, scope sup-b only: AGENT is out of scope
LISTEN_SUP = "4903"  # listen only, scope sup-a

SPY_SECONDS = 6.0


@pytest.fixture(scope="module")
def sup_site(site: LabSite) -> LabSite:
    for team in ("sup-a", "sup-b"):
        site.ensure_team(team)
    site.add_agent(AGENT, "Agent Sup A", "--team", "sup-a")
    site.add_agent(CALLER, "Caller Sup B", "--team", "sup-b")
    site.add_agent(FULL_SUP, "Full Supervisor", "--role", "supervisor")
    site.add_agent(OTHER_SUP, "Other Supervisor", "--role", "supervisor")
    site.add_agent(LISTEN_SUP, "Listen Supervisor", "--role", "supervisor", "--modes", "listen")
    site.run("supervisor", "scope", "add", FULL_SUP, "sup-a")
    site.run("supervisor", "scope", "add", OTHER_SUP, "sup-b")
    site.run("supervisor", "scope", "add", LISTEN_SUP, "sup-a")
    site.apply()
    return site


@dataclass
class Parties:
    caller: Softphone
    agent: Softphone
    supervisor: Softphone


@pytest.fixture
def start_call(sup_site: LabSite, softphone: Callable[..., Softphone]) -> Callable[[str], Parties]:
    """Register caller, agent and the given supervisor, then connect caller and agent."""

    def start(supervisor: str) -> Parties:
        caller = sup_site.start_phone(softphone, CALLER, CALLER_HZ)
        agent = sup_site.start_phone(softphone, AGENT, AGENT_HZ)
        sup = sup_site.start_phone(softphone, supervisor, SUPERVISOR_HZ)
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
        # ChanSpy's E option: the spy ends with the agent's call.
        p.supervisor.wait_event("CALL_CLOSED", 10)


def audit_entries(site: LabSite, action_prefix: str = "spy.") -> list[AuditEntry]:
    with db.session_scope(site.settings.database.url) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(action_prefix))
                         .order_by(AuditEntry.id)).all()
        s.expunge_all()
        return list(rows)


def audit_count(site: LabSite) -> int:
    with db.session_scope(site.settings.database.url) as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@contextmanager
def spying(site: LabSite, p: Parties, mode: str, supervisor: str) -> Iterator[dict[str, object]]:
    before = len(audit_entries(site))
    res = site.run("spy", mode, AGENT, "--supervisor", supervisor, "--json")
    shown = json.loads(res.stdout)
    p.supervisor.wait_event("CALL_ESTABLISHED", 10)
    yield shown
    time.sleep(SPY_SECONDS)
    hang_up(p)
    entries = audit_entries(site)
    assert len(entries) == before + 1
    details = json.loads(entries[-1].details)
    assert entries[-1].action == f"spy.{mode}" and entries[-1].target == AGENT
    assert details["supervisor"] == supervisor and details["agent"] == AGENT and details["mode"] == mode
    assert entries[-1].at is not None


def test_listen_supervisor_hears_both_and_nobody_hears_them(start_call: Callable[[str], Parties],
                                                            sup_site: LabSite, tones: ToneHelper) -> None:
    p = start_call(FULL_SUP)
    with spying(sup_site, p, "listen", FULL_SUP) as shown:
        assert shown["agent_channel"].startswith(f"PJSIP/{AGENT}-")  # type: ignore[union-attr]
        assert shown["mode_switching"] is True
    assert tones.heard(p.supervisor) == {CALLER_HZ, AGENT_HZ}
    assert tones.heard(p.agent) == {CALLER_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ}


def test_whisper_agent_hears_supervisor_caller_does_not(start_call: Callable[[str], Parties],
                                                        sup_site: LabSite, tones: ToneHelper) -> None:
    p = start_call(FULL_SUP)
    with spying(sup_site, p, "whisper", FULL_SUP):
        pass
    assert tones.heard(p.supervisor) == {CALLER_HZ, AGENT_HZ}
    assert tones.heard(p.agent) == {CALLER_HZ, SUPERVISOR_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ}


def test_barge_both_parties_hear_the_supervisor(start_call: Callable[[str], Parties],
                                                sup_site: LabSite, tones: ToneHelper) -> None:
    p = start_call(FULL_SUP)
    with spying(sup_site, p, "barge", FULL_SUP):
        pass
    assert tones.heard(p.supervisor) == {CALLER_HZ, AGENT_HZ}
    assert tones.heard(p.agent) == {CALLER_HZ, SUPERVISOR_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ, SUPERVISOR_HZ}


def test_out_of_scope_supervisor_is_refused_by_the_cli(start_call: Callable[[str], Parties],
                                                       sup_site: LabSite) -> None:
    p = start_call(OTHER_SUP)
    before = audit_count(sup_site)
    res = sup_site.cli("spy", "whisper", AGENT, "--supervisor", OTHER_SUP)
    assert_plain_error(res, 2)
    assert "not in a team supervisor 4902 may supervise" in res.stderr
    assert audit_count(sup_site) == before
    time.sleep(2)
    assert not [e for e in p.supervisor.events if e.get("type") == "CALL_INCOMING"]  # never rang
    hang_up(p, supervisor_in_call=False)


def test_mode_not_permitted_is_refused(sup_site: LabSite) -> None:
    before = audit_count(sup_site)
    res = sup_site.cli("spy", "barge", AGENT, "--supervisor", LISTEN_SUP)
    assert_plain_error(res, 2)
    assert "not allowed to barge" in res.stderr
    assert audit_count(sup_site) == before


def test_agent_not_on_a_call_says_so(sup_site: LabSite) -> None:
    before = audit_count(sup_site)
    res = sup_site.cli("spy", "listen", AGENT, "--supervisor", FULL_SUP)
    assert_plain_error(res, 2)
    assert f"Agent {AGENT} is not on a call." in res.stderr
    assert audit_count(sup_site) == before


def _dial_code(p: Parties, code: str) -> None:
    p.supervisor.dial(code)
    p.supervisor.wait_event("CALL_ESTABLISHED", 10)


def test_whisper_feature_code_in_scope(start_call: Callable[[str], Parties], tones: ToneHelper) -> None:
    # The positive control of the next test: the same code from an in-scope supervisor works.
    p = start_call(FULL_SUP)
    _dial_code(p, f"*22{AGENT}")
    time.sleep(SPY_SECONDS)
    hang_up(p)
    assert tones.heard(p.agent) == {CALLER_HZ, SUPERVISOR_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ}


def test_whisper_feature_code_out_of_scope_spies_on_nothing(start_call: Callable[[str], Parties],
                                                            tones: ToneHelper) -> None:
    p = start_call(OTHER_SUP)
    p.supervisor.dial(f"*22{AGENT}")
    time.sleep(SPY_SECONDS)
    try:
        p.supervisor.hangup()
    except Exception:  # noqa: BLE001 - the PBX may have refused the call already
        pass
    hang_up(p, supervisor_in_call=False)
    assert tones.heard(p.agent) == {CALLER_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ}


def test_full_supervisor_switches_mode_in_call(start_call: Callable[[str], Parties], tones: ToneHelper) -> None:
    # Listen first, then DTMF 5 (ChanSpy's `d`): whisper. The agent hears the supervisor.
    p = start_call(FULL_SUP)
    _dial_code(p, f"*21{AGENT}")
    time.sleep(1.0)
    p.supervisor.send_dtmf("5")
    time.sleep(SPY_SECONDS)
    hang_up(p)
    assert SUPERVISOR_HZ in tones.heard(p.agent)
    assert SUPERVISOR_HZ not in tones.heard(p.caller)


def test_listen_only_supervisor_cannot_switch_to_barge(start_call: Callable[[str], Parties],
                                                       tones: ToneHelper) -> None:
    p = start_call(LISTEN_SUP)
    _dial_code(p, f"*21{AGENT}")
    time.sleep(1.0)
    p.supervisor.send_dtmf("6")  # barge with `d`; without it, just a digit
    time.sleep(SPY_SECONDS)
    hang_up(p)
    assert tones.heard(p.supervisor) == {CALLER_HZ, AGENT_HZ}
    assert tones.heard(p.agent) == {CALLER_HZ}
    assert tones.heard(p.caller) == {AGENT_HZ}
