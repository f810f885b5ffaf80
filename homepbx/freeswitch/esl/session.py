"""The event socket session as a pure state machine: frames in, outcomes out; no I/O, no clock.

``EslSession`` knows the protocol's rules; the asyncio shell (``client.py``) only moves bytes
and turns outcomes into futures and handler calls:

* the handshake: FreeSWITCH opens with ``auth/request``; the session queues ``auth PASSWORD``
  and reports ``Authenticated``, ``LoginRefused`` (``-ERR invalid``) or ``AccessDenied`` (a
  ``text/rude-rejection``: an ACL refused the client's address);
* replies: mod_event_socket handles one command at a time and answers each with exactly one
  ``command/reply`` or ``api/response``, in order, so a FIFO of ``Request`` objects pairs them
  (an ``api`` refused by an ACL comes back as a ``command/reply``: same slot). A request whose
  caller gave up stays in the FIFO, so a late answer still lands on the right slot;
* background jobs: ``bgapi`` is sent with our own ``Job-UUID`` header, so its id is known
  before FreeSWITCH answers; the ``+OK Job-UUID`` reply gives ``JobAccepted``, and the
  BACKGROUND_JOB event with that Job-UUID later gives ``JobDone`` (even if it overtook the
  reply); a ``-ERR`` reply gives a plain ``Reply`` and the job is forgotten;
* events (``text/event-plain`` or ``-json``) come out as ``Event`` objects, for the shell to
  route to its handlers; ``log/data`` as ``LogLine``; ``text/disconnect-notice`` as ``Notice``
  (FreeSWITCH closes the socket right after, unless it is a ``linger`` notice).

``connection_lost()`` returns every request and job still waiting, so the shell can fail them:
nothing is ever re-sent on another connection.
"""

from __future__ import annotations

import enum
import uuid as uuid_module
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Union

from .errors import EslDisconnected, EslProtocolError
from .frames import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DEFAULT_MAX_FRAME,
    DISCONNECT_NOTICE,
    EVENT_JSON,
    EVENT_PLAIN,
    LOG_DATA,
    RUDE_REJECTION,
    Event,
    Frame,
    FrameBuffer,
    Headers,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_command,
    encode_event_subscription,
    encode_execute,
    encode_sendmsg,
    parse_event_json,
    parse_event_plain,
)


class State(enum.Enum):
    """Where the session is: waiting for ``auth/request``, logging in, ready, or closed."""

    CONNECTING = "connecting"
    AUTHENTICATING = "authenticating"
    READY = "ready"
    CLOSED = "closed"


@dataclass(eq=False)
class Request:
    """One command waiting for its reply (identity, not value: two ``api status`` are distinct).

    ``label`` is what error messages show (``api status``, ``bgapi originate``, ``event``...):
    the command word and the API name, never arguments (they may be long or secret).
    """

    kind: str  # "auth", "api", "bgapi" or "command"
    label: str
    job_uuid: str | None = None


# -- outcomes: what receive_data() reports, in stream order ----------------------------------------


@dataclass(frozen=True)
class Authenticated:
    """FreeSWITCH accepted the password (``+OK accepted``)."""


@dataclass(frozen=True)
class LoginRefused:
    """FreeSWITCH refused the password; it closes the socket next."""

    reply_text: str


@dataclass(frozen=True)
class AccessDenied:
    """A ``text/rude-rejection``: the event socket's ACL refused this client's address."""

    text: str


@dataclass(frozen=True)
class Reply:
    """The answer to ``request``: a ``command/reply`` (see ``.text``) or an ``api/response``."""

    request: Request
    frame: Frame

    @property
    def text(self) -> str:
        """The Reply-Text of a command/reply, the body of an api/response."""
        if self.frame.content_type == API_RESPONSE:
            return self.frame.body
        return self.frame.reply_text


@dataclass(frozen=True)
class JobAccepted:
    """FreeSWITCH started the background job of ``request`` (``+OK Job-UUID: ...``)."""

    request: Request
    job_uuid: str


