"""The records engine's FreeSWITCH adapter: one channel ("leg") summary, whichever source told it.

FreeSWITCH describes a finished channel twice, with the same variables: live, in the
CHANNEL_HANGUP_COMPLETE event (`variable_*` headers), and on disk, in the JSON CDR mod_json_cdr
writes for it (`variables`, plus `app_log` and `callflow`). Both become one `Leg`, and a leg
becomes the same neutral events (`CelEvent`, `HoldEvent`) with the same times (the channel's
own microsecond stamps), so the engine's natural keys see one fact however many sources
delivered it. Everything that reads FreeSWITCH's vocabulary is here.

The call id (the engine's linkedid) is the uuid of the call's first leg:
- a mod_callcenter agent leg belongs to its caller's call (`cc_member_session_uuid`);
- a leg made by `bridge` (or any originate from a channel) to the call of the leg that made it
  (`originator`, `originating_leg_uuid`), followed through `CallIds`;
- any other leg starts a call of its own (its uuid).

Bridges: an agent's (or any non-first) leg reports its bridge with its partner (`bridge_uuid`)
from its own bridge time, for itself and the partner, under one bridge id (the pair); the
engine closes each side at that side's hangup, so talk is where both overlap. The first leg
reports none itself: a caller transferred from agent to agent has one bridge per agent leg.

Supervision: a supervisor's leg that ran `eavesdrop` in a `homepbx-sup-<ext>` context (the CLI's
originate `&eavesdrop(<agent leg uuid>)`, or a spy code's `eavesdrop all` limited by
`eavesdrop_require_group=homepbx-agent-<ext>`) carries a `SpyMark` on an APP_START at its
answer: supervisor, mode (the eavesdrop_whisper_aleg/bleg flags), spied agent, and the spied
leg's uuid with its call when `CallIds` knows it. FreeSWITCH reports no in-call mode switch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ...features import CODES
from ...records.types import AgentEventRow, CelEvent, HoldEvent, SpyMark, utc

_FEATURE_EXTENSION = re.compile(r"^agent-(login|logout|pause|unpause)(?:-[0-9A-Za-z]+)?$")
_REASON = re.compile(r"(?:^|,)Homepbx-Reason=([^,]*)")
_TRANSFER_KINDS = {"bl_xfer": "BLINDTRANSFER", "att_xfer": "ATTENDEDTRANSFER"}
_SPY_CODE = re.compile("^(?:" + "|".join(re.escape(c) for c in CODES.spy.values()) + r")[0-9A-Za-z_.]+$")
_SUPERVISOR_CONTEXT = "homepbx-sup-"
_AGENT_GROUP = "homepbx-agent-"


def _us(value: Any) -> float | None:
    """A FreeSWITCH microsecond stamp ("1796141598847241") as epoch seconds; None for 0/absent."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n / 1_000_000 if n > 0 else None


def _user(value: str) -> str:
    """`7002@127.0.0.21` -> `7002`."""
    return value.split("@", 1)[0] if value else ""


@dataclass(slots=True)
class Leg:
    """What the records need of one finished FreeSWITCH channel."""

    uuid: str
    channel: str
    # The SIP account whose phone this leg is ('' for a trunk or a loopback leg).
    agent: str
    start: float
    answer: float | None
    hangup: float
    cause: int | None
    # The channel name that hung up (this leg's, its partner's, or '' when unknown).
    hangup_source: str
    cid_num: str = ""
    cid_name: str = ""
    exten: str = ""
    partner: str = ""
    bridge: float | None = None
    hold_s: float = 0.0
    last_hold: float | None = None
    # The leg(s) this one came from: mod_callcenter's caller, or the leg that originated it.
    member_of: str = ""
    originator: str = ""
    # The queue (homepbx name) the caller joined, and when (CDR only: app_log's stamp).
    queue: str = ""
    queue_in: float | None = None
    recording: str = ""
    transfers: list[tuple[float, str]] = field(default_factory=list)
    # A feature-code call that changed the agent's state: (action, reason), CDR only.
    agent_action: tuple[str, str] | None = None
    # A supervisor's eavesdrop (its spied call still to be named: `spy_mark`).
    spy: SpyMark | None = None


