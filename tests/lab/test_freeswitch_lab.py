"""FreeSWITCH 1.10 lab: homepbx's rendered configuration on a real FreeSWITCH, with softphones.

What issue 10 asks of the FreeSWITCH backend's first part: the files load with no error, agents
register with the credentials `agent add` printed, agent-to-agent and queue calls carry audio
both ways (each party's tone heard by the other), and `apply` after an added agent makes them
registrable without dropping a call in progress. The PBX and the ESL checks are real; only the
build is made once by hand (see homepbx.freeswitch.lab).
"""

from __future__ import annotations

import json
import time

import pytest

from homepbx.config import LabSettings, Settings
from homepbx.errors import OperationalError
from homepbx.freeswitch.esl import EslClient, EslLoginError, UnsafeEslValue
from homepbx.freeswitch.lab import FreeswitchLab, how_to_build

from .conftest import AGENT_HZ, CALLER_HZ, FS_LAB_ROOT, SUPERVISOR_HZ
from .site import LabSite

_BUILD = FreeswitchLab(Settings(lab=LabSettings(freeswitch_root=FS_LAB_ROOT)))
if not _BUILD.is_built():
    # One line in the summary for the whole module, saying how to get the build.
    pytest.skip(how_to_build(_BUILD.root), allow_module_level=True)

TEAM = "fs-team"
QUEUE, QUEUE_EXT = "fs-support", "5600"
CALLER, AGENT, LATE = "5601", "5602", "5603"


@pytest.fixture(scope="module")
def site(fs_site: LabSite) -> LabSite:
    """Two agents of a team, a queue with one member, applied to the running FreeSWITCH."""
    fs_site.ensure_team(TEAM)
    for ext, name in ((CALLER, "Caller & Co QA"), (AGENT, "Agent O'Neil")):
        if ext not in fs_site.passwords:
            fs_site.add_agent(ext, name, "--team", TEAM)
    queues = {q["name"] for q in json.loads(fs_site.run("queue", "list", "--json").stdout)}
    if QUEUE not in queues:
        fs_site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall")
        fs_site.run("queue", "member", "add", QUEUE, AGENT)
    fs_site.apply()
    return fs_site


def test_the_rendered_configuration_loads_without_an_error(site: LabSite, fs_lab: FreeswitchLab) -> None:
    # A fresh start on our files alone: its log holds what they made FreeSWITCH say.
    fs_lab.down()
    site.apply()
    assert fs_lab.log_lines(), "FreeSWITCH logged nothing"
    problems = [line for line in fs_lab.log_lines() if "[ERR]" in line or "[CRIT]" in line]
    assert problems == []
    assert any(line.split()[:1] == ["homepbx"] and "RUNNING" in line for line in fs_lab.api("sofia status").splitlines())
    assert f"{QUEUE}@" in fs_lab.api("callcenter_config queue list")
    # Our modules only: nothing that would open a port or read a sample file.
    loaded = fs_lab.api("show modules")
    assert "mod_callcenter" in loaded and "mod_conference" not in loaded


def test_agents_register_with_the_printed_credentials_and_call_each_other(site: LabSite, fs_softphone, tones) -> None:
    caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    caller.dial(AGENT)
    caller.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    assert tones.heard(caller) == {AGENT_HZ}
    assert tones.heard(agent) == {CALLER_HZ}


def test_a_wrong_password_is_refused(site: LabSite, fs_softphone) -> None:
    phone = fs_softphone(f"{CALLER}-bad", username=CALLER, password="not-the-password-1")
    with pytest.raises(OperationalError):
        phone.wait_registered(8)


