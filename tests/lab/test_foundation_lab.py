"""The foundation on the real PBX: the rendered configuration loads cleanly, agents provisioned
with the CLI register with the credentials it printed (UDP and TLS), call each other through the
rendered dialplan, reach callers through a queue; disabled agents and wrong passwords are refused.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import pytest

from homepbx.asterisk.ami import AmiClient
from homepbx.errors import OperationalError
from homepbx.lab.softphone import Softphone

from .conftest import AGENT_HZ, CALLER_HZ, ToneHelper
from .site import LabSite

AGENTS = {"3101": "Clémence Dupré", "3102": "Seán O'Brien", "3103": "Zoë Martin"}
SUPERVISOR = "3901"
QUEUE_EXT = "531"


@pytest.fixture(scope="module")
def foundation(site: LabSite) -> LabSite:
    """3 agents and a supervisor in a team, a queue: provisioned with the CLI, then applied."""
    site.ensure_team("found")
    for ext, name in AGENTS.items():
        # 3101 is a legacy desk phone opted into clear UDP; the others take the default, TLS + SRTP.
        site.add_agent(ext, name, "--team", "found", *(["--transport", "udp"] if ext == "3101" else []))
    site.add_agent(SUPERVISOR, "Sam Superviseur", "--role", "supervisor")
    site.run("supervisor", "scope", "add", SUPERVISOR, "found")
    site.run("queue", "add", "found-q", "--extension", QUEUE_EXT, "--strategy", "ringall")
    site.run("queue", "member", "add", "found-q", *AGENTS)
    site.add_outside_caller()
    site.apply()
    return site


def _boot_log(site: LabSite) -> str:
    """Asterisk's message log from a fresh restart until fully booted (plus a second)."""
    log = site.pbx.chroot.host("/var/log/asterisk/messages")
    start = log.stat().st_size if log.exists() else 0
    site.pbx.restart()
    time.sleep(1.0)
    return log.read_text(encoding="utf-8", errors="replace")[start:]


def test_rendered_config_loads_with_no_error_or_warning(foundation: LabSite) -> None:
    boot = _boot_log(foundation)
    assert "Asterisk 22" in boot  # we really read this boot's log
    problems = [line for line in boot.splitlines() if re.search(r"\b(WARNING|ERROR)\[", line)]
    assert problems == []
    endpoints = foundation.pbx.rx("pjsip show endpoints")
    for ext in (*AGENTS, SUPERVISOR):
        assert re.search(rf"Endpoint:\s+{ext}/", endpoints), ext
    # The digest credential is what Asterisk holds, not a clear password.
    auth = foundation.pbx.rx("pjsip show auth 3101")
    assert "md5_cred" in auth or "MD5:" in auth
    assert foundation.passwords["3101"] not in auth
    queue = foundation.pbx.rx("queue show found-q")
    assert "found-q has 0 calls" in queue
    assert "'3102'" in foundation.pbx.rx("dialplan show homepbx-agents")
    assert f"'{QUEUE_EXT}'" in foundation.pbx.rx(f"dialplan show {QUEUE_EXT}@homepbx-agents")


def test_agents_register_with_printed_credentials_over_udp_and_tls(
    foundation: LabSite, softphone: Callable[..., Softphone]
) -> None:
    udp = foundation.start_phone(softphone, "3101", AGENT_HZ)
    tls = foundation.start_phone(softphone, "3102", AGENT_HZ)
    assert (udp.config.transport, tls.config.transport) == ("udp", "tls")
    contacts = foundation.pbx.rx("pjsip show contacts")
    assert "3101/sip:" in contacts and "3102/sip:" in contacts
    assert "transport=tls" in foundation.pbx.rx("pjsip show aor 3102").lower()
    assert "transport=tls" not in foundation.pbx.rx("pjsip show aor 3101").lower()
    assert udp.events and tls.events


def test_agent_calls_agent_through_the_dialplan_with_two_way_audio(
    foundation: LabSite, softphone: Callable[..., Softphone], tones: ToneHelper
) -> None:
    a = foundation.start_phone(softphone, "3101", CALLER_HZ)
    b = foundation.start_phone(softphone, "3102", AGENT_HZ)
    a.dial("3102")
    a.wait_event("CALL_ESTABLISHED", 15)
    b.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(5)
    a.hangup()
    b.wait_event("CALL_CLOSED", 10)
    assert tones.heard(a) == {AGENT_HZ}
    assert tones.heard(b) == {CALLER_HZ}


