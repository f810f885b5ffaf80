"""A small fake FreeSWITCH event socket (mod_event_socket, inbound) for the client's tests.

It reads commands with its own few lines (not homepbx's parser) and writes frames and events
the way mod_event_socket and switch_event.c do, so a test can say exactly which commands
reached "FreeSWITCH", hold one unanswered (FreeSWITCH answers in order, so the ones behind it
wait too), answer with a script, push events or raw bytes, or drop the connection.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_UNSAFE = set(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_HEX = b"0123456789ABCDEF"

STATUS = (
    "UP 0 years, 0 days, 2 hours, 14 minutes, 5 seconds, 122 milliseconds, 881 microseconds\n"
    "FreeSWITCH (Version 1.10.12-release 64bit) is ready\n"
    "41 session(s) since startup\n"
)
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


# -- FreeSWITCH's serialisation (switch_url_encode_opt, switch_event_serialize[_json]) -----------


def url_encode(value: str) -> str:
    """Bytes outside space..~ and the unsafe set become %XX; an existing %XX is left alone."""
    raw = value.encode("utf-8")
    out = bytearray()
    for i, byte in enumerate(raw):
        if byte == 0x25 and raw[i + 1 : i + 2] and raw[i + 1] in _HEX and raw[i + 2 : i + 3] and raw[i + 2] in _HEX:
            out.append(byte)
        elif byte < 0x20 or byte > 0x7E or byte in _UNSAFE:
            out += b"%" + bytes([_HEX[byte >> 4], _HEX[byte & 15]])
        else:
            out.append(byte)
    return out.decode("ascii")


def serialize_plain(headers: list[tuple[str, str]], body: str = "") -> bytes:
    text = "".join(f"{name}: {url_encode(value) or '_undef_'}\n" for name, value in headers)
    if body:
        text += f"Content-Length: {len(body.encode())}\n\n{body}"
    else:
        text += "\n"
    return text.encode("utf-8")


def serialize_json(headers: list[tuple[str, str]], body: str = "") -> bytes:
    obj: dict[str, Any] = dict(headers)
    if body:
        obj["Content-Length"] = str(len(body.encode()))
        obj["_body"] = body
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_frame(headers: list[tuple[str, str]], body: str = "", fmt: str = "json") -> bytes:
    data = serialize_plain(headers, body) if fmt == "plain" else serialize_json(headers, body)
    return f"Content-Length: {len(data)}\nContent-Type: text/event-{fmt}\n\n".encode() + data


def core_headers(name: str, subclass: str | None = None, sequence: int = 1) -> list[tuple[str, str]]:
    """The headers switch_event_prep_for_delivery puts first on every event."""
    headers = [
        ("Event-Name", name),
        ("Core-UUID", "d29b8652-db47-479a-aa9e-7f65abc703cc"),
        ("FreeSWITCH-Hostname", "fs1.homepbx.lan"),
        ("FreeSWITCH-Switchname", "fs1.homepbx.lan"),
        ("FreeSWITCH-IPv4", "10.20.0.5"),
        ("FreeSWITCH-IPv6", "::1"),
        ("Event-Date-Local", "2024-06-10 14:03:07"),
        ("Event-Date-GMT", "Mon, 10 Jun 2024 12:03:07 GMT"),
        ("Event-Date-Timestamp", "1718020987120311"),
        ("Event-Calling-File", "switch_channel.c"),
        ("Event-Calling-Function", "switch_channel_perform_mark_answered"),
        ("Event-Calling-Line-Number", "3904"),
        ("Event-Sequence", str(sequence)),
    ]
    if subclass:
        headers.append(("Event-Subclass", subclass))
    return headers


def reply(text: str, *extra: str) -> bytes:
    return ("Content-Type: command/reply\n" + "".join(f"{line}\n" for line in (f"Reply-Text: {text}", *extra)) + "\n").encode()


def api_response(body: str) -> bytes:
    data = body.encode("utf-8")
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


def disconnect_notice(message: str = GOODBYE) -> bytes:
    data = message.encode()
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(data) + data


# -- recorded transcripts (tests/data/esl) --------------------------------------------------------

RECORDED = Path(__file__).resolve().parents[1] / "data" / "esl"


@dataclass(frozen=True)
class RecordedFrame:
    """One frame of a recorded transcript: its exact bytes and the few headers a test looks at."""

    raw: bytes
    content_type: str
    event_name: str = ""  # the Event-Name of an event frame

    @property
    def is_event(self) -> bool:
        return self.content_type in ("text/event-plain", "text/event-json")


def recorded_frames(name: str) -> list[RecordedFrame]:
    """Cut a recorded transcript into frames with its own few lines (not homepbx's parser)."""
    data = (RECORDED / name).read_bytes()
    frames: list[RecordedFrame] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n\n", pos)
        head = dict(line.split(": ", 1) for line in data[pos:end].decode().split("\n"))
        stop = end + 2 + int(head.get("Content-Length", "0"))
        assert stop <= len(data), f"{name} ends inside a frame"
        body = data[end + 2 : stop]
        kind = head.get("Content-Type", "")
        event_name = ""
        if kind == "text/event-json":
            event_name = json.loads(body)["Event-Name"]
        elif kind == "text/event-plain":
            event_name = body.split(b"Event-Name: ", 1)[1].split(b"\n", 1)[0].decode()
        frames.append(RecordedFrame(data[pos:stop], kind, event_name))
        pos = stop
    return frames


# -- the server ----------------------------------------------------------------------------------


@dataclass
class Command:
    """One command as mod_event_socket's read_packet sees it: a line, headers, a body."""

    line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def verb(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def api_name(self) -> str:
        """``status`` for ``api status``, ``originate`` for ``bgapi originate ...``."""
        parts = self.line.split(" ", 2)
        return parts[1] if len(parts) > 1 else ""

    @property
    def api_arg(self) -> str:
        parts = self.line.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    raw: bytearray = field(default_factory=bytearray)
    fmt: str = "plain"
    authed: bool = False
    subscriptions: list[str] = field(default_factory=list)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def event(self, headers: list[tuple[str, str]], body: str = "") -> None:
        """Send an event in the format this connection asked for."""
        await self.send(event_frame(headers, body, self.fmt))


Script = Callable[[Connection, Command], Awaitable[None] | None]


class FakeEsl:
    """``async with FakeEsl() as fs:`` listens on 127.0.0.1:<fs.port>."""

    def __init__(self, password: str = "ClueCon", *, acl_denies: bool = False, silent: bool = False) -> None:
        self.password = password
        self.acl_denies = acl_denies
        self.silent = silent  # accept the TCP connection, never say auth/request
        self.commands: list[Command] = []
        self.connections: list[Connection] = []
        # "api NAME" / "bgapi NAME" / verb -> script answering it (a script must answer itself).
        self.scripts: dict[str, Script] = {}
        # Those get no answer until release(): like FreeSWITCH running a slow api, the commands
        # behind them wait too.
        self.hold: set[str] = set()
        # bgapi jobs whose BACKGROUND_JOB event is never sent.
        self.hold_jobs: set[str] = set()
        self.job_results: dict[str, str] = {"originate": "+OK 2f6c1d3e-0000-4000-a000-000000000001\n"}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()
        self._released = asyncio.Event()
        self._serving: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FakeEsl:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._released.set()
        await self.drop()
        assert self._server is not None
        self._server.close()
        # Let every connection handler finish here, not be cancelled by the loop's shutdown.
        tasks = [t for t in self._serving if not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=1)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- what the tests look at ----------------------------------------------------------------
    def lines(self) -> list[str]:
        """Every command line received, auth included (the password shown as ***)."""
        return ["auth ***" if c.line.startswith("auth ") else c.line for c in self.commands]

    def count(self, prefix: str) -> int:
        return sum(1 for line in self.lines() if line.startswith(prefix))

    @property
    def raw(self) -> bytes:
        return b"".join(bytes(c.raw) for c in self.connections)

    async def wait_for(self, prefix: str, count: int = 1, timeout: float = 2.0) -> Command:
        """Wait until ``count`` commands starting with ``prefix`` arrived; return the last one."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: self.count(prefix) >= count)
        return [c for c in self.commands if c.line.startswith(prefix)][-1]

    # -- what the tests do ---------------------------------------------------------------------
    @property
    def last(self) -> Connection:
        return self.connections[-1]

    async def send(self, data: bytes) -> None:
        """Write raw bytes to the newest connection."""
        await self.last.send(data)

    def release(self) -> None:
        """Let held commands be answered."""
        self._released.set()

    async def drop(self) -> None:
        """Close every open connection (FreeSWITCH restarting, a network cut)."""
        for conn in self.connections:
            if not conn.writer.is_closing():
                conn.writer.close()
        for conn in self.connections:
            try:
                await conn.writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    # -- the server ----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
        conn = Connection(reader, writer)
        self.connections.append(conn)
        try:
            if self.acl_denies:
                message = b"Access Denied, go away.\n"
                await conn.send(b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n" % len(message) + message)
                return
            if not self.silent:
                await conn.send(b"Content-Type: auth/request\n\n")
            buffer = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                conn.raw.extend(data)
                buffer += data
                while b"\n\n" in buffer:
                    head, buffer = buffer.split(b"\n\n", 1)
                    line, *rest = head.decode("utf-8").split("\n")
                    command = Command(line, [tuple(h.split(": ", 1)) for h in rest])  # type: ignore[misc]
                    length = int(command.get("Content-Length", "0") or 0)
                    while len(buffer) < length:
                        buffer += await reader.read(65536)
                    command.body, buffer = buffer[:length], buffer[length:]
                    self.commands.append(command)
                    async with self._arrived:
                        self._arrived.notify_all()
                    if not await self._answer(conn, command):
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _answer(self, conn: Connection, command: Command) -> bool:
        """Answer one command; False when the connection must close."""
        verb = command.verb
        if verb == "exit":
            await conn.send(reply("+OK bye") + disconnect_notice())
            return False
        if not conn.authed:
            if verb == "auth" and command.line[5:] == self.password:
                conn.authed = True
                await conn.send(reply("+OK accepted"))
                return True
            await conn.send(reply("-ERR invalid") + disconnect_notice())
            return False
        key = f"{verb} {command.api_name}" if verb in ("api", "bgapi") else verb
        if key in self.hold or verb in self.hold:
            await self._released.wait()
        script = self.scripts.get(key) or self.scripts.get(verb)
        if script is not None:
            result = script(conn, command)
            if inspect.isawaitable(result):
                await result
            return True
        if verb == "event":
            words = command.line.split()
            conn.fmt = words[1]
            conn.subscriptions.extend(words[2:])
            await conn.send(reply(f"+OK event listener enabled {conn.fmt}"))
        elif verb == "api":
            await conn.send(api_response(self._api(command)))
        elif verb == "bgapi":
            job = command.get("Job-UUID") or "00000000-0000-4000-a000-00000000beef"
            await conn.send(reply(f"+OK Job-UUID: {job}", f"Job-UUID: {job}"))
            if command.api_name not in self.hold_jobs:
                await self.finish_job(conn, command)
        elif verb in ("sendmsg", "filter", "nixevent", "linger", "log"):
            await conn.send(reply("+OK"))
        else:
            await conn.send(reply("-ERR command not found"))
        return True

    def _api(self, command: Command) -> str:
        name = command.api_name
        if name == "status":
            return STATUS
        if name == "uptime":
            return "8065\n"
        if name == "echo":
            return command.api_arg + "\n"
        return f"-ERR {name} Command not found!\n"

    async def finish_job(self, conn: Connection, command: Command, output: str | None = None) -> None:
        """Fire the BACKGROUND_JOB event of a bgapi command (mod_event_socket's api_exec)."""
        name = command.api_name
        headers = core_headers("BACKGROUND_JOB") + [
            ("Job-UUID", command.get("Job-UUID")),
            ("Job-Command", name),
        ]
        if command.api_arg:
            headers.append(("Job-Command-Arg", command.api_arg))
        result = output if output is not None else self.job_results.get(name, f"-ERR {name} Command not found!\n")
        await conn.event(headers, result)


@contextmanager
def fake_esl_in_thread(**options: Any) -> Iterator[FakeEsl]:
    """A FakeEsl running on its own loop in a thread (for the synchronous helper)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with FakeEsl(**options) as fs:
            holder["fs"] = fs
            holder["stop"] = asyncio.Event()
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield holder["fs"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(5)
        loop.close()