def test_a_queue_call_reaches_a_logged_in_agent_with_audio_both_ways(site: LabSite, fs_softphone, tones,
                                                                      fs_lab: FreeswitchLab) -> None:
    caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    # The agent's own feature code logs them in (mod_callcenter: Available).
    agent.dial("*41")
    agent.wait_event("CALL_CLOSED", 10)
    _assert_logged_in(fs_lab, AGENT)
    caller.dial(QUEUE_EXT)
    caller.wait_event("CALL_ESTABLISHED", 15)
    agent.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(5)
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    assert tones.heard(caller) == {AGENT_HZ}
    assert tones.heard(agent) == {CALLER_HZ}


def test_apply_after_an_added_agent_keeps_the_call_in_progress(site: LabSite, fs_softphone, tones,
                                                               fs_lab: FreeswitchLab) -> None:
    caller = site.start_phone(fs_softphone, CALLER, CALLER_HZ)
    agent = site.start_phone(fs_softphone, AGENT, AGENT_HZ)
    caller.dial(AGENT)
    caller.wait_event("CALL_ESTABLISHED", 15)
    started = time.monotonic()
    if LATE not in site.passwords:
        site.add_agent(LATE, "Late Joiner", "--team", TEAM)
    changed = site.apply()
    assert "directory/homepbx.xml" in changed
    late = site.start_phone(fs_softphone, LATE, SUPERVISOR_HZ)  # registers: the new account exists
    time.sleep(3)
    # Still one call, with both parties' audio after the reload.
    assert "1 total" in fs_lab.api("show calls count")
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    seconds = time.monotonic() - started
    windows = tones.windows(agent)
    assert len(windows) >= int(seconds) - 2
    assert all(CALLER_HZ in w.present for w in windows[1:-1])
    assert late.config.username == LATE


def test_esl_refuses_a_wrong_password_and_an_injected_command(site: LabSite) -> None:
    import asyncio

    esl = site.settings.esl

    async def wrong() -> None:
        async with EslClient(esl.host, esl.port, "wrong-password-123", reconnect=False):
            pass

    with pytest.raises(EslLoginError):
        asyncio.run(wrong())

    async def injected() -> str:
        async with EslClient.from_settings(esl, reconnect=False) as client:
            with pytest.raises(UnsafeEslValue):
                await client.api("status\n\napi", "fsctl shutdown")
            return await client.api("status")

    assert "UP" in asyncio.run(injected())


def test_apply_says_in_one_sentence_when_freeswitch_refuses_the_password(site: LabSite, tmp_path) -> None:
    from dataclasses import replace

    from homepbx import config

    from ..unit.cli_helpers import Cli

    bad = replace(site.settings, esl=replace(site.settings.esl, password="wrong-password-123"))
    path = tmp_path / "homepbx.toml"
    path.write_text(config.to_toml(bad), encoding="utf-8")
    res = Cli(path)("apply", "--reload")
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "FreeSWITCH was not reloaded" in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def _assert_logged_in(lab: FreeswitchLab, extension: str) -> None:
    """The agent's *41 made them Available; if not, show what FreeSWITCH did with that call.

    Once (a full CI run, not reproduced in 5 runs since) the row still said Logged Out right
    after the call: the message carries the dialplan's answer to tell a failed login from a
    later reset next time.
    """
    deadline = time.monotonic() + 3
    row = _agent_row(lab, extension)
    while "Available" not in row and time.monotonic() < deadline:
        time.sleep(0.2)
        row = _agent_row(lab, extension)
    if "Available" not in row:
        log = lab.chroot.host("/var/log/freeswitch/freeswitch.log").read_text(errors="replace").splitlines()
        calls = {line.split()[0] for line in log if f"{extension} <{extension}>->*41" in line}
        story = [line[:200] for line in log if line.split()[:1] and line.split()[0] in calls][-25:]
        raise AssertionError(f"{extension} is not Available after *41: {row}\n" + "\n".join(story))


def _agent_row(lab: FreeswitchLab, extension: str) -> str:
    return next((line for line in lab.api("callcenter_config agent list").splitlines()
                 if line.startswith(f"{extension}@")), "")
