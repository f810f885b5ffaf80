"""FreeSWITCH agents encrypted by default on the real lab (issue 12): TLS signalling, SRTP media.

The same proof as on Asterisk (test_encryption_lab.py), on the lab FreeSWITCH: agents added
without --transport register over TLS to sofia's TLS port (checking the lab's certificate) and
offer only SRTP; a desk phone opted into clear UDP is the control. The RTP crossing the loopback
wire is read with a raw socket (tests/lab/wire.py): a clear agent's payloads decode to its tone
as G.711 mu-law, an SRTP agent's do not. Calls to a TLS agent through mod_callcenter are SRTP
too, and a softphone offering no SRTP is refused rather than answered in clear.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import warnings
from collections.abc import Callable

import pytest

from homepbx.config import LabSettings, Settings
from homepbx.freeswitch.lab import RTP_PORTS as FS_RTP_PORTS
from homepbx.freeswitch.lab import FreeswitchLab, how_to_build
from homepbx.lab.softphone import Softphone

from .conftest import AGENT_HZ, CALLER_HZ, FS_LAB_ROOT, ToneHelper, assert_call_refused
from .site import LabSite
from .wire import rtp_capture, tone_share

_BUILD = FreeswitchLab(Settings(lab=LabSettings(freeswitch_root=FS_LAB_ROOT)))
if not _BUILD.is_built():
    pytest.skip(how_to_build(_BUILD.root), allow_module_level=True)

TLS_A, TLS_B, CLEAR = "5801", "5802", "5803"
QUEUE, QUEUE_EXT = "fe-q", "5810"  # TLS_B answers it
RTP_PORTS = range(FS_RTP_PORTS[0], FS_RTP_PORTS[1] + 1)


@pytest.fixture(scope="module")
def encrypted(fs_site: LabSite) -> LabSite:
    """Two agents on the default transport (TLS + SRTP), one desk phone opted into clear UDP,
    a queue answered by a TLS agent; applied to the running FreeSWITCH."""
    known = {a["extension"] for a in json.loads(fs_site.run("agent", "list", "--json").stdout)}
    if TLS_A not in known:
        fs_site.add_agent(TLS_A, "Anaïs Chiffre")
        fs_site.add_agent(TLS_B, "Basile Chiffre")
        fs_site.add_agent(CLEAR, "Désiré Bureau", "--transport", "udp")
        fs_site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall", "--wrapup", "0")
        fs_site.run("queue", "member", "add", QUEUE, TLS_B)
    fs_site.apply()
    return fs_site


def _talk(a: Softphone, b: Softphone, to: str, lab: FreeswitchLab, seconds: float = 4.0) -> dict[str, str]:
    """A calls `to`, B answers; both talk for `seconds`. Returns each leg's SRTP suite as
    FreeSWITCH reports it (rtp_has_crypto, by caller id number of the leg's account)."""
    a.dial(to)
    a.wait_event("CALL_ESTABLISHED", 15)
    b.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(seconds / 2)
    crypto = _leg_crypto(lab)
    time.sleep(seconds / 2)
    a.hangup()
    b.wait_event("CALL_CLOSED", 10)
    return crypto


def _leg_crypto(lab: FreeswitchLab) -> dict[str, str]:
    """Every live channel's rtp_has_crypto (the SRTP suite in use, "" for clear RTP), by channel name."""
    rows = json.loads(lab.api("show channels as json")).get("rows") or []
    return {row["name"]: lab.api(f"uuid_getvar {row['uuid']} rtp_has_crypto").strip().replace("_undef_", "")
            for row in rows}


def test_sofia_speaks_tls_with_the_lab_certificate(encrypted: LabSite, fs_lab: FreeswitchLab) -> None:
    sip = encrypted.settings.sip
    context = ssl.create_default_context(cafile=str(fs_lab.chroot.host(sip.tls_cert_file)))
    with socket.create_connection((fs_lab.address, sip.tls_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=fs_lab.address) as tls:
            version, cipher = tls.version(), tls.cipher()
            # Its certificate is the lab's, not one FreeSWITCH made up (it would if agent.pem were missing).
            assert tls.getpeercert()["subject"] == ((("commonName", fs_lab.address),),)
    assert version in ("TLSv1.2", "TLSv1.3")
    # A phone that stops at TLS 1.2 (sip.tls_method tlsv1_2) gets TLS 1.2.
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((fs_lab.address, sip.tls_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=fs_lab.address) as tls12:
            assert tls12.version() == "TLSv1.2"
            print(f"\nsofia TLS: {version} {cipher[0]}; a TLS 1.2 client: {tls12.cipher()[0]}")
    # sip.tls_method tlsv1_2: nothing older is accepted.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection((fs_lab.address, sip.tls_port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            old.wrap_socket(raw, server_hostname=fs_lab.address)


def test_tls_agents_call_each_other_with_srtp_and_the_wire_carries_no_clear_audio(
        encrypted: LabSite, fs_softphone: Callable[..., Softphone], tones: ToneHelper, fs_lab: FreeswitchLab) -> None:
    a = encrypted.start_phone(fs_softphone, TLS_A, CALLER_HZ)
    b = encrypted.start_phone(fs_softphone, TLS_B, AGENT_HZ)
    assert (a.config.transport, a.config.srtp, a.config.sip_port) == ("tls", True, encrypted.settings.sip.tls_port)
    # sofia's registration of A: over TLS (Status "Registered(TLS...)", Contact ;transport=tls).
    blocks = fs_lab.api("sofia status profile homepbx reg").split("\n\n")
    mine = [b for b in blocks if "User:" in b and b.split("User:")[1].split()[0] == f"{TLS_A}@{fs_lab.address}"]
    assert len(mine) == 1, blocks
    assert "Registered(TLS" in mine[0] and "transport=tls" in mine[0], mine[0]
    with rtp_capture(fs_lab.address, RTP_PORTS) as wire:
        crypto = _talk(a, b, TLS_B, fs_lab)
    assert tones.heard(a) == {AGENT_HZ}
    assert tones.heard(b) == {CALLER_HZ}
    # Both legs (from A, to B) negotiated the suite homepbx asks for.
    assert sorted(crypto.values()) == ["AES_CM_128_HMAC_SHA1_80"] * 2, crypto
    streams = {port: packets for port, packets in wire.items() if len(packets) >= 60}
    assert len(streams) >= 2, {p: len(v) for p, v in wire.items()}  # both phones' media was captured
    shares = {port: max(tone_share(packets, CALLER_HZ), tone_share(packets, AGENT_HZ))
              for port, packets in streams.items()}
    print(f"\nSRTP streams: {len(streams)}, highest tone share decoded as mu-law: {max(shares.values()):.3f}")
    # SRTP payloads are ciphertext: no tone survives decoding them as mu-law.
    assert max(shares.values()) < 0.2, shares


def test_the_same_capture_hears_a_clear_text_agent(encrypted: LabSite, fs_softphone: Callable[..., Softphone],
                                                   tones: ToneHelper, fs_lab: FreeswitchLab) -> None:
    """The control: the capture above would have seen a clear tone had there been one."""
    a = encrypted.start_phone(fs_softphone, TLS_A, CALLER_HZ)
    desk = encrypted.start_phone(fs_softphone, CLEAR, AGENT_HZ)
    assert (desk.config.transport, desk.config.srtp) == ("udp", False)
    with rtp_capture(fs_lab.address, RTP_PORTS) as wire:
        crypto = _talk(desk, a, TLS_A, fs_lab)
    assert tones.heard(a) == {AGENT_HZ} and tones.heard(desk) == {CALLER_HZ}
    # The desk phone's leg is clear, the TLS agent's leg is SRTP all the same.
    assert sorted(crypto.values()) == ["", "AES_CM_128_HMAC_SHA1_80"], crypto
    shares = {port: tone_share(packets, AGENT_HZ) for port, packets in wire.items() if len(packets) >= 60}
    print(f"\nclear stream: highest 1000 Hz share decoded as mu-law: {max(shares.values(), default=0.0):.3f}")
    assert max(shares.values(), default=0.0) > 0.8, shares


def test_a_queue_call_reaches_a_tls_agent_over_srtp_with_audio_both_ways(
        encrypted: LabSite, fs_softphone: Callable[..., Softphone], tones: ToneHelper, fs_lab: FreeswitchLab) -> None:
    caller = encrypted.start_phone(fs_softphone, TLS_A, CALLER_HZ)
    agent = encrypted.start_phone(fs_softphone, TLS_B, AGENT_HZ)
    encrypted.run("agent", "login", TLS_B)
    try:
        with rtp_capture(fs_lab.address, RTP_PORTS) as wire:
            crypto = _talk(caller, agent, QUEUE_EXT, fs_lab, seconds=5.0)
    finally:
        encrypted.cli("agent", "logout", TLS_B)
    assert tones.heard(caller) == {AGENT_HZ}
    assert tones.heard(agent) == {CALLER_HZ}
    # The caller's leg and mod_callcenter's leg to the agent (user/5802@...): SRTP both.
    assert sorted(crypto.values()) == ["AES_CM_128_HMAC_SHA1_80"] * 2, crypto
    shares = [max(tone_share(p, CALLER_HZ), tone_share(p, AGENT_HZ)) for p in wire.values() if len(p) >= 60]
    assert shares and max(shares) < 0.2, shares


def test_a_softphone_offering_no_srtp_is_refused_not_downgraded(
        encrypted: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    b = encrypted.start_phone(fs_softphone, TLS_B, AGENT_HZ)
    # Over TLS but without SRTP: FreeSWITCH must answer 488, not fall back to clear RTP.
    plain = encrypted.start_phone(fs_softphone, TLS_A, CALLER_HZ, srtp=False)
    plain.dial(TLS_B)
    plain.wait_event("CALL_CLOSED", 15)
    assert_call_refused(plain, b, "488")


def test_a_tls_agent_whose_phone_offers_no_srtp_is_not_called_in_clear(
        encrypted: LabSite, fs_softphone: Callable[..., Softphone]) -> None:
    caller = encrypted.start_phone(fs_softphone, TLS_A, CALLER_HZ)
    # The agent's phone lost its SRTP setting: FreeSWITCH offers it SRTP only, it cannot answer.
    plain = encrypted.start_phone(fs_softphone, TLS_B, AGENT_HZ, srtp=False)
    caller.dial(TLS_B)
    caller.wait_event("CALL_CLOSED", 20)
    assert "CALL_ESTABLISHED" not in [e.get("type") for e in caller.events]
    assert "CALL_ESTABLISHED" not in [e.get("type") for e in plain.events]


def test_a_tls_agents_phone_set_to_udp_cannot_call_in_clear_text(
        encrypted: LabSite, fs_softphone: Callable[..., Softphone], fs_lab: FreeswitchLab) -> None:
    """FreeSWITCH finds the user by name on any transport, so the misconfigured phone registers;
    its call, whose SDP carried the SRTP keys in clear, is refused by the dialplan and logged."""
    b = encrypted.start_phone(fs_softphone, TLS_B, AGENT_HZ)
    log = fs_lab.chroot.host("/var/log/freeswitch/freeswitch.log")
    start = log.stat().st_size if log.exists() else 0
    udp = encrypted.start_phone(fs_softphone, TLS_A, CALLER_HZ, transport="udp",
                                sip_port=encrypted.settings.sip.udp_port, srtp=True)
    udp.dial(TLS_B)
    udp.wait_event("CALL_CLOSED", 15)
    assert "CALL_ESTABLISHED" not in [e.get("type") for e in udp.events]
    assert not [e for e in b.events if e.get("type") == "CALL_INCOMING"]
    expected = f"homepbx refused: agent {TLS_A} called {TLS_B} over clear text"
    deadline = time.monotonic() + 5
    while True:
        with log.open("rb") as f:
            f.seek(start)
            new = f.read().decode(errors="replace")
        if expected in new or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert expected in new, new[-3000:]
