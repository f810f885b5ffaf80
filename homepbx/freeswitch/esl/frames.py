"""Sans-IO FreeSWITCH event socket framing: bytes in, frames and events out; commands in, bytes out.

No sockets and no asyncio here (h11 style), so every rule can be tested without a network.

Reading. mod_event_socket writes each message as a block of ``Name: value`` lines ended by an
empty line (``\\n\\n``); when the block has ``Content-Length``, exactly that many bytes of body
follow. ``FrameBuffer.feed`` takes whatever the transport read and returns the complete
``Frame`` objects, whatever the chunking: nothing is decoded before a frame is complete, so a
UTF-8 character or a body split across reads arrives intact. A frame larger than ``max_frame``
raises ``EslProtocolError`` instead of growing the buffer forever.

The Content-Types seen on an inbound connection: ``auth/request``, ``command/reply``
(``Reply-Text: +OK ...`` / ``-ERR ...``), ``api/response`` (the body is the API's output),
``text/event-plain``, ``text/event-json``, ``text/disconnect-notice``, ``text/rude-rejection``
(an ACL refused us) and ``log/data``.

Events. ``text/event-plain`` carries a second header block whose values are URL-encoded
(switch_url_encode), optionally followed by ``Content-Length: N``, an empty line and the event's
body; ``text/event-json`` carries a JSON object whose ``_body`` member is the body. Both parse
into the same immutable ``Event``: headers as FreeSWITCH spelled them (lookups fall back to any
case, as FreeSWITCH's own ``switch_event_get_header`` does), the body apart. Array headers come
out as FreeSWITCH's own ``ARRAY::a|:b`` text in both formats (``Event.get_array`` splits them).

Writing. ``encode_api``, ``encode_bgapi``, ``encode_command``, ``encode_sendmsg``... refuse any
CR, LF or NUL in a command, argument, header name or value (``UnsafeEslValue``, naming the
field): a newline inside an argument would end the command and inject a second one, such as
``api shutdown``. Nothing is ever stripped silently.
"""

from __future__ import annotations

import json
import re
from binascii import a2b_qp
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Union
from urllib.parse import unquote, unquote_to_bytes

from .errors import EslProtocolError, UnsafeEslValue

FRAME_END = b"\n\n"
DEFAULT_MAX_FRAME = 64 * 1024 * 1024

AUTH_REQUEST = "auth/request"
COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
EVENT_PLAIN = "text/event-plain"
EVENT_JSON = "text/event-json"
EVENT_XML = "text/event-xml"
DISCONNECT_NOTICE = "text/disconnect-notice"
RUDE_REJECTION = "text/rude-rejection"
LOG_DATA = "log/data"
EVENT_TYPES = frozenset({EVENT_PLAIN, EVENT_JSON})

# FreeSWITCH copies a Job-UUID into a 37-byte buffer: a longer one would come back truncated
# and never match its BACKGROUND_JOB event.
MAX_JOB_UUID = 36

HeaderScalar = Union[str, int, float, bool]
Headers = Union[Mapping[str, Union[HeaderScalar, None]], Iterable[tuple[str, Union[HeaderScalar, None]]]]


# -- events --------------------------------------------------------------------------------------


