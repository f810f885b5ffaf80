"""The carrier side on the real lab (issue 11): a simulated carrier on 127.0.11.x.

The carrier is a baresip bound to 127.0.11.1 (calls in, tone 440 Hz) and SIPp on the same
address (it answers our outbound calls and records the INVITE), matched by address
(`trunk add --match`); a second SIPp on 127.0.11.2 is a registrar that challenges with digest
auth and accepts only the right secret. The clock is never changed: the closed path uses opening
hours with a one-off closure for today.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from homepbx import db
from homepbx.asterisk.ami import AmiClient
from homepbx.asterisk.lab.pbx import LabPBX
from homepbx.lab.softphone import Softphone
from homepbx.models import CallRecord

from .collector_proc import CollectorProcess
from .conftest import AGENT_HZ, CALLER_HZ
from .site import LabSite

CARRIER_IP, REGISTRAR_IP = "127.0.11.1", "127.0.11.2"
SECRET = "S3cret-carrier"
TEAM, NONE_TEAM = "carrier-team", "carrier-none"
AGENT, NO_OUT_AGENT = "4601", "4602"
QUEUE, QUEUE_EXT = "carrier-q", "570"
OPEN_NUMBER, CLOSED_NUMBER = "+33140000010", "+33140000011"
TEAM_CID = "+33140000099"
INNER = "/tmp/homepbx-carrier"

REGISTRAR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier registrar with digest auth">
  <recv request="REGISTER" />
  <send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]reg[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="carrier.test", nonce="[pid]n[call_number]", algorithm=MD5
Content-Length: 0

]]></send>
  <recv request="REGISTER">
    <action><verifyauth assign_to="authvalid" username="acme" password="%s" /></action>
  </recv>
  <nop condexec="authvalid" next="good" />
  <send next="end"><![CDATA[
SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]reg[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="good" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]reg[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=600
Expires: 600
Content-Length: 0

]]></send>
  <label id="end" />
</scenario>
""" % SECRET