async def _queue_add(site: LabSite, ext: str, add: bool) -> None:
    async with AmiClient.from_settings(site.settings.ami, events=False) as ami:
        if add:
            headers = {"Queue": "found-q", "Interface": f"PJSIP/{ext}", "MemberName": ext}
            (await ami.action("QueueAdd", headers)).raise_for_error()
        else:
            await ami.action("QueueRemove", {"Queue": "found-q", "Interface": f"PJSIP/{ext}"})


def test_outside_caller_reaches_a_logged_in_agent_through_the_queue(
    foundation: LabSite, softphone: Callable[..., Softphone], tones: ToneHelper
) -> None:
    agent = foundation.start_phone(softphone, "3103", AGENT_HZ)
    caller = foundation.start_phone(softphone, "outside", CALLER_HZ)
    asyncio.run(_queue_add(foundation, "3103", True))
    try:
        caller.dial(QUEUE_EXT)
        agent.wait_event("CALL_ESTABLISHED", 20)
        caller.wait_event("CALL_ESTABLISHED", 20)
        time.sleep(5)
        caller.hangup()
        agent.wait_event("CALL_CLOSED", 10)
    finally:
        asyncio.run(_queue_add(foundation, "3103", False))
    assert tones.heard(agent) == {CALLER_HZ}
    assert CALLER_HZ not in tones.heard(caller) and AGENT_HZ in tones.heard(caller)


def test_outside_caller_cannot_dial_agents_directly(
    foundation: LabSite, softphone: Callable[..., Softphone]
) -> None:
    agent = foundation.start_phone(softphone, "3101", AGENT_HZ)
    caller = foundation.start_phone(softphone, "outside", CALLER_HZ)
    caller.dial("3101")
    caller.wait_event("CALL_CLOSED", 15)
    assert not any(e.get("type") == "CALL_INCOMING" for e in agent.events)


def test_wrong_password_is_refused(foundation: LabSite, softphone: Callable[..., Softphone]) -> None:
    cfg = foundation.phone("3103", AGENT_HZ, password=foundation.passwords["3103"][::-1])
    phone = softphone("3103", **{k: v for k, v in cfg.__dict__.items() if k != "name"})
    with pytest.raises(OperationalError, match="REGISTER_FAIL"):
        phone.wait_registered(15)


def test_disabled_agent_can_no_longer_register(foundation: LabSite, softphone: Callable[..., Softphone]) -> None:
    foundation.run("agent", "disable", "3103")
    try:
        foundation.apply()
        assert not re.search(r"Endpoint:\s+3103/", foundation.pbx.rx("pjsip show endpoints"))
        cfg = foundation.phone("3103", AGENT_HZ)
        phone = softphone("3103-disabled", **{k: v for k, v in cfg.__dict__.items() if k != "name"})
        with pytest.raises(OperationalError, match="REGISTER_FAIL"):
            phone.wait_registered(15)
    finally:
        foundation.run("agent", "enable", "3103")
        foundation.apply()
    foundation.start_phone(softphone, "3103", AGENT_HZ)  # and back once enabled


def test_apply_reloads_asterisk_over_ami_for_a_new_agent(
    foundation: LabSite, softphone: Callable[..., Softphone]
) -> None:
    pid = foundation.pbx.status().pid
    foundation.add_agent("3104", "New Hire", "--team", "found")
    res = foundation.run("apply", "--diff")
    assert "+[3104]" in res.stdout
    assert "module reload res_pjsip.so" in res.stdout and "dialplan reload" in res.stdout
    assert foundation.pbx.status().pid == pid  # reloaded, not restarted
    foundation.start_phone(softphone, "3104", AGENT_HZ)
    assert "'3104'" in foundation.pbx.rx("dialplan show 3104@homepbx-agents")
    again = foundation.run("apply")
    assert "Nothing to change" in again.stdout and "Reloaded" not in again.stdout


def test_passwd_takes_effect_after_apply(foundation: LabSite, softphone: Callable[..., Softphone]) -> None:
    old = foundation.passwords["3102"]
    import json

    new = json.loads(foundation.run("agent", "passwd", "3102", "--json").stdout)["password"]
    foundation.passwords["3102"] = new
    foundation.run("apply")
    foundation.start_phone(softphone, "3102", AGENT_HZ)
    cfg = foundation.phone("3102", AGENT_HZ, password=old)
    stale = softphone("3102-old", **{k: v for k, v in cfg.__dict__.items() if k != "name"})
    with pytest.raises(OperationalError, match="REGISTER_FAIL"):
        stale.wait_registered(15)