@dataclass(frozen=True)
class JobDone:
    """The BACKGROUND_JOB event of ``request`` arrived; its body is the job's output."""

    request: Request
    event: Event

    @property
    def result(self) -> str:
        return self.event.body


@dataclass(frozen=True)
class Notice:
    """A ``text/disconnect-notice``: FreeSWITCH is closing the socket (unless ``linger``)."""

    frame: Frame

    @property
    def linger(self) -> bool:
        return self.frame.headers.get("Content-Disposition") == "linger"


@dataclass(frozen=True)
class LogLine:
    """A ``log/data`` frame (after a ``log`` command): level and origin in headers, text in body."""

    frame: Frame


@dataclass(frozen=True)
class Unexpected:
    """A frame the session could not place: a reply nobody waits for, an unreadable event..."""

    frame: Frame
    reason: str


Outcome = Union[
    Event, Authenticated, LoginRefused, AccessDenied, Reply, JobAccepted, JobDone, Notice, LogLine, Unexpected
]


class EslSession:
    """The protocol state of one event socket connection (inbound: we connect to FreeSWITCH).

    Feed it the bytes read (``receive_data``), write what ``data_to_send()`` returns after every
    call, and act on the outcomes. Commands can be queued once ``state`` is ``READY``.
    """

    def __init__(self, password: str, *, user: str | None = None, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        # Encoded now: an unusable password fails here, not halfway through a handshake.
        self._auth = encode_auth(password, user)
        self.state = State.CONNECTING
        self._buffer = FrameBuffer(max_frame=max_frame)
        self._outgoing: list[bytes] = []
        self._waiting: deque[Request] = deque()
        self._jobs: dict[str, Request] = {}

    # -- what the shell looks at ------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Commands sent whose reply has not arrived (abandoned ones included)."""
        return len(self._waiting)

    @property
    def jobs(self) -> int:
        """Background jobs whose BACKGROUND_JOB event has not arrived."""
        return len(self._jobs)

    def data_to_send(self) -> bytes:
        """The bytes queued since the last call (``b""`` if none): write them in this order."""
        if not self._outgoing:
            return b""
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        return data

    # -- commands ---------------------------------------------------------------------------------
    def api(self, command: str, arg: str = "") -> Request:
        """Queue ``api COMMAND ARG``; its ``Reply`` carries the api/response."""
        return self._send("api", f"api {command.split(' ', 1)[0]}", encode_api(command, arg))

    def bgapi(self, command: str, arg: str = "", job_uuid: str | None = None) -> Request:
        """Queue ``bgapi COMMAND ARG`` with a Job-UUID (ours unless given)."""
        job = job_uuid if job_uuid is not None else str(uuid_module.uuid4())
        data = encode_bgapi(command, arg, job)
        if job in self._jobs:
            raise EslProtocolError(f"Background job {job} is already running on this connection.")
        request = self._send("bgapi", f"bgapi {command.split(' ', 1)[0]}", data, job)
        self._jobs[job] = request
        return request

    def command(self, command: str, *args: str) -> Request:
        """Queue any other command (``filter``, ``nixevent``, ``log``, ``exit``...)."""
        return self._send("command", command, encode_command(command, *args))

    def subscribe(self, event_format: str, names: Iterable[str]) -> Request:
        """Queue ``event FORMAT NAMES...`` (CUSTOM subclasses are the names holding ``::``)."""
        return self._send("command", "event", encode_event_subscription(event_format, names))

    def sendmsg(self, uuid: str | None, headers: Headers, body: str | bytes | None = None) -> Request:
        """Queue ``sendmsg UUID`` with its headers (and body)."""
        return self._send("command", "sendmsg", encode_sendmsg(uuid, headers, body))

    def execute(self, uuid: str | None, application: str, arg: str | None = None, *, event_lock: bool = False) -> Request:
        """Queue a ``sendmsg`` that runs ``application`` on channel ``uuid``."""
        data = encode_execute(uuid, application, arg, event_lock=event_lock)
        return self._send("command", f"execute {application}", data)

    def forget_job(self, job_uuid: str) -> None:
        """Stop waiting for a job's BACKGROUND_JOB event (its caller gave up)."""
        self._jobs.pop(job_uuid, None)

    def _send(self, kind: str, label: str, data: bytes, job_uuid: str | None = None) -> Request:
        if self.state is not State.READY:
            raise EslDisconnected("The event socket session is not logged in; nothing was sent.")
        request = Request(kind, label, job_uuid)
        self._waiting.append(request)
        self._outgoing.append(data)
        return request

    # -- incoming ---------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Outcome]:
        """Feed bytes read from the socket; return what they mean, in stream order.

        Raises ``EslProtocolError`` when the stream is not the event socket protocol (the
        connection is then unusable: close it).
        """
        outcomes: list[Outcome] = []
        append = outcomes.append
        jobs = self._jobs
        for frame in self._buffer.feed(data):
            content_type = frame.headers.get("Content-Type")
            if content_type == EVENT_PLAIN or content_type == EVENT_JSON:
                try:
                    if content_type == EVENT_PLAIN:
                        event = parse_event_plain(frame.raw_body)
                    else:
                        event = parse_event_json(frame.raw_body)
                except EslProtocolError as exc:
                    append(Unexpected(frame, str(exc)))
                    continue
                if jobs and event.name == "BACKGROUND_JOB":
                    request = jobs.pop(event.job_uuid or "", None)
                    if request is not None:
                        append(JobDone(request, event))
                append(event)
            else:
                self._frame(frame, append)
        return outcomes

    def _frame(self, frame: Frame, append: Callable[[Outcome], None]) -> None:
        content_type = frame.content_type
        if content_type == COMMAND_REPLY or content_type == API_RESPONSE:
            if not self._waiting:
                append(Unexpected(frame, f"a {content_type} that no command waits for"))
                return
            request = self._waiting.popleft()
            if request.kind == "auth":
                self._auth_reply(frame, append)
            elif request.kind == "bgapi" and content_type == COMMAND_REPLY and frame.reply_text.startswith("+OK"):
                job = request.job_uuid or ""
                if job in self._jobs:  # else its BACKGROUND_JOB overtook the reply, or it was forgotten
                    append(JobAccepted(request, frame.headers.get("Job-UUID", job)))
            else:
                if request.kind == "bgapi":
                    self._jobs.pop(request.job_uuid or "", None)
                append(Reply(request, frame))
        elif content_type == AUTH_REQUEST:
            if self.state is not State.CONNECTING:
                append(Unexpected(frame, "a second auth/request"))
                return
            self.state = State.AUTHENTICATING
            self._waiting.append(Request("auth", "auth"))
            self._outgoing.append(self._auth)
        elif content_type == DISCONNECT_NOTICE:
            notice = Notice(frame)
            if not notice.linger:
                self.state = State.CLOSED
            append(notice)
        elif content_type == LOG_DATA:
            append(LogLine(frame))
        elif content_type == RUDE_REJECTION:
            self.state = State.CLOSED
            append(AccessDenied(frame.body.strip()))
        else:
            append(Unexpected(frame, f"an unsupported {content_type or 'untyped'} frame"))

    def _auth_reply(self, frame: Frame, append: Callable[[Outcome], None]) -> None:
        text = frame.reply_text
        if frame.content_type == COMMAND_REPLY and text.startswith("+OK"):
            self.state = State.READY
            append(Authenticated())
        else:
            self.state = State.CLOSED
            append(LoginRefused(text or frame.body.strip()))

    def connection_lost(self) -> list[Request]:
        """The socket closed: return every request and job still waiting, and forget them."""
        self.state = State.CLOSED
        lost = [request for request in self._waiting if request.kind != "auth"]
        lost += [request for request in self._jobs.values() if request not in lost]
        self._waiting.clear()
        self._jobs.clear()
        self._outgoing.clear()
        return lost
