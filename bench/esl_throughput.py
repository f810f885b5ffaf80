"""ESL event parsing throughput: greenswitch 0.0.19 vs homepbx.freeswitch.esl, same byte stream.

The stream: the ``text/event-plain`` frames of ``tests/data/esl/recorded_fs1.10.12.plain.esl``
(raw bytes recorded from a real FreeSWITCH 1.10.12 during one call-centre queue call, see
``tests/data/esl/RECORDED.md``: CHANNEL_* events with their variables, callcenter::info,
BACKGROUND_JOB, API... 87 events, about 4.4 KB and 90 headers an event), repeated to
``--events``. ``--stream FILE`` takes any other capture of raw socket bytes instead (its
event-plain frames are kept: greenswitch cannot take a reply nobody asked for).

What is compared, in one process, both fed from memory, both down to a handler that counts
the events (so neither can win by dropping any).

Events are counted, not kept (keeping thousands of dicts alive only measures the garbage
collector).

* greenswitch: its real receive path, unmodified: ``ESLProtocol.receive_events`` reading the
  stream line by line from a file object (``io.BytesIO`` where a socket's ``makefile('rb')``
  would be: no syscalls, which only helps it), ``handle_event`` reading each body,
  ``ESLEvent.parse_data`` building the header dict, the gevent queue, then
  ``process_events`` handing each event to a ``'*'`` handler. No greenlet is spawned: the two
  loops run one after the other in the main greenlet.
* homepbx: the client's real receive path: ``_Protocol.data_received`` on 64 KiB reads (what
  asyncio hands over) -> ``EslSession.receive_data`` -> ``FrameBuffer`` -> ``parse_event_plain``
  -> ``EslClient`` dispatch to a ``'*'`` handler.

Both end with the same thing per event: a dict of every header, URL-decoded, and the body.
Before timing, the script checks that they agree on every header value of the recorded events
and prints the exceptions: greenswitch URL-decodes a whole event before splitting its lines,
so a value holding a newline (an SDP) comes out cut and re-joined without its CRs, and it
files an event's body under its Content-Length header.

Also printed, not in the ratio: ``plain floor``, the bare C calls any plain parser needs on the
same event bodies (translate, escape decoding, UTF-8 decoding, split, dict: no validation, no
framing, no dispatch), and homepbx on ``text/event-json`` (what EslClient subscribes to by
default): the event frames of ``tests/data/esl/recorded_fs1.10.12.json.esl`` (the same session
seen by a second connection, ``--json-stream``), and C ``json.loads`` alone on those JSON bodies,
a yardstick of what this machine can do at all with ~4 KB events.

    .venv/bin/python bench/esl_throughput.py [--events 20000] [--rounds 3] [--stream FILE] [--json-stream FILE]

Needs the bench extra (greenswitch, which pulls gevent).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import time
from binascii import a2b_qp
from collections.abc import Callable
from pathlib import Path

from homepbx.freeswitch.esl.frames import EVENT_JSON, EVENT_PLAIN, FrameBuffer

CHUNK = 64 * 1024
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "esl"
RECORDED = DATA / "recorded_fs1.10.12.plain.esl"
RECORDED_JSON = DATA / "recorded_fs1.10.12.json.esl"
HANDSHAKE = b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n"


def event_bodies(path: Path, content_type: str = EVENT_PLAIN) -> list[bytes]:
    """The bodies of the event frames of a capture (any file of raw socket bytes)."""
    return [frame.raw_body for frame in FrameBuffer().feed(path.read_bytes()) if frame.content_type == content_type]


def plain_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def json_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


def repeat_to(frames: list[bytes], count: int) -> bytes:
    return b"".join(frames[i % len(frames)] for i in range(count))


class _NullSocket:
    def close(self) -> None:
        pass


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def run_greenswitch(stream: bytes, count: int, keep: bool = False) -> tuple[float, list[object]]:
    from greenswitch.esl import ESLProtocol

    protocol = ESLProtocol()
    protocol.sock = _NullSocket()
    protocol.sock_file = io.BytesIO(stream)
    protocol.connected = True
    seen: list[object] = []
    counted = [0]

    def handler(event: object) -> None:
        counted[0] += 1
        if keep:
            seen.append(event)
        if counted[0] == count:
            protocol._run = False  # the last one: let process_events return

    protocol.register_handle("*", handler)
    start = time.process_time()
    protocol.receive_events()  # until EOF, which also clears _run
    if protocol._esl_event_queue.qsize() != count:
        raise SystemExit(f"greenswitch queued {protocol._esl_event_queue.qsize()} events out of {count}")
    protocol._run = True
    protocol.process_events()
    elapsed = time.process_time() - start
    return elapsed, seen


def run_homepbx(chunks: list[bytes], count: int, keep: bool = False) -> tuple[float, list[object]]:
    from homepbx.freeswitch.esl.client import EslClient, _Protocol
    from homepbx.freeswitch.esl.session import EslSession

    seen: list[object] = []
    counted = [0]

    def handler(event: object) -> None:
        counted[0] += 1
        if keep:
            seen.append(event)

    client = EslClient()
    client.add_event_handler("*", handler)
    protocol = _Protocol(client, EslSession("ClueCon"))
    protocol.connection_made(_NullTransport())  # type: ignore[arg-type]
    protocol.data_received(HANDSHAKE)
    feed = protocol.data_received
    start = time.process_time()
    for chunk in chunks:
        feed(chunk)
    elapsed = time.process_time() - start
    if counted[0] != count:
        raise SystemExit(f"homepbx delivered {counted[0]} events out of {count}")
    return elapsed, seen


def run_json_loads(bodies: list[bytes], count: int) -> tuple[float, list[object]]:
    loads = json.loads
    size = len(bodies)
    start = time.process_time()
    for i in range(count):
        loads(bodies[i % size])
    return time.process_time() - start, []


_BARE_FLATTEN = bytes.maketrans(b"\n:%", b"\x00\x00=")


def run_plain_floor(bodies: list[bytes], count: int) -> tuple[float, list[object]]:
    """The C-level work any plain parser must do, with no check at all: one translation, one
    escape decoding, one UTF-8 decoding, one split, one dict (wrong for any irregular event)."""
    size = len(bodies)
    table = _BARE_FLATTEN
    start = time.process_time()
    for i in range(count):
        parts = a2b_qp(bodies[i % size].translate(table, b" ")).decode("utf-8", "replace").split("\x00")
        it = iter(parts)
        dict(zip(it, it))
    return time.process_time() - start, []


def timed(run: Callable[[], tuple[float, list[object]]]) -> float:
    gc.collect()
    elapsed, seen = run()
    del seen
    return elapsed


def check_same_headers(bodies: list[bytes]) -> None:
    """Both parsers on the recorded events: report every header value they disagree on.

    Called from the running loop (the homepbx protocol needs one).
    """
    count = len(bodies)
    _, theirs = run_greenswitch(b"".join(plain_frame(b) for b in bodies), count, keep=True)
    _, ours = run_homepbx([plain_frame(b) for b in bodies], count, keep=True)
    values = differ = 0
    kinds: dict[str, int] = {}
    for gs, hp in zip(theirs, ours):
        mine = dict(hp)  # type: ignore[call-overload]
        for name, value in mine.items():
            values += 1
            other = gs.headers.get(name)  # type: ignore[attr-defined]
            if other != value:
                differ += 1
                kind = "Content-Length (body filed under it)" if name == "Content-Length" else "multi-line value"
                if name != "Content-Length" and "\n" not in value:
                    kind = f"other ({name})"
                kinds[kind] = kinds.get(kind, 0) + 1
    detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    print(f"check: {values} header values of {count} events; they differ on {differ}: {detail}")


async def main(count: int, rounds: int, stream_path: Path, json_path: Path) -> None:
    bodies = event_bodies(stream_path)
    if not bodies:
        raise SystemExit(f"{stream_path} holds no text/event-plain frame")
    json_bodies = event_bodies(json_path, EVENT_JSON)
    if not json_bodies:
        raise SystemExit(f"{json_path} holds no text/event-json frame")
    check_same_headers(bodies)
    plain = repeat_to([plain_frame(b) for b in bodies], count)
    chunks = [plain[i : i + CHUNK] for i in range(0, len(plain), CHUNK)]
    json_stream = repeat_to([json_frame(b) for b in json_bodies], count)
    json_chunks = [json_stream[i : i + CHUNK] for i in range(0, len(json_stream), CHUNK)]
    print(
        f"stream: {count:,} events ({len(bodies)} recorded ones repeated), {len(plain) / 1e6:.1f} MB plain, "
        f"{len(plain) / count / 1024:.1f} KB an event, in {len(chunks)} reads of {CHUNK // 1024} KiB; "
        f"json: {len(json_bodies)} recorded events repeated, {len(json_stream) / count / 1024:.1f} KB an event"
    )
    runs: dict[str, Callable[[], tuple[float, list[object]]]] = {
        "greenswitch": lambda: run_greenswitch(plain, count),
        "homepbx": lambda: run_homepbx(chunks, count),
        "homepbx json": lambda: run_homepbx(json_chunks, count),
        "json.loads": lambda: run_json_loads(json_bodies, count),
        "plain floor": lambda: run_plain_floor(bodies, count),
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):  # interleaved, best of N: all see the same machine noise
        for name, run in runs.items():
            best[name] = min(best[name], timed(run))
    rates = {name: count / elapsed for name, elapsed in best.items()}
    print(f"{'greenswitch':>13}: {rates['greenswitch']:>10,.0f} events/s  (text/event-plain)")
    print(f"{'homepbx':>13}: {rates['homepbx']:>10,.0f} events/s  (text/event-plain)")
    print(f"{'ratio':>13}: {rates['homepbx'] / rates['greenswitch']:.2f}x  (homepbx / greenswitch, same plain stream)")
    print(f"{'homepbx json':>13}: {rates['homepbx json']:>10,.0f} events/s  (text/event-json, recorded)")
    print(f"{'json.loads':>13}: {rates['json.loads']:>10,.0f} events/s  (C json.loads of those JSON bodies alone: this machine's yardstick)")
    print(f"{'plain floor':>13}: {rates['plain floor']:>10,.0f} events/s  (the C calls a plain parser cannot skip, unchecked: the plain yardstick)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stream", type=Path, default=RECORDED, help="a capture of raw event socket bytes (event plain)")
    parser.add_argument("--json-stream", type=Path, default=RECORDED_JSON, help="the same after event json")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds, args.stream, args.json_stream))
