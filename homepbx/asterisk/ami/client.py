"""AmiClient: a small asyncio client for Asterisk's manager interface (AMI).

Why our own client and not an adapter over panoramisk 1.4 (design.md allows either): each of
panoramisk's defects sits in the part an adapter would have to reuse. Decoding per TCP chunk
with ``errors='ignore'`` and the unescaped writer live in its protocol class; the replay of
in-flight actions after a reconnect, the silent failed login and the handler exceptions that
kill the connection live in its Manager; events carrying an in-flight ActionID are swallowed by
its response routing. Overriding all of that leaves only the socket from the library, so this
is a sans-IO parser (``frames.py``) under a thin ``asyncio.Protocol`` shell (this file), which
also parses the same stream faster (see ``bench/ami_throughput.py``).

Guarantees (each has a regression test in ``tests/unit/test_ami_client.py``):

* ``connect()`` raises ``AmiLoginError`` on refused credentials and ``AmiUnavailable`` when the
  port is closed or silent;
* a key or value holding CR/LF/NUL raises ``UnsafeHeader`` before a byte is written; the
  ActionID is always the client's own;
* every action has a timeout (``AmiTimeout``);
* list actions (``EventList: start`` ... ``EventList: Complete``) return their events;
* every event reaches the event handlers, including those carrying an in-flight ActionID
  (``OriginateResponse``), and the batch handlers (all the events of one read in one call, for
  consumers of every event); an exception in one handler is logged and affects nothing else;
* with ``reconnect=True``, a dropped connection is re-opened with backoff; actions that were in
  flight fail with ``AmiDisconnected`` unless they are read-only (``SAFE_TO_RETRY``), so an
  Originate is never sent twice; ``on_reconnect`` callbacks run after the re-login.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ...config import AmiSettings
from ...handlers import AsyncHandlers
from .errors import (
    AmiActionError,
    AmiDisconnected,
    AmiLoginError,
    AmiProtocolError,
    AmiTimeout,
    AmiUnavailable,
)
from .frames import FrameBuffer, Headers, Message, encode_action

log = logging.getLogger(__name__)

T = TypeVar("T")
EventHandler = Callable[[Message], Any]
BatchHandler = Callable[[list[Message]], Any]
ReconnectCallback = Callable[["AmiClient"], Any]

# Read-only actions: sending one twice does no harm, so they may be re-sent after a reconnect.
# Everything else (Originate, Redirect, QueuePause, MixMonitor, Command...) is never re-sent.
SAFE_TO_RETRY = frozenset(
    {
        "ping",
        "coreshowchannels",
        "corestatus",
        "coresettings",
        "queuestatus",
        "queuesummary",
        "status",
        "getvar",
        "listcommands",
        "extensionstate",
        "presencestate",
        "devicestatelist",
        "extensionstatelist",
        "pjsipshowendpoints",
        "pjsipshowendpoint",
        "pjsipshowcontacts",
        "pjsipshowaors",
        "pjsipshowregistrationsinbound",
        "mixmonitorlist",
        "bridgelist",
        "bridgeinfo",
        "showdialplan",
    }
)


@dataclass(frozen=True)
class Response:
    """What an action got back: the response, plus the events of a list action."""

    action: str
    message: Message
    # Events of a list action (EventList: start ... Complete), without the closing event.
    events: tuple[Message, ...] = ()
    # The closing "EventList: Complete" event (ListItems...), for list actions.
    complete: Message | None = None

    @property
    def success(self) -> bool:
        return self.message.success

    @property
    def text(self) -> str:
        """Asterisk's ``Message:`` header."""
        return self.message.message

    @property
    def output(self) -> list[str]:
        """Lines of a ``Command`` action's output."""
        return self.message.output

    def __getitem__(self, key: str) -> str:
        return self.message[key]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.message.get(key, default)

    def raise_for_error(self) -> Response:
        """Return self, or raise ``AmiActionError`` if Asterisk answered ``Response: Error``."""
        if not self.success:
            # A failed Command says "Command output follows"; the reason is in its output.
            reason = "; ".join(self.output).strip() or self.text
            reason = reason.rstrip(".") or "no reason given"
            raise AmiActionError(f"Asterisk refused the {self.action} action: {reason}.")
        return self


