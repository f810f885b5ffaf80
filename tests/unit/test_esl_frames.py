"""The sans-IO event socket framing: receive buffer, events, writer (no network here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.unit.fake_esl import core_headers, event_frame, serialize_json, serialize_plain, url_encode

from homepbx.errors import InvalidInput
from homepbx.freeswitch.esl.errors import EslProtocolError, UnsafeEslValue
from homepbx.freeswitch.esl.frames import (
    Event,
    Frame,
    FrameBuffer,
    _plain_headers_fast,
    _plain_headers_slow,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_command,
    encode_event_subscription,
    encode_execute,
    encode_sendmsg,
    parse_event_json,
    parse_event_plain,
    parse_plain_headers,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "esl"


def load(name: str) -> bytes:
    """A recorded stream: any file of raw bytes as read from the socket."""
    return (DATA / name).read_bytes()


def feed_all(chunks: list[bytes], **options: object) -> list[Frame]:
    buffer = FrameBuffer(**options)  # type: ignore[arg-type]
    out: list[Frame] = []
    for chunk in chunks:
        out.extend(buffer.feed(chunk))
    assert buffer.pending == 0, "bytes left over after the last frame"
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def read_command(data: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """What mod_event_socket's read_packet makes of one command: its line, headers and body.

    Like FreeSWITCH: lines end at CR or LF, a header is split at its first ':' and the spaces
    after it are skipped, and the command ends at the first empty line.
    """
    head, sep, rest = data.partition(b"\n\n")
    assert sep, "a command must end with an empty line"
    lines = head.decode("utf-8").replace("\r", "\n").split("\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.lstrip(" ")))
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    assert len(rest) == length, "nothing may follow a command but its announced body"
    return lines[0], headers, rest


# -- the recorded streams --------------------------------------------------------------------------
# Raw bytes read from a real FreeSWITCH 1.10.12 (see tests/data/esl/RECORDED.md): one session
# seen by two connections at once, one `event plain ALL`, one `event json ALL`.

PLAIN = "recorded_fs1.10.12.plain.esl"
JSON = "recorded_fs1.10.12.json.esl"
KNOWN_CC_ACTIONS = ["member-queue-start", "agent-offering", "bridge-agent-start", "bridge-agent-end", "member-queue-end"]


def recorded_events(name: str) -> list[Event]:
    return [f.event() for f in feed_all([load(name)]) if f.is_event]


def test_recorded_plain_session_frames_and_events() -> None:
    frames = feed_all([load(PLAIN)])
    kinds = [f.content_type for f in frames]
    assert kinds[:4] == ["auth/request", "command/reply", "command/reply", "api/response"]
    assert kinds[-2:] == ["command/reply", "text/disconnect-notice"]
    responses = [f for f in frames if f.content_type == "api/response"]
    assert frames[1].reply_text == "+OK accepted"
    assert frames[2].reply_text == "+OK event listener enabled plain"
    assert frames[3].body.startswith("UP 0 years") and "FreeSWITCH (Version 1.10.12" in frames[3].body
    assert len(responses) == 3 and responses[-1].body == "-ERR no_such_command Command not found!\n"
    assert responses[1].body.startswith("uuid,direction,created,created_epoch,name,state,")  # show channels
    assert frames[-2].reply_text == "+OK bye"
    assert frames[-1].body.startswith("Disconnected, goodbye.")

    events = [f.event() for f in frames if f.is_event]
    assert len(events) == 87
    sequences = [int(e["Event-Sequence"]) for e in events]
    # Unique, but not in order: events fired on different threads overtake each other.
    assert len(set(sequences)) == len(sequences) and sequences != sorted(sequences)

    # The bgapi reply names our Job-UUID; the BACKGROUND_JOB event carries it and the job's output.
    accepted = next(f for f in frames if f.reply_text.startswith("+OK Job-UUID: "))
    jobs = [e for e in events if e.name == "BACKGROUND_JOB"]
    assert [j["Job-Command"] for j in jobs] == ["originate", "status"]
    originate, status = jobs
    assert originate.job_uuid == accepted.headers["Job-UUID"] and accepted.reply_text.endswith(originate.job_uuid)
    assert originate.body == "-ERR SUBSCRIBER_ABSENT\n" and originate["Content-Length"] == "23"
    assert originate["Job-Command-Arg"] == (
        "{origination_caller_id_name='Supervision Zoé',originate_timeout=5}user/1999@127.0.0.19 &park"
    )
    assert status.body.startswith("UP 0 years") and "Job-Command-Arg" not in status

    # One queue call: the caller's leg to 600, mod_callcenter's leg to agent 1002.
    creates = [e for e in events if e.name == "CHANNEL_CREATE"]
    answers = [e for e in events if e.name == "CHANNEL_ANSWER"]
    hangups = [e for e in events if e.name == "CHANNEL_HANGUP_COMPLETE"]
    assert creates[0]["Caller-Destination-Number"] == "600"
    assert creates[1]["Caller-Destination-Number"].startswith("1002-")
    assert {e.unique_id for e in creates} == {e.unique_id for e in answers} == {e.unique_id for e in hangups}
    assert {e["Answer-State"] for e in answers} == {"answered"}
    assert [e["Hangup-Cause"] for e in hangups] == ["NORMAL_CLEARING", "NORMAL_CLEARING"]
    caller, agent = creates
    assert caller["Channel-Name"] == "sofia/homepbx/1004@127.0.0.19:5080"
    # The agent leg shows the caller's display name: URL-encoded UTF-8 on the wire.
    assert agent["Caller-Caller-ID-Name"] == "Zoé Παππά & Co"
    # A multi-line SDP travels URL-encoded and comes back with its CR LF.
    sdp = caller["variable_switch_r_sdp"]
    assert sdp.startswith("v=0\r\no=- ") and sdp.endswith("\r\n") and "m=audio " in sdp

    custom = [e for e in events if e.name == "CUSTOM" and e.subclass == "callcenter::info"]
    actions = [e["CC-Action"] for e in custom]
    assert [a for a in actions if a in KNOWN_CC_ACTIONS] == KNOWN_CC_ACTIONS
    assert {"members-count", "agent-state-change"} <= set(actions)
    start = custom[actions.index("member-queue-start")]
    assert start["CC-Queue"] == "ventes@127.0.0.19" and start["CC-Member-Session-UUID"] == caller.unique_id
    bridge_end = custom[actions.index("bridge-agent-end")]
    assert bridge_end["CC-Agent"] == "1002@127.0.0.19" and bridge_end["CC-Agent-UUID"] == agent.unique_id
    assert bridge_end["CC-Hangup-Cause"] == "SUCCESS" and bridge_end["CC-Agent-Bridged"] == "true"
    assert custom[-1]["CC-Action"] == "agent-state-change" and custom[-1]["CC-Agent-State"] == "Waiting"


def test_every_recorded_event_takes_the_fast_path() -> None:
    # The reference path gives the same events (see the property tests), ten times slower: a
    # FreeSWITCH event that misses the fast path is a performance bug.
    with_body = 0
    for frame in feed_all([load(PLAIN)]):
        if frame.content_type == "text/event-plain":
            data = frame.raw_body
            head = data[: data.find(b"\n\n")]
            assert _plain_headers_fast(head) is not None, data[:200]
            if _plain_headers_fast(data, event=True) is None:
                assert frame.event().body, data[:200]  # only an event with a body leaves the one-shot path
                with_body += 1
    assert with_body == 2  # the two BACKGROUND_JOBs


def test_recorded_json_session_gives_the_same_events_as_plain() -> None:
    frames = feed_all([load(JSON)])
    assert [f.reply_text for f in frames[1:3]] == ["+OK accepted", "+OK event listener enabled json"]
    events = [f.event() for f in frames if f.is_event]
    assert len(events) == 74
    plain = {e["Event-Sequence"]: e for e in recorded_events(PLAIN)}
    # The json connection ends earlier (see RECORDED.md): every one of its events has a plain twin.
    assert all(e["Event-Sequence"] in plain for e in events)
    for event in events:
        twin = plain[event["Event-Sequence"]]
        assert event == twin, event["Event-Sequence"]
        assert list(event.items()) == list(twin.items())  # same names, same case, same order


@pytest.mark.parametrize("name", [PLAIN, JSON])
def test_recorded_streams_hold_the_events_homepbx_relies_on(name: str) -> None:
    events = recorded_events(name)
    names = {e.name for e in events}
    assert {"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"} <= names
    for event in events:
        assert event.name and event["Core-UUID"] and event["Event-Sequence"].isdigit()
        if event.name.startswith("CHANNEL_"):
            assert event.unique_id and event["Channel-Name"].startswith("sofia/homepbx/")
    jobs = {e["Job-Command"]: e.body for e in events if e.name == "BACKGROUND_JOB"}
    assert jobs["originate"] == "-ERR SUBSCRIBER_ABSENT\n" and jobs["status"].startswith("UP 0 years")
    actions = [e["CC-Action"] for e in events if e.subclass == "callcenter::info"]
    assert actions[:4] == ["member-queue-start", "members-count", "agent-state-change", "agent-offering"]
    assert "bridge-agent-start" in actions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from([PLAIN, JSON]),
    cuts=st.lists(st.integers(min_value=0, max_value=400_000), max_size=60),
)
def test_any_split_of_the_recorded_stream_gives_the_same_frames(name: str, cuts: list[int]) -> None:
    data = load(name)
    expected = _WHOLE[name]
    frames = feed_all(split(data, cuts))
    assert frames == expected
    assert [f.event() for f in frames if f.is_event] == [f.event() for f in expected if f.is_event]


_WHOLE = {name: feed_all([load(name)]) for name in (PLAIN, JSON)}


@pytest.mark.parametrize("name", [PLAIN, JSON])
def test_byte_by_byte_feeding_of_the_recorded_streams(name: str) -> None:
    data = load(name)[:24_000]
    data = data[: data.rfind(b"Content-Length:")]  # whole frames only
    frames = feed_all([data[i : i + 1] for i in range(len(data))])
    assert frames == feed_all([data]) and any(f.is_event for f in frames)


# -- UTF-8 and bodies split across reads ---------------------------------------------------------------

_UTF8_EVENT = core_headers("CUSTOM", "callcenter::info") + [("CC-Member-CID-Name", "Zoé 😀 Παππά")]


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_character_split_across_reads_survives_at_every_cut(fmt: str) -> None:
    data = event_frame(_UTF8_EVENT, body="réponse 😀\n", fmt=fmt)
    expected = Event(_UTF8_EVENT + [("Content-Length", str(len("réponse 😀\n".encode())))], "réponse 😀\n")
    for cut in range(1, len(data)):
        [frame] = feed_all([data[:cut], data[cut:]])
        assert frame.event() == expected, cut


def test_api_body_split_inside_a_character() -> None:
    body = "Agent Léa 😀\n".encode()
    data = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body
    for cut in range(1, len(data)):
        [frame] = feed_all([data[:cut], data[cut:]])
        assert frame.body == "Agent Léa 😀\n"


def test_invalid_utf8_costs_one_character_not_the_event() -> None:
    head = b"Event-Name: CUSTOM\nCC-Member-CID-Name: caf%E9\nRaw: caf\xe9"
    assert parse_plain_headers(head) == {"Event-Name": "CUSTOM", "CC-Member-CID-Name": "caf\ufffd", "Raw": "caf\ufffd"}
    event = parse_event_json(b'{"Event-Name":"CUSTOM","Name":"caf\xe9"}')
    assert event["Name"] == "caf\ufffd"


# -- the receive buffer ------------------------------------------------------------------------------------


def test_frames_without_body_and_stray_blank_lines() -> None:
    frames = feed_all([b"Content-Type: auth/request\n\n\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n"])
    assert [f.content_type for f in frames] == ["auth/request", "command/reply"]
    assert frames[0].raw_body == b"" and frames[1].reply_text == "+OK accepted"
    assert dict(frames[1].headers) == {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}


def test_frame_headers_are_read_only_and_url_decoded_like_libesl() -> None:
    [frame] = feed_all([b"Content-Type: command/reply\nReply-Text: +OK\nChannel-Name: sofia/internal/1001%40pbx\n\n"])
    assert frame.headers["Channel-Name"] == "sofia/internal/1001@pbx"
    with pytest.raises(TypeError):
        frame.headers["Reply-Text"] = "-ERR"  # type: ignore[index]


def test_body_arriving_in_many_small_reads_is_joined_once_complete() -> None:
    body = b"x" * 100_000
    data = b"Content-Type: api/response\nContent-Length: 100000\n\n" + body + b"Content-Type: auth/request\n\n"
    buffer = FrameBuffer()
    got: list[Frame] = []
    for i in range(0, len(data), 1000):
        got.extend(buffer.feed(data[i : i + 1000]))
        if len(got) == 0:
            assert buffer.pending == min(i + 1000, len(data))
    assert [f.content_type for f in got] == ["api/response", "auth/request"] and got[0].raw_body == body


def test_oversized_content_length_is_refused_at_once() -> None:
    buffer = FrameBuffer(max_frame=1000)
    with pytest.raises(EslProtocolError, match="longer than 1000 bytes"):
        buffer.feed(b"Content-Type: api/response\nContent-Length: 5000\n\n")
    assert buffer.pending == 0


def test_endless_header_block_is_refused() -> None:
    buffer = FrameBuffer(max_frame=100)
    buffer.feed(b"Content-Type: api/response\n")
    with pytest.raises(EslProtocolError):
        for _ in range(20):
            buffer.feed(b"X-Junk: " + b"y" * 10 + b"\n")


@pytest.mark.parametrize("value", [b"-1", b"12abc", b"", b"\xd9\xa3"])
def test_invalid_content_length_is_a_protocol_error(value: bytes) -> None:
    with pytest.raises(EslProtocolError, match="invalid Content-Length"):
        FrameBuffer().feed(b"Content-Type: api/response\nContent-Length: " + value + b"\n\nbody")


def test_bytearray_input_gives_bytes_bodies() -> None:
    [frame] = FrameBuffer().feed(bytearray(b"Content-Type: api/response\nContent-Length: 3\n\n+OK"))
    assert type(frame.raw_body) is bytes and frame.body == "+OK"


# -- events ------------------------------------------------------------------------------------------------


def test_event_lookups_case_and_immutability() -> None:
    event = parse_event_plain(serialize_plain(core_headers("CHANNEL_ANSWER") + [("Unique-ID", "u-1")]))
    assert event.name == "CHANNEL_ANSWER" and event.subclass == "" and event.body == ""
    assert event["Unique-ID"] == event["unique-id"] == event.get("UNIQUE-ID") == event.unique_id == "u-1"
    assert "unique-id" in event and "Nope" not in event and 3 not in event
    assert event.get("missing") is None and event.get("missing", "x") == "x"
    with pytest.raises(KeyError):
        event["missing"]
    assert list(event)[:2] == ["Event-Name", "Core-UUID"]  # order and case as sent
    with pytest.raises(AttributeError):
        event.body = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.headers["Unique-ID"] = "u-2"  # type: ignore[index]
    copy = event.to_dict()
    copy["Unique-ID"] = "u-2"
    assert event["Unique-ID"] == "u-1"
    assert "CHANNEL_ANSWER" in repr(event) and "u-1" in repr(event)


def test_event_value_semantics() -> None:
    a = Event({"Event-Name": "HEARTBEAT", "Up-Time": "1"})
    b = parse_event_json(b'{"Event-Name":"HEARTBEAT","Up-Time":"1"}')
    assert a == b and hash(a) == hash(b)
    assert a != Event({"Event-Name": "HEARTBEAT", "Up-Time": "2"})
    assert a != Event({"Event-Name": "HEARTBEAT", "Up-Time": "1"}, body="x")
    with pytest.raises(TypeError):
        Event({"Event-Name": 1})  # type: ignore[dict-item]


def test_custom_event_with_body_plain_and_json() -> None:
    headers = core_headers("CUSTOM", "callcenter::info") + [("CC-Action", "agent-status-change"), ("CC-Agent", "1001@default")]
    plain = parse_event_plain(serialize_plain(headers, "line 1\n\nline 3\n"))
    json_ = parse_event_json(serialize_json(headers, "line 1\n\nline 3\n"))
    assert plain == json_
    assert plain.subclass == "callcenter::info" and plain["CC-Action"] == "agent-status-change"
    assert plain.body == "line 1\n\nline 3\n" and plain["Content-Length"] == "15"


def test_array_headers_read_the_same_from_plain_and_json() -> None:
    plain = parse_event_plain(b"Event-Name: CUSTOM\nX-List: ARRAY%3A%3Aa%7C%3Ab%20c\nX-One: z\n\n")
    json_ = parse_event_json(b'{"Event-Name":"CUSTOM","X-List":["a","b c"],"X-One":["z"]}')
    assert plain == json_ and plain["X-List"] == "ARRAY::a|:b c"
    assert plain.get_array("X-List") == ["a", "b c"] and plain.get_array("X-One") == ["z"]
    assert plain.get_array("missing") == []


def test_json_members_that_are_not_text() -> None:
    event = parse_event_json(b'{"Event-Name":"X","A":1,"B":true,"C":null,"D":1.5,"E":{"k":"v"},"_body":7}')
    assert dict(event) == {"Event-Name": "X", "A": "1", "B": "true", "C": "", "D": "1.5", "E": '{"k": "v"}'}
    assert event.body == "7"


@pytest.mark.parametrize("data", [b"{not json", b'["Event-Name"]', b""])
def test_unreadable_json_event_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(EslProtocolError):
        parse_event_json(data)


def test_frame_event_refuses_non_events() -> None:
    [frame] = FrameBuffer().feed(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
    assert not frame.is_event
    with pytest.raises(EslProtocolError):
        frame.event()


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"NoSpace:v", {"NoSpace": "v"}),
        (b"Two:  v", {"Two": " v"}),  # one space is the separator's, the next is the value's
        (b"no colon", {}),  # skipped, as libesl does
        (b"A: b: c%20d", {"A": "b: c d"}),
        (b"Bad: 100%", {"Bad": "100%"}),
        (b"Bad: 100%zz", {"Bad": "100%zz"}),
        (b"Pct%41: %41", {"Pct%41": "A"}),  # names are not URL-decoded
        (b"Nul: a%00b", {"Nul": "a\x00b"}),
        (b"Eq: a=41", {"Eq": "a=41"}),
        (b"Cr: a\rb", {"Cr": "a\rb"}),
        (b"Lower: %c3%a9", {"Lower": "é"}),
        (b"Empty: ", {"Empty": ""}),
        (b": nameless", {"": "nameless"}),
        # Two irregularities that would cancel out in a count: each guard of the fast path.
        (b"Eq: a=41%zz", {"Eq": "a=41%zz"}),  # a raw '=' the decoder would read as an escape
        (b"A:b\nC: %00%20x", {"A": "b", "C": "\x00 x"}),  # a decoded NUL and space
        (b"Cr: %\r", {"Cr": "%\r"}),  # "=\r" is a soft line break to the decoder
        (b"Gap:c d", {"Gap": "c d"}),  # one ':' and one space, but not together
    ],
)
@pytest.mark.parametrize("last", [b"", b"\nLast: %2B1"])
def test_plain_header_block_irregular_lines(line: bytes, expected: dict[str, str], last: bytes) -> None:
    # Each irregularity beside regular lines (and last, where some of them bite).
    head = b"Event-Name: X\n" + line + last
    assert parse_plain_headers(head) == {"Event-Name": "X", **expected, **({"Last": "+1"} if last else {})}
    assert _plain_headers_fast(head) in (None, _plain_headers_slow(head))


# -- property: the fast header path agrees with the reference path, always ----------------------------

_piece = st.sampled_from([b"A", b"z", b"0", b"-", b" ", b"%", b"%4", b"%41", b"%e9", b"%C3%A9", b"%00", b"%0A",
                          b"%3A%20", b"=", b"\r", b"\x00", b"\xc3\xa9", b"\xe9", b"\xf0\x9f\x98\x80", b":"])
_separator = st.sampled_from([b": ", b": ", b": ", b":", b":  ", b"", b": : "])
# Mostly well-formed lines with the odd irregular piece: the region where the fast path must
# either agree or step aside.
_line = st.tuples(st.lists(_piece, max_size=4).map(b"".join), _separator, st.lists(_piece, max_size=6).map(b"".join))
_block_bytes = st.lists(_line, min_size=1, max_size=6).map(lambda lines: b"\n".join(n + s + v for n, s, v in lines))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=_block_bytes)
def test_fast_header_path_never_disagrees_with_the_reference(block: bytes) -> None:
    fast = _plain_headers_fast(block)
    if fast is not None:
        assert fast == _plain_headers_slow(block)


def reference_event(data: bytes) -> Event:
    """The plain event rules, read the slow way: the block ends at the first empty line."""
    head, sep, rest = data.partition(b"\n\n")
    if not sep and head.endswith(b"\n"):
        head = head[:-1]
    return Event(_plain_headers_slow(head), rest.decode("utf-8", "replace"))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=_block_bytes, tail=st.sampled_from([b"\n\n", b"\n", b"", b"\n\nbody: x\n\n", b"\n\n\n", b"\n\nx"]))
def test_plain_event_fast_path_never_disagrees_with_the_reference(block: bytes, tail: bytes) -> None:
    data = block + tail
    assert parse_event_plain(data) == reference_event(data)


_name = st.text(alphabet="ABCXYZabcxyz019_-", min_size=1, max_size=12).map(lambda k: "H" + k)
_value = st.text(
    alphabet=st.sampled_from(list(": aZ9é€😀\t\n\r%=+&|-")) | st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
).filter(lambda v: not re.search("%[0-9A-F]{2}", v))  # FreeSWITCH sends those as is: see the quirk test
_headers = st.dictionaries(_name, _value, min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(headers=_headers, body=st.text(max_size=30).filter(lambda b: "\x00" not in b))
def test_round_trip_freeswitch_serialisation_to_event(headers: dict[str, str], body: str) -> None:
    pairs = [("Event-Name", "CUSTOM"), *headers.items()]
    expected_headers = dict(pairs)
    if body:
        expected_headers["Content-Length"] = str(len(body.encode()))
    expected = Event(expected_headers, body)
    for fmt in ("plain", "json"):
        [frame] = feed_all([event_frame(pairs, body, fmt)])
        assert frame.event() == expected, fmt
    # The fast path takes whatever FreeSWITCH writes.
    assert _plain_headers_fast(serialize_plain(pairs).rstrip(b"\n")) == dict(pairs)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.tuples(_headers, st.sampled_from(["plain", "json"])), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
def test_any_split_of_an_event_stream_gives_the_same_events(
    events: list[tuple[dict[str, str], str]], cuts: list[int]
) -> None:
    data = b"".join(event_frame([("Event-Name", "CUSTOM"), *h.items()], "", fmt) for h, fmt in events)
    expected = [Event({"Event-Name": "CUSTOM", **h}) for h, _ in events]
    assert [f.event() for f in feed_all(split(data, cuts))] == expected


def test_url_encoding_quirk_of_freeswitch_is_decoded() -> None:
    # switch_url_encode leaves an existing "%41" alone: the client decodes it like libesl does.
    assert url_encode("50%41 off") == "50%41%20off"
    assert parse_plain_headers(b"X: " + url_encode("50%41 off").encode()) == {"X": "50A off"}


# -- writer ------------------------------------------------------------------------------------------------


def test_encoders_write_what_freeswitch_reads() -> None:
    assert encode_api("status") == b"api status\n\n"
    assert encode_api("show", "channels as json") == b"api show channels as json\n\n"
    assert read_command(encode_bgapi("originate", "{a='b c'}user/1001 &park()", "job-1")) == (
        "bgapi originate {a='b c'}user/1001 &park()", [("Job-UUID", "job-1")], b"")
    assert encode_command("event", "json", "CHANNEL_ANSWER") == b"event json CHANNEL_ANSWER\n\n"
    assert encode_command("exit") == b"exit\n\n"
    assert encode_command("filter", "", "Unique-ID", "u-1") == b"filter Unique-ID u-1\n\n"
    assert encode_auth("ClueCon") == b"auth ClueCon\n\n"
    assert encode_auth("p w", user="sup@default") == b"userauth sup@default:p w\n\n"
    assert encode_event_subscription("json", ["CHANNEL_ANSWER", "callcenter::info", "ALL", "callcenter::info"]) == (
        b"event json CHANNEL_ANSWER ALL CUSTOM callcenter::info\n\n")
    assert encode_event_subscription("plain", ["CUSTOM"]) == b"event plain CUSTOM\n\n"


def test_sendmsg_round_trip() -> None:
    data = encode_sendmsg("u-1", {"call-command": "execute", "execute-app-name": "playback", "loops": 2,
                                  "event-lock": True, "skipped": None})
    assert read_command(data) == ("sendmsg u-1", [("call-command", "execute"), ("execute-app-name", "playback"),
                                                  ("loops", "2"), ("event-lock", "true")], b"")
    line, headers, body = read_command(encode_sendmsg(None, [("call-command", "execute")], "a\nb\n\nc"))
    assert line == "sendmsg" and headers[-1] == ("Content-Length", "6") and body == b"a\nb\n\nc"
    assert read_command(encode_execute("u-1", "playback", "/tmp/é.wav", event_lock=True)) == (
        "sendmsg u-1",
        [("call-command", "execute"), ("execute-app-name", "playback"), ("execute-app-arg", "/tmp/é.wav"),
         ("event-lock", "true")],
        b"",
    )


@settings(max_examples=150, deadline=None)
@given(
    command=st.text(alphabet="abcxyz_", min_size=1, max_size=10),
    arg=st.text(max_size=30).filter(lambda a: not any(c in a for c in "\r\n\x00") and a == a.strip()),
    headers=st.lists(st.tuples(_name, st.text(max_size=20).filter(lambda v: not any(c in v for c in "\r\n\x00"))), max_size=5),
)
def test_writer_round_trip(command: str, arg: str, headers: list[tuple[str, str]]) -> None:
    assume(arg == "" or not arg[0].isspace())
    line, _, _ = read_command(encode_api(command, arg))
    assert line == (f"api {command} {arg}" if arg else f"api {command}")
    _, got, _ = read_command(encode_sendmsg("u-1", headers))
    # FreeSWITCH skips the spaces after ':' (a value cannot start with one through sendmsg).
    assert got == [(k, v.lstrip(" ")) for k, v in headers]


BREAKERS = ["\r", "\n", "\r\n", "\x00", "\n\napi shutdown"]

ENTRY_POINTS = {
    "api command": lambda bad: encode_api("status" + bad),
    "api argument": lambda bad: encode_api("uuid_kill", "u-1" + bad),
    "bgapi command": lambda bad: encode_bgapi("originate" + bad, "user/1001 &park()", "j-1"),
    "bgapi argument": lambda bad: encode_bgapi("originate", "user/1001" + bad + "&park()", "j-1"),
    "bgapi job uuid": lambda bad: encode_bgapi("originate", "user/1001 &park()", "j-1" + bad),
    "command name": lambda bad: encode_command("event" + bad, "json"),
    "command argument": lambda bad: encode_command("filter", "Unique-ID", "u" + bad),
    "auth password": lambda bad: encode_auth("ClueCon" + bad),
    "auth user": lambda bad: encode_auth("ClueCon", user="sup" + bad),
    "event name": lambda bad: encode_event_subscription("json", ["CHANNEL_ANSWER" + bad]),
    "sendmsg uuid": lambda bad: encode_sendmsg("u-1" + bad, {"call-command": "execute"}),
    "sendmsg header name": lambda bad: encode_sendmsg("u-1", {"call-command" + bad: "execute"}),
    "sendmsg header value": lambda bad: encode_sendmsg("u-1", {"execute-app-arg": "x" + bad}),
    "execute application": lambda bad: encode_execute("u-1", "playback" + bad),
    "execute argument": lambda bad: encode_execute("u-1", "playback", "/tmp/a.wav" + bad),
}


@pytest.mark.parametrize("bad", BREAKERS, ids=repr)
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_writer_refuses_cr_lf_nul(entry: str, bad: str) -> None:
    with pytest.raises(UnsafeEslValue) as info:
        ENTRY_POINTS[entry](bad)
    assert isinstance(info.value, InvalidInput) and info.value.exit_code == 2
    assert info.value.field  # names what was refused


def test_regression_newline_in_api_command_cannot_inject_a_second_command() -> None:
    with pytest.raises(UnsafeEslValue, match="line break or NUL"):
        encode_api("status\n\napi shutdown")


def test_refusal_names_the_field_but_never_echoes_the_value() -> None:
    with pytest.raises(UnsafeEslValue) as info:
        encode_auth("s3cr3t\nexit")
    assert "s3cr3t" not in str(info.value) and info.value.field == "event socket password"
    with pytest.raises(UnsafeEslValue) as info:
        encode_sendmsg("u-1", {"execute-app-arg": "s3cr3t\r\n"})
    assert "s3cr3t" not in str(info.value) and "execute-app-arg" in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_api(""),
        lambda: encode_api("   "),
        lambda: encode_api(" status"),
        lambda: encode_bgapi("", "x", "j-1"),
        lambda: encode_command(""),
        lambda: encode_command("two words"),
        lambda: encode_execute("u-1", ""),
        lambda: encode_sendmsg("u-1", {"": "x"}),
        lambda: encode_sendmsg("u-1", {"bad: name": "x"}),
        lambda: encode_sendmsg("u-1", {"bad:name": "x"}),
        lambda: encode_sendmsg("u-1", {"bad name": "x"}),
        lambda: encode_sendmsg("u-1", {"Content-Length": "3"}),
        lambda: encode_sendmsg("u-1", {"x": object()}),  # type: ignore[dict-item]
        lambda: encode_sendmsg("u-1", {}, b"a\x00b"),
        lambda: encode_bgapi("status", "", "x" * 37),
        lambda: encode_bgapi("status", "", "has space"),
        lambda: encode_event_subscription("json", []),
        lambda: encode_event_subscription("yaml", ["ALL"]),
        lambda: encode_event_subscription("json", ["CHANNEL ANSWER"]),
        lambda: encode_auth("pw", user="a:b"),
        lambda: encode_api(42),  # type: ignore[arg-type]
    ],
)
def test_writer_refuses_empty_or_malformed_names(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsafeEslValue):
        call()


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.text(max_size=10),
    breaker=st.sampled_from(["\r", "\n", "\r\n", "\x00"]),
    suffix=st.text(max_size=10),
)
def test_any_text_with_cr_lf_or_nul_is_refused_everywhere(prefix: str, breaker: str, suffix: str) -> None:
    bad = prefix + breaker + suffix
    for call in (
        lambda: encode_api("status", bad),
        lambda: encode_bgapi("originate", bad, "j-1"),
        lambda: encode_command("filter", bad),
        lambda: encode_sendmsg("u-1", {"execute-app-arg": bad}),
        lambda: encode_sendmsg("u-1", {"h" + bad: "v"}),
        lambda: encode_auth(bad),
    ):
        with pytest.raises(UnsafeEslValue):
            call()
