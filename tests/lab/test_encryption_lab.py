"""Agents encrypted by default on the real lab (issue 12): TLS signalling, SRTP media.

Agents added without --transport register over TLS (checking the lab's certificate) and offer
only SRTP; a legacy desk phone opted into clear text is the control. What crosses the wire is
read with a raw socket on the loopback interface: the RTP payloads of a clear agent decode to
its tone as G.711 mu-law, an SRTP agent's do not.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from homepbx.lab.softphone import Softphone
from homepbx.lab.tones import goertzel_share

from .conftest import AGENT_HZ, CALLER_HZ, ToneHelper
from .site import LabSite

TLS_A, TLS_B, CLEAR = "3701", "3702", "3703"
ETH_P_ALL = 0x0003
RTP_PORTS = range(10000, 20001)  # the lab Asterisk's rtp.conf


@pytest.fixture(scope="module")
def encrypted(site: LabSite) -> LabSite:
    """Two agents on the default transport (TLS + SRTP), one desk phone opted into clear UDP."""
    site.add_agent(TLS_A, "Anaïs Chiffre")
    site.add_agent(TLS_B, "Basile Chiffre")
    site.add_agent(CLEAR, "Désiré Bureau", "--transport", "udp")
    site.apply()
    return site


def _ulaw(byte: int) -> float:
    """One G.711 mu-law byte as a sample in -1..1."""
    byte = ~byte & 0xFF
    magnitude = ((byte & 0x0F) << 3 | 0x84) << ((byte >> 4) & 0x07)
    return (-(magnitude - 0x84) if byte & 0x80 else magnitude - 0x84) / 32768.0


@contextmanager
def _rtp_capture(address: str) -> Iterator[dict[int, list[bytes]]]:
    """Every RTP payload (PT 0, PCMU) sent from a port of `address` to Asterisk's RTP ports on
    the loopback interface, by source port, while the block runs."""
    payloads: dict[int, list[bytes]] = {}
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    target = socket.inet_aton(address)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                frame, meta = sock.recvfrom(65535)
            except TimeoutError:
                continue
            if meta[2] == socket.PACKET_OUTGOING:  # loopback shows each packet twice
                continue
            ip = frame[14:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP or ip[16:20] != target:
                continue
            udp = ip[(ip[0] & 0x0F) * 4:]
            src, dst = struct.unpack("!HH", udp[:4])
            rtp = udp[8:]
            if dst in RTP_PORTS and len(rtp) > 12 and rtp[0] >> 6 == 2 and rtp[1] & 0x7F == 0:
                payloads.setdefault(src, []).append(rtp[12 + 4 * (rtp[0] & 0x0F):])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield payloads
    finally:
        stop.set()
        reader.join(2)
        sock.close()


def _tone_share(packets: list[bytes], hz: int) -> float:
    """How much of the decoded mu-law audio of `packets` (about a second of it) is at `hz`."""
    samples = [_ulaw(b) for p in packets[10:60] for b in p]
    return goertzel_share(samples, 8000, hz)


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
    with _rtp_capture(encrypted.pbx.address) as wire:
        _talk(a, b, TLS_B)
    assert tones.heard(a) == {AGENT_HZ}
    assert tones.heard(b) == {CALLER_HZ}
    streams = {port: packets for port, packets in wire.items() if len(packets) >= 60}
    assert len(streams) >= 2, {p: len(v) for p, v in wire.items()}  # both phones' media was captured
    shares = {port: max(_tone_share(packets, CALLER_HZ), _tone_share(packets, AGENT_HZ))
              for port, packets in streams.items()}
    # SRTP payloads are ciphertext: no tone survives decoding them as mu-law.
    assert max(shares.values()) < 0.2, shares


def test_the_same_capture_hears_a_clear_text_agent(encrypted: LabSite, softphone: Callable[..., Softphone],
                                                   tones: ToneHelper) -> None:
    """The control: the capture above would have seen a clear tone had there been one."""
    a = encrypted.start_phone(softphone, TLS_A, CALLER_HZ)
    desk = encrypted.start_phone(softphone, CLEAR, AGENT_HZ)
    assert (desk.config.transport, desk.config.srtp) == ("udp", False)
    with _rtp_capture(encrypted.pbx.address) as wire:
        _talk(desk, a, TLS_A)
    assert tones.heard(a) == {AGENT_HZ} and tones.heard(desk) == {CALLER_HZ}
    shares = {port: _tone_share(packets, AGENT_HZ) for port, packets in wire.items() if len(packets) >= 60}
    assert max(shares.values(), default=0.0) > 0.8, shares


def test_a_softphone_offering_no_srtp_is_refused_not_downgraded(
        encrypted: LabSite, softphone: Callable[..., Softphone]) -> None:
    b = encrypted.start_phone(softphone, TLS_B, AGENT_HZ)
    # Over TLS but without SRTP: Asterisk must answer 488, not fall back to clear RTP.
    plain = encrypted.start_phone(softphone, TLS_A, CALLER_HZ, srtp=False)
    plain.dial(TLS_B)
    plain.wait_event("CALL_CLOSED", 15)
    seen = [e.get("type") for e in plain.events]
    assert "CALL_ESTABLISHED" not in seen, seen
    assert not [e for e in b.events if e.get("type") == "CALL_INCOMING"]
    closed = next(e for e in plain.events if e.get("type") == "CALL_CLOSED")
    assert "488" in str(closed.get("param", "")), closed