def leg_from_variables(v: Mapping[str, Any], profile: Mapping[str, Any] | None = None,
                       app_log: Iterable[Mapping[str, Any]] = (), extension: str = "") -> Leg | None:
    """A leg from a channel's variables (CDR `variables`, or the event's `variable_*` headers).

    `profile` is the first caller profile (cid and dialled number), `app_log` the applications the
    channel ran (CDR only), `extension` the dialplan extension first matched (CDR only).
    """
    uuid = str(v.get("uuid") or "")
    start = _us(v.get("start_uepoch"))
    hangup = _us(v.get("end_uepoch"))
    if not uuid or start is None:
        return None
    channel = str(v.get("channel_name") or "")
    profile = profile or {}
    side = v.get("cc_side") or ""
    if side == "agent":
        agent = _user(str(v.get("cc_agent") or "")) or str(v.get("dialed_user") or "")
    elif v.get("direction") == "outbound":
        agent = str(v.get("dialed_user") or "")
    else:
        agent = str(v.get("homepbx_account") or "")
    disposition = str(v.get("sip_hangup_disposition") or "")
    partner_channel = str(v.get("bridge_channel") or "")
    if disposition.startswith("recv_"):
        source = channel
    elif disposition.startswith("send_"):
        source = partner_channel
    else:
        source = ""
    try:
        cause: int | None = int(v.get("hangup_cause_q850"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        cause = None
    hold_us = _us(v.get("hold_accum_usec"))
    leg = Leg(
        uuid=uuid, channel=channel, agent=agent, start=start, answer=_us(v.get("answer_uepoch")),
        hangup=hangup if hangup is not None else start, cause=cause, hangup_source=source,
        cid_num=str(v.get("effective_caller_id_number") or profile.get("caller_id_number") or ""),
        cid_name=str(v.get("effective_caller_id_name") or profile.get("caller_id_name") or ""),
        exten=str(profile.get("destination_number") or v.get("sip_req_user") or ""),
        partner=str(v.get("bridge_uuid") or v.get("last_bridge_to") or ""),
        bridge=_us(v.get("bridge_uepoch")),
        hold_s=round(hold_us, 6) if hold_us else 0.0,
        last_hold=_us(v.get("last_hold_uepoch")),
        member_of=str(v.get("cc_member_session_uuid") or "") if side == "agent" else "",
        originator=str(v.get("originator") or v.get("originating_leg_uuid") or ""),
        recording=str(v.get("cc_record_filename") or v.get("homepbx_recording") or ""),
    )
    if side == "member" and v.get("cc_queue"):
        leg.queue = _user(str(v.get("cc_queue")))
        for app in app_log:
            if app.get("app_name") == "callcenter":
                leg.queue_in = _us(app.get("app_stamp"))
                break
        if leg.queue_in is None:
            joined = v.get("cc_queue_joined_epoch")
            leg.queue_in = float(joined) if str(joined or "").isdigit() else None
    first_bridge = leg.bridge
    for item in _array(v.get("transfer_history")):
        parts = item.split(":", 3)
        kind = _TRANSFER_KINDS.get(parts[2]) if len(parts) > 2 else None
        # Only what moved a call already talking: routing through the dialplan is no transfer.
        if kind and parts[0].isdigit() and first_bridge is not None and int(parts[0]) >= int(first_bridge):
            leg.transfers.append((float(parts[0]), kind))
    leg.spy = _eavesdrop(v, app_log, leg)
    match = _FEATURE_EXTENSION.match(extension)
    if match and str(v.get("homepbx_cc_result") or "").startswith("+OK"):
        reason = ""
        for app in app_log:
            if app.get("app_name") == "event":
                found = _REASON.search(str(app.get("app_data") or ""))
                if found:
                    reason = found.group(1)
        leg.agent_action = (match.group(1), reason)
    return leg


def _flag(value: Any) -> bool:
    return str(value or "").lower() == "true"


def _eavesdrop(v: Mapping[str, Any], app_log: Iterable[Mapping[str, Any]], leg: Leg) -> SpyMark | None:
    """The supervision this leg is (a supervisor's eavesdrop), or None."""
    context = str(v.get("user_context") or "")
    if not context.startswith(_SUPERVISOR_CONTEXT):
        return None
    target = ""
    for app in app_log:
        if app.get("app_name") == "eavesdrop":
            target = str(app.get("app_data") or "")
            break
    else:
        if (v.get("last_app") or v.get("current_application")) != "eavesdrop":
            return None
        target = str(v.get("last_arg") or v.get("current_application_data") or "")
    supervisor = str(v.get("homepbx_account") or "") or context[len(_SUPERVISOR_CONTEXT):]
    group = str(v.get("eavesdrop_require_group") or "")
    # The spy code names the agent by its group; the CLI's originate shows the agent as caller id.
    agent = group[len(_AGENT_GROUP):] if group.startswith(_AGENT_GROUP) else \
        str(v.get("origination_caller_id_number") or "")
    aleg, bleg = _flag(v.get("eavesdrop_whisper_aleg")), _flag(v.get("eavesdrop_whisper_bleg"))
    mode = "barge" if aleg else "whisper" if bleg else "listen"
    if not supervisor or not agent:
        return None
    return SpyMark(supervisor, mode, agent, True, "", "" if target == "all" else target,
                   "feature code" if _SPY_CODE.match(leg.exten) else "command")


def spy_mark(leg: Leg, calls: CallIds) -> SpyMark | None:
    """The leg's spy mark with the spied call named, when that leg's call is known here."""
    mark = leg.spy
    if mark is None or not mark.channel:
        return mark
    call = calls.known(mark.channel)
    return replace(mark, call=call) if call else mark


def _array(value: Any) -> list[str]:
    """A FreeSWITCH multi-value variable (`ARRAY::a|:b`) as a list."""
    text = str(value or "")
    if not text:
        return []
    if text.startswith("ARRAY::"):
        return [p for p in text[7:].split("|:") if p]
    return [text]


def leg_from_cdr(cdr: Mapping[str, Any]) -> Leg | None:
    """A leg from one mod_json_cdr document."""
    variables = cdr.get("variables")
    if not isinstance(variables, Mapping):
        return None
    flow = cdr.get("callflow")
    flows = flow if isinstance(flow, list) else [flow] if isinstance(flow, Mapping) else []
    # Newest profile first: the last one is the channel as it began.
    first = flows[-1] if flows else {}
    profile = first.get("caller_profile", {}) if isinstance(first, Mapping) else {}
    extension = ""
    if isinstance(first, Mapping) and isinstance(first.get("extension"), Mapping):
        extension = str(first["extension"].get("name") or "")
    apps = cdr.get("app_log", {})
    app_log = apps.get("applications", []) if isinstance(apps, Mapping) else []
    return leg_from_variables(variables, profile, app_log if isinstance(app_log, list) else [], extension)


def leg_from_event(event: Mapping[str, Any]) -> Leg | None:
    """A leg from a CHANNEL_HANGUP_COMPLETE event (its `variable_*` headers)."""
    variables = {k[9:]: val for k, val in event.items() if k.startswith("variable_")}
    variables.setdefault("uuid", event.get("Unique-ID") or "")
    profile = {"caller_id_number": event.get("Caller-Orig-Caller-ID-Number") or event.get("Caller-Caller-ID-Number"),
               "caller_id_name": event.get("Caller-Orig-Caller-ID-Name") or event.get("Caller-Caller-ID-Name"),
               "destination_number": variables.get("sip_req_user") or event.get("Caller-Destination-Number")}
    return leg_from_variables(variables, profile)


class CallIds:
    """Which call each leg belongs to: uuid -> call id, remembered as legs are seen."""

    def __init__(self, limit: int = 200_000) -> None:
        self._of: dict[str, str] = {}
        self.limit = limit

    def call_of(self, uuid: str) -> str:
        """The call id of a leg seen before (else its own uuid: a leg unknown here starts a call)."""
        return self._of.get(uuid, uuid)

    def assign(self, uuid: str, member_of: str = "", originator: str = "") -> str:
        """Give a leg its call id (from its caller or originator), remember and return it."""
        known = self._of.get(uuid)
        if known is not None:
            return known
        parent = member_of or originator
        call = self.call_of(parent) if parent and parent != uuid else uuid
        if len(self._of) >= self.limit:
            # Oldest first (dicts keep insertion order): calls that long over are not asked about.
            for old in list(self._of)[: self.limit // 2]:
                del self._of[old]
        self._of[uuid] = call
        return call

    def known(self, uuid: str) -> str:
        """The call id of a leg seen before, '' if none was."""
        return self._of.get(uuid, "")

    def forget(self, uuids: Iterable[str]) -> None:
        for uuid in uuids:
            self._of.pop(uuid, None)


def leg_events(leg: Leg, call: str, spy: SpyMark | None = None) -> list[CelEvent | HoldEvent]:
    """The neutral events one finished leg stands for, in time order (LINKEDID_END aside).

    `spy`: the leg's spy mark with its spied call (`spy_mark`), for a supervisor's eavesdrop."""
    uid, chan = leg.uuid, leg.channel
    out: list[CelEvent | HoldEvent] = [
        CelEvent(leg.start, "CHAN_START", call, uid, chan, leg.exten, cid_num=leg.cid_num, cid_name=leg.cid_name,
                 agent=leg.agent),
    ]
    if leg.answer is not None:
        out.append(CelEvent(leg.answer, "ANSWER", call, uid, chan, agent=leg.agent))
    if leg.queue and leg.queue_in is not None:
        out.append(CelEvent(leg.queue_in, "APP_START", call, uid, chan, appname="queue", appdata=leg.queue,
                            agent=leg.agent))
    if leg.partner and leg.bridge is not None and call != uid:
        bridge_id = "+".join(sorted((uid, leg.partner)))
        out.append(CelEvent(leg.bridge, "BRIDGE_ENTER", call, uid, chan, extra={"bridge_id": bridge_id},
                            agent=leg.agent))
        # The partner's side: no channel name here (its own leg names it).
        out.append(CelEvent(leg.bridge, "BRIDGE_ENTER", call, leg.partner, extra={"bridge_id": bridge_id}))
    if leg.recording:
        at = leg.bridge if leg.bridge is not None else (leg.answer or leg.start)
        out.append(CelEvent(at, "APP_START", call, uid, chan, appname="mixmonitor", appdata=leg.recording,
                            agent=leg.agent))
    if spy is not None:
        at = leg.answer if leg.answer is not None else leg.start
        out.append(CelEvent(at, "APP_START", call, uid, chan, appname="eavesdrop", appdata=spy.channel,
                            agent=leg.agent, supervision=spy))
    for at, kind in leg.transfers:
        out.append(CelEvent(at, kind, call, uid, chan, agent=leg.agent))
    out.append(CelEvent(leg.hangup, "HANGUP", call, uid, chan, extra={
        "hangupcause": leg.cause, "hangupsource": leg.hangup_source, "dialstatus": ""}, agent=leg.agent))
    out.append(CelEvent(leg.hangup, "CHAN_END", call, uid, chan, agent=leg.agent))
    if leg.hold_s > 0:
        # FreeSWITCH keeps the total: one hold of that length, ending at the last one's end.
        since = leg.last_hold if leg.last_hold is not None else (leg.answer or leg.start)
        since = max(leg.start, min(since, leg.hangup - leg.hold_s))
        out.append(HoldEvent(since, call, uid, True))
        out.append(HoldEvent(since + leg.hold_s, call, uid, False))
    return out


def end_event(call: str, at: float) -> CelEvent:
    """The event that finishes a call in the engine (its last leg hung up)."""
    return CelEvent(at, "LINKEDID_END", call, call)


def agent_action_row(leg: Leg) -> AgentEventRow | None:
    """The agent state change a feature-code call made (`*41`, `*432`...), from its CDR."""
    if leg.agent_action is None or not leg.agent:
        return None
    action, reason = leg.agent_action
    return AgentEventRow(utc(int(leg.start)), leg.agent, "", action, reason[:40] if action == "pause" else "")
