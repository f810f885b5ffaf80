"""EslClient: a small asyncio client for FreeSWITCH's event socket (mod_event_socket, inbound).

A thin shell: the protocol lives in the sans-IO ``EslSession`` (``session.py``) over the
``FrameBuffer`` parser (``frames.py``); this file moves bytes between a socket and the session
and turns its outcomes into awaited results and handler calls.

Guarantees (each has a test in ``tests/unit/test_esl_client.py``):

* ``connect()`` raises ``EslLoginError`` when FreeSWITCH refuses the password (or the ACL the
  address) and ``EslUnavailable`` when nothing listens or nothing answers, each with one plain
  sentence naming host:port;
* a command, argument, header name or value holding CR, LF or NUL raises ``UnsafeEslValue``
  before a byte is written (``api("status\\n\\napi shutdown")`` sends nothing);
* every command has a timeout (``EslTimeout``); an abandoned command keeps its place in the
  reply order, so later answers still reach the right caller;
* ``bgapi`` sends its own Job-UUID and returns the job's output from the BACKGROUND_JOB event
  (the client always subscribes to BACKGROUND_JOB); ``start_job`` returns the job as soon as
  FreeSWITCH accepted it;
* events reach the handlers added with ``add_event_handler`` (by Event-Name, CUSTOM subclass or
  ``"*"``); an exception in a handler is logged and affects neither the other handlers nor the
  connection; coroutine handlers run in arrival order on one worker task;
* with ``reconnect=True`` (the default), a dropped connection is re-opened with backoff, logged
  in and re-subscribed; commands and jobs that were in flight fail with ``EslDisconnected`` and
  are never re-sent (an ``originate`` must not ring twice); ``on_reconnect`` callbacks run after.

Typical use from a service::

    async with EslClient(host, 8021, password, events=["CHANNEL_ANSWER", "callcenter::info"]) as fs:
        fs.add_event_handler("callcenter::info", on_queue_event)
        status = await fs.api("status")
        result = await fs.bgapi("originate", "user/1001 &park()", timeout=60)

and from a CLI command: ``run_commands(settings, work)``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from ...errors import InvalidInput
from ...handlers import AsyncHandlers
from .errors import (
    EslCommandError,
    EslDisconnected,
    EslLoginError,
    EslProtocolError,
    EslTimeout,
    EslUnavailable,
)
from .frames import (
    Event,
    Headers,
    encode_api,
    encode_bgapi,
    encode_command,
    encode_event_subscription,
    encode_execute,
    encode_sendmsg,
)
from .session import (
    AccessDenied,
    Authenticated,
    EslSession,
    JobAccepted,
    JobDone,
    LoginRefused,
    LogLine,
    Notice,
    Reply,
    Request,
    State,
    Unexpected,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
EventHandler = Callable[[Event], Any]
ReconnectCallback = Callable[["EslClient"], Any]

DEFAULT_PORT = 8021
# What the keepalive runs: answered by mod_commands at once, and read-only.
KEEPALIVE_API = ("uptime", "s")
# The event the client always subscribes to: it carries every bgapi result.
BACKGROUND_JOB = "BACKGROUND_JOB"


class EslSettingsLike(Protocol):
    """What ``from_settings`` and ``run_commands`` read (a future ``config.EslSettings``)."""

    host: str
    port: int
    password: str
    timeout: float


def raise_for_error(result: str, what: str = "the command") -> str:
    """Return ``result``, or raise ``EslCommandError`` if FreeSWITCH answered ``-ERR``/``-USAGE``.

    ``what`` names the command in the message (``"api uuid_kill"``). An API's output is only
    text to FreeSWITCH, so ``api()`` returns it as is; this is the check to apply when an
    ``-ERR`` should be an exception.
    """
    text = result.strip()
    if text.startswith("-ERR") or text.startswith("-USAGE"):
        reason = text[1:].split("\n", 1)[0]
        if reason.startswith("ERR"):
            reason = reason[3:].lstrip(" :")
        reason = reason.strip().rstrip(".!") or "no reason given"
        raise EslCommandError(f"FreeSWITCH refused {what}: {reason}.")
    return result


class BackgroundJob:
    """A ``bgapi`` job FreeSWITCH accepted: its Job-UUID at once, its output when it ends.

    ``await job`` (or ``await job.result(timeout=...)``) returns the output (the body of its
    BACKGROUND_JOB event, e.g. ``"+OK 2f6c...\\n"`` or ``"-ERR USER_BUSY\\n"``).
    """

    def __init__(self, client: EslClient, request: Request, future: asyncio.Future[Event]) -> None:
        self._client = client
        self._request = request
        self._future = future

    @property
    def uuid(self) -> str:
        return self._request.job_uuid or ""

    @property
    def label(self) -> str:
        """``bgapi originate``..."""
        return self._request.label

    def done(self) -> bool:
        """True once the result (or a failure) is in."""
        return self._future.done()

    async def event(self, *, timeout: float | None = None) -> Event:
        """The BACKGROUND_JOB event itself (``Job-Command``, ``Job-Command-Arg``, body)."""
        limit = self._client.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(self._future)
        except TimeoutError:
            raise EslTimeout(
                f"Background job {self.uuid} ({self.label}) on FreeSWITCH's event socket at "
                f"{self._client.where} did not end within {limit:g} s."
            ) from None

    async def result(self, *, timeout: float | None = None, check: bool = False) -> str:
        """The job's output; with ``check=True``, ``EslCommandError`` for an ``-ERR`` output."""
        output = (await self.event(timeout=timeout)).body
        return raise_for_error(output, self.label) if check else output

    def __await__(self) -> Generator[Any, None, str]:
        return self.result().__await__()

    def __repr__(self) -> str:
        return f"<BackgroundJob {self.uuid} {self.label}{' done' if self.done() else ''}>"


