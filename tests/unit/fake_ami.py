"""A small fake Asterisk manager interface for the client's tests.

It parses what it receives with its own few lines (not homepbx's parser), so a test can say
exactly which actions reached "Asterisk", and it can hold an action unanswered, answer with a
script, push raw bytes, or drop the connection.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


@dataclass
class Action:
    headers: list[tuple[str, str]]

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.headers:
            if k.lower() == key.lower():
                return v
        return default

    @property
    def name(self) -> str:
        return self.get("Action")

    @property
    def id(self) -> str:
        return self.get("ActionID")


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    raw: bytearray = field(default_factory=bytearray)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, action: Action, *lines: str) -> None:
        """Answer ``action`` with ``lines`` (its ActionID is added)."""
        await self.send(frame(*lines, f"ActionID: {action.id}"))


def frame(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


Script = Callable[[Connection, Action], Awaitable[None] | None]


class FakeAmi:
    """``async with FakeAmi() as ami:`` listens on 127.0.0.1:<ami.port>."""

    def __init__(self, username: str = "homepbx", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.actions: list[Action] = []
        self.connections: list[Connection] = []
        # Action name (lower case) -> script answering it; a script returning without replying
        # leaves the action unanswered.
        self.scripts: dict[str, Script] = {}
        self.hold: set[str] = set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> FakeAmi:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drop()
        assert self._server is not None
        self._server.close()

    # -- what the tests look at ----------------------------------------------------------------
    def names(self) -> list[str]:
        """Names of the actions received, Login included, in order."""
        return [a.name for a in self.actions]

    def after_login(self) -> list[str]:
        return [n for n in self.names() if n != "Login"]

    @property
    def raw(self) -> bytes:
        return b"".join(bytes(c.raw) for c in self.connections)

    async def wait_for(self, name: str, count: int = 1, timeout: float = 2.0) -> Action:
        """Wait until ``count`` actions called ``name`` arrived; return the last one."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: self.names().count(name) >= count)
        return [a for a in self.actions if a.name == name][-1]

    # -- what the tests do ---------------------------------------------------------------------
    async def send(self, data: bytes) -> None:
        """Write raw bytes to the newest connection."""
        await self.connections[-1].send(data)

    async def drop(self) -> None:
        """Close every open connection (Asterisk restarting, a network cut)."""
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
        conn = Connection(reader, writer)
        self.connections.append(conn)
        writer.write(BANNER)
        buffer = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                conn.raw.extend(data)
                buffer += data
                *frames, buffer = buffer.split(b"\r\n\r\n")
                for raw in frames:
                    lines = raw.decode("utf-8").split("\r\n")
                    action = Action([tuple(line.split(": ", 1)) for line in lines])  # type: ignore[misc]
                    self.actions.append(action)
                    async with self._arrived:
                        self._arrived.notify_all()
                    await self._answer(conn, action)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _answer(self, conn: Connection, action: Action) -> None:
        name = action.name.lower()
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                await conn.reply(action, "Response: Success", "Message: Authentication accepted")
                await conn.send(frame("Event: FullyBooted", "Privilege: system,all", "Status: Fully Booted"))
            else:
                await conn.reply(action, "Response: Error", "Message: Authentication failed")
                conn.writer.close()
            return
        if name in self.hold:
            return
        script = self.scripts.get(name)
        if script is not None:
            result = script(conn, action)
            if inspect.isawaitable(result):
                await result
            return
        if name == "ping":
            await conn.reply(action, "Response: Success", "Ping: Pong", "Timestamp: 1718000000.000000")
        elif name == "logoff":
            await conn.reply(action, "Response: Goodbye", "Message: Thanks for all the fish.")
        else:
            await conn.reply(action, "Response: Success", "Message: OK")


@contextmanager
def fake_ami_in_thread(**options: Any) -> Iterator[FakeAmi]:
    """A FakeAmi running on its own loop in a thread (for the synchronous helper)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with FakeAmi(**options) as ami:
            holder["ami"] = ami
            holder["stop"] = asyncio.Event()
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield holder["ami"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(5)
        loop.close()
