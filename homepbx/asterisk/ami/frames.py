"""Sans-IO Asterisk Manager Interface framing: bytes in, messages out; actions in, bytes out.

No sockets and no asyncio here (h11 style), so every rule can be tested exhaustively without a
network:

* ``FrameBuffer`` accumulates whatever the transport read and returns the complete messages.
  Frames end with a blank line (``\\r\\n\\r\\n``); the UTF-8 decoding happens once per complete
  frame, so a character split across two TCP reads survives (panoramisk decoded each read alone
  with ``errors='ignore'`` and turned "café" into "caf"). The ``Asterisk Call Manager/x.y``
  banner line, which has no blank line after it, is recognised and kept aside.
* ``Message`` is one response or event: ordered headers, case-insensitive lookup, repeated keys
  (``ChanVariable``, ``Variable``, ``Output``) all kept.
* ``encode_action`` writes an action and refuses any key or value the protocol cannot carry
  (CR, LF or NUL anywhere, ``:`` in a key): a value such as ``"1\\r\\nAction: Hangup"`` raises
  ``UnsafeHeader`` instead of injecting a second action.

Command output: Asterisk 22 answers ``Action: Command`` with ``Response: Success`` and one
``Output:`` header per line. The pre-14 form (``Response: Follows``, raw lines, then
``--END COMMAND--``) is still understood; both end up in ``Message.output``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Union

from .errors import AmiProtocolError, UnsafeHeader

TERMINATOR = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"
_END_COMMAND = "--END COMMAND--"
_END_COMMAND_BYTES = _END_COMMAND.encode()
_FOLLOWS = b"Response: Follows"
# Headers that may precede the raw body of a legacy "Response: Follows" answer.
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "message", "commandid"})
# Never shown by repr(): a Login action echoed in a log must not leak the secret.
_REDACTED = frozenset({"secret", "key"})

DEFAULT_MAX_FRAME = 64 * 1024 * 1024

HeaderScalar = Union[str, int, float, bool]
HeaderValue = Union[HeaderScalar, None, Sequence[HeaderScalar]]
Headers = Union[Mapping[str, HeaderValue], Iterable[tuple[str, HeaderValue]]]


class Message:
    """One AMI response or event.

    ``msg["Event"]``, ``msg.get("actionid")`` look keys up case-insensitively and return the
    first value; ``msg.get_all("ChanVariable")`` returns every value of a repeated key;
    ``msg.headers`` is the ordered tuple of ``(key, value)`` pairs as received.
    """

    __slots__ = ("_keys", "_values", "body", "_index")

    def __init__(self, headers: Iterable[tuple[str, str]], body: Sequence[str] = ()) -> None:
        pairs = tuple(headers)
        self._init(tuple(k for k, _ in pairs), tuple(v for _, v in pairs), tuple(body))

    def _init(
        self,
        keys: tuple[str, ...],
        values: tuple[str, ...],
        body: tuple[str, ...],
        lower: Callable[[str], str] = str.lower,
    ) -> None:
        self._keys = keys
        self._values = values
        # Raw lines of a legacy "Response: Follows" body, or lines with no colon at all.
        self.body = body
        # Built from the end so that the first occurrence of a repeated key wins; all in C
        # (zip/map/reversed), as this runs for every event of a busy call centre.
        self._index = dict(zip(map(lower, reversed(keys)), reversed(values)))

    @classmethod
    def _from_columns(
        cls,
        keys: tuple[str, ...],
        values: tuple[str, ...],
        body: tuple[str, ...] = (),
        lower: Callable[[str], str] = str.lower,
    ) -> Message:
        message = cls.__new__(cls)
        message._init(keys, values, body, lower)
        return message

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The ``(key, value)`` pairs in the order received (repeats included)."""
        return tuple(zip(self._keys, self._values))

    # -- lookup -----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (any case), or ``default``."""
        return self._index.get(key.lower(), default)

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` (any case), in the order received."""
        wanted = key.lower()
        return [v for k, v in zip(self._keys, self._values) if k.lower() == wanted]

    def keys(self) -> list[str]:
        """Header names in the order received (repeats included)."""
        return list(self._keys)

    def to_dict(self) -> dict[str, str | list[str]]:
        """A plain dict; repeated keys become lists (handy for JSON output)."""
        out: dict[str, str | list[str]] = {}
        for key, value in self.headers:
            if key in out:
                previous = out[key]
                out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                out[key] = value
        return out

    # -- what kind of message ----------------------------------------------------------------
    @property
    def is_event(self) -> bool:
        return "event" in self._index

    @property
    def is_response(self) -> bool:
        return "response" in self._index

    @property
    def name(self) -> str:
        """The event name (``Newchannel``...), or ``""`` for a response."""
        return self._index.get("event", "")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    @property
    def success(self) -> bool:
        """True for events and for ``Success``/``Follows``/``Goodbye`` responses."""
        response = self._index.get("response")
        if response is None:
            return self.is_event
        return response.lower() in ("success", "follows", "goodbye")

    @property
    def message(self) -> str:
        """The human ``Message:`` header (``""`` when absent)."""
        return self._index.get("message", "")

    @property
    def output(self) -> list[str]:
        """Command output lines: Asterisk 22's ``Output:`` headers, or a legacy raw body."""
        return self.get_all("output") + list(self.body)

    # -- value semantics -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self._keys, self._values, self.body) == (other._keys, other._values, other.body)

    def __hash__(self) -> int:
        return hash((self._keys, self._values, self.body))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={'***' if k.lower() in _REDACTED else v!r}" for k, v in self.headers
        )
        return f"<Message {shown}{' +body' if self.body else ''}>"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return zip(self._keys, self._values)

    def __len__(self) -> int:
        return len(self._keys)


_new_message = object.__new__


class LowerCache(dict[str, str]):
    """Memoised ``str.lower`` for header names (AMI has a few hundred distinct ones).

    Looking a known name up costs a hash the dict insert needs anyway, where ``lower()`` would
    build a new string per header. Bounded, and owned by one ``FrameBuffer`` (no global state).
    """

    __slots__ = ()
    LIMIT = 4096

    def __missing__(self, key: str) -> str:
        lowered = key.lower()
        if len(self) < self.LIMIT:
            self[key] = lowered
        return lowered


def parse_frame(text: str, lower: Callable[[str], str] = str.lower) -> Message | None:
    """Parse one frame (without its blank-line terminator); ``None`` if it holds nothing.

    ``lower`` lowercases header names for the case-insensitive index (``LowerCache()[...]``
    from a ``FrameBuffer`` is faster; the result is the same).
    """
    if text.startswith("\r\n"):
        text = text.lstrip("\r\n")  # a peer that sends an extra blank line between frames
    if not text:
        return None
    lines = text.split("\r\n")
    if text.startswith("Response: Follows"):
        return _parse_follows(lines)
    keys, seps, values = zip(*[line.partition(": ") for line in lines])
    if "" in seps:
        return _parse_irregular(lines)
    # Inlined Message._from_columns: this line runs once per event.
    message = _new_message(Message)
    message._keys = keys
    message._values = values
    message.body = ()
    message._index = dict(zip(map(lower, reversed(keys)), reversed(values)))
    return message


class _Layout:
    """The header names of one kind of frame, in order, and a regex that checks and splits them.

    Asterisk sends each event with the same headers in the same order (a CEL event: 22 of them);
    one `fullmatch` of a frame against its layout's regex yields every value at once, in C, where
    the generic path splits and partitions line by line. A frame that does not match exactly
    (a header more or less, a value holding a lone LF) takes the generic path.

    A value is `(.*)`: anything but LF, greedy, so it ends at the last CR before the LF that ends
    its line, exactly where the generic path's split on CR LF ends it (a lone CR inside a value
    stays in the value on both paths). `.*` is about a quarter faster than `[^\r\n]*` here.
    """

    __slots__ = ("match", "keys", "lowered", "unique")

    def __init__(self, keys: tuple[str, ...]) -> None:
        # A line is `key: value` with the key up to its first ": "; the keys come from exactly
        # that split, so matching the literal key then ": " finds the same split.
        self.match = re.compile("\r\n".join(re.escape(k) + ": (.*)" for k in keys)).fullmatch
        self.keys = keys
        self.lowered = tuple(k.lower() for k in keys)
        # With a repeated key the index keeps the first value (built from the end, as parse_frame).
        self.unique = len(set(self.lowered)) == len(keys)


class _Layouts(dict[str, Union[_Layout, None]]):
    """Layouts by a frame's first line (``Event: CEL``...), learnt from the frames themselves.

    Bounded: at most LIMIT first lines, and a first line whose frames keep changing layout
    (more than RELEARN times) stops being learnt again (its frames take the generic path).
    Owned by one ``FrameBuffer``.
    """

    __slots__ = ("misses",)
    LIMIT = 512
    RELEARN = 8

    def __init__(self) -> None:
        super().__init__()
        self.misses: dict[str, int] = {}

    def learn(self, first: str, keys: tuple[str, ...]) -> None:
        misses = self.misses.get(first, 0)
        if misses > self.RELEARN or (first not in self and len(self) >= self.LIMIT):
            return
        self.misses[first] = misses + 1
        self[first] = _Layout(keys)


def _parse_irregular(lines: list[str]) -> Message:
    """The slow path: "Key:" with an empty value, or lines with no colon at all."""
    headers: list[tuple[str, str]] = []
    body: list[str] = []
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if sep:
            headers.append((key, value))
        elif line:
            body.append(line)
    return Message(headers, body)


def _parse_follows(lines: list[str]) -> Message:
    headers: list[tuple[str, str]] = []
    position = 0
    for position, line in enumerate(lines):
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in _FOLLOWS_HEADERS:
            break
        headers.append((key.strip(), value.lstrip(" ")))
    else:
        position = len(lines)
    body: list[str] = []
    for chunk in lines[position:]:
        # Old Asterisk wrote the command output with bare "\n" inside the frame.
        for line in chunk.split("\n"):
            if line.endswith(_END_COMMAND):
                line = line[: -len(_END_COMMAND)]
                if not line:
                    continue
            body.append(line)
    while body and body[-1] == "":
        body.pop()
    return Message(headers, body)


class FrameBuffer:
    """Receive buffer: ``feed(bytes)`` returns the complete messages, keeps the rest.

    ``banner`` holds the ``Asterisk Call Manager/x.y`` line once seen (``version`` its x.y).
    A frame longer than ``max_frame`` bytes raises ``AmiProtocolError`` rather than eating
    memory forever (a peer that is not Asterisk, or a broken one).
    """

    __slots__ = ("banner", "max_frame", "_expect_banner", "_parts", "_size", "_tail", "_lower", "_layouts")

    def __init__(self, *, expect_banner: bool = True, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.banner: str | None = None
        self.max_frame = max_frame
        self._expect_banner = expect_banner
        self._parts: list[bytes] = []
        self._size = 0
        # The last 3 buffered bytes: enough to spot a terminator straddling two reads
        # without rescanning a large pending frame on every read.
        self._tail = b""
        self._lower = LowerCache().__getitem__
        self._layouts = _Layouts()

    @property
    def version(self) -> str | None:
        if self.banner is None:
            return None
        return self.banner.partition("/")[2].strip()

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the end of a frame."""
        return self._size

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes read from the transport; return the messages they complete."""
        if self._expect_banner:
            data = self._take_banner(data)
            if not data:
                return []
        if self._parts:
            if TERMINATOR not in self._tail + data[:3] and TERMINATOR not in data:
                self._hold(data)
                return []
            self._parts.append(data)
            data = b"".join(self._parts)
            self._parts = []
            self._size = 0
            self._tail = b""
        elif TERMINATOR not in data:
            self._hold(data)
            return []
        cut = data.rfind(TERMINATOR)
        complete, rest = data[:cut], data[cut + 4 :]
        messages: list[Message] = []
        append = messages.append
        if _FOLLOWS not in complete:
            # The usual case: decode everything complete at once. Splitting on the terminator
            # afterwards is equivalent to decoding frame by frame: the terminator is ASCII, and
            # errors="replace" never swallows an ASCII byte, so an invalid byte (a latin-1
            # caller name...) costs one character of its message, never its neighbours.
            lower = self._lower
            layouts = self._layouts
            get_layout = layouts.get
            new = _new_message
            for text in complete.decode("utf-8", "replace").split("\r\n\r\n"):
                cut = text.find("\r\n")
                first = text[:cut] if cut > 0 else text
                layout = get_layout(first)
                if layout is not None:
                    found = layout.match(text)
                    if found is not None:
                        # Inlined Message construction: this runs once per event.
                        values = found.groups()
                        message = new(Message)
                        message._keys = layout.keys
                        message._values = values
                        message.body = ()
                        if layout.unique:
                            message._index = dict(zip(layout.lowered, values))
                        else:
                            message._index = dict(zip(reversed(layout.lowered), reversed(values)))
                        append(message)
                        continue
                message = parse_frame(text, lower)
                if message is not None:
                    append(message)
                    if cut > 0 and not message.body:
                        # A regular frame (every line `key: value`) that starts with its first
                        # line: its layout serves the next frames of its kind.
                        layouts.learn(first, message._keys)
            if rest:
                self._hold(rest)
            return messages
        frames = complete.split(TERMINATOR)
        i = 0
        count = len(frames)
        while i < count:
            frame = frames[i]
            i += 1
            if frame.startswith(_FOLLOWS) and _END_COMMAND_BYTES not in frame:
                # A legacy command body may hold blank lines: it ends at --END COMMAND--.
                end = next((j for j in range(i, count) if _END_COMMAND_BYTES in frames[j]), None)
                if end is None:
                    rest = TERMINATOR.join([*frames[i - 1 :], rest])
                    break
                frame = TERMINATOR.join(frames[i - 1 : end + 1])
                i = end + 1
            message = parse_frame(frame.decode("utf-8", "replace"), self._lower)
            if message is not None:
                append(message)
        if rest:
            self._hold(rest)
        return messages

    def _hold(self, data: bytes) -> None:
        if not data:
            return
        self._parts.append(data)
        self._size += len(data)
        self._tail = (self._tail + data)[-3:]
        if self._size > self.max_frame:
            self._parts.clear()
            self._size = 0
            raise AmiProtocolError(
                f"The manager interface sent a frame longer than {self.max_frame} bytes."
            )

    def _take_banner(self, data: bytes) -> bytes:
        held = b"".join(self._parts) + data
        if not (held.startswith(BANNER_PREFIX) or BANNER_PREFIX.startswith(held)):
            self._expect_banner = False
            self._parts, self._size, self._tail = [], 0, b""
            return held
        line, sep, rest = held.partition(b"\r\n")
        if not sep:
            self._parts, self._size, self._tail = [], 0, b""
            self._hold(held)
            return b""
        self._expect_banner = False
        self._parts, self._size, self._tail = [], 0, b""
        self.banner = line.decode("utf-8", "replace")
        return rest


# -- writing -------------------------------------------------------------------------------------

_RESERVED = frozenset({"action", "actionid"})


def _check_text(text: str, what: str, field: str) -> None:
    # CR or LF would end the header (or the whole action) early; NUL truncates the C string
    # Asterisk reads. None of them can be carried, so refuse rather than strip silently.
    if "\r" in text or "\n" in text or "\x00" in text:
        raise UnsafeHeader(
            f"The {what} of AMI header {field!r} contains a line break or NUL character, "
            "which the manager protocol cannot carry.",
            field=field,
        )


def _scalar(value: HeaderScalar, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
        _check_text(text, "value", key)
        return text
    raise UnsafeHeader(f"The value of AMI header {key!r} must be text or a number.", field=key)


def check_key(key: str) -> None:
    """Refuse a header name the protocol cannot carry (empty, ':', CR, LF, NUL)."""
    if not isinstance(key, str) or not key.strip():
        raise UnsafeHeader("An AMI header name is empty.", field=str(key))
    safe = key.replace("\r", "\\r").replace("\n", "\\n").replace("\x00", "\\0")
    _check_text(key, "name", safe)
    if ":" in key:
        raise UnsafeHeader(f"The AMI header name {key!r} contains ':'.", field=key)


def encode_action(name: str, headers: Headers | None, action_id: str) -> bytes:
    """Encode ``Action: name`` with ``ActionID`` and ``headers`` into wire bytes.

    ``headers`` is a mapping or a sequence of pairs; a list/tuple value repeats the key
    (``Variable: a=1`` then ``Variable: b=2``); ``None`` values are left out. ``Action`` and
    ``ActionID`` are set here only: a caller supplying them gets ``UnsafeHeader``. Any CR, LF
    or NUL in a key or value raises ``UnsafeHeader`` and nothing is encoded.
    """
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise UnsafeHeader(f"{name!r} is not a valid AMI action name.", field="Action")
    _check_text(name, "value", "Action")
    _check_text(action_id, "value", "ActionID")
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, value in items:
        check_key(key)
        if key.strip().lower() in _RESERVED:
            raise UnsafeHeader(f"The AMI header {key!r} is set by the client itself.", field=key)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            lines.extend(f"{key}: {_scalar(v, key)}" for v in value)
        else:
            lines.append(f"{key}: {_scalar(value, key)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")