class _Protocol(asyncio.Protocol):
    """The I/O shell: socket bytes into the session, its outcomes to the client, its bytes out."""

    def __init__(self, client: EslClient, session: EslSession) -> None:
        self.client = client
        self.session = session
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.login: asyncio.Future[object] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            outcomes = self.session.receive_data(data)
        except EslProtocolError as exc:
            log.error("%s Closing the connection to %s.", exc, self.client.where)
            if self.transport is not None:
                self.transport.abort()
            return
        self.flush()
        self.client._handle(self, outcomes)

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.login.done():
            self.login.set_exception(EslDisconnected("closed during the login"))
            self.login.exception()  # consumed here: _open reports it in its own words
        self.client._connection_lost(self)


class EslClient:
    """An inbound event socket connection with timeouts, background jobs, isolated handlers
    and reconnects that never replay a command.

    Use as ``async with EslClient(...) as fs:`` or call ``connect()`` / ``close()``.
    ``events`` are subscribed at every login (names such as ``CHANNEL_ANSWER`` or ``ALL``,
    CUSTOM subclasses such as ``callcenter::info``); ``event_format`` is ``json`` (parsed by C
    code, the faster) or ``plain``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        password: str = "",
        *,
        user: str | None = None,
        timeout: float = 5.0,
        reconnect: bool = True,
        reconnect_delay: tuple[float, float] = (0.5, 30.0),
        keepalive_interval: float | None = None,
        events: Iterable[str] = (),
        event_format: str = "json",
    ) -> None:
        self.host = host
        self.port = port
        self._password = password
        self._user = user
        self.timeout = timeout
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.keepalive_interval = keepalive_interval
        if event_format not in ("json", "plain"):
            raise InvalidInput("The event format is json or plain.", field="event_format")
        self.event_format = event_format
        # Validated now: a bad name fails at construction, not at every reconnect.
        self._subscriptions: list[str] = []
        self._add_subscriptions(events)

        self._handlers: dict[str, list[EventHandler]] = {}
        self._wildcard: list[EventHandler] = []
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._replies: dict[Request, asyncio.Future[Any]] = {}
        self._results: dict[Request, asyncio.Future[Event]] = {}

        self._protocol: _Protocol | None = None
        self._ready: asyncio.Event | None = None
        self._logged_in = False
        self._closed = False
        self._connected_once = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._async_handlers = AsyncHandlers("ESL", log)

    @classmethod
    def from_settings(cls, settings: EslSettingsLike, **options: Any) -> EslClient:
        """Build a client from settings with host, port, password and timeout attributes."""
        options.setdefault("timeout", settings.timeout)
        return cls(settings.host, settings.port, settings.password, **options)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while logged in and able to send commands."""
        return self._logged_in and self._protocol is not None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> EslClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection, log in and subscribe to the events.

        Raises ``EslUnavailable`` (refused, unreachable, no answer within ``timeout``) or
        ``EslLoginError`` (password or address refused). A failure here is never retried: with
        ``reconnect=True`` only later drops are.
        """
        if self._closed:
            raise EslDisconnected("This event socket client was closed; create a new one.")
        if self._ready is None:
            self._ready = asyncio.Event()
        await self._open()
        self._connected_once = True
        self._ready.set()
        if self.keepalive_interval:
            self._spawn(self._keepalive())

    async def close(self) -> None:
        """Say ``exit``, close the connection, fail what waits, finish queued async handlers."""
        if self._closed:
            return
        self._closed = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            if self._logged_in and protocol.session.state is State.READY:
                # Best effort: FreeSWITCH logs a clean goodbye rather than a dropped socket. Sent
                # through the session, so its "+OK bye" lands on a slot of its own.
                protocol.session.command("exit")
                protocol.flush()
            protocol.transport.close()
        self._fail_all(f"The connection to FreeSWITCH's event socket at {self.where} was closed.")
        if self._ready is not None:
            self._ready.set()  # wake waiters so they see _closed
        if protocol is not None:
            try:
                await asyncio.wait_for(asyncio.shield(protocol.closed), self.timeout)
            except TimeoutError:
                if protocol.transport is not None:
                    protocol.transport.abort()
        await self._async_handlers.drain(self.timeout)

    # -- commands ----------------------------------------------------------------------------------
    async def api(self, command: str, arg: str = "", *, timeout: float | None = None, check: bool = False) -> str:
        """Run ``api COMMAND ARG`` and return its output (the api/response body).

        FreeSWITCH runs an api command before reading the next one: use ``bgapi`` for anything
        slow (``originate``). ``check=True`` raises ``EslCommandError`` for an ``-ERR`` output
        (see ``raise_for_error``). Raises ``UnsafeEslValue`` before sending anything for CR, LF
        or NUL, ``EslTimeout`` after ``timeout`` seconds (default: the client's),
        ``EslDisconnected`` if the connection is or goes down.
        """
        encode_api(command, arg)  # refuse unsafe input even when not connected
        reply = await self._call(lambda session: session.api(command, arg), timeout)
        text = reply.text
        return raise_for_error(text, reply.request.label) if check else text

    async def start_job(self, command: str, arg: str = "", *, timeout: float | None = None) -> BackgroundJob:
        """Send ``bgapi COMMAND ARG`` with our Job-UUID; return once FreeSWITCH accepted it.

        ``timeout`` bounds the acceptance only; await the returned job for its output.
        Raises ``EslCommandError`` if FreeSWITCH refused to start it.
        """
        encode_bgapi(command, arg)
        holder: list[Request] = []
        # Held here too: a fast job's BACKGROUND_JOB can settle (and unregister) it before the
        # bgapi reply arrives.
        result: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

        def send(session: EslSession) -> Request:
            request = session.bgapi(command, arg)
            holder.append(request)
            self._results[request] = result
            return request

        try:
            outcome = await self._call(send, timeout)
        except BaseException:
            if holder:
                self._forget_job(holder[0])
            raise
        request = holder[0]
        if isinstance(outcome, Reply):  # FreeSWITCH refused: "-ERR ..."
            self._results.pop(request, None)
            raise_for_error(outcome.text, request.label)
            raise EslCommandError(f"FreeSWITCH refused {request.label}: {outcome.text or 'no reason given'}.")
        return BackgroundJob(self, request, result)

    async def bgapi(self, command: str, arg: str = "", *, timeout: float | None = None, check: bool = False) -> str:
        """Run ``bgapi COMMAND ARG`` and return the job's output from its BACKGROUND_JOB event.

        ``timeout`` (default: the client's) bounds the whole job: give an ``originate`` the time
        to ring. ``check=True`` raises ``EslCommandError`` for an ``-ERR`` output.
        """
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        job = await self.start_job(command, arg, timeout=limit)
        try:
            output = (await job.event(timeout=max(0.0, deadline - loop.time()))).body
        except EslTimeout:
            self._forget_job(job._request)
            raise EslTimeout(
                f"Background job {job.uuid} ({job.label}) on FreeSWITCH's event socket at {self.where} "
                f"did not end within {limit:g} s."
            ) from None
        return raise_for_error(output, job.label) if check else output

    async def command(self, command: str, *args: str, timeout: float | None = None) -> str:
        """Send another command (``filter``, ``nixevent``, ``linger``...); return its Reply-Text.

        Raises ``EslCommandError`` when the reply is ``-ERR ...``.
        """
        encode_command(command, *args)
        reply = await self._call(lambda session: session.command(command, *args), timeout)
        return raise_for_error(reply.text, f"the {command} command")

    async def sendmsg(
        self, uuid: str | None, headers: Headers, body: str | bytes | None = None, *, timeout: float | None = None
    ) -> str:
        """Send ``sendmsg UUID`` with ``headers``; return the Reply-Text (``EslCommandError`` on -ERR)."""
        # A one-shot iterable would be spent by the check below: read it once.
        headers = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        encode_sendmsg(uuid, headers, body)
        reply = await self._call(lambda session: session.sendmsg(uuid, headers, body), timeout)
        return raise_for_error(reply.text, "the sendmsg command")

    async def execute(
        self,
        uuid: str,
        application: str,
        arg: str | None = None,
        *,
        event_lock: bool = False,
        timeout: float | None = None,
    ) -> str:
        """Ask channel ``uuid`` to run a dialplan application (``playback``, ``hangup``...).

        Returns once FreeSWITCH queued it (its Reply-Text); the application's own end is a
        CHANNEL_EXECUTE_COMPLETE event.
        """
        encode_execute(uuid, application, arg, event_lock=event_lock)
        reply = await self._call(
            lambda session: session.execute(uuid, application, arg, event_lock=event_lock), timeout
        )
        return raise_for_error(reply.text, f"the {application} application")

    async def subscribe(self, *names: str, timeout: float | None = None) -> None:
        """Subscribe to more events now and after every reconnect (``ALL``, ``CHANNEL_ANSWER``,
        ``callcenter::info``...). Raises ``EslCommandError`` if FreeSWITCH refuses."""
        encode_event_subscription(self.event_format, names)
        reply = await self._call(lambda session: session.subscribe(self.event_format, names), timeout)
        raise_for_error(reply.text, "the event subscription")
        # Kept for the reconnects only once accepted: a refused name must not break every re-login.
        self._add_subscriptions(names)

    # -- events ------------------------------------------------------------------------------------
    def add_event_handler(self, name: str, handler: EventHandler) -> EventHandler:
        """Call ``handler(event)`` for each event called ``name``, or every event for ``"*"``.

        ``name`` is an Event-Name (``CHANNEL_HANGUP_COMPLETE``, ``CUSTOM`` for every custom
        event) or a CUSTOM subclass (``callcenter::info``); any case. Remember to subscribe. Sync handlers
        run as the event is parsed; coroutine functions are awaited one after the other by one
        worker task. An exception in a handler is logged and affects nothing else.
        """
        if name == "*":
            self._wildcard.append(handler)
        else:
            self._handlers.setdefault(name.lower(), []).append(handler)
        return handler

    def remove_event_handler(self, name: str, handler: EventHandler) -> None:
        """Undo ``add_event_handler`` (no error if it was not registered)."""
        handlers = self._wildcard if name == "*" else self._handlers.get(name.lower(), [])
        if handler in handlers:
            handlers.remove(handler)

    def on_reconnect(self, callback: ReconnectCallback) -> ReconnectCallback:
        """Call ``callback(client)`` (sync or async) after each automatic re-login.

        Meant for resynchronising live state (``show channels``...): events that happened while
        disconnected are lost.
        """
        self._reconnect_callbacks.append(callback)
        return callback

    # -- outcomes ------------------------------------------------------------------------------------
    def _handle(self, protocol: _Protocol, outcomes: list[Any]) -> None:
        for outcome in outcomes:
            kind = type(outcome)
            if kind is Event:
                self._dispatch(outcome)
            elif kind is Reply or kind is JobAccepted:
                future = self._replies.get(outcome.request)
                if future is not None and not future.done():
                    future.set_result(outcome)
            elif kind is JobDone:
                # Its BACKGROUND_JOB may overtake the bgapi reply: it answers both.
                waiting = self._replies.get(outcome.request)
                if waiting is not None and not waiting.done():
                    waiting.set_result(JobAccepted(outcome.request, outcome.event.job_uuid or ""))
                result = self._results.pop(outcome.request, None)
                if result is not None and not result.done():
                    result.set_result(outcome.event)
            elif kind is Authenticated or kind is LoginRefused or kind is AccessDenied:
                if not protocol.login.done():
                    protocol.login.set_result(outcome)
            elif kind is Notice:
                log.info("FreeSWITCH's event socket at %s says: %s", self.where, outcome.frame.body.strip())
            elif kind is LogLine:
                log.debug("FreeSWITCH log: %s", outcome.frame.body.rstrip())
            elif kind is Unexpected:
                log.warning("Ignored %s from FreeSWITCH's event socket at %s", outcome.reason, self.where)

    def _dispatch(self, event: Event) -> None:
        handlers = self._handlers
        if handlers:
            name = event.name
            for handler in handlers.get(name.lower(), ()):
                self._call_handler(handler, event)
            if name == "CUSTOM":
                for handler in handlers.get(event.subclass.lower(), ()):
                    self._call_handler(handler, event)
        for handler in self._wildcard:
            self._call_handler(handler, event)

    def _call_handler(self, handler: EventHandler, event: Event) -> None:
        try:
            result = handler(event)
        except Exception:
            log.exception("ESL event handler %r failed on %s; carrying on", handler, event.name)
            return
        if result is not None and inspect.isawaitable(result):
            self._async_handlers.submit(result, handler, event.name)

    # -- connection internals -------------------------------------------------------------------
    def _add_subscriptions(self, names: Iterable[str]) -> None:
        names = list(names)
        if names:
            encode_event_subscription(self.event_format, names)
        for name in names:
            if name not in self._subscriptions:
                self._subscriptions.append(name)

    async def _call(self, send: Callable[[EslSession], Request], timeout: float | None) -> Any:
        """Queue a command when logged in, wait for its reply; the timeout covers both."""
        limit = self.timeout if timeout is None else timeout
        request: Request | None = None
        try:
            async with asyncio.timeout(limit):
                await self._wait_ready()
                protocol = self._protocol
                assert protocol is not None
                try:
                    request = send(protocol.session)
                except EslDisconnected:
                    # FreeSWITCH announced it is closing the socket: nothing was sent.
                    raise EslDisconnected(
                        f"FreeSWITCH's event socket at {self.where} is closing the connection; nothing was sent."
                    ) from None
                future = asyncio.get_running_loop().create_future()
                self._replies[request] = future
                protocol.flush()
                return await future
        except TimeoutError:
            what = request.label if request is not None else "the command"
            raise EslTimeout(
                f"FreeSWITCH's event socket at {self.where} did not answer {what} within {limit:g} s."
            ) from None
        finally:
            if request is not None:
                self._replies.pop(request, None)

    def _forget_job(self, request: Request) -> None:
        self._results.pop(request, None)
        protocol = self._protocol
        if protocol is not None and request.job_uuid:
            protocol.session.forget_job(request.job_uuid)

    async def _wait_ready(self) -> None:
        while True:
            if self._closed:
                raise EslDisconnected(f"The connection to FreeSWITCH's event socket at {self.where} was closed.")
            if self.connected:
                return
            if self._ready is None or not (self.reconnect and self._connected_once):
                raise EslDisconnected(f"Not connected to FreeSWITCH's event socket at {self.where}.")
            await self._ready.wait()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        protocol = _Protocol(self, EslSession(self._password, user=self._user))
        try:
            async with asyncio.timeout(self.timeout):
                await loop.create_connection(lambda: protocol, self.host, self.port)
        except ConnectionRefusedError:
            raise EslUnavailable(f"FreeSWITCH's event socket at {self.where} refused the connection.") from None
        except TimeoutError:
            raise EslUnavailable(
                f"FreeSWITCH's event socket at {self.where} did not answer within {self.timeout:g} s."
            ) from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise EslUnavailable(f"FreeSWITCH's event socket at {self.where} cannot be reached ({reason}).") from None
        self._protocol = protocol
        self._logged_in = False
        try:
            async with asyncio.timeout(self.timeout):
                outcome = await protocol.login
        except TimeoutError:
            self._drop(protocol)
            raise EslUnavailable(
                f"FreeSWITCH's event socket at {self.where} did not log us in within {self.timeout:g} s."
            ) from None
        except EslDisconnected:
            raise EslUnavailable(
                f"FreeSWITCH's event socket at {self.where} closed the connection during the login."
            ) from None
        if isinstance(outcome, LoginRefused):
            self._drop(protocol)
            raise EslLoginError(f"FreeSWITCH's event socket at {self.where} refused the password.")
        if isinstance(outcome, AccessDenied):
            self._drop(protocol)
            raise EslLoginError(f"FreeSWITCH's event socket at {self.where} refused this client's address (ACL).")
        self._logged_in = True
        # BACKGROUND_JOB always: it carries every bgapi result.
        names = [BACKGROUND_JOB] + [n for n in self._subscriptions if n != BACKGROUND_JOB]
        request = protocol.session.subscribe(self.event_format, names)
        future: asyncio.Future[Reply] = loop.create_future()
        self._replies[request] = future
        protocol.flush()
        try:
            async with asyncio.timeout(self.timeout):
                reply = await future
        except TimeoutError:
            self._logged_in = False
            self._drop(protocol)
            raise EslUnavailable(
                f"FreeSWITCH's event socket at {self.where} did not answer the event subscription "
                f"within {self.timeout:g} s."
            ) from None
        except EslDisconnected:
            raise EslUnavailable(
                f"FreeSWITCH's event socket at {self.where} closed the connection during the login."
            ) from None
        finally:
            self._replies.pop(request, None)
        try:
            raise_for_error(reply.text, "the event subscription")
        except EslCommandError:
            self._logged_in = False
            self._drop(protocol)
            raise

    def _drop(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self._logged_in = False
        if protocol.transport is not None:
            protocol.transport.close()

    def _connection_lost(self, protocol: _Protocol) -> None:
        lost = protocol.session.connection_lost()
        for request in lost:
            self._fail(request)
        if protocol is not self._protocol:
            return
        self._protocol = None
        was_logged_in = self._logged_in
        self._logged_in = False
        if self._ready is not None and not self._closed:
            self._ready.clear()
        if self.reconnect and was_logged_in and self._connected_once and not self._closed:
            log.warning("Lost the connection to FreeSWITCH's event socket at %s; reconnecting", self.where)
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())
        elif not self._closed and was_logged_in:
            log.warning("Lost the connection to FreeSWITCH's event socket at %s", self.where)

    def _fail(self, request: Request, message: str | None = None) -> None:
        reply = self._replies.get(request)
        result = self._results.pop(request, None)
        accepted = reply is None or reply.done()
        if message is None:
            if request.kind == "bgapi" and accepted:
                message = (
                    f"The connection to FreeSWITCH's event socket at {self.where} dropped before background "
                    f"job {request.job_uuid} ({request.label}) reported its result; the job may have run."
                )
            else:
                message = (
                    f"The connection to FreeSWITCH's event socket at {self.where} dropped while {request.label} "
                    "was waiting for its answer; it was not re-sent."
                )
        for future in (reply, result):
            if future is not None and not future.done():
                future.set_exception(EslDisconnected(message))
                # Nobody may await a job whose caller already gave up: no "never retrieved" noise.
                future.exception()

    def _fail_all(self, message: str) -> None:
        for request in list(self._replies) + list(self._results):
            self._fail(request, message)
        self._replies.clear()
        self._results.clear()

    async def _reconnect_loop(self) -> None:
        delay, ceiling = self.reconnect_delay
        while not self._closed:
            await asyncio.sleep(delay)
            try:
                await self._open()
            except EslLoginError as exc:
                log.error("%s Retrying in %g s.", exc, min(delay * 2, ceiling))
            except (EslUnavailable, EslDisconnected, EslProtocolError, EslCommandError) as exc:
                log.warning("%s Retrying in %g s.", exc, min(delay * 2, ceiling))
            else:
                break
            delay = min(delay * 2, ceiling)
        else:
            return
        log.info("Reconnected to FreeSWITCH's event socket at %s", self.where)
        assert self._ready is not None
        self._ready.set()
        for callback in list(self._reconnect_callbacks):
            try:
                result = callback(self)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("ESL on_reconnect callback %r failed", callback)

    async def _keepalive(self) -> None:
        assert self.keepalive_interval
        while not self._closed:
            await asyncio.sleep(self.keepalive_interval)
            if not self.connected:
                continue
            protocol = self._protocol
            try:
                await self.api(*KEEPALIVE_API)
            except EslTimeout:
                # A silent peer (cable pulled, NAT state lost): force the reconnect path.
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.abort()
            except EslDisconnected:
                pass

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def run_commands(
    settings: EslSettingsLike,
    work: Callable[[EslClient], Awaitable[T]],
    *,
    events: Iterable[str] = (),
    timeout: float | None = None,
) -> T:
    """For CLI commands: connect, ``await work(client)``, close, return its result.

    No reconnects (a CLI command fails fast instead), and no events beyond BACKGROUND_JOB unless
    ``events`` names some. Expected failures surface as ``homepbx.errors`` exceptions the CLI
    already knows how to print.
    """

    async def main() -> T:
        options: dict[str, Any] = {"events": events, "reconnect": False}
        if timeout is not None:
            options["timeout"] = timeout
        async with EslClient.from_settings(settings, **options) as client:
            return await work(client)

    return asyncio.run(main())
