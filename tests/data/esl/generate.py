"""Writes the recorded-looking ESL streams of this folder (run it again after changing it).

    .venv/bin/python tests/data/esl/generate.py

What an inbound event socket client of a FreeSWITCH 1.10 call centre reads, byte for byte as
mod_event_socket and switch_event.c write it (read from the FreeSWITCH sources, not captured):

* ``inbound_session.plain.esl``: ``auth/request``, the ``auth`` and ``event plain`` replies, an
  ``api status`` response, a ``bgapi originate`` reply, then one queue call (customer leg,
  mod_callcenter's agent leg, ``callcenter::info`` CUSTOM events, CHANNEL_STATE, CALLSTATE,
  CHANNEL_EXECUTE...), the BACKGROUND_JOB of the originate, a HEARTBEAT, a ``log/data`` line, and the
  ``text/disconnect-notice`` that ends every session;
* ``inbound_session.json.esl``: the same session after ``event json``: its first 20 events, the
  very same ones serialised as ``text/event-json`` (so a test can check both parse equal).

Serialisation rules followed (switch_event_serialize / switch_url_encode_opt /
switch_event_serialize_json_obj):

* plain: one ``Name: value\\n`` line per header, the value URL-encoded (bytes outside space..~
  and ``\\r\\n #%&+:;<=>?@[\\]^`{|}"`` become ``%XX``, but a ``%`` already followed by two upper
  case hex digits is left alone); then ``\\n``, or ``Content-Length: N\\n\\n`` and the body;
* json: one string member per header in order, then ``Content-Length`` and ``_body`` when the
  event has a body; non-ASCII written as raw UTF-8 (cJSON_PrintUnformatted);
* the frame: ``Content-Length: N\\nContent-Type: text/event-plain\\n\\n`` then the serialised event.

Real transcripts from a FreeSWITCH 1.10 build can be dropped beside these files: the tests and
the bench read any file of raw bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

_UNSAFE = set(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_HEX = b"0123456789ABCDEF"

HOST = "fs1.homepbx.lan"
IPV4 = "10.20.0.5"
IPV6 = "::1"
PROVIDER = "sip.trunk-provider.example"
QUEUE = "ventes@default"
TZ = timezone(timedelta(hours=2))  # the box runs on Europe/Paris summer time
CALLS = 1  # each call is some 180 KB of plain events
JSON_EVENTS = 20  # the json stream stops after these, to keep the folder under 300 KB


def url_encode(value: str) -> str:
    """switch_url_encode_opt(..., double_encode=SWITCH_FALSE), on the UTF-8 bytes."""
    raw = value.encode("utf-8")
    out = bytearray()
    for i, byte in enumerate(raw):
        if byte == 0x25 and raw[i + 1 : i + 2] and raw[i + 1] in _HEX and raw[i + 2 : i + 3] and raw[i + 2] in _HEX:
            out.append(byte)  # already looks encoded: FreeSWITCH leaves it as is
        elif byte < 0x20 or byte > 0x7E or byte in _UNSAFE:
            out += b"%" + bytes([_HEX[byte >> 4], _HEX[byte & 15]])
        else:
            out.append(byte)
    return out.decode("ascii")


@dataclass
class FsEvent:
    headers: list[tuple[str, str]]
    body: str = ""

    def plain(self) -> bytes:
        text = "".join(f"{name}: {url_encode(value) or '_undef_'}\n" for name, value in self.headers)
        if self.body:
            text += f"Content-Length: {len(self.body.encode())}\n\n{self.body}"
        else:
            text += "\n"
        return text.encode("utf-8")

    def json(self) -> bytes:
        obj: dict[str, str] = dict(self.headers)
        if self.body:
            obj["Content-Length"] = str(len(self.body.encode()))
            obj["_body"] = self.body
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def frame(content_type: str, body: bytes = b"", **extra: str) -> bytes:
    head = f"Content-Type: {content_type}\n"
    head += "".join(f"{name.replace('_', '-')}: {value}\n" for name, value in extra.items())
    if body:
        head += f"Content-Length: {len(body)}\n"
    return head.encode() + b"\n" + body


def event_frame(event: FsEvent, fmt: str) -> bytes:
    body = event.plain() if fmt == "plain" else event.json()
    return f"Content-Length: {len(body)}\nContent-Type: text/event-{fmt}\n\n".encode() + body


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2024, 6, 10, 14, 3, 7, 120_311, tzinfo=TZ))
    sequence: int = 48_211

    def tick(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)

    @property
    def micros(self) -> int:
        return int(self.now.timestamp() * 1_000_000)


class Switch:
    """Builds events with the headers switch_event_prep_for_delivery and switch_channel add."""

    def __init__(self, seed: int = 1010) -> None:
        self.rng = random.Random(seed)
        self.clock = Clock()
        self.core_uuid = self.uuid()

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    def core(self, name: str, file: str, func: str, line: int, subclass: str | None = None) -> list[tuple[str, str]]:
        self.clock.sequence += 1
        now = self.clock.now
        gmt = now.astimezone(timezone.utc)
        headers = [
            ("Event-Name", name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", HOST),
            ("FreeSWITCH-Switchname", HOST),
            ("FreeSWITCH-IPv4", IPV4),
            ("FreeSWITCH-IPv6", IPV6),
            ("Event-Date-Local", now.strftime("%Y-%m-%d %H:%M:%S")),
            ("Event-Date-GMT", gmt.strftime("%a, %d %b %Y %H:%M:%S GMT")),
            ("Event-Date-Timestamp", str(self.clock.micros)),
            ("Event-Calling-File", file),
            ("Event-Calling-Function", func),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(self.clock.sequence)),
        ]
        if subclass:
            headers.append(("Event-Subclass", subclass))
        return headers


@dataclass
class Leg:
    switch: Switch
    uuid: str
    name: str
    direction: str
    cid_name: str
    cid_number: str
    destination: str
    context: str
    network_addr: str
    created: int
    call_uuid: str
    state: str = "CS_NEW"
    state_number: int = 0
    call_state: str = "DOWN"
    answer_state: str = "ringing"
    answered: int = 0
    hungup: int = 0
    bridged: int = 0
    other: Leg | None = None
    variables: list[tuple[str, str]] = field(default_factory=list)
    codec: bool = False

    def set_state(self, state: str, number: int) -> None:
        self.state, self.state_number = state, number

    def basic(self) -> list[tuple[str, str]]:
        headers = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(self.state_number)),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.direction == "inbound" else "false"),
        ]
        if self.direction == "outbound":
            headers.append(("Channel-Presence-ID", self.destination + "@10.20.0.5"))
        headers += [("Channel-Call-UUID", self.call_uuid), ("Answer-State", self.answer_state)]
        if self.codec:
            headers += [
                ("Channel-Read-Codec-Name", "PCMA"),
                ("Channel-Read-Codec-Rate", "8000"),
                ("Channel-Read-Codec-Bit-Rate", "64000"),
                ("Channel-Write-Codec-Name", "PCMA"),
                ("Channel-Write-Codec-Rate", "8000"),
                ("Channel-Write-Codec-Bit-Rate", "64000"),
            ]
        headers += self.profile("Caller")
        if self.other is not None:
            kind = "originatee" if self.direction == "inbound" else "originator"
            headers += [("Other-Type", kind)] + self.other.profile("Other-Leg")
        return headers

    def profile(self, prefix: str) -> list[tuple[str, str]]:
        return [
            (f"{prefix}-Direction", self.direction),
            (f"{prefix}-Logical-Direction", self.direction),
            (f"{prefix}-Username", self.cid_number),
            (f"{prefix}-Dialplan", "XML"),
            (f"{prefix}-Caller-ID-Name", self.cid_name),
            (f"{prefix}-Caller-ID-Number", self.cid_number),
            (f"{prefix}-Orig-Caller-ID-Name", self.cid_name),
            (f"{prefix}-Orig-Caller-ID-Number", self.cid_number),
            (f"{prefix}-Callee-ID-Name", "Outbound Call" if self.direction == "outbound" else ""),
            (f"{prefix}-Callee-ID-Number", self.destination if self.direction == "outbound" else ""),
            (f"{prefix}-Network-Addr", self.network_addr),
            (f"{prefix}-ANI", self.cid_number),
            (f"{prefix}-Destination-Number", self.destination),
            (f"{prefix}-Unique-ID", self.uuid),
            (f"{prefix}-Source", "mod_sofia" if self.direction == "inbound" else "mod_callcenter"),
            (f"{prefix}-Context", self.context),
            (f"{prefix}-Channel-Name", self.name),
            (f"{prefix}-Profile-Index", "1"),
            (f"{prefix}-Profile-Created-Time", str(self.created)),
            (f"{prefix}-Channel-Created-Time", str(self.created)),
            (f"{prefix}-Channel-Answered-Time", str(self.answered)),
            (f"{prefix}-Channel-Progress-Time", "0"),
            (f"{prefix}-Channel-Progress-Media-Time", str(self.answered)),
            (f"{prefix}-Channel-Hangup-Time", str(self.hungup)),
            (f"{prefix}-Channel-Transfer-Time", "0"),
            (f"{prefix}-Channel-Resurrect-Time", "0"),
            (f"{prefix}-Channel-Bridged-Time", str(self.bridged)),
            (f"{prefix}-Channel-Last-Hold", "0"),
            (f"{prefix}-Channel-Hold-Accum", "0"),
            (f"{prefix}-Screen-Bit", "true"),
            (f"{prefix}-Privacy-Hide-Name", "false"),
            (f"{prefix}-Privacy-Hide-Number", "false"),
        ]

    def var(self, name: str, value: str) -> None:
        for i, (key, _) in enumerate(self.variables):
            if key == f"variable_{name}":
                self.variables[i] = (key, value)
                return
        self.variables.append((f"variable_{name}", value))

    def new_state(self, state: str, number: int) -> FsEvent:
        """CHANNEL_STATE: fired on every state change, without the channel variables."""
        self.set_state(state, number)
        return self.event("CHANNEL_STATE", "switch_core_state_machine.c", "switch_core_session_run", 640, variables=False)

    def callstate(self, call_state: str, number: int) -> FsEvent:
        """CHANNEL_CALLSTATE: DOWN, RINGING, EARLY, ACTIVE, HANGUP..."""
        before, self.call_state = self.call_state, call_state
        return self.event("CHANNEL_CALLSTATE", "switch_channel.c", "switch_channel_perform_set_callstate", 307,
                          extra=[("Original-Channel-Call-State", before), ("Channel-Call-State-Number", str(number))],
                          variables=False)

    def execute(self, app: str, data: str, app_uuid: str, response: str | None = None) -> FsEvent:
        """CHANNEL_EXECUTE (response None) or CHANNEL_EXECUTE_COMPLETE, variables included."""
        self.var("current_application", app)
        self.var("current_application_data", data)
        extra = [("Application", app), ("Application-Data", data)]
        if response is None:
            return self.event("CHANNEL_EXECUTE", "switch_core_session.c", "switch_core_session_exec", 2935,
                              extra=extra + [("Application-UUID", app_uuid)])
        return self.event("CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", "switch_core_session_exec", 2991,
                          extra=extra + [("Application-Response", response), ("Application-UUID", app_uuid)])

    def event(self, name: str, file: str, func: str, line: int, *, extra=(), variables: bool = True) -> FsEvent:
        # Profile headers without a value are dropped by FreeSWITCH (an empty header is deleted).
        headers = [(k, v) for k, v in self.switch.core(name, file, func, line) + list(extra) + self.basic() if v]
        if variables:
            headers += self.variables
        return FsEvent(headers)


SDP_OFFER = (
    "v=0\r\no=- 3927129787 3927129788 IN IP4 198.51.100.20\r\ns=pjmedia\r\nb=AS:84\r\n"
    "t=0 0\r\na=X-nat:0\r\nm=audio 4002 RTP/AVP 8 0 101\r\nc=IN IP4 198.51.100.20\r\n"
    "b=AS:64000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)

CUSTOMERS = [("Ελένη Παππά", "+306912345678"), ("Zoé Martin", "+33612345678")]
AGENTS = [("1001@default", "1001", "Agent Léa"), ("1002@default", "1002", "Agent Hugo")]


def call(switch: Switch, index: int, interlude: Callable[[], list[FsEvent]] = list) -> Iterator[FsEvent]:
    """One queue call: customer leg A, the agent leg B mod_callcenter originates, then hangup.

    ``interlude()`` supplies unrelated events that happen while the customer is answered.
    """
    clock = switch.clock
    cid_name, cid_number = CUSTOMERS[index % len(CUSTOMERS)]
    agent, agent_ext, agent_label = AGENTS[index % len(AGENTS)]
    a_uuid, b_uuid = switch.uuid(), switch.uuid()
    sip_call_id = f"{switch.uuid()[:20]}@198.51.100.20"
    a = Leg(switch, a_uuid, f"sofia/external/{cid_number}@{PROVIDER}", "inbound", cid_name, cid_number,
            "0184000000", "public", "198.51.100.20", clock.micros, a_uuid)
    start = clock.now
    for name, value in [
        ("direction", "inbound"), ("uuid", a_uuid), ("session_id", str(12 + index)),
        ("sip_from_user", cid_number), ("sip_from_uri", f"{cid_number}@{PROVIDER}"), ("sip_from_host", PROVIDER),
        ("video_media_flow", "disabled"), ("text_media_flow", "disabled"), ("channel_name", a.name),
        ("sip_call_id", sip_call_id), ("sip_local_network_addr", IPV4), ("sip_network_ip", "198.51.100.20"),
        ("sip_network_port", "5060"), ("sip_invite_stamp", str(clock.micros)), ("sip_received_ip", "198.51.100.20"),
        ("sip_received_port", "5060"), ("sip_via_protocol", "udp"), ("sip_from_user_stripped", cid_number),
        ("sofia_profile_name", "external"), ("sofia_profile_url", "sip:mod_sofia@10.20.0.5:5080"),
        ("recovery_profile_name", "external"), ("sip_full_via", "SIP/2.0/UDP 198.51.100.20:5060;rport=5060;branch=z9hG4bKPj8a"),
        ("sip_from_display", cid_name), ("sip_full_from", f'"{cid_name}" <sip:{cid_number}@{PROVIDER}>;tag=Zk3p9'),
        ("sip_full_to", "<sip:0184000000@10.20.0.5>"), ("sip_allow", "PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS"),
        ("sip_req_user", "0184000000"), ("sip_req_uri", "0184000000@10.20.0.5:5080"), ("sip_req_host", "10.20.0.5"),
        ("sip_to_user", "0184000000"), ("sip_to_uri", "0184000000@10.20.0.5"), ("sip_to_host", "10.20.0.5"),
        ("sip_contact_user", cid_number), ("sip_contact_port", "5060"), ("sip_contact_uri", f"{cid_number}@198.51.100.20:5060"),
        ("sip_contact_host", "198.51.100.20"), ("sip_via_host", "198.51.100.20"), ("sip_via_port", "5060"),
        ("sip_via_rport", "5060"), ("switch_r_sdp", SDP_OFFER), ("rtp_remote_audio_rtp_ip", "198.51.100.20"),
        ("rtp_remote_audio_rtp_port", "4002"), ("rtp_audio_recv_pt", "8"), ("rtp_use_codec_name", "PCMA"),
        ("rtp_use_codec_rate", "8000"), ("rtp_use_codec_ptime", "20"), ("rtp_use_codec_channels", "1"),
        ("rtp_last_audio_codec_string", "PCMA@8000h@20i@1c"), ("read_codec", "PCMA"), ("original_read_codec", "PCMA"),
        ("read_rate", "8000"), ("original_read_rate", "8000"), ("write_codec", "PCMA"), ("write_rate", "8000"),
        ("dtmf_type", "rfc2833"), ("endpoint_disposition", "RECEIVED"),
    ]:
        a.var(name, value)

    yield a.event("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 626)
    yield a.new_state("CS_INIT", 2)
    clock.tick(1)
    yield a.new_state("CS_ROUTING", 3)
    yield a.callstate("RINGING", 2)
    clock.tick(2)
    yield a.new_state("CS_EXECUTE", 4)
    answer_uuid = switch.uuid()
    yield a.execute("answer", "", answer_uuid)
    clock.tick(3)
    a.codec = True
    a.answer_state, a.answered = "answered", clock.micros
    for name, value in [("endpoint_disposition", "ANSWER"),
                        ("local_media_ip", IPV4), ("local_media_port", "24632"), ("advertised_media_ip", IPV4),
                        ("rtp_local_sdp_str", "v=0\no=FreeSWITCH 1718003711 1718003712 IN IP4 10.20.0.5\ns=FreeSWITCH\n"
                         "c=IN IP4 10.20.0.5\nt=0 0\nm=audio 24632 RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\n"
                         "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=sendrecv\n"),
                        ("sip_local_sdp_str", "v=0 (same as rtp_local_sdp_str)")]:
        a.var(name, value)
    yield a.callstate("ACTIVE", 3)
    yield a.event("CHANNEL_ANSWER", "switch_channel.c", "switch_channel_perform_mark_answered", 3904)
    yield a.execute("answer", "", answer_uuid, response="_none_")
    yield from interlude()

    # Into the queue.
    clock.tick(40)
    member_uuid = switch.uuid()
    yield a.execute("callcenter", QUEUE, switch.uuid())
    a.var("cc_queue", QUEUE)
    a.var("cc_member_uuid", member_uuid)
    a.var("cc_member_session_uuid", a_uuid)
    a.var("cc_queue_joined_epoch", str(clock.micros // 1_000_000))
    queue_start = FsEvent(
        [(k, v) for k, v in switch.core("CUSTOM", "mod_callcenter.c", "callcenter_function", 3116,
                                        "callcenter::info") if v]
        + [h for h in a.basic() if h[1]] + a.variables
        + [("CC-Queue", QUEUE), ("CC-Action", "member-queue-start"), ("CC-Member-UUID", member_uuid),
           ("CC-Member-Session-UUID", a_uuid), ("CC-Member-CID-Name", cid_name), ("CC-Member-CID-Number", cid_number)]
    )
    yield queue_start
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "cc_queue_count", 880, "callcenter::info")
                  + [("CC-Queue", QUEUE), ("CC-Action", "members-count"), ("CC-Count", "1"), ("CC-Selection", "Single-Queue")])

    # mod_callcenter rings the agent.
    clock.tick(900)
    b = Leg(switch, b_uuid, f"sofia/internal/{agent_ext}@10.20.0.31:5060", "outbound", cid_name, cid_number,
            agent_ext, "default", "10.20.0.31", clock.micros, a_uuid)
    b.other = a
    for name, value in [("direction", "outbound"), ("uuid", b_uuid), ("cc_side", "agent"), ("cc_queue", QUEUE),
                        ("cc_agent", agent), ("cc_agent_type", "callback"), ("cc_member_uuid", member_uuid),
                        ("cc_member_session_uuid", a_uuid), ("origination_caller_id_name", cid_name),
                        ("origination_caller_id_number", cid_number), ("ignore_early_media", "true"),
                        ("sip_destination_url", f"sip:{agent_ext}@10.20.0.31:5060;ob"), ("sip_profile_name", "internal"),
                        ("channel_name", b.name), ("sip_invite_call_id", f"{switch.uuid()[:24]}"),
                        ("sofia_profile_name", "internal"), ("recovery_profile_name", "internal")]:
        b.var(name, value)
    yield b.event("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 626)
    yield b.new_state("CS_INIT", 2)
    yield b.new_state("CS_ROUTING", 3)
    yield b.new_state("CS_CONSUME_MEDIA", 7)
    yield b.callstate("RINGING", 2)
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "cc_agent_update", 1069, "callcenter::info")
                  + [("CC-Agent", agent), ("CC-Action", "agent-state-change"), ("CC-Agent-State", "Receiving")])
    offering = [("CC-Queue", QUEUE), ("CC-Action", "agent-offering"), ("CC-Agent", agent), ("CC-Agent-System", "single_box"),
                ("CC-Member-UUID", member_uuid), ("CC-Member-Session-UUID", a_uuid),
                ("CC-Member-CID-Name", cid_name), ("CC-Member-CID-Number", cid_number)]
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "outbound_agent_thread_run", 1723, "callcenter::info")
                  + [h for h in a.basic() if h[1]] + a.variables + offering)
    clock.tick(4200)
    b.codec = True
    b.answer_state, b.answered = "answered", clock.micros
    b.var("endpoint_disposition", "ANSWER")
    b.var("sip_user_agent", "Yealink SIP-T54W 96.86.0.70")
    yield b.event("CHANNEL_ANSWER", "switch_channel.c", "switch_channel_perform_mark_answered", 3904)
    yield b.callstate("ACTIVE", 3)

    clock.tick(15)
    a.other, a.bridged, b.bridged = b, clock.micros, clock.micros
    yield b.new_state("CS_EXCHANGE_MEDIA", 5)
    a.var("bridge_to", b_uuid)
    b.var("bridge_to", a_uuid)
    a.var("cc_agent", agent)
    a.var("cc_agent_uuid", b_uuid)
    yield a.event("CHANNEL_BRIDGE", "switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 1365,
                  extra=[("Bridge-A-Unique-ID", a_uuid), ("Bridge-B-Unique-ID", b_uuid)])
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "outbound_agent_thread_run", 1940, "callcenter::info")
                  + [h for h in b.basic() if h[1]] + b.variables
                  + [("CC-Queue", QUEUE), ("CC-Action", "bridge-agent-start"), ("CC-Agent", agent),
                     ("CC-Agent-System", "single_box"), ("CC-Agent-UUID", b_uuid),
                     ("CC-Agent-Called-Time", str(b.created // 1_000_000)),
                     ("CC-Agent-Answered-Time", str(b.answered // 1_000_000)),
                     ("CC-Member-Joined-Time", str(int(start.timestamp()))),
                     ("CC-Member-UUID", member_uuid), ("CC-Member-Session-UUID", a_uuid),
                     ("CC-Member-CID-Name", cid_name), ("CC-Member-CID-Number", cid_number),
                     ("CC-Member-DNIS", "0184000000")])
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "cc_agent_update", 1069, "callcenter::info")
                  + [("CC-Agent", agent), ("CC-Action", "agent-state-change"), ("CC-Agent-State", "In a queue call")])

    # The customer hangs up after a short talk.
    clock.tick(61_000 + 7_000 * index)
    a.hungup = b.hungup = clock.micros
    for leg, cause in ((a, "NORMAL_CLEARING"), (b, "NORMAL_CLEARING")):
        leg.answer_state = "hangup"
        leg.var("hangup_cause", cause)
        leg.var("hangup_cause_q850", "16")
    a.var("sip_hangup_disposition", "recv_bye")
    b.var("sip_hangup_disposition", "send_bye")
    yield a.callstate("HANGUP", 7)
    yield a.event("CHANNEL_HANGUP", "switch_channel.c", "switch_channel_perform_hangup", 3360,
                  extra=[("Hangup-Cause", "NORMAL_CLEARING")])
    yield a.execute("callcenter", QUEUE, switch.uuid(), response="_none_")
    yield a.new_state("CS_HANGUP", 10)
    yield a.event("CHANNEL_UNBRIDGE", "switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 1461,
                  extra=[("Bridge-A-Unique-ID", a_uuid), ("Bridge-B-Unique-ID", b_uuid)])
    talk = (a.hungup - a.bridged) // 1_000_000
    yield b.callstate("HANGUP", 7)
    yield b.event("CHANNEL_HANGUP", "switch_channel.c", "switch_channel_perform_hangup", 3360,
                  extra=[("Hangup-Cause", "NORMAL_CLEARING")])
    yield b.new_state("CS_HANGUP", 10)
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "outbound_agent_thread_run", 2065, "callcenter::info")
                  + [h for h in b.basic() if h[1]] + b.variables
                  + [("CC-Queue", QUEUE), ("CC-Action", "bridge-agent-end"), ("CC-Hangup-Cause", "NORMAL_CLEARING"),
                     ("CC-Agent", agent), ("CC-Agent-System", "single_box"), ("CC-Agent-UUID", b_uuid),
                     ("CC-Agent-Called-Time", str(b.created // 1_000_000)),
                     ("CC-Agent-Answered-Time", str(b.answered // 1_000_000)),
                     ("CC-Member-Joined-Time", str(int(start.timestamp()))),
                     ("CC-Bridge-Terminated-Time", str(a.hungup // 1_000_000)),
                     ("CC-Member-UUID", member_uuid), ("CC-Member-Session-UUID", a_uuid),
                     ("CC-Member-CID-Name", cid_name), ("CC-Member-CID-Number", cid_number)])
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "cc_queue_member_loop", 3277, "callcenter::info")
                  + [("CC-Queue", QUEUE), ("CC-Action", "member-queue-end"),
                     ("CC-Member-Joined-Time", str(int(start.timestamp()))),
                     ("CC-Member-Leaving-Time", str(a.hungup // 1_000_000)), ("CC-Cause", "Terminated"),
                     ("CC-Agent", agent), ("CC-Agent-System", "single_box"),
                     ("CC-Member-UUID", member_uuid), ("CC-Member-Session-UUID", a_uuid),
                     ("CC-Member-CID-Name", cid_name), ("CC-Member-CID-Number", cid_number)])
    clock.tick(30)
    for leg in (a, b):
        duration = (leg.hungup - leg.created) // 1_000_000
        billsec = (leg.hungup - leg.answered) // 1_000_000
        for name, value in [
            ("start_stamp", datetime.fromtimestamp(leg.created / 1e6, TZ).strftime("%Y-%m-%d %H:%M:%S")),
            ("answer_stamp", datetime.fromtimestamp(leg.answered / 1e6, TZ).strftime("%Y-%m-%d %H:%M:%S")),
            ("bridge_stamp", datetime.fromtimestamp(leg.bridged / 1e6, TZ).strftime("%Y-%m-%d %H:%M:%S")),
            ("end_stamp", datetime.fromtimestamp(leg.hungup / 1e6, TZ).strftime("%Y-%m-%d %H:%M:%S")),
            ("start_epoch", str(leg.created // 1_000_000)), ("start_uepoch", str(leg.created)),
            ("answer_epoch", str(leg.answered // 1_000_000)), ("answer_uepoch", str(leg.answered)),
            ("bridge_epoch", str(leg.bridged // 1_000_000)), ("bridge_uepoch", str(leg.bridged)),
            ("end_epoch", str(leg.hungup // 1_000_000)), ("end_uepoch", str(leg.hungup)),
            ("last_hold_epoch", "0"), ("hold_accum_seconds", "0"), ("progress_epoch", "0"), ("progress_uepoch", "0"),
            ("duration", str(duration)), ("billsec", str(billsec)), ("progresssec", "0"),
            ("answersec", str((leg.answered - leg.created) // 1_000_000)), ("waitsec", "0"),
            ("mduration", str((leg.hungup - leg.created) // 1000)), ("billmsec", str((leg.hungup - leg.answered) // 1000)),
            ("flow_billsec", str(duration)), ("uduration", str(leg.hungup - leg.created)),
            ("rtp_audio_in_raw_bytes", str(talk * 8160)), ("rtp_audio_in_media_bytes", str(talk * 8000)),
            ("rtp_audio_in_packet_count", str(talk * 50)), ("rtp_audio_in_jitter_min_variance", "0.54"),
            ("rtp_audio_in_jitter_max_variance", "31.20"), ("rtp_audio_in_jitter_loss_rate", "0.00"),
            ("rtp_audio_in_mos", "4.50"), ("rtp_audio_in_quality_percentage", "100.00"),
            ("rtp_audio_out_raw_bytes", str(talk * 8160)), ("rtp_audio_out_packet_count", str(talk * 50)),
            ("digits_dialed", "none"), ("sip_term_status", "200"), ("sip_term_cause", "16"),
        ]:
            leg.var(name, value)
        yield leg.new_state("CS_REPORTING", 11)
        yield leg.event("CHANNEL_HANGUP_COMPLETE", "switch_core_state_machine.c", "switch_core_session_reporting_state", 944,
                        extra=[("Hangup-Cause", "NORMAL_CLEARING")])
    yield FsEvent(switch.core("CUSTOM", "mod_callcenter.c", "cc_agent_update", 1069, "callcenter::info")
                  + [("CC-Agent", agent), ("CC-Action", "agent-state-change"), ("CC-Agent-State", "Waiting")])
    for leg in (a, b):
        leg.set_state("CS_DESTROY", 12)
        yield leg.event("CHANNEL_DESTROY", "switch_core_session.c", "switch_core_session_perform_destroy", 1786, variables=False)


def heartbeat(switch: Switch) -> FsEvent:
    return FsEvent(switch.core("HEARTBEAT", "switch_core.c", "send_heartbeat", 95) + [
        ("Event-Info", "System Ready"),
        ("Up-Time", "0 years, 0 days, 2 hours, 14 minutes, 25 seconds, 122 milliseconds, 881 microseconds"),
        ("FreeSWITCH-Version", "1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"),
        ("Uptime-msec", "8065122"), ("Session-Count", "2"), ("Max-Sessions", "1000"), ("Session-Per-Sec", "30"),
        ("Session-Per-Sec-Last", "1"), ("Session-Per-Sec-Max", "2"), ("Session-Per-Sec-FiveMin", "1"),
        ("Session-Since-Startup", "41"), ("Session-Peak-Max", "4"), ("Session-Peak-FiveMin", "2"), ("Idle-CPU", "97.866667"),
    ])


STATUS = (
    "UP 0 years, 0 days, 2 hours, 14 minutes, 5 seconds, 122 milliseconds, 881 microseconds\n"
    "FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready\n"
    "41 session(s) since startup\n"
    "0 session(s) - peak 4, last 5min 2 \n"
    "0 session(s) per Sec out of max 30, peak 2, last 5min 1 \n"
    "1000 session(s) max\n"
    "min idle cpu 0.00/97.87\n"
    "Current Stack Size/Max 240K/8192K\n"
)


def session(fmt: str) -> bytes:
    """The whole server-to-client byte stream of one inbound session, events in ``fmt``."""
    switch = Switch()
    job_uuid = "7f4db78a-17d7-11dd-b7a0-db4edd065621"
    out = [
        frame("auth/request"),
        b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
        f"Content-Type: command/reply\nReply-Text: +OK event listener enabled {fmt}\n\n".encode(),
        b"Content-Type: api/response\nContent-Length: %d\n\n" % len(STATUS.encode()) + STATUS.encode(),
        f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job_uuid}\nJob-UUID: {job_uuid}\n\n".encode(),
    ]
    def background_job() -> list[FsEvent]:
        # The supervisor's originate (bgapi above) fails fast: the agent's phone is busy.
        switch.clock.tick(120)
        job = FsEvent(switch.core("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1589) + [
            ("Job-UUID", job_uuid), ("Job-Owner-UUID", ""),
            ("Job-Command", "originate"),
            ("Job-Command-Arg", "{origination_caller_id_name='Supervision Zoé',ignore_early_media=true}user/1001 &park()"),
        ], body="-ERR USER_BUSY\n")
        return [job, heartbeat(switch)]

    events: list[FsEvent] = []
    for index in range(CALLS):
        events.extend(call(switch, index, background_job if index == 0 else list))
    if fmt == "json":
        events = events[:JSON_EVENTS]
    for event in events:
        event.headers = [(k, v) for k, v in event.headers if v]
        out.append(event_frame(event, fmt))
    log_line = "2024-06-10 14:05:12.331402 [INFO] mod_callcenter.c:1761 Agent 1001@default answered \"Zoé Martin\"\n"
    out.append(
        b"Content-Type: log/data\nContent-Length: %d\nLog-Level: 6\nText-Channel: 3\n"
        b"Log-File: mod_callcenter.c\nLog-Func: outbound_agent_thread_run\nLog-Line: 1761\nUser-Data: \n\n"
        % len(log_line.encode()) + log_line.encode()
    )
    message = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    out.append(b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(message) + message)
    return b"".join(out)


def main() -> None:
    for fmt in ("plain", "json"):
        path = HERE / f"inbound_session.{fmt}.esl"
        data = session(fmt)
        path.write_bytes(data)
        print(f"{path.name}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