@dataclass(eq=False)
class _Pending:
    name: str
    data: bytes
    future: asyncio.Future[Response]
    response: Message | None = None
    events: list[Message] = field(default_factory=list)


# Bytes read from the socket at a time. asyncio's default (256 KiB) hands a backlog over in
# reads whose parsed events no longer fit the CPU caches by the time their handlers (the
# collector's engine) read them again: at 32 KiB the collector spent a sixth less CPU on the
# same stream (bench/records.py, best of 4: 204 against 243 us a call record; 64 KiB: 221;
# 16 KiB: 205, with twice the reads).
READ_SIZE = 32 * 1024


class _Protocol(asyncio.BufferedProtocol):
    """The I/O shell: bytes from the socket into the sans-IO buffer, messages to the client."""

    def __init__(self, client: AmiClient, buffer: FrameBuffer) -> None:
        self.client = client
        self.buffer = buffer
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The socket reads into this (BufferedProtocol: the read size is ours, see READ_SIZE).
        self._read = memoryview(bytearray(READ_SIZE))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._read[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.buffer.feed(data)
        except AmiProtocolError as exc:
            log.error("%s", exc)
            if self.transport is not None:
                self.transport.abort()
            return
        if messages:
            self.client._handle_messages(messages)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.client._connection_lost(self, exc)


class AmiClient:
    """An AMI connection with timeouts, list actions, isolated event handlers and safe reconnects.

    Use as ``async with AmiClient(...) as ami:`` or call ``connect()`` / ``close()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "homepbx",
        secret: str = "",
        *,
        timeout: float = 5.0,
        events: bool | str = True,
        reconnect: bool = False,
        reconnect_delay: tuple[float, float] = (0.5, 30.0),
        ping_interval: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.timeout = timeout
        self.events = events
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.ping_interval = ping_interval
        self.version: str | None = None

        self._handlers: dict[str, list[EventHandler]] = {}
        self._wildcard: list[EventHandler] = []
        # Event name as received -> the handlers to call (by name, then wildcard); rebuilt lazily.
        self._dispatch: dict[str, tuple[EventHandler, ...]] = {}
        self._batch_handlers: list[BatchHandler] = []
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._pending: dict[str, _Pending] = {}
        self._resend: list[tuple[str, _Pending]] = []
        # Per instance: two clients in one process never share ids or state.
        self._id_prefix = f"homepbx-{secrets.token_hex(4)}"
        self._ids = itertools.count(1)

        self._protocol: _Protocol | None = None
        self._ready: asyncio.Event | None = None
        self._logged_in = False
        self._closed = False
        self._connected_once = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._async_handlers = AsyncHandlers("AMI", log)

    @classmethod
    def from_settings(cls, settings: AmiSettings, **options: Any) -> AmiClient:
        """Build a client from ``homepbx.config.AmiSettings`` (options as for the constructor)."""
        options.setdefault("timeout", settings.timeout)
        return cls(settings.host, settings.port, settings.username, settings.secret, **options)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while logged in and able to send actions."""
        return self._logged_in and self._protocol is not None

    # -- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> AmiClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection and log in.

        Raises ``AmiUnavailable`` (refused, unreachable, no answer within ``timeout``) or
        ``AmiLoginError`` (credentials refused). A failure here is never retried: with
        ``reconnect=True`` only later drops are.
        """
        if self._closed:
            raise AmiDisconnected("This AMI client was closed; create a new one.")
        if self._ready is None:
            self._ready = asyncio.Event()
        await self._open()
        self._connected_once = True
        self._ready.set()
        if self.ping_interval:
            self._spawn(self._keepalive())

    async def close(self) -> None:
        """Log off, close the connection, fail waiting actions, finish queued async handlers."""
        if self._closed:
            return
        self._closed = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            # Best effort: Asterisk logs a clean logoff instead of a dropped client.
            protocol.transport.write(encode_action("Logoff", None, self._next_id()))
            protocol.transport.close()
        self._fail_all(AmiDisconnected(f"The connection to Asterisk's manager interface at {self.where} was closed."))
        if self._ready is not None:
            self._ready.set()  # wake waiters so they see _closed
        if protocol is not None:
            try:
                await asyncio.wait_for(asyncio.shield(protocol.closed), self.timeout)
            except TimeoutError:
                if protocol.transport is not None:
                    protocol.transport.abort()
        await self._async_handlers.drain(self.timeout)

    # -- actions --------------------------------------------------------------------------------
    async def action(
        self, name: str, headers: Headers | None = None, *, timeout: float | None = None
    ) -> Response:
        """Send action ``name`` with ``headers`` and wait for its answer.

        Returns the ``Response`` whatever Asterisk said (check ``.success`` or call
        ``.raise_for_error()``). List actions return once their ``EventList: Complete`` event
        arrived, with the events in ``Response.events``. Raises ``UnsafeHeader`` (before sending
        anything) for CR/LF/NUL in a key or value, ``AmiTimeout`` after ``timeout`` seconds
        (default: the client's), ``AmiDisconnected`` if the connection is or goes down.
        """
        action_id = self._next_id()
        data = encode_action(name, headers, action_id)
        limit = self.timeout if timeout is None else timeout
        pending = _Pending(name, data, asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(limit):
                await self._wait_ready()
                self._pending[action_id] = pending
                self._write(data)
                return await pending.future
        except TimeoutError:
            raise AmiTimeout(
                f"Asterisk's manager interface at {self.where} did not answer the {name} action "
                f"within {limit:g} s."
            ) from None
        finally:
            self._pending.pop(action_id, None)

    async def ping(self, *, timeout: float | None = None) -> Response:
        """Send a Ping (a cheap liveness check)."""
        return await self.action("Ping", timeout=timeout)

    async def command(self, cli: str, *, timeout: float | None = None) -> list[str]:
        """Run an Asterisk CLI command through the ``Command`` action; return its output lines."""
        response = await self.action("Command", {"Command": cli}, timeout=timeout)
        return response.raise_for_error().output

    # -- events ---------------------------------------------------------------------------------
    def add_event_handler(self, name: str, handler: EventHandler) -> EventHandler:
        """Call ``handler(event)`` for each event called ``name`` (any case), or every event for ``"*"``.

        Sync handlers run as the event is parsed; coroutine functions are awaited one after the
        other by one worker task, so each sees events in arrival order. An exception in a handler
        is logged and affects neither the other handlers nor the connection.
        """
        if name == "*":
            self._wildcard.append(handler)
        else:
            self._handlers.setdefault(name.lower(), []).append(handler)
        self._dispatch.clear()
        return handler

    def remove_event_handler(self, name: str, handler: EventHandler) -> None:
        """Undo ``add_event_handler`` (no error if it was not registered)."""
        handlers = self._wildcard if name == "*" else self._handlers.get(name.lower(), [])
        if handler in handlers:
            handlers.remove(handler)
        self._dispatch.clear()

    def add_batch_handler(self, handler: BatchHandler) -> BatchHandler:
        """Call ``handler(events)`` once per read from the socket, with every event it completed.

        ``events`` is a new, non-empty list in arrival order, passed after the events' own
        handlers ran. For a consumer of every event that hands them on in bulk (the records
        collector): one call per read instead of one per event. Isolated like the others.
        """
        self._batch_handlers.append(handler)
        return handler

    def remove_batch_handler(self, handler: BatchHandler) -> None:
        """Undo ``add_batch_handler`` (no error if it was not registered)."""
        if handler in self._batch_handlers:
            self._batch_handlers.remove(handler)

    def on_reconnect(self, callback: ReconnectCallback) -> ReconnectCallback:
        """Call ``callback(client)`` (sync or async) after each automatic re-login.

        Meant for resynchronising live state (e.g. ``CoreShowChannels``, ``QueueStatus``):
        events that happened while disconnected are lost.
        """
        self._reconnect_callbacks.append(callback)
        return callback

    # -- incoming -------------------------------------------------------------------------------
    def _handle_messages(self, messages: list[Message]) -> None:
        """Route the messages of one read to waiting actions and event handlers, in order."""
        pending = self._pending
        dispatch = self._dispatch
        events: list[Message] | None = [] if self._batch_handlers else None
        # This runs for every event of a busy PBX: no per-event lower(), handler list copy or
        # method call beyond the handlers themselves.
        for message in messages:
            index = message._index
            if pending:
                action_id = index.get("actionid")
                if action_id is not None:
                    waiting = pending.get(action_id)
                    if waiting is not None:
                        self._route(waiting, message)
            name = index.get("event")
            if name is None:
                continue
            handlers = dispatch.get(name)
            if handlers is None:
                handlers = self._handlers_for(name)
            for handler in handlers:
                try:
                    result = handler(message)
                except Exception:
                    log.exception("AMI event handler %r failed on %s; carrying on", handler, name)
                    continue
                if result is not None and inspect.isawaitable(result):
                    self._async_handlers.submit(result, handler, name)
            if events is not None:
                events.append(message)
        if events:
            for batch_handler in self._batch_handlers:
                try:
                    result = batch_handler(events)
                except Exception:
                    log.exception("AMI event handler %r failed on %d events; carrying on", batch_handler, len(events))
                    continue
                if result is not None and inspect.isawaitable(result):
                    self._async_handlers.submit(result, batch_handler, f"{len(events)} events")

    def _handlers_for(self, name: str) -> tuple[EventHandler, ...]:
        """The handlers of events called `name` (as received): by name, then wildcard ones."""
        handlers = (*self._handlers.get(name.lower(), ()), *self._wildcard)
        if len(self._dispatch) < 1024:  # a peer inventing event names does not fill memory
            self._dispatch[name] = handlers
        return handlers

    def _route(self, pending: _Pending, message: Message) -> None:
        if pending.future.done():
            return
        if pending.response is None:
            if "event" in message._index:
                return  # an event sharing the id before the response: not part of the answer
            pending.response = message
            if (message.get("eventlist") or "").lower() != "start":
                pending.future.set_result(Response(pending.name, message))
            return
        if "event" not in message._index:
            return
        if (message.get("eventlist") or "").lower() == "complete":
            pending.future.set_result(
                Response(pending.name, pending.response, tuple(pending.events), message)
            )
        else:
            pending.events.append(message)

    # -- connection internals -----------------------------------------------------------------
    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def _write(self, data: bytes) -> None:
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            raise AmiDisconnected(f"Not connected to Asterisk's manager interface at {self.where}.")
        protocol.transport.write(data)

    async def _wait_ready(self) -> None:
        while True:
            if self._closed:
                raise AmiDisconnected(f"The connection to Asterisk's manager interface at {self.where} was closed.")
            if self.connected:
                return
            if self._ready is None or not (self.reconnect and self._connected_once):
                raise AmiDisconnected(f"Not connected to Asterisk's manager interface at {self.where}.")
            await self._ready.wait()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        protocol = _Protocol(self, FrameBuffer())
        try:
            async with asyncio.timeout(self.timeout):
                await loop.create_connection(lambda: protocol, self.host, self.port)
        except ConnectionRefusedError:
            raise AmiUnavailable(f"Asterisk's manager interface at {self.where} refused the connection.") from None
        except TimeoutError:
            raise AmiUnavailable(
                f"Asterisk's manager interface at {self.where} did not answer within {self.timeout:g} s."
            ) from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise AmiUnavailable(f"Asterisk's manager interface at {self.where} cannot be reached ({reason}).") from None
        self._protocol = protocol
        self._logged_in = False
        events = self.events if isinstance(self.events, str) else ("on" if self.events else "off")
        login_id = self._next_id()
        data = encode_action("Login", {"Username": self.username, "Secret": self._secret, "Events": events}, login_id)
        pending = _Pending("Login", data, loop.create_future())
        self._pending[login_id] = pending
        try:
            async with asyncio.timeout(self.timeout):
                self._write(data)
                response = await pending.future
        except TimeoutError:
            self._drop(protocol)
            raise AmiUnavailable(
                f"Asterisk's manager interface at {self.where} did not answer the login within {self.timeout:g} s."
            ) from None
        except AmiDisconnected:
            raise AmiUnavailable(
                f"Asterisk's manager interface at {self.where} closed the connection during the login."
            ) from None
        finally:
            self._pending.pop(login_id, None)
        if not response.success:
            self._drop(protocol)
            raise AmiLoginError(
                f"Asterisk's manager interface at {self.where} refused the login for user {self.username}."
            )
        self.version = protocol.buffer.version
        self._logged_in = True

    def _drop(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
        if protocol.transport is not None:
            protocol.transport.close()

    def _connection_lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        was_logged_in = self._logged_in
        self._logged_in = False
        if self._ready is not None and not self._closed:
            self._ready.clear()
        will_reconnect = self.reconnect and was_logged_in and not self._closed
        for action_id, pending in list(self._pending.items()):
            if pending.future.done():
                continue
            if will_reconnect and pending.name.lower() in SAFE_TO_RETRY:
                pending.response = None
                pending.events.clear()
                self._resend.append((action_id, pending))
                continue
            del self._pending[action_id]
            pending.future.set_exception(
                AmiDisconnected(
                    f"The connection to Asterisk's manager interface at {self.where} dropped while "
                    f"the {pending.name} action was waiting for its answer; it was not re-sent."
                )
            )
        if will_reconnect:
            log.warning("Lost the connection to Asterisk's manager interface at %s; reconnecting", self.where)
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())
        elif not self._closed:
            log.warning("Lost the connection to Asterisk's manager interface at %s", self.where)

    async def _reconnect_loop(self) -> None:
        delay, ceiling = self.reconnect_delay
        while not self._closed:
            await asyncio.sleep(delay)
            try:
                await self._open()
            except AmiLoginError as exc:
                log.error("%s Retrying in %g s.", exc, min(delay * 2, ceiling))
            except (AmiUnavailable, AmiDisconnected, AmiProtocolError) as exc:
                log.warning("%s Retrying in %g s.", exc, min(delay * 2, ceiling))
            else:
                break
            delay = min(delay * 2, ceiling)
        else:
            return
        log.info("Reconnected to Asterisk's manager interface at %s", self.where)
        resend, self._resend = self._resend, []
        for action_id, pending in resend:
            if action_id in self._pending and not pending.future.done():
                self._write(pending.data)
        assert self._ready is not None
        self._ready.set()
        for callback in list(self._reconnect_callbacks):
            try:
                result = callback(self)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("AMI on_reconnect callback %r failed", callback)

    async def _keepalive(self) -> None:
        assert self.ping_interval
        while not self._closed:
            await asyncio.sleep(self.ping_interval)
            if not self.connected:
                continue
            protocol = self._protocol
            try:
                await self.action("Ping")
            except AmiTimeout:
                # A silent peer (cable pulled, NAT state lost): force the reconnect path.
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.abort()
            except AmiDisconnected:
                pass

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail_all(self, error: Exception) -> None:
        for action_id, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_exception(error)
            self._pending.pop(action_id, None)
        self._resend.clear()


def run_actions(
    settings: AmiSettings,
    work: Callable[[AmiClient], Awaitable[T]],
    *,
    events: bool = False,
    timeout: float | None = None,
) -> T:
    """For CLI commands: connect, ``await work(client)``, close, return its result.

    Events default to off (a CLI command rarely needs them and this keeps the traffic down);
    pass ``events=True`` to await e.g. an ``OriginateResponse``. Expected failures surface as
    ``homepbx.errors`` exceptions the CLI already knows how to print.
    """

    async def main() -> T:
        options: dict[str, Any] = {"events": events}
        if timeout is not None:
            options["timeout"] = timeout
        async with AmiClient.from_settings(settings, **options) as client:
            return await work(client)

    return asyncio.run(main())
