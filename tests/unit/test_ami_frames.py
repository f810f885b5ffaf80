"""The sans-IO AMI framing: receive buffer, message type, writer (no network here)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homepbx.asterisk.ami.errors import AmiProtocolError, UnsafeHeader
from homepbx.asterisk.ami.frames import FrameBuffer, Message, encode_action, parse_frame
from homepbx.errors import InvalidInput


def feed_all(chunks: list[bytes], **options: object) -> list[Message]:
    buffer = FrameBuffer(**options)  # type: ignore[arg-type]
    out: list[Message] = []
    for chunk in chunks:
        out.extend(buffer.feed(chunk))
    return out


# -- messages -----------------------------------------------------------------------------------


def test_event_headers_are_ordered_case_insensitive_and_keep_repeats() -> None:
    [msg] = FrameBuffer(expect_banner=False).feed(
        b"Event: VarSet\r\nChannel: PJSIP/a-1\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n"
    )
    assert msg.is_event and not msg.is_response
    assert msg.name == "VarSet"
    assert msg["event"] == msg["EVENT"] == "VarSet"
    assert msg["chanvariable"] == "A=1"  # first occurrence
    assert msg.get_all("ChanVariable") == ["A=1", "B=2"]
    assert msg.headers == (
        ("Event", "VarSet"),
        ("Channel", "PJSIP/a-1"),
        ("ChanVariable", "A=1"),
        ("ChanVariable", "B=2"),
    )
    assert msg.to_dict() == {"Event": "VarSet", "Channel": "PJSIP/a-1", "ChanVariable": ["A=1", "B=2"]}
    assert "channel" in msg and "Nope" not in msg and 3 not in msg
    assert msg.get("missing") is None and msg.get("missing", "x") == "x"
    with pytest.raises(KeyError):
        msg["missing"]
    assert len(msg) == 4 and list(msg) == list(msg.headers)


def test_response_properties() -> None:
    ok, err = FrameBuffer(expect_banner=False).feed(
        b"Response: Success\r\nActionID: a-1\r\nMessage: Authentication accepted\r\n\r\n"
        b"Response: Error\r\nActionID: a-2\r\nMessage: Authentication failed\r\n\r\n"
    )
    assert ok.is_response and ok.success and ok.action_id == "a-1" and ok.name == ""
    assert ok.message == "Authentication accepted"
    assert not err.success and err.message == "Authentication failed"


def test_message_equality_and_constructor() -> None:
    built = Message([("Event", "Ping"), ("X", "1")])
    [parsed] = FrameBuffer(expect_banner=False).feed(b"Event: Ping\r\nX: 1\r\n\r\n")
    assert built == parsed and hash(built) == hash(parsed)
    assert built != Message([("Event", "Ping"), ("X", "2")])


def test_repr_hides_secrets() -> None:
    msg = Message([("Action", "Login"), ("Username", "u"), ("Secret", "hunter2")])
    assert "hunter2" not in repr(msg) and "Username='u'" in repr(msg)


def test_empty_value_and_line_without_colon() -> None:
    [msg] = FrameBuffer(expect_banner=False).feed(
        b"Event: X\r\nAccountCode: \r\nEmpty:\r\nValue: a: b\r\nraw line\r\n\r\n"
    )
    assert msg["AccountCode"] == "" and msg["Empty"] == "" and msg["Value"] == "a: b"
    assert msg.body == ("raw line",)


def test_parse_frame_ignores_empty_frames() -> None:
    assert parse_frame("") is None
    assert parse_frame("\r\n") is None


# -- receive buffer -------------------------------------------------------------------------------


def test_banner_is_kept_aside() -> None:
    buffer = FrameBuffer()
    assert buffer.feed(b"Asterisk Call Manager/9.0.0\r\n") == []
    assert buffer.banner == "Asterisk Call Manager/9.0.0" and buffer.version == "9.0.0"
    [msg] = buffer.feed(b"Response: Success\r\n\r\n")
    assert msg["Response"] == "Success"


@pytest.mark.parametrize("cut", range(1, 30))
def test_banner_split_across_reads(cut: int) -> None:
    data = b"Asterisk Call Manager/9.0.0\r\nEvent: FullyBooted\r\n\r\n"
    buffer = FrameBuffer()
    out = buffer.feed(data[:cut]) + buffer.feed(data[cut:])
    assert buffer.banner == "Asterisk Call Manager/9.0.0"
    assert [m.name for m in out] == ["FullyBooted"]


def test_no_banner_is_fine() -> None:
    buffer = FrameBuffer()
    [msg] = buffer.feed(b"Event: X\r\n\r\n")
    assert msg.name == "X" and buffer.banner is None and buffer.version is None


@pytest.mark.parametrize("cut", range(1, len("Event: X\r\nName: café\r\n\r\n".encode())))
def test_utf8_character_split_across_reads_survives(cut: int) -> None:
    data = "Event: X\r\nName: café\r\n\r\n".encode()
    out = feed_all([data[:cut], data[cut:]], expect_banner=False)
    assert [m["Name"] for m in out] == ["café"]


def test_invalid_utf8_costs_one_character_not_the_stream() -> None:
    out = feed_all([b"Event: A\r\nName: caf\xe9\r\n\r\nEvent: B\r\nName: ok\r\n\r\n"], expect_banner=False)
    assert [m["Name"] for m in out] == ["caf\ufffd", "ok"]


def test_extra_blank_lines_between_frames() -> None:
    out = feed_all([b"Event: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n\r\n"], expect_banner=False)
    assert [m.name for m in out] == ["A", "B"]


def test_asterisk_22_command_output() -> None:
    [msg] = feed_all(
        [
            b"Response: Success\r\nActionID: c-1\r\nMessage: Command output follows\r\n"
            b"Output: Channel              Location\r\nOutput: 0 active channels\r\n\r\n"
        ],
        expect_banner=False,
    )
    assert msg.success and msg.output == ["Channel              Location", "0 active channels"]


def test_legacy_follows_output_with_blank_lines_across_reads() -> None:
    buffer = FrameBuffer(expect_banner=False)
    first = buffer.feed(b"Response: Follows\r\nPrivilege: Command\r\nActionID: c-2\r\nline one\r\n\r\n")
    assert first == []
    [msg, after] = buffer.feed(b"Name: not a header\n--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n")
    assert msg["Response"] == "Follows" and msg.action_id == "c-2" and msg.success
    assert msg.output == ["line one", "", "Name: not a header"]
    assert after.name == "Next"


def test_oversized_frame_is_refused() -> None:
    buffer = FrameBuffer(expect_banner=False, max_frame=100)
    buffer.feed(b"Event: X\r\n")
    with pytest.raises(AmiProtocolError):
        for _ in range(20):
            buffer.feed(b"Junk: " + b"x" * 10 + b"\r\n")


def test_pending_counts_held_bytes() -> None:
    buffer = FrameBuffer(expect_banner=False)
    buffer.feed(b"Event: X\r\n")
    assert buffer.pending == len(b"Event: X\r\n")
    buffer.feed(b"\r\n")
    assert buffer.pending == 0


# -- property: chunking never changes the messages --------------------------------------------------

_key = st.text(alphabet="ABCXYZabcxyz019_-", min_size=1, max_size=12).map(lambda k: "K" + k)
# Mostly the characters that matter to the framing (separators, spaces, multi-byte UTF-8).
_value = st.text(alphabet=st.sampled_from(list(": aZ9é€😀\t-=")) | st.characters(
    blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=20)
_event = st.tuples(_key, st.lists(st.tuples(_key, _value), max_size=6))


def _render(name: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"Event: {name}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@settings(max_examples=80, deadline=None)
@given(
    events=st.lists(_event, min_size=1, max_size=5),
    banner=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_split_of_the_stream_gives_the_same_messages(
    events: list[tuple[str, list[tuple[str, str]]]], banner: bool, cuts: list[int]
) -> None:
    data = (b"Asterisk Call Manager/9.0.0\r\n" if banner else b"") + b"".join(
        _render(n, h) for n, h in events
    )
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in zip(points, points[1:])]
    expected = [Message([("Event", n), *h]) for n, h in events]
    assert feed_all([data]) == expected
    assert feed_all(chunks) == expected


@settings(max_examples=25, deadline=None)
@given(events=st.lists(_event, min_size=1, max_size=5))
def test_byte_by_byte_feeding(events: list[tuple[str, list[tuple[str, str]]]]) -> None:
    data = b"".join(_render(n, h) for n, h in events)
    assert feed_all([data[i : i + 1] for i in range(len(data))]) == [
        Message([("Event", n), *h]) for n, h in events
    ]


# -- writer -------------------------------------------------------------------------------------


def test_encode_action() -> None:
    data = encode_action(
        "Originate",
        {"Channel": "PJSIP/sup", "Variable": ["A=1", "B=2"], "Async": True, "Timeout": 30000, "Skip": None},
        "id-1",
    )
    assert data == (
        b"Action: Originate\r\nActionID: id-1\r\nChannel: PJSIP/sup\r\nVariable: A=1\r\n"
        b"Variable: B=2\r\nAsync: true\r\nTimeout: 30000\r\n\r\n"
    )
    assert encode_action("Ping", None, "x") == b"Action: Ping\r\nActionID: x\r\n\r\n"
    assert encode_action("Ping", [("A", "1"), ("A", "2")], "x").count(b"A: ") == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"Channel": "PJSIP/1\r\nAction: Hangup"},
        {"Channel": "PJSIP/1\nAction: Hangup"},
        {"Channel": "PJSIP/1\rAction: Hangup"},
        {"Channel": "PJSIP/1\x00"},
        {"Variable": ["ok", "bad\r\n"]},
        {"Bad\r\nAction: Hangup": "x"},
        {"Bad: key": "x"},
        {"": "x"},
        {"ActionID": "mine"},
        {"actionid": "mine"},
        {"Action": "Hangup"},
        {"Obj": object()},
    ],
)
def test_writer_refuses_what_the_protocol_cannot_carry(headers: dict) -> None:
    with pytest.raises(UnsafeHeader) as info:
        encode_action("Originate", headers, "id-1")
    assert isinstance(info.value, InvalidInput) and info.value.exit_code == 2


@pytest.mark.parametrize("name", ["Ping\r\nAction: Hangup", "Ping\n", "Bad:Name", "", "   "])
def test_writer_refuses_bad_action_names(name: str) -> None:
    with pytest.raises(UnsafeHeader):
        encode_action(name, None, "id-1")


def test_refusal_does_not_echo_the_value() -> None:
    with pytest.raises(UnsafeHeader) as info:
        encode_action("Login", {"Username": "u", "Secret": "s3cr3t\r\nx"}, "id")
    assert "s3cr3t" not in str(info.value) and info.value.field == "Secret"


@settings(max_examples=80, deadline=None)
@given(
    prefix=st.text(max_size=10),
    breaker=st.sampled_from(["\r", "\n", "\r\n", "\x00"]),
    suffix=st.text(max_size=10),
    key=_key,
)
def test_any_value_with_cr_or_lf_is_refused(prefix: str, breaker: str, suffix: str, key: str) -> None:
    with pytest.raises(UnsafeHeader):
        encode_action("Setvar", {key: prefix + breaker + suffix}, "id")
    with pytest.raises(UnsafeHeader):
        encode_action("Setvar", {prefix + breaker + suffix + "k": "v"}, "id")


@settings(max_examples=80, deadline=None)
@given(name=_key, headers=st.lists(st.tuples(_key, _value), max_size=8))
def test_round_trip(name: str, headers: list[tuple[str, str]]) -> None:
    [msg] = FrameBuffer(expect_banner=False).feed(encode_action(name, headers, "id-7"))
    assert msg.headers == (("Action", name), ("ActionID", "id-7"), *headers)


# -- property: the learnt layouts (one regex per kind of frame) never change a message ---------------

_layout_key = st.sampled_from(["Event", "Timestamp", "Channel", "channel", "UniqueID", "Key:", "A B", "Ü", "X.Y*"])
# Values with separators, lone CR or LF (a layout refuses a lone LF: the generic path takes over;
# a lone CR stays in its value on both paths).
_layout_value = st.text(alphabet=st.sampled_from(list(": aZé😀\r\n\t")), max_size=8).filter(
    lambda v: "\r\n" not in v and not v.startswith("\n") and not v.endswith("\r"))


@settings(max_examples=150, deadline=None)
@given(
    frames=st.lists(
        st.tuples(st.sampled_from(["CEL", "Hold", "Cel"]),
                  st.lists(st.tuples(_layout_key, _layout_value), max_size=5)),
        min_size=1, max_size=12),
    repeat=st.integers(min_value=1, max_value=3),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6),
)
def test_frames_of_a_learnt_layout_parse_as_the_generic_path_does(
    frames: list[tuple[str, list[tuple[str, str]]]], repeat: int, cuts: list[int]
) -> None:
    # The same kinds of frame again and again (so layouts are learnt, hit and missed), with
    # repeated keys, keys ending in ':', and values the layout regex must refuse.
    data = b"".join(_render(n, h) for n, h in frames * repeat)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in zip(points, points[1:])]
    expected = [m for text in data.decode().split("\r\n\r\n") if (m := parse_frame(text)) is not None]
    assert feed_all([data]) == expected
    assert feed_all(chunks) == expected
    for got, want in zip(feed_all([data]), expected):
        assert got.get("channel") == want.get("channel") and got.get("key:") == want.get("key:")
        assert dict(got._index) == dict(want._index)