def _sipp(lab: LabPBX, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    out = lab.chroot.host(f"{INNER}/{name}.out")
    with out.open("wb") as f:
        return subprocess.Popen(lab.chroot.command(["sipp", "-nostdin", "-trace_msg", "-message_file",
                                                    f"{INNER}/{name}-msgs.log", *args]),
                                stdout=f, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def carrier_site(site: LabSite, lab: LabPBX, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSite]:
    """The site with trunks, numbers, hours and policies; the two SIPp carriers; the collector."""
    inner = lab.chroot.host(INNER)
    inner.mkdir(parents=True, exist_ok=True)
    for f in inner.glob("*"):
        f.unlink()
    (inner / "registrar.xml").write_text(REGISTRAR, encoding="ascii")
    known = {a["extension"] for a in json.loads(site.run("agent", "list", "--json").stdout)}
    if AGENT not in known:
        site.ensure_team(TEAM)
        site.ensure_team(NONE_TEAM)
        site.add_agent(AGENT, "Agnès Carrier", "--team", TEAM)
        site.add_agent(NO_OUT_AGENT, "Noé Carrier", "--team", NONE_TEAM)
        site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall", "--wrapup", "0",
                 "--max-wait", "60")
        site.run("team", "outbound", TEAM, "--policy", "national", "--caller-id", TEAM_CID)
        site.run("hours", "add", "carrier-open", "--weekly", "mon-sun 00:00-24:00", "--tz", "UTC",
                 "--holidays", "none")
        # Closed today (in its zone, UTC): the closed path without touching the clock.
        today = datetime.now(timezone.utc).date().isoformat()
        site.run("hours", "add", "carrier-closed", "--weekly", "mon-sun 00:00-24:00", "--tz", "UTC",
                 "--holidays", "none", "--closed", today)
        site.run("trunk", "add", "labcarrier", "--host", CARRIER_IP, "--match", CARRIER_IP,
                 "--caller-id", "+33140000000", "--codecs", "ulaw,alaw")
        res = site.cli("trunk", "add", "regcarrier", "--host", REGISTRAR_IP, "--username", "acme",
                       "--realm", "carrier.test", "--no-outbound", input=SECRET + "\n")
        assert res.exit_code == 0, res.stderr
        site.run("number", "add", "01 40 00 00 10", "--trunk", "labcarrier", "--queue", QUEUE,
                 "--hours", "carrier-open")
        site.run("number", "add", "01 40 00 00 11", "--trunk", "labcarrier", "--queue", QUEUE,
                 "--hours", "carrier-closed")
    registrar = _sipp(lab, "registrar", ["-sf", f"{INNER}/registrar.xml", "-i", REGISTRAR_IP, "-p", "5060"])
    # -aa: the carrier answers Asterisk's qualify OPTIONS, as real carriers do. Without it the
    # first qualify (at a random moment within qualify_frequency) marks the trunk Unreachable and
    # every outbound call after it fails with "no route to destination".
    uas = _sipp(lab, "uas", ["-sn", "uas", "-aa", "-i", CARRIER_IP, "-p", "5060"])
    site.apply()
    collector = CollectorProcess(site.config_path, tmp_path_factory.mktemp("carrier") / "collector.log")
    collector.start()
    try:
        yield site
    finally:
        collector.terminate()
        _stop(registrar)
        _stop(uas)


async def _queue_member(site: LabSite, ext: str, add: bool) -> None:
    async with AmiClient.from_settings(site.settings.ami, events=False) as ami:
        if add:
            (await ami.action("QueueAdd", {"Queue": QUEUE, "Interface": f"PJSIP/{ext}",
                                           "MemberName": ext})).raise_for_error()
        else:
            await ami.action("QueueRemove", {"Queue": QUEUE, "Interface": f"PJSIP/{ext}"})


def _carrier_phone(softphone, name: str = "carrier") -> Softphone:  # type: ignore[no-untyped-def]
    # Bound to the carrier's address; it never registers: Asterisk knows it by address.
    return softphone(name, username=name, password="unused", address=CARRIER_IP, tone_hz=CALLER_HZ,
                     extra_account_params={"regint": "0"})


def _record(site: LabSite, number: str, since: datetime, timeout: float = 20.0) -> CallRecord:
    deadline = time.monotonic() + timeout
    while True:
        with db.session_scope(site.settings.database.url) as s:
            row = s.scalars(select(CallRecord).where(CallRecord.number == number,
                                                      CallRecord.started_at >= since.replace(tzinfo=None))
                            .order_by(CallRecord.started_at.desc())).first()
            if row is not None:
                s.expunge(row)
                return row
        if time.monotonic() > deadline:
            raise AssertionError(f"no call record for {number}")
        time.sleep(0.5)


def _security_lines(lab: LabPBX) -> list[str]:
    path = lab.chroot.host("/var/log/asterisk/security")
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def test_inbound_call_in_hours_reaches_the_queue_and_an_agent_with_audio_both_ways(
        carrier_site: LabSite, softphone, tones) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    site = carrier_site
    since = datetime.now(timezone.utc).replace(microsecond=0)
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    asyncio.run(_queue_member(site, AGENT, True))
    try:
        carrier = _carrier_phone(softphone)
        carrier.dial(f"sip:0140000010@{site.pbx.address}:5060")
        agent.wait_event("CALL_ESTABLISHED", timeout=20)
        carrier.wait_event("CALL_ESTABLISHED", timeout=10)
        time.sleep(5)
        carrier.hangup()
        carrier.wait_event("CALL_CLOSED", timeout=10)
    finally:
        asyncio.run(_queue_member(site, AGENT, False))
    assert AGENT_HZ in tones.heard(carrier)
    assert CALLER_HZ in tones.heard(agent)
    rec = _record(site, OPEN_NUMBER, since)
    assert (rec.direction, rec.number, rec.trunk, rec.queue, rec.agent, rec.disposition) == (
        "inbound", OPEN_NUMBER, "labcarrier", QUEUE, AGENT, "answered")


def test_inbound_call_on_a_closed_day_gets_the_closed_message(carrier_site: LabSite, softphone) -> None:  # type: ignore[no-untyped-def]
    site = carrier_site
    since = datetime.now(timezone.utc).replace(microsecond=0)
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    carrier = _carrier_phone(softphone, "carrier2")
    carrier.dial(f"sip:0140000011@{site.pbx.address}:5060")
    carrier.wait_event("CALL_ESTABLISHED", timeout=10)
    # ss-noservice then vm-goodbye, then Asterisk hangs up by itself.
    carrier.wait_event("CALL_CLOSED", timeout=30)
    assert not [e for e in agent.events if e.get("type") == "CALL_INCOMING"]
    rec = _record(site, CLOSED_NUMBER, since)
    assert (rec.direction, rec.trunk, rec.queue, rec.agent) == ("inbound", "labcarrier", "", "")
    rows = json.loads(site.run("report", "numbers", "--from", since.date().isoformat(),
                               "--to", since.date().isoformat(), "--json").stdout)
    by_number = {r["number"]: r for r in rows}
    assert by_number[CLOSED_NUMBER]["closed"] >= 1
    assert by_number[CLOSED_NUMBER]["answered"] == 0


def test_national_call_leaves_through_the_trunk_with_the_team_caller_id(
        carrier_site: LabSite, softphone, lab: LabPBX) -> None:  # type: ignore[no-untyped-def]
    site = carrier_site
    since = datetime.now(timezone.utc).replace(microsecond=0)
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    agent.dial("0145678901")
    agent.wait_event("CALL_ESTABLISHED", timeout=15)
    time.sleep(2)
    agent.hangup()
    agent.wait_event("CALL_CLOSED", timeout=10)
    msgs = lab.chroot.host(f"{INNER}/uas-msgs.log").read_text(errors="replace")
    invites = [m for m in re.split(r"\n(?=-{5,})", msgs) if "INVITE sip:+33145678901@" in m]
    assert invites, msgs[-2000:]
    invite = invites[-1]
    assert re.search(r"^From:.*<sip:\+33140000099@", invite, re.M | re.I), invite
    assert re.search(r"^P-Asserted-Identity:.*\+33140000099", invite, re.M | re.I), invite
    rec = _record(site, "+33145678901", since)
    assert (rec.direction, rec.trunk) == ("outbound", "labcarrier")


@pytest.mark.parametrize(("ext", "dialled", "reason"), [
    (AGENT, "0892123456", "not allowed for team carrier-team"),  # premium
    (AGENT, "+441632960001", "not allowed for team carrier-team"),  # international
    (NO_OUT_AGENT, "0145678901", "not allowed for team carrier-none"),  # no outbound at all
])
def test_calls_a_team_may_not_make_are_refused_and_logged(
        carrier_site: LabSite, softphone, lab: LabPBX, ext: str, dialled: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    site = carrier_site
    before = len(_security_lines(lab))
    uas_before = lab.chroot.host(f"{INNER}/uas-msgs.log").read_text(errors="replace").count("INVITE sip:")
    phone = site.start_phone(softphone, ext, AGENT_HZ)
    phone.dial(dialled)
    phone.wait_event("CALL_CLOSED", timeout=15)
    deadline = time.monotonic() + 5
    while True:
        new = _security_lines(lab)[before:]
        hits = [line for line in new if f"agent {ext} number {dialled}" in line]
        if hits or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert hits and reason in hits[0], new
    uas_after = lab.chroot.host(f"{INNER}/uas-msgs.log").read_text(errors="replace").count("INVITE sip:")
    assert uas_after == uas_before, "a refused call reached the carrier"


def test_registering_trunk_registers_with_digest_auth_and_shows_in_status(carrier_site: LabSite, lab: LabPBX) -> None:
    site = carrier_site
    deadline = time.monotonic() + 30
    while True:
        rows = {r["trunk"]: r for r in json.loads(site.run("trunk", "status", "--json").stdout)}
        if rows.get("regcarrier", {}).get("registration") == "registered" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert rows["regcarrier"]["registration"] == "registered", rows
    assert rows["labcarrier"]["registration"] == ""
    # The registrar challenges every REGISTER and answers 200 only to the right digest (403
    # otherwise): "registered" is the digest credential accepted.
    assert SECRET not in (lab.chroot.host("/etc/asterisk/pjsip.conf").read_text())