class Event(Mapping[str, str]):
    """One FreeSWITCH event, immutable: its headers (a read-only mapping) and its body.

    ``event["Unique-ID"]`` looks the exact name up first, then any case; ``event.name`` is the
    Event-Name, ``event.subclass`` the Event-Subclass of a CUSTOM event (``callcenter::info``),
    ``event.body`` the body (``""`` for most events; a BACKGROUND_JOB's is the job's output).
    """

    __slots__ = ("_headers", "_body", "_folded")

    _headers: dict[str, str]
    _body: str
    _folded: dict[str, str] | None

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (), body: str = "") -> None:
        data = dict(headers)
        for key, value in data.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("Event headers are text: names and values must be str.")
        if not isinstance(body, str):
            raise TypeError("An event body is text (str).")
        _init_event(self, data, body)

    # The instance is frozen: the parser fills the slots through their descriptors.
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable (cannot set {name!r}).")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Event is immutable (cannot delete {name!r}).")

    # -- mapping -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        try:
            return self._headers[key]
        except KeyError:
            if isinstance(key, str):
                folded = self._fold()
                if key.lower() in folded:
                    return folded[key.lower()]
            raise

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """The value of header ``key`` (exact name, else any case), or ``default``."""
        value = self._headers.get(key)
        if value is not None:
            return value
        if isinstance(key, str):
            return self._fold().get(key.lower(), default)
        return default

    def __contains__(self, key: object) -> bool:
        return key in self._headers or (isinstance(key, str) and key.lower() in self._fold())

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def keys(self):  # type: ignore[no-untyped-def]
        return self._headers.keys()

    def items(self):  # type: ignore[no-untyped-def]
        return self._headers.items()

    def values(self):  # type: ignore[no-untyped-def]
        return self._headers.values()

    def _fold(self) -> dict[str, str]:
        folded = self._folded
        if folded is None:
            # Built on the first case-insensitive lookup only: most lookups use the exact name.
            folded = {key.lower(): value for key, value in self._headers.items()}
            _set_folded(self, folded)
        return folded

    # -- what the event is ---------------------------------------------------------------------
    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, read-only, in the order received, names spelled as FreeSWITCH sent them."""
        return MappingProxyType(self._headers)

    @property
    def body(self) -> str:
        return self._body

    @property
    def name(self) -> str:
        """The Event-Name (``CHANNEL_ANSWER``, ``CUSTOM``...), ``""`` if absent."""
        return self._headers.get("Event-Name", "")

    @property
    def subclass(self) -> str:
        """The Event-Subclass of a CUSTOM event (``callcenter::info``), else ``""``."""
        return self._headers.get("Event-Subclass", "")

    @property
    def unique_id(self) -> str | None:
        """The channel's Unique-ID, for channel events."""
        return self._headers.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        """The Job-UUID of a BACKGROUND_JOB event."""
        return self._headers.get("Job-UUID")

    def get_array(self, key: str) -> list[str]:
        """The items of an array header (``ARRAY::a|:b``); a plain value is a one-item list."""
        value = self.get(key)
        if value is None:
            return []
        if value.startswith("ARRAY::"):
            return value[7:].split("|:")
        return [value]

    def to_dict(self) -> dict[str, str]:
        """A plain, mutable copy of the headers (handy for JSON output)."""
        return dict(self._headers)

    # -- value semantics -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self._body == other._body and self._headers == other._headers

    def __hash__(self) -> int:
        return hash((frozenset(self._headers.items()), self._body))

    def __repr__(self) -> str:
        label = self.name or "?"
        if self.subclass:
            label += f" {self.subclass}"
        ident = self.unique_id or self.job_uuid
        shown = f" {ident}" if ident else ""
        return f"<Event {label}{shown} ({len(self._headers)} headers{', body' if self._body else ''})>"


_new_object = object.__new__
_set_headers = Event._headers.__set__  # type: ignore[attr-defined]
_set_body = Event._body.__set__  # type: ignore[attr-defined]
_set_folded = Event._folded.__set__  # type: ignore[attr-defined]


def _init_event(event: Event, headers: dict[str, str], body: str) -> None:
    _set_headers(event, headers)
    _set_body(event, body)
    _set_folded(event, None)


def _make_event(headers: dict[str, str], body: str) -> Event:
    event = _new_object(Event)
    _set_headers(event, headers)
    _set_body(event, body)
    _set_folded(event, None)
    return event


# -- text/event-plain -------------------------------------------------------------------------------

# Every byte but those the fast path needs to see: ':', ' ' and '\n' (the line structure), '%'
# (the escapes), and '=' and CR (which the decoder below would misread).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b": \n%=\r")
# What that leaves of a block whose every line is "name: value" with one ':' and one space,
# no '%' before the space (so none in a name), no '=' or CR: ": %%\n: \n: %...". Possessive
# quantifiers: one pass, no backtracking.
_WELL_FORMED = re.compile(rb"(?:: %*+\n)*+: %*+").fullmatch
# The same, for a whole event body without a body of its own: the block and its empty line.
_WELL_FORMED_EVENT = re.compile(rb"(?:: %*+\n)++\n").fullmatch
# Separators and the space become NUL, every '%' an '=' (the decoder's escape character).
_FLATTEN = bytes.maketrans(b"\n: %", b"\x00\x00\x00=")


