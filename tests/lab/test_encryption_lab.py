"""Agents encrypted by default on the real lab (issue 12): TLS signalling, SRTP media.

Agents added without --transport register over TLS (checking the lab's certificate) and offer
only SRTP; a legacy desk phone opted into clear text is the control. What crosses the wire is
read with a raw socket on the loopback interface: the RTP payloads of a clear agent decode to
its tone as G.711 mu-law, an SRTP agent's do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from homepbx.lab.softphone import Softphone

from .conftest import AGENT_HZ, CALLER_HZ, ToneHelper, assert_call_refused
from .site import LabSite
from .wire import rtp_capture, tone_share

TLS_A, TLS_B, CLEAR = "3701", "3702", "3703"
RTP_PORTS = range(10000, 20001)  # the lab Asterisk's rtp.conf


@pytest.fixture(scope="module")
def encrypted(site: LabSite) -> LabSite:
    """Two agents on the default transport (TLS + SRTP), one desk phone opted into clear UDP."""
    site.add_agent(TLS_A, "Anaïs Chiffre")
    site.add_agent(TLS_B, "Basile Chiffre")
    site.add_agent(CLEAR, "Désiré Bureau", "--transport", "udp")
    site.apply()
    return site


def _talk(a: Softphone, b: Softphone, to: str, seconds: float = 4.0) -> None:
    a.dial(to)
    a.wait_event("CALL_ESTABLISHED", 15)
    b.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(seconds)
    a.hangup()
    b.wait_event("CALL_CLOSED", 10)


def test_tls_agents_call_each_other_with_srtp_and_the_wire_carries_no_clear_audio(
        encrypted: LabSite, softphone: Callable[..., Softphone], tones: ToneHelper) -> None:
    a = encrypted.start_phone(softphone, TLS_A, CALLER_HZ)
    b = encrypted.start_phone(softphone, TLS_B, AGENT_HZ)
    assert (a.config.transport, a.config.srtp) == ("tls", True)
    contacts = encrypted.pbx.rx(f"pjsip show aor {TLS_A}").lower()
    assert "transport=tls" in contacts
    with rtp_capture(encrypted.pbx.address, RTP_PORTS) as wire:
        _talk(a, b, TLS_B)
    assert tones.heard(a) == {AGENT_HZ}
    assert tones.heard(b) == {CALLER_HZ}
    streams = {port: packets for port, packets in wire.items() if len(packets) >= 60}
    assert len(streams) >= 2, {p: len(v) for p, v in wire.items()}  # both phones' media was captured
    shares = {port: max(tone_share(packets, CALLER_HZ), tone_share(packets, AGENT_HZ))
              for port, packets in streams.items()}
    # SRTP payloads are ciphertext: no tone survives decoding them as mu-law.
    assert max(shares.values()) < 0.2, shares


def test_the_same_capture_hears_a_clear_text_agent(encrypted: LabSite, softphone: Callable[..., Softphone],
                                                   tones: ToneHelper) -> None:
    """The control: the capture above would have seen a clear tone had there been one."""
    a = encrypted.start_phone(softphone, TLS_A, CALLER_HZ)
    desk = encrypted.start_phone(softphone, CLEAR, AGENT_HZ)
    assert (desk.config.transport, desk.config.srtp) == ("udp", False)
    with rtp_capture(encrypted.pbx.address, RTP_PORTS) as wire:
        _talk(desk, a, TLS_A)
    assert tones.heard(a) == {AGENT_HZ} and tones.heard(desk) == {CALLER_HZ}
    shares = {port: tone_share(packets, AGENT_HZ) for port, packets in wire.items() if len(packets) >= 60}
    assert max(shares.values(), default=0.0) > 0.8, shares


def test_a_softphone_offering_no_srtp_is_refused_not_downgraded(
        encrypted: LabSite, softphone: Callable[..., Softphone]) -> None:
    b = encrypted.start_phone(softphone, TLS_B, AGENT_HZ)
    # Over TLS but without SRTP: Asterisk must answer 488, not fall back to clear RTP.
    plain = encrypted.start_phone(softphone, TLS_A, CALLER_HZ, srtp=False)
    plain.dial(TLS_B)
    plain.wait_event("CALL_CLOSED", 15)
    assert_call_refused(plain, b, "488")


def test_a_tls_agents_phone_set_to_udp_cannot_call_in_clear_text(
        encrypted: LabSite, softphone: Callable[..., Softphone]) -> None:
    """Asterisk matches the endpoint by user name on any transport, so the misconfigured phone
    does register; its call, whose SDP would carry the SRTP keys in clear, is refused and logged."""
    b = encrypted.start_phone(softphone, TLS_B, AGENT_HZ)
    log = encrypted.pbx.chroot.host("/var/log/asterisk/security")
    before = log.read_text(errors="replace") if log.exists() else ""
    # SRTP offered (its keys in the SDP, over clear UDP): what the dialplan must refuse.
    udp = encrypted.start_phone(softphone, TLS_A, CALLER_HZ, transport="udp",
                                sip_port=encrypted.settings.sip.udp_port, srtp=True)
    udp.dial(TLS_B)
    udp.wait_event("CALL_CLOSED", 15)
    assert "CALL_ESTABLISHED" not in [e.get("type") for e in udp.events]
    assert not [e for e in b.events if e.get("type") == "CALL_INCOMING"]
    deadline = time.monotonic() + 5
    while True:
        new = (log.read_text(errors="replace") if log.exists() else "")[len(before):]
        if f"agent {TLS_A} called {TLS_B} over clear text" in new or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert f"agent {TLS_A} called {TLS_B} over clear text" in new, new
