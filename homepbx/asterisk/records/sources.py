"""Turn what Asterisk emits (AMI events, CEL CSV lines, queue_log lines) into the engine's inputs.

Pure functions, no I/O. AMI and the files describe the same facts in different shapes; here both
become the neutral `CelEvent`, `QueueEntry`, `HoldEvent` or `AgentEventRow`, so the engine and
the natural keys do not care where a fact came from, nor which PBX sent it. Everything that reads
Asterisk's vocabulary is here: which channel is an agent's phone (`agent_of`, from the one
channel parser `endpoint_of`) and which ChanSpy is a supervisor's feature-code spy
(`spy_from_cel`), both set on the channel event for the engine.

Feature-code spies: `homepbx spy ...` audits its own spy (supervision.record_with). A supervisor
dialling `*21<agent>` (listen), `*22<agent>` (whisper) or `*23<agent>` (barge) reaches ChanSpy
through the dialplan only (dialplans/asterisk/supervisors.j2): Asterisk's CEL APP_START for that
ChanSpy is the one trace of it, live over AMI and in the CEL CSV. Such an APP_START is told from
the CLI's by what the dialplan gives it and an Originate does not: the dialled code as the
channel's exten, a homepbx context (the supervisor's own `homepbx-sup-<ext>`, which includes the
`homepbx-spy-<team>-<mode>` contexts) and the `PJSIP/<agent>-` prefix as ChanSpy's argument.
The CLI's Originate runs ChanSpy on the agent's full channel name with no dialled code. The
audit entry is written once (homepbx.records.spies.store_spies).

Supervision sessions (both ways in): every supervisor's ChanSpy runs on a channel of its own,
which Asterisk gives a linkedid of its own, so the engine would make it a call (caller the
supervisor, called `s` or the code, "failed"). `supervision_from_cel` marks its APP_START with
a neutral `SpyMark` (supervisor, mode, spied agent and, for the CLI's exact-channel spy, that
channel's name) and each DTMF mode switch (ChanSpy's `d` option: the digits of
homepbx.features.CODES.mode_switch, which Asterisk 22 reports in CEL as a `DTMF` event of the
ChanSpy channel): the engine attaches the session to the spied call instead.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from operator import itemgetter
from typing import Any, Protocol

from ...features import CODES
from ...records.types import AgentEventRow, CelEvent, HoldEvent, LineQuality, QueueEntry, SpyMark, SpyRow, utc
from ..spy import MODE_SWITCH_OPTION

# queue_log events that describe a caller's passage through a queue (kept per call).
CALL_QUEUE_EVENTS = frozenset(
    {
        "ENTERQUEUE",
        "CONNECT",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "EXITWITHKEY",
        "COMPLETEAGENT",
        "COMPLETECALLER",
        "RINGNOANSWER",
    }
)

# A transfer out of a queue ends the agent's part as an agent-side completion (AMI's
# AgentComplete says Reason: transfer); its data ends with holdtime, calltime, origpos.
_TRANSFER_EVENTS = frozenset({"BLINDTRANSFER", "ATTENDEDTRANSFER"})

# queue_log member events -> agent event names.
_MEMBER_EVENTS = {
    "ADDMEMBER": "login",
    "REMOVEMEMBER": "logout",
    "PAUSE": "pause",
    "UNPAUSE": "unpause",
}
# Asterisk writes PAUSEALL/UNPAUSEALL (queue NONE) beside each per-queue PAUSE/UNPAUSE line,
# and AMI has no twin for them: storing them would make backfill differ from live collection.
_IGNORED_MEMBER_EVENTS = frozenset({"PAUSEALL", "UNPAUSEALL"})

# PJSIP/1001, PJSIP/1001-0000000a, Local/1001@ctx-00000001;1 -> 1001
_ENDPOINT = re.compile(r"^[A-Za-z0-9_]+/([^@/;-]+)")


class EventLike(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def endpoint_of(channel_or_interface: str) -> str:
    """The endpoint name (an agent's extension) in a channel name or a queue member interface."""
    match = _ENDPOINT.match(channel_or_interface or "")
    return match.group(1) if match else ""


# agent_of's answers by channel name: every event of a channel repeats its name (a dozen per
# call), so the parse runs about once per channel. Cleared when full (names are never reused).
_AGENTS: dict[str, str] = {}
# Bound once (the dict is cleared, never replaced): one call per event on the live path.
_known_agent = _AGENTS.get


def agent_of(channel: str) -> str:
    """The extension whose phone `channel` is (a PJSIP channel's endpoint), '' for any other."""
    agent = _known_agent(channel)
    return agent if agent is not None else _new_agent(channel)


def _new_agent(channel: str) -> str:
    agent = endpoint_of(channel) if channel[:6].upper() == "PJSIP/" else ""
    if len(_AGENTS) > 4096:
        _AGENTS.clear()
    _AGENTS[channel] = agent
    return agent


# A dialled spy code (homepbx.features) followed by the agent's extension.
_SPY_CODE = re.compile("^(" + "|".join(re.escape(c) for c in CODES.spy.values()) + r")([0-9A-Za-z_.]+)$")
# ChanSpy(PJSIP/<agent>-,<options>): the feature code's prefix form, never a full channel name.
_SPY_APPDATA = re.compile(r"^PJSIP/([^,/-]+)-(?:,([A-Za-z]*))?$")
_SPY_CONTEXT = re.compile(r"^homepbx-spy-.+-(listen|whisper|barge|switch)$")


def spy_from_cel(ev: CelEvent) -> SpyRow | None:
    """The feature-code spy this CEL event starts, or None (any other event, the CLI's spy)."""
    if ev.event != "APP_START" or ev.appname.lower() != "chanspy":
        return None
    code = _SPY_CODE.match(ev.exten)
    data = _SPY_APPDATA.match(ev.appdata.strip())
    if code is None or data is None or data.group(1) != code.group(2):
        return None
    context = ev.context
    if context and not context.startswith("homepbx-"):
        return None
    supervisor = endpoint_of(ev.channel)
    if not supervisor or not ev.channel.startswith("PJSIP/"):
        return None
    # The dialled code names the mode; a `homepbx-spy-<team>-<mode>` context (if Asterisk ever
    # reports the included context) must agree with it.
    mode = CODES.spy_mode(code.group(1))
    named = _SPY_CONTEXT.match(context)
    if named and named.group(1) != "switch" and named.group(1) != mode:
        return None
    options = data.group(2) or ""
    return SpyRow(utc(ev.time), supervisor, code.group(2), mode, ev.channel, context, ev.exten,
                  MODE_SWITCH_OPTION in options, ev.uniqueid)


# ChanSpy's option letters of a mode (asterisk/spy.py), read back: barge wins over whisper.
_SWITCH_DIGITS = {digit: mode for mode, digit in CODES.mode_switch.items()}


def _options_mode(options: str) -> str:
    return "barge" if "B" in options else "whisper" if "w" in options else "listen"


def supervision_from_cel(ev: CelEvent) -> SpyMark | None:
    """The supervision session this CEL event of a ChanSpy channel starts or switches, or None.

    Only homepbx's own ChanSpy (a supervisor's PJSIP channel in a homepbx context; the CLI's
    Originate and the feature codes alike) is marked. A DTMF digit counts as a mode switch only
    when ChanSpy was given the mode-switch option.
    """
    if ev.appname.lower() != "chanspy" or not ev.channel.startswith("PJSIP/"):
        return None
    if ev.context and not ev.context.startswith("homepbx-"):
        return None
    supervisor = endpoint_of(ev.channel)
    target, _, options = ev.appdata.strip().partition(",")
    agent = endpoint_of(target) if target.startswith("PJSIP/") else ""
    if not supervisor or not agent:
        return None
    # The feature code's prefix form ("PJSIP/<agent>-") names no channel: the agent's call then.
    channel = "" if target.endswith("-") else target
    origin = "feature code" if _SPY_CODE.match(ev.exten) else "command"
    if ev.event == "APP_START":
        return SpyMark(supervisor, _options_mode(options), agent, True, "", channel, origin)
    if ev.event == "DTMF" and MODE_SWITCH_OPTION in options:
        mode = _SWITCH_DIGITS.get(str(ev.extra.get("digit", "")))
        if mode is not None:
            return SpyMark(supervisor, mode, agent, False, "", channel, origin)
    return None


# The CEL user event the dialplan's `homepbx-quality` hangup handler writes for every agent leg
# (dialplans/asterisk/agents.j2): CELGenUserEvent(HOMEPBX_QOS,${CHANNEL(rtcp,all)}). Read at
# hang-up into CEL rather than taken from AMI's RTCPSent/RTCPReceived: CEL is also written to
# homepbx-cel.csv, so the figures of a leg that ended while the collector was down come back
# with the backfill; the RTCP events exist only on the live AMI stream.
QOS_EVENT = "HOMEPBX_QOS"
# No call survives a round trip this long: a larger `rtt` is a wrapped negative one.
_MAX_RTT_S = 60.0


def quality_from_rtcp(text: str) -> LineQuality | None:
    """Asterisk's CHANNEL(rtcp,all) summary as neutral figures; None if it holds no media.

    Asterisk 22 writes (times in seconds, counts cumulative over the call), for example
    `ssrc=696307544;themssrc=808777657;lp=0;rxjitter=0.000750;rxcount=596;txjitter=0.001125;
    txcount=600;rlp=0;rtt=0.000350;rxmes=88.084426;txmes=88.084426`: `lp` packets we lost of
    the phone's, `rlp` packets the phone reported lost of ours (its RTCP receiver reports),
    `rtt` 0 until a report came back.
    """
    fields: dict[str, float] = {}
    for part in text.strip().split(";"):
        name, sep, value = part.partition("=")
        if sep:
            try:
                fields[name.strip()] = float(value)
            except ValueError:
                continue
    rx, tx = fields.get("rxcount", 0.0), fields.get("txcount", 0.0)
    if rx <= 0 and tx <= 0:
        return None
    lost = min(max(fields.get("lp", 0.0), 0.0), rx or 0.0)
    loss_from = round(100.0 * lost / (rx + lost), 3) if rx + lost > 0 else 0.0
    rtt = fields.get("rtt", 0.0)
    reported = rtt > 0 or fields.get("rlp", 0.0) > 0
    if rtt > _MAX_RTT_S:
        # Seen on the lab's loopback: `rtt=65535.999755`, a round trip a hair under zero
        # wrapped around RTCP's 16.16 fixed-point seconds. A report did come back (its loss
        # counts); the round trip is unknown.
        rtt = 0.0
    loss_to = None
    if reported and tx > 0:
        loss_to = round(100.0 * min(max(fields.get("rlp", 0.0), 0.0), tx) / tx, 3)
    jitter = max(fields.get("rxjitter", 0.0), fields.get("txjitter", 0.0), 0.0)
    return LineQuality(loss_from, loss_to, round(jitter * 1000.0, 3), round(rtt * 1000.0, 3) if rtt > 0 else None)


def _quality(ev: CelEvent) -> None:
    # AMI may name a user event USER_DEFINED (cel.conf [manager] show_user_defined=no) and the
    # CSV's eventtype names it: both become QOS_EVENT, so the two sources' copies are one fact.
    if ev.event == "USER_DEFINED":
        if not ev.appdata.startswith(QOS_EVENT):
            return
        ev.event = QOS_EVENT
    text = ev.extra.get("extra") if ev.extra else None
    if not isinstance(text, str):
        text = ev.appdata.partition(",")[2]
    ev.quality = quality_from_rtcp(text)


def _channel_event(ev: CelEvent) -> CelEvent:
    # What the engine must not parse itself: whose phone the channel is, and whether this
    # event starts a feature-code spy or a supervision session, or switches its mode (an event
    # of ChanSpy: rare, one comparison decides).
    channel = ev.channel
    if channel:
        ev.agent = agent_of(channel)
    name = ev.event
    if (name == "APP_START" or name == "DTMF") and ev.appname.lower() == "chanspy":
        if name == "APP_START":
            ev.spy = spy_from_cel(ev)
        ev.supervision = supervision_from_cel(ev)
    elif name == QOS_EVENT or name == "USER_DEFINED":
        _quality(ev)
    return ev


def _lower(event: Mapping[str, Any] | EventLike) -> EventLike:
    # homepbx.asterisk.ami.Message looks keys up case-insensitively already; plain dicts (tests, recorded
    # streams) are lower-cased once so the same lower-case lookups work for both.
    if isinstance(event, dict) and not isinstance(event, _Lowered):
        return _Lowered((k.lower(), v) for k, v in event.items())
    # A homepbx.asterisk.ami Message keeps its headers in a lower-cased dict; reading it directly saves
    # a lower() per lookup, which counts at tens of thousands of events a second.
    index = getattr(event, "_index", None)
    return index if isinstance(index, dict) else event  # type: ignore[return-value]


class _Lowered(dict):  # type: ignore[type-arg]
    """A dict whose keys are already lower case (so it is not converted twice)."""


# The C scanner under json.loads: the same parse without json.loads' Python-level checks (CEL
# extras are small JSON objects, one in three events carries one). Anything it does not consume
# whole (leading or trailing blanks, garbage) goes through json.loads itself.
_SCAN_JSON = json.JSONDecoder().scan_once


def _extra(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value, end = _SCAN_JSON(raw, 0)
    except (StopIteration, ValueError):
        end = -1
    if end != len(raw):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
    return value if type(value) is dict else {}


def _float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def ami_time(ev: EventLike, fallback: float) -> float:
    """An AMI event's time: its `Timestamp` header (manager.conf timestampevents=yes) or `fallback`."""
    stamp = ev.get("timestamp")
    return _float(stamp, fallback) if stamp else fallback


def cel_from_ami(event: Mapping[str, Any] | EventLike, asterisk_tz: tzinfo | None, fallback: float) -> CelEvent:
    """An AMI `CEL` event (cel.conf [manager] enabled=yes).

    Its EventTime is Asterisk's local time to the second; the `Timestamp` header, when present,
    refines it within that second (both name the same instant, a few microseconds apart).
    """
    return _cel(_lower(event), asterisk_tz, fallback)


# The headers of an AMI CEL event the records read, fetched in one C call (cel_from_index).
_CEL_HEADERS = itemgetter("eventtime", "timestamp", "extra", "eventname", "linkedid", "uniqueid", "channel", "exten",
                          "application", "appdata", "peer", "calleridnum", "calleridname", "calleriddnid")


def cel_from_index(index: dict[str, str], asterisk_tz: tzinfo | None, fallback: float) -> CelEvent:
    """An AMI `CEL` event from a homepbx.asterisk.ami Message's index (lower-case names, text values).

    The same CelEvent as `cel_from_ami`; the headers are read in one go, and an event lacking
    one of them takes `cel_from_ami`'s path.
    """
    try:
        (text, stamp, extra, name, linkedid, uniqueid, channel, exten, app, appdata, peer, cid_num, cid_name,
         dnid) = _CEL_HEADERS(index)
    except KeyError:
        return _cel(index, asterisk_tz, fallback)
    # _channel_event's work, inline: this is the live stream's path, once per event.
    agent = _known_agent(channel)
    if agent is None:
        agent = _new_agent(channel)
    ev = CelEvent(_cel_time(text, stamp, asterisk_tz, fallback), name, linkedid, uniqueid, channel, exten, app,
                  appdata, peer, _extra(extra) if extra else {}, cid_num, cid_name, dnid, index.get("context") or "",
                  agent)
    if (name == "APP_START" or name == "DTMF") and app.lower() == "chanspy":
        if name == "APP_START":
            ev.spy = spy_from_cel(ev)
        ev.supervision = supervision_from_cel(ev)
    elif name == QOS_EVENT or name == "USER_DEFINED":
        _quality(ev)
    return ev


def _cel(ev: EventLike, asterisk_tz: tzinfo | None, fallback: float) -> CelEvent:
    # JSON parsed only when there is some.
    get = ev.get
    extra = get("extra")
    return _channel_event(CelEvent(
        _cel_time(get("eventtime"), get("timestamp"), asterisk_tz, fallback),
        get("eventname") or "",
        get("linkedid") or "",
        get("uniqueid") or "",
        get("channel") or "",
        get("exten") or "",
        get("application") or "",
        get("appdata") or "",
        get("peer") or "",
        _extra(extra) if extra else {},
        get("calleridnum") or "",
        get("calleridname") or "",
        get("calleriddnid") or "",
        get("context") or "",
    ))


def _cel_time(text: str | None, stamp: str | None, asterisk_tz: tzinfo | None, fallback: float) -> float:
    exact: float | None = None
    if stamp:
        try:
            exact = float(stamp)
        except ValueError:
            pass
    if exact is not None:
        # EventTime is Asterisk's local wall clock, which the collector cannot trust to share
        # (another TZ, the repeated autumn hour). The epoch Timestamp names the same instant,
        # a few microseconds later: its second is the latest one at or before it whose
        # seconds-of-minute match EventTime's (zones differ by whole minutes). Clamped into
        # that second, the event keeps the identity of its CSV twin.
        second = int(exact)
        if text and len(text) >= 19:
            digits = text[17:19]
            if digits.isdigit():
                wanted = int(digits)
                # Back to the latest second whose seconds-of-minute are EventTime's (a minute
                # back, as the search used to end, for a nonsense 60-99).
                second -= (second - wanted) % 60 if wanted < 60 else 60
        # The second is at or before the stamp (never after), so only the top needs a clamp
        # (and the stamp itself is kept unless it lies past the second: same as
        # min(max(exact, whole), whole + 0.999999), without the builtins).
        top = second + 0.999999
        if second > exact:  # int() of a negative stamp rounds up
            return float(second)
        return exact if exact <= top else top
    elif text:
        whole = _TIME_CACHE.get((text, asterisk_tz), False)
        if whole is False:
            whole = _local_seconds(text, asterisk_tz)
        when = whole if whole is not None else fallback
    else:
        when = fallback
    return when


# EventTime strings repeat for every event in the same second: remember the last few.
_TIME_CACHE: dict[tuple[str, tzinfo | None], float | None] = {}


def _local_seconds(text: str, asterisk_tz: tzinfo | None) -> float | None:
    if not text:
        return None
    key = (text, asterisk_tz)
    cached = _TIME_CACHE.get(key, False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    try:
        naive = datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                         int(text[17:19]))
    except ValueError:
        value = None
    else:
        # tzinfo None: the collector runs next to Asterisk and shares its local zone.
        aware = naive.replace(tzinfo=asterisk_tz) if asterisk_tz else naive.astimezone()
        value = float(int(aware.timestamp()))
    if len(_TIME_CACHE) > 4096:
        _TIME_CACHE.clear()
    _TIME_CACHE[key] = value
    return value


# Column order of cel_custom.conf's homepbx-cel.csv mapping (config_templates/asterisk).
CEL_COLUMNS = (
    "eventtime",
    "eventtype",
    "linkedid",
    "uniqueid",
    "channel",
    "context",
    "exten",
    "appname",
    "appdata",
    "bridgepeer",
    "userdeftype",
    "eventextra",
    "accountcode",
    "cid_num",
    "cid_name",
)


def cel_from_csv(row: list[str]) -> CelEvent | None:
    """One parsed line of homepbx-cel.csv, or None if it is not one of ours (short, bad time)."""
    if len(row) < len(CEL_COLUMNS):
        return None
    try:
        when = float(row[0])
    except ValueError:
        return None
    event = row[1]
    if event == "USER_DEFINED" and row[10]:
        event = row[10]
    return _channel_event(CelEvent(
        time=when,
        event=event,
        linkedid=row[2],
        uniqueid=row[3],
        channel=row[4],
        exten=row[6],
        appname=row[7],
        appdata=row[8],
        peer=row[9],
        extra=_extra(row[11]),
        cid_num=row[13],
        cid_name=row[14],
        context=row[5],
    ))


def parse_cel_line(line: str) -> CelEvent | None:
    """One text line of homepbx-cel.csv (Asterisk's CSV_QUOTE doubles embedded quotes)."""
    rows = list(csv.reader([line]))
    return cel_from_csv(rows[0]) if rows else None


def parse_queue_log_line(line: str) -> QueueEntry | AgentEventRow | None:
    """`epoch|callid|queue|agent|EVENT|data1|...` -> a per-call entry or an agent event."""
    parts = line.rstrip("\r\n").split("|")
    if len(parts) < 5:
        return None
    try:
        when = float(parts[0])
    except ValueError:
        return None
    callid, queue, agent_field, event = parts[1], parts[2], parts[3], parts[4]
    data = tuple(parts[5:])
    agent = endpoint_of(agent_field) or (agent_field if agent_field != "NONE" else "")
    if event in _IGNORED_MEMBER_EVENTS:
        return None
    if event in _MEMBER_EVENTS:
        reason = data[0] if event == "PAUSE" and data else ""
        return AgentEventRow(
            at=utc(int(when)),
            agent=agent,
            queue="" if queue == "NONE" else queue,
            event=_MEMBER_EVENTS[event],
            reason=reason[:40],
        )
    if event in _TRANSFER_EVENTS and callid and callid != "NONE":
        # BLINDTRANSFER|exten|context|..., ATTENDEDTRANSFER|BRIDGE|id|... or |APP|name|...,
        # but ATTENDEDTRANSFER|LINK|chan1|chan2|...: the times follow the target fields.
        skip = 3 if data[:1] == ("LINK",) else 2
        return QueueEntry(when, callid, queue, agent, "COMPLETEAGENT", data[skip:skip + 3])
    if event in CALL_QUEUE_EVENTS and callid and callid != "NONE":
        return QueueEntry(when, callid, queue, agent, event, data)
    return None


def _member_agent(ev: EventLike) -> str:
    return endpoint_of(ev.get("interface") or "") or endpoint_of(ev.get("destchannel") or "")


def _hold(ev: EventLike, when: float, name: str) -> HoldEvent:
    return HoldEvent(when, ev.get("linkedid") or "", ev.get("uniqueid") or "", name == "Hold")


def _caller_join(ev: EventLike, when: float, name: str) -> QueueEntry:
    return QueueEntry(when, ev.get("uniqueid") or "", ev.get("queue") or "", "", "ENTERQUEUE",
                      ("", ev.get("calleridnum") or "", ev.get("position") or ""), ev.get("linkedid") or "")


def _agent_connect(ev: EventLike, when: float, name: str) -> QueueEntry:
    data = (ev.get("holdtime") or "0", ev.get("destuniqueid") or "", ev.get("ringtime") or "0")
    return QueueEntry(when, ev.get("uniqueid") or "", ev.get("queue") or "", _member_agent(ev), "CONNECT", data,
                      ev.get("linkedid") or "")


def _caller_abandon(ev: EventLike, when: float, name: str) -> QueueEntry:
    data = (ev.get("position") or "", ev.get("originalposition") or "", ev.get("holdtime") or "0")
    return QueueEntry(when, ev.get("uniqueid") or "", ev.get("queue") or "", "", "ABANDON", data, ev.get("linkedid") or "")


_COMPLETE_KINDS = {"agent": "COMPLETEAGENT", "transfer": "COMPLETEAGENT"}


def _agent_complete(ev: EventLike, when: float, name: str) -> QueueEntry:
    kind = _COMPLETE_KINDS.get((ev.get("reason") or "").lower(), "COMPLETECALLER")
    data = (ev.get("holdtime") or "0", ev.get("talktime") or "0", "")
    return QueueEntry(when, ev.get("uniqueid") or "", ev.get("queue") or "", _member_agent(ev), kind, data,
                      ev.get("linkedid") or "")


def _ring_no_answer(ev: EventLike, when: float, name: str) -> QueueEntry:
    return QueueEntry(when, ev.get("uniqueid") or "", ev.get("queue") or "", _member_agent(ev), "RINGNOANSWER",
                      (ev.get("ringtime") or "0",), ev.get("linkedid") or "")


def _member_change(ev: EventLike, when: float, name: str) -> AgentEventRow:
    if name == "QueueMemberPause":
        paused = (ev.get("paused") or "0") == "1"
        kind = "pause" if paused else "unpause"
        reason = (ev.get("pausedreason") or ev.get("reason") or "") if paused else ""
    else:
        kind, reason = ("login" if name == "QueueMemberAdded" else "logout"), ""
    return AgentEventRow(at=utc(int(when)), agent=_member_agent(ev), queue=ev.get("queue") or "", event=kind,
                         reason=reason[:40])


# AMI event name -> its translation; any other event is not needed by the records (one dict
# lookup decides, as most of a busy AMI stream is events we drop or CEL).
_AMI_EVENTS: dict[str, Any] = {
    "Hold": _hold,
    "Unhold": _hold,
    "QueueCallerJoin": _caller_join,
    "AgentConnect": _agent_connect,
    "QueueCallerAbandon": _caller_abandon,
    "AgentComplete": _agent_complete,
    "AgentRingNoAnswer": _ring_no_answer,
    "QueueMemberAdded": _member_change,
    "QueueMemberRemoved": _member_change,
    "QueueMemberPause": _member_change,
}


def from_ami(
    event: Mapping[str, Any] | EventLike, asterisk_tz: tzinfo | None, now: float
) -> CelEvent | QueueEntry | HoldEvent | AgentEventRow | None:
    """Translate one AMI event; None for events the records do not need."""
    ev = _lower(event)
    name = ev.get("event") or ""
    if name == "CEL":
        return _cel(ev, asterisk_tz, now)
    translate = _AMI_EVENTS.get(name)
    if translate is None:
        return None
    return translate(ev, ami_time(ev, now), name)