def _plain_headers_slow(head: bytes) -> dict[str, str]:
    """The reference reading of a plain header block.

    Each line is split at its first ':'; one space after it belongs to the separator (FreeSWITCH
    writes ``"%s: %s\\n"``); the value is URL-decoded, then UTF-8 decoded (invalid bytes become
    U+FFFD). A line without ':' is skipped, as libesl does. A repeated name keeps its last value.
    """
    headers: dict[str, str] = {}
    for line in head.split(b"\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        if value[:1] == b" ":
            value = value[1:]
        if b"%" in value:
            value = unquote_to_bytes(value)
        headers[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return headers


def _plain_headers_fast(head: bytes, *, event: bool = False) -> dict[str, str] | None:
    """The same result as ``_plain_headers_slow``, or None when it cannot vouch for that.

    ``event=True``: ``head`` is a whole text/event-plain body that should end with the block's
    empty line (no body), which saves copying the block out of it.

    Per event, a loop over ~100 lines in Python costs more than the rest of the client put
    together, so this version works on the whole block with C-speed bytes operations, and
    checks its own preconditions instead: every line is ``name: value`` with exactly one ':'
    and one space, right after it (FreeSWITCH URL-encodes both in values), no '%' in a name
    (names are not decoded), no '=' or CR anywhere (binascii's quoted-printable decoder, used
    for the '%' escapes once they are '=', would read them as escapes or line breaks). Then one
    translation turns ':', ' ' and '\\n' into NUL, one call decodes every escape, and one split
    gives name, "", value for each line. A '%' that is not a valid escape changes the decoded
    length; a NUL in a value (raw or %00) adds a part; a space not right after its ':' leaves
    a non-empty part between them: the slow path then takes over. FreeSWITCH's own output never
    does any of that.
    """
    structure = head.translate(None, _NOT_STRUCTURE)
    if (_WELL_FORMED_EVENT if event else _WELL_FORMED)(structure) is None:
        return None
    extra = 2 if event else 0  # the final "\n\n": two more NULs, two more (empty) parts
    lines = structure.count(b"\n") + 1 - extra
    escapes = len(structure) - 3 * lines + 1 - extra
    flat = head.translate(_FLATTEN)
    if escapes:
        decoded = a2b_qp(flat)
        # Each valid escape shortens the block by two bytes; an invalid one (a '%' not
        # followed by two hex digits) leaves its '=' or drops a byte.
        if len(decoded) != len(flat) - 2 * escapes:
            return None
        flat = decoded
    parts = flat.decode("utf-8", "replace").split("\x00")
    # zip() stops at the shorter slice: the two trailing empty parts of an event pair with nothing.
    if len(parts) != 3 * lines + extra or any(parts[1::3]):
        return None
    return dict(zip(parts[::3], parts[2::3]))


def parse_plain_headers(head: bytes) -> dict[str, str]:
    """Parse a block of ``Name: url-encoded value`` lines (no blank line) into a dict."""
    headers = _plain_headers_fast(head)
    return headers if headers is not None else _plain_headers_slow(head)


def parse_event_plain(data: bytes) -> Event:
    """Parse the body of a ``text/event-plain`` frame.

    The header block ends at the first empty line; what follows (announced by the block's own
    ``Content-Length``, which stays among the headers as in the JSON form) is the event's body.
    """
    # Most events have no body: the block then ends the data. Searching a few KB for the first
    # "\n\n" costs as much as parsing them, so try that first: the fast path refuses any block
    # holding an empty line before its end, i.e. any event with a body.
    headers = _plain_headers_fast(data, event=True)
    if headers is not None:
        return _make_event(headers, "")
    end = data.find(FRAME_END)
    if end < 0:
        head, rest = (data[:-1] if data.endswith(b"\n") else data), b""
    else:
        head, rest = data[:end], data[end + 2 :]
    headers = _plain_headers_fast(head)
    if headers is None:
        headers = _plain_headers_slow(head)
    return _make_event(headers, rest.decode("utf-8", "replace") if rest else "")


# -- text/event-json ---------------------------------------------------------------------------------

_ONLY_STR = frozenset({str})


def _json_text(value: object) -> str:
    """A JSON member as FreeSWITCH's plain format would have written it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # An array header: the plain format sends "ARRAY::a|:b" (a single item, just the item).
        items = [_json_text(item) for item in value]
        return items[0] if len(items) == 1 else "ARRAY::" + "|:".join(items)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def parse_event_json(data: bytes) -> Event:
    """Parse the body of a ``text/event-json`` frame (its ``_body`` member becomes the body)."""
    try:
        try:
            obj = json.loads(data)
        except UnicodeDecodeError:
            # cJSON passes any byte through: a latin-1 caller name must not cost the event.
            obj = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise EslProtocolError("FreeSWITCH sent a text/event-json frame that is not valid JSON.") from None
    if type(obj) is not dict:
        raise EslProtocolError("FreeSWITCH sent a text/event-json frame that is not a JSON object.")
    body = obj.pop("_body", "")
    if type(body) is not str:
        body = _json_text(body)
    if not _ONLY_STR.issuperset(map(type, obj.values())):
        obj = {key: _json_text(value) for key, value in obj.items()}
    return _make_event(obj, body)


# -- frames ------------------------------------------------------------------------------------------


class Frame(NamedTuple):
    """One message of the event socket: its own headers (read-only) and the body they announced."""

    headers: Mapping[str, str]
    raw_body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def body(self) -> str:
        """The body as text (UTF-8; an invalid byte becomes U+FFFD)."""
        return self.raw_body.decode("utf-8", "replace")

    @property
    def reply_text(self) -> str:
        """The ``Reply-Text`` of a ``command/reply`` (``+OK accepted``, ``-ERR invalid``...)."""
        return self.headers.get("Reply-Text", "")

    @property
    def is_event(self) -> bool:
        return self.content_type in EVENT_TYPES

    def event(self) -> Event:
        """Parse this ``text/event-plain`` or ``text/event-json`` frame's body into an Event."""
        content_type = self.content_type
        if content_type == EVENT_PLAIN:
            return parse_event_plain(self.raw_body)
        if content_type == EVENT_JSON:
            return parse_event_json(self.raw_body)
        raise EslProtocolError(f"A {content_type or 'untyped'} frame is not an event.")


_new_tuple = tuple.__new__
# The head every event frame has (mod_event_socket writes exactly this), read in one match.
_EVENT_HEAD = re.compile(rb"Content-Length: ([0-9]{1,12})\nContent-Type: (text/event-(?:plain|json))")
_EVENT_TYPE_NAMES = {b"text/event-plain": EVENT_PLAIN, b"text/event-json": EVENT_JSON}


def _parse_outer_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.lstrip(" \t")
        # libesl URL-decodes these too (an outbound socket's "connect" reply is encoded).
        headers[name] = unquote(value, errors="replace") if "%" in value else value
    return headers


class FrameBuffer:
    """Receive buffer: ``feed(bytes)`` returns the complete frames and keeps the rest.

    A frame (header block and announced body) longer than ``max_frame`` bytes raises
    ``EslProtocolError`` rather than eating memory: a peer that is not FreeSWITCH, or a broken
    one. A body is only joined once all of it has arrived (no quadratic re-joining).
    """

    __slots__ = ("max_frame", "_parts", "_size", "_need")

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._parts: list[bytes] = []
        self._size = 0
        # Bytes needed before parsing again is worth it: a whole announced frame, or one more.
        self._need = 0

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the end of a frame."""
        return self._size

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes read from the transport; return the frames they complete, in order."""
        if type(data) is not bytes:
            data = bytes(data)  # a bytearray or memoryview: frames must own immutable bytes
        if self._parts:
            self._parts.append(data)
            self._size += len(data)
            if self._size < self._need:
                return []
            data = b"".join(self._parts)
            self._parts = []
            self._size = 0
        frames: list[Frame] = []
        append = frames.append
        find = data.find
        match_event_head = _EVENT_HEAD.fullmatch
        size = len(data)
        pos = 0
        while pos < size:
            end = find(FRAME_END, pos)
            if end < 0:
                break
            if data[pos] == 10:
                pos += 1  # a stray blank line between frames (FreeSWITCH sends none; libesl skips them)
                continue
            found = match_event_head(data, pos, end)
            if found is not None:
                length_text = found.group(1).decode()
                headers = {"Content-Length": length_text, "Content-Type": _EVENT_TYPE_NAMES[found.group(2)]}
                length = int(length_text)
            else:
                headers = _parse_outer_headers(data[pos:end])
                length_text = headers.get("Content-Length")
                length = 0 if length_text is None else self._content_length(length_text)
            stop = end + 2 + length
            if stop - pos > self.max_frame:
                self._too_long()
            if stop > size:
                break
            append(_new_tuple(Frame, (MappingProxyType(headers), data[end + 2 : stop] if length else b"")))
            pos = stop
        if pos < size:
            rest = data[pos:] if pos else data
            self._parts = [rest]
            self._size = len(rest)
            end = rest.find(FRAME_END)
            if end < 0:
                if self._size > self.max_frame:
                    self._too_long()
                self._need = self._size + 1
            else:
                # Header block complete, body not: wait for all of it.
                self._need = self._frame_size(rest, end)
        return frames

    def _frame_size(self, rest: bytes, end: int) -> int:
        found = _EVENT_HEAD.fullmatch(rest, 0, end)
        if found is not None:
            return end + 2 + int(found.group(1))
        length_text = _parse_outer_headers(rest[:end]).get("Content-Length")
        return end + 2 + (0 if length_text is None else self._content_length(length_text))

    def _content_length(self, text: str) -> int:
        text = text.strip()
        if not text.isdigit() or not text.isascii():
            self._reset()
            raise EslProtocolError(f"The event socket sent an invalid Content-Length ({text[:20]!r}).")
        length = int(text)
        if length > self.max_frame:
            self._too_long()
        return length

    def _too_long(self) -> None:
        self._reset()
        raise EslProtocolError(f"The event socket sent a frame longer than {self.max_frame} bytes.")

    def _reset(self) -> None:
        self._parts = []
        self._size = 0
        self._need = 0


# -- writing ------------------------------------------------------------------------------------------

_JOB_UUID = re.compile(r"[A-Za-z0-9_.-]{1,%d}" % MAX_JOB_UUID)
_RESERVED_SENDMSG = frozenset({"content-length"})


def _unsafe(text: str) -> bool:
    return "\n" in text or "\r" in text or "\x00" in text


def check_text(value: object, field: str) -> str:
    """Return ``value`` if it is text the event socket can carry in a command line or header value.

    Raises ``UnsafeEslValue`` (naming ``field``, never echoing the value) for anything but a str
    or for CR, LF or NUL anywhere in it.
    """
    if not isinstance(value, str):
        raise UnsafeEslValue(f"The {field} must be text.", field=field)
    if _unsafe(value):
        raise UnsafeEslValue(
            f"The {field} contains a line break or NUL character, which the event socket cannot carry.",
            field=field,
        )
    return value


def check_word(value: object, field: str) -> str:
    """Like ``check_text``, and also refuse an empty value or one holding whitespace."""
    text = check_text(value, field)
    if not text or any(c.isspace() for c in text):
        raise UnsafeEslValue(f"The {field} must be one word: not empty, no spaces.", field=field)
    return text


def check_header_name(name: object) -> str:
    """Refuse a header name the event socket cannot carry: empty, ':', whitespace, CR, LF, NUL."""
    if not isinstance(name, str):
        raise UnsafeEslValue("An event socket header name must be text.", field=str(name))
    shown = name.replace("\r", "\\r").replace("\n", "\\n").replace("\x00", "\\0")
    check_word(name, f"header name {shown!r}")
    if ":" in name:
        raise UnsafeEslValue(f"The header name {shown!r} contains ':'.", field=name)
    return name


def _header_value(value: HeaderScalar, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return check_text(value, f"value of header {name!r}")


def _encode(line: str, headers: Iterable[str] = (), body: bytes = b"") -> bytes:
    text = "\n".join([line, *headers]) + "\n\n"
    return text.encode("utf-8") + body


def encode_command(command: str, *args: str) -> bytes:
    """Encode ``command arg1 arg2...`` (``event``, ``filter``, ``nixevent``, ``exit``, ``log``...).

    ``command`` is one word; arguments may hold spaces (``filter Caller-Context from agents``)
    but no CR, LF or NUL; empty arguments are left out.
    """
    check_word(command, "event socket command")
    words = [command]
    for index, arg in enumerate(args, 1):
        if check_text(arg, f"argument {index} of the {command} command"):
            words.append(arg)
    return _encode(" ".join(words))


def encode_auth(password: str, user: str | None = None) -> bytes:
    """``auth PASSWORD`` (or ``userauth USER:PASSWORD`` for event_socket users)."""
    check_text(password, "event socket password")
    if user is None:
        return _encode(f"auth {password}")
    check_word(user, "event socket user")
    if ":" in user:
        raise UnsafeEslValue("The event socket user must not contain ':'.", field="user")
    return _encode(f"userauth {user}:{password}")


def _api_line(verb: str, command: str, arg: str) -> str:
    check_text(command, f"{verb} command")
    if not command.strip():
        raise UnsafeEslValue(f"The {verb} command is empty.", field=f"{verb} command")
    if command != command.strip():
        # FreeSWITCH cuts the command at the first space: " status" would run "".
        raise UnsafeEslValue(f"The {verb} command must not start or end with a space.", field=f"{verb} command")
    check_text(arg, f"argument of {verb} {command.split()[0]}")
    return f"{verb} {command} {arg}" if arg else f"{verb} {command}"


def encode_api(command: str, arg: str = "") -> bytes:
    """Encode ``api COMMAND ARG``: FreeSWITCH runs it and answers with an ``api/response``."""
    return _encode(_api_line("api", command, arg))


def encode_bgapi(command: str, arg: str = "", job_uuid: str | None = None) -> bytes:
    """Encode ``bgapi COMMAND ARG`` with our own ``Job-UUID`` header (so its id is known at once).

    The BACKGROUND_JOB event that carries the result has the same Job-UUID. FreeSWITCH keeps at
    most 36 characters of it, so a longer one (or one with other than letters, digits, '-',
    '_' or '.') is refused.
    """
    line = _api_line("bgapi", command, arg)
    if job_uuid is None:
        return _encode(line)
    check_text(job_uuid, "Job-UUID")
    if not _JOB_UUID.fullmatch(job_uuid):
        raise UnsafeEslValue(
            f"A Job-UUID is 1 to {MAX_JOB_UUID} letters, digits, '-', '_' or '.'.", field="Job-UUID"
        )
    return _encode(line, [f"Job-UUID: {job_uuid}"])


def encode_event_subscription(event_format: str, names: Iterable[str]) -> bytes:
    """Encode ``event FORMAT NAME... [CUSTOM SUBCLASS...]``.

    ``names`` holds event names (``CHANNEL_ANSWER``, ``ALL``) and CUSTOM subclasses, told apart
    by their ``::`` (``callcenter::info``); the subclasses go after the ``CUSTOM`` keyword, as
    mod_event_socket expects.
    """
    if event_format not in ("plain", "json", "xml"):
        raise UnsafeEslValue("The event format is plain, json or xml.", field="event format")
    plain: list[str] = []
    custom: list[str] = []
    wants_custom = False
    for name in names:
        check_word(name, "event name")
        if "::" in name:
            if name not in custom:
                custom.append(name)
        elif name.upper() == "CUSTOM":
            wants_custom = True
        elif name not in plain:
            plain.append(name)
    if not plain and not custom and not wants_custom:
        raise UnsafeEslValue("Name at least one event to subscribe to.", field="event name")
    words = ["event", event_format, *plain]
    if custom or wants_custom:
        words += ["CUSTOM", *custom]
    return _encode(" ".join(words))


def encode_sendmsg(uuid: str | None, headers: Headers, body: str | bytes | None = None) -> bytes:
    """Encode ``sendmsg UUID`` and its headers (``call-command: execute``...).

    ``uuid`` None or ``""`` addresses the socket's own channel (outbound mode). Header values may
    be text, numbers or booleans; ``None`` values are left out; a ``body`` (for an application
    argument that needs newlines) is sent with its own ``Content-Length``. Any CR, LF or NUL in a
    header, or a NUL in the body, raises ``UnsafeEslValue`` before anything is encoded.
    """
    line = "sendmsg"
    if uuid:
        line += " " + check_word(uuid, "sendmsg UUID")
    lines: list[str] = []
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        check_header_name(name)
        if name.lower() in _RESERVED_SENDMSG:
            raise UnsafeEslValue(f"The header {name!r} is set by the client itself.", field=name)
        if value is None:
            continue
        lines.append(f"{name}: {_header_value(value, name)}")
    raw = b""
    if body is not None:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if b"\x00" in raw:
            # FreeSWITCH reads the body into a C string: a NUL would cut it short.
            raise UnsafeEslValue("The sendmsg body contains a NUL character.", field="body")
        if raw:
            lines.append(f"Content-Length: {len(raw)}")
    return _encode(line, lines, raw)


def encode_execute(
    uuid: str | None, application: str, arg: str | None = None, *, event_lock: bool = False
) -> bytes:
    """``sendmsg`` asking the channel ``uuid`` to run a dialplan application (``playback``...)."""
    check_word(application, "application name")
    headers: list[tuple[str, HeaderScalar | None]] = [
        ("call-command", "execute"),
        ("execute-app-name", application),
        ("execute-app-arg", arg),
    ]
    if event_lock:
        headers.append(("event-lock", "true"))
    return encode_sendmsg(uuid, headers)
