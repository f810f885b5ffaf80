"""AMI parsing throughput: bare panoramisk 1.4 vs homepbx.asterisk.ami, on the same recorded stream.

Both sides get the same bytes in the same 64 KiB reads (asyncio's socket reads are of that
order), through their real receive path, down to a no-op event handler:

* panoramisk: ``AMIProtocol.data_received`` -> ``Message.from_line`` -> ``Manager.dispatch``
  with a ``'*'`` callback;
* homepbx: ``_Protocol.data_received`` -> ``FrameBuffer.feed`` -> ``AmiClient._handle_message``
  with a ``'*'`` handler.

Each side counts the events its handler saw, so neither can win by dropping any.

    .venv/bin/python bench/ami_throughput.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

CHUNK = 64 * 1024


def _event(i: int) -> bytes:
    """One realistic Asterisk 22 event with sixteen headers (Event and Privilege included)."""
    chan = f"PJSIP/agent{i % 300:03d}-{i:08x}"
    uid = f"1718000000.{i}"
    kind = i % 3
    if kind == 0:
        lines = [
            "Event: Newchannel", "Privilege: call,all", f"Channel: {chan}", "ChannelState: 0",
            "ChannelStateDesc: Down", f"CallerIDNum: 06{i % 100000000:08d}", "CallerIDName: Zoé Martin",
            "ConnectedLineNum: <unknown>", "ConnectedLineName: <unknown>", "Language: fr",
            "AccountCode: ", "Context: from-agents", "Exten: 3001", "Priority: 1",
            f"Uniqueid: {uid}", f"Linkedid: {uid}",
        ]
    elif kind == 1:
        lines = [
            "Event: Hangup", "Privilege: call,all", f"Channel: {chan}", "ChannelState: 6",
            "ChannelStateDesc: Up", f"CallerIDNum: 06{i % 100000000:08d}", "CallerIDName: Zoé Martin",
            "ConnectedLineNum: 3001", "ConnectedLineName: Ventes", "Language: fr",
            "Context: from-agents", "Exten: 3001", "Priority: 4", f"Uniqueid: {uid}",
            "Cause: 16", "Cause-txt: Normal Clearing",
        ]
    else:
        lines = [
            "Event: QueueMemberStatus", "Privilege: agent,all", "Queue: ventes",
            f"MemberName: Agent {i % 300}", f"Interface: PJSIP/agent{i % 300:03d}",
            f"StateInterface: PJSIP/agent{i % 300:03d}", "Membership: dynamic", "Penalty: 0",
            f"CallsTaken: {i % 57}", "LastCall: 1718000123", "LoginTime: 1717990000", "InCall: 1",
            "Status: 2", "Paused: 0", "PausedReason: ", "Wrapuptime: 0",
        ]
    assert len(lines) == 16
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def build_stream(count: int) -> list[bytes]:
    """The recorded stream: banner then ``count`` events, cut into CHUNK-sized reads."""
    data = b"Asterisk Call Manager/9.0.0\r\n" + b"".join(_event(i) for i in range(count))
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def panoramisk_feeder() -> tuple[Callable[[bytes], None], list[int]]:
    from panoramisk.ami_protocol import AMIProtocol
    from panoramisk.manager import Manager

    seen = [0]

    def noop(manager: object, event: object) -> None:
        seen[0] += 1

    manager = Manager(encoding="utf8")
    manager.register_event("*", noop)
    protocol = AMIProtocol()
    protocol.connection_made(_NullTransport())
    protocol.factory = manager
    protocol.encoding = "utf8"
    return protocol.data_received, seen


def homepbx_feeder() -> tuple[Callable[[bytes], None], list[int]]:
    from homepbx.asterisk.ami.client import AmiClient, _Protocol
    from homepbx.asterisk.ami.frames import FrameBuffer

    seen = [0]

    def noop(event: object) -> None:
        seen[0] += 1

    client = AmiClient()
    client.add_event_handler("*", noop)
    protocol = _Protocol(client, FrameBuffer())
    protocol.connection_made(_NullTransport())  # type: ignore[arg-type]
    return protocol.data_received, seen


def measure(factory: Callable[[], tuple[Callable[[bytes], None], list[int]]], chunks: list[bytes], count: int) -> float:
    feed, seen = factory()
    start = time.perf_counter()
    for chunk in chunks:
        feed(chunk)
    elapsed = time.perf_counter() - start
    if seen[0] != count:
        raise SystemExit(f"{factory.__name__} delivered {seen[0]} events out of {count}")
    return count / elapsed


async def main(count: int, rounds: int) -> None:
    chunks = build_stream(count)
    size = sum(map(len, chunks))
    print(f"stream: {count} sixteen-header events, {size / 1e6:.1f} MB in {len(chunks)} reads of {CHUNK} B")
    best = {"panoramisk": 0.0, "homepbx": 0.0}
    for _ in range(rounds):  # interleaved, best of N: both see the same machine noise
        best["panoramisk"] = max(best["panoramisk"], measure(panoramisk_feeder, chunks, count))
        best["homepbx"] = max(best["homepbx"], measure(homepbx_feeder, chunks, count))
    for name, rate in best.items():
        print(f"{name:>11}: {rate:>10,.0f} events/s")
    print(f"      ratio: {best['homepbx'] / best['panoramisk']:.2f}x (homepbx / panoramisk)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds))
