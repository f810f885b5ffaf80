"""What crosses the loopback wire during a lab call: RTP payloads read with a raw socket.

Shared by the encryption lab tests of both PBXs: the payloads of a clear-text agent decode to
its tone as G.711 mu-law, an SRTP agent's (ciphertext) do not.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Container, Iterator
from contextlib import contextmanager

from homepbx.lab.tones import goertzel_share

ETH_P_ALL = 0x0003


def ulaw(byte: int) -> float:
    """One G.711 mu-law byte as a sample in -1..1."""
    byte = ~byte & 0xFF
    magnitude = ((byte & 0x0F) << 3 | 0x84) << ((byte >> 4) & 0x07)
    return (-(magnitude - 0x84) if byte & 0x80 else magnitude - 0x84) / 32768.0


@contextmanager
def rtp_capture(address: str, pbx_ports: Container[int]) -> Iterator[dict[int, list[bytes]]]:
    """Every RTP payload (PT 0, PCMU) sent to one of the PBX's RTP ports `pbx_ports` at `address`
    on the loopback interface, by source port, while the block runs."""
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
            if dst in pbx_ports and len(rtp) > 12 and rtp[0] >> 6 == 2 and rtp[1] & 0x7F == 0:
                payloads.setdefault(src, []).append(rtp[12 + 4 * (rtp[0] & 0x0F):])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield payloads
    finally:
        stop.set()
        reader.join(2)
        sock.close()


def tone_share(packets: list[bytes], hz: int) -> float:
    """How much of the decoded mu-law audio of `packets` (about a second of it) is at `hz`."""
    samples = [ulaw(b) for p in packets[10:60] for b in p]
    return goertzel_share(samples, 8000, hz)
