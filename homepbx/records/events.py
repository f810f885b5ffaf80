"""The records engine: neutral channel and queue events in, finished call records out. No I/O.

It knows no PBX: each backend's adapter (homepbx.asterisk.records.feed and .sources for
Asterisk) translates what its PBX emits into `CelEvent`, `QueueEntry`, `HoldEvent` and
`AgentEventRow` (homepbx.records.types), with the parsing of channel names and application
arguments done on its side (`CelEvent.agent`, `CelEvent.spy`).

Channel events are grouped by linkedid (the call id); a call is finished at LINKEDID_END (or, failing
that, when it has been silent for `max_age` seconds) and only then turned into one `CallRow`
with its legs, queue events and recordings. Queue entries (queue_log or AMI queue events) wait
beside the call they belong to. The same fact may arrive twice (live from AMI and again from the
files during a backfill): each call drops events it has already seen, so a call's rows do not
depend on which source delivered what.

Supervision: a channel whose events carry a `SpyMark` (the adapter's; `CelEvent.supervision`)
is a supervisor spying on a call. When its session starts, the spied call is looked up among
the open calls (by the call id the adapter gives, else the spied channel's name, else the
agent's channel live at that moment): the spy starts while that call is on, whichever source
delivers the events, and a restart's backfill re-reads open calls from their start. When the
spy's own call finishes it becomes `SupervisionRow`s (one per session: start, end, mode
switches) in the batch, never a call record; a spy channel sharing a call with other channels
leaves that call's record as it was. A session whose spied call was not open at its start
(FreeSWITCH reports a leg only at its hangup) is reported without it, for the store to find it
among the stored calls, and again with it once that call finishes here (`PENDING_WAIT`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .direction import Direction
from .quality import mos
from .types import (
    AgentEventRow,
    Batch,
    CallRow,
    CelEvent,
    FinishedCall,
    HoldEvent,
    LegRow,
    LineQuality,
    QualityRow,
    QueueEntry,
    QueueEventRow,
    RecordingRow,
    SpyMark,
    SpyRow,
    SupervisionRow,
    utc,
)

# Entries from two sources name the same fact if they agree on everything but the time, and the
# times are this close (queue_log stamps whole seconds when it writes; AMI when it sends).
_SAME_ENTRY_WINDOW = 2.0
_STORED_QUEUE_EVENTS = ("ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY",
                        "COMPLETEAGENT", "COMPLETECALLER")
_OUTCOMES = {"ABANDON": "abandoned", "EXITWITHTIMEOUT": "timeout", "EXITEMPTY": "no_agents", "EXITWITHKEY": "abandoned"}
# How long a supervision session whose spied call was not open at its start waits for that call
# to finish here (FreeSWITCH reports a leg only at its hangup). It is reported at once without
# its call (the store looks for it among the stored ones), and again with it if it finishes here.
PENDING_WAIT = 600.0
_DIALSTATUS = {"BUSY": "busy", "NOANSWER": "no_answer", "CANCEL": "no_answer", "CHANUNAVAIL": "failed",
               "CONGESTION": "failed"}


@dataclass(slots=True)
class _Call:
    linkedid: str
    events: list[CelEvent] = field(default_factory=list)
    seen: set[tuple[Any, ...]] = field(default_factory=set)
    holds: list[HoldEvent] = field(default_factory=list)
    last_seen: float = 0.0
    first_seen: float = float("inf")
    # Every event came at or after the one before it (the live stream's usual order): the events
    # are then already in time order and `_finish` need not sort them.
    ordered: bool = True
    # Spy channels of this call (uniqueid -> the spied call id found when the session started,
    # '' if none was); None for the calls that have none (all but a supervisor's).
    spied: dict[str, str] | None = None


class _Chan:
    """One channel of a call being assembled (a plain class: `_finish` makes a few per call)."""

    __slots__ = ("uniqueid", "channel", "start", "answer", "hangup", "end", "cause", "hangup_source", "dialstatus",
                 "cid_num", "cid_name", "exten", "first_order", "hangup_order", "open", "bridges", "holds", "agent")

    def __init__(self, uniqueid: str, first_order: int = 0) -> None:
        self.uniqueid = uniqueid
        self.channel = ""
        self.start: float | None = None
        self.answer: float | None = None
        self.hangup: float | None = None
        self.end: float | None = None
        self.cause: int | None = None
        self.hangup_source = ""
        self.dialstatus = ""
        self.cid_num = ""
        self.cid_name = ""
        self.exten = ""
        self.first_order = first_order
        self.hangup_order = 0
        self.open: dict[str, float] = {}
        self.bridges: list[tuple[str, float, float]] = []
        self.holds: list[tuple[float, float]] = []
        # The extension whose phone this channel is (CelEvent.agent), None for any other channel.
        self.agent: str | None = None


class Engine:
    """Feed it events in any order they come; drain it for rows to store."""

    def __init__(self, max_age: float = 6 * 3600) -> None:
        self.max_age = max_age
        self._calls: dict[str, _Call] = {}
        # Queue entries by caller uniqueid, waiting for their call to finish.
        self._entries: dict[str, list[QueueEntry]] = {}
        self._entry_seen: dict[str, float] = {}
        self._done: list[FinishedCall] = []
        self._agent_events: list[AgentEventRow] = []
        # Feature-code spies (audit log entries), reported as the events starting them arrive.
        self._spies: list[SpyRow] = []
        # Supervision sessions of spy calls finished since the last drain.
        self._supervisions: list[SupervisionRow] = []
        # Sessions waiting for their spied call (see PENDING_WAIT): (spy call's first event, row).
        self._pending: list[tuple[float, SupervisionRow]] = []
        self.clock = 0.0

    # -- input -----------------------------------------------------------------------------------
    def feed(self, item: CelEvent | QueueEntry | HoldEvent | AgentEventRow) -> None:
        """One normalised input, whichever source it came from."""
        if isinstance(item, CelEvent):
            self.feed_cel(item)
        elif isinstance(item, QueueEntry):
            self.feed_queue(item)
        elif isinstance(item, HoldEvent):
            self.feed_hold(item)
        else:
            self._agent_events.append(item)

    def feed_cel(self, ev: CelEvent) -> None:
        """One channel event; one already seen (from another source) is dropped."""
        if not ev.linkedid:
            return
        linkedid = ev.linkedid
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid)
        t = ev.time
        extra = ev.extra
        name = ev.event
        # The CSV has microseconds, AMI whole seconds: the second is the shared identity (and
        # a DTMF event's digit: a supervisor may switch spy modes twice within a second).
        key = (ev.uniqueid, name, int(t), ev.appname,
               (extra.get("bridge_id") or extra.get("digit", "")) if extra else "")
        seen = call.seen
        if key in seen:
            return
        seen.add(key)
        spy = ev.spy
        if spy is not None:
            self._spies.append(spy)
        if ev.supervision is not None:
            self._spy_event(call, ev, ev.supervision)
        call.events.append(ev)
        if t >= call.last_seen:
            call.last_seen = t
        else:
            call.ordered = False
        if t < call.first_seen:
            call.first_seen = t
        if t > self.clock:
            self.clock = t
        if name == "LINKEDID_END":
            del self._calls[linkedid]
            if call.spied is None:
                self._done.append(self._finish(call, complete=True))
            else:
                self._close_spied(call, complete=True)

    def feed_queue(self, entry: QueueEntry) -> None:
        waiting = self._entries.setdefault(entry.callid, [])
        for other in waiting:
            if (other.event == entry.event and other.queue == entry.queue and other.agent == entry.agent
                    and abs(other.time - entry.time) <= _SAME_ENTRY_WINDOW):
                return
        waiting.append(entry)
        self._entry_seen[entry.callid] = max(entry.time, self._entry_seen.get(entry.callid, 0.0))

    def feed_hold(self, ev: HoldEvent) -> None:
        call = self._calls.get(ev.linkedid)
        if call is None:
            # An Unhold can only close a hold this call already has, and a call unknown here has
            # none: it is an Unhold sent as the call hung up, after its LINKEDID_END. Keeping it
            # would leave an empty open call behind until `max_age`.
            if not ev.on:
                return
            call = self._calls[ev.linkedid] = _Call(ev.linkedid, last_seen=ev.time)
        if not any(h.uniqueid == ev.uniqueid and h.on == ev.on and abs(h.time - ev.time) < 1 for h in call.holds):
            call.holds.append(ev)

    # -- output ----------------------------------------------------------------------------------
    def drain(self) -> Batch:
        """Everything finished since the last drain."""
        batch = Batch(self._done, self._agent_events, self._spies, self._supervisions)
        self._done, self._agent_events, self._spies, self._supervisions = [], [], [], []
        return batch

    def expire(self, now: float) -> int:
        """Close calls silent for `max_age` (their LINKEDID_END was lost); forget stray entries."""
        stale = [c for c in self._calls.values() if now - c.last_seen > self.max_age]
        for call in stale:
            del self._calls[call.linkedid]
            if call.spied is not None:
                self._close_spied(call, complete=False)
            elif call.events:
                self._done.append(self._finish(call, complete=False))
        if self._pending:
            self._pending = [p for p in self._pending if now - p[0] <= PENDING_WAIT]
        for callid, seen in list(self._entry_seen.items()):
            if now - seen > self.max_age:
                self._entries.pop(callid, None)
                del self._entry_seen[callid]
        return len(stale)

    @property
    def finished(self) -> int:
        """Calls finished since the last drain."""
        return len(self._done)

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def oldest_open(self) -> float | None:
        """When the oldest unfinished call began (None if none): older file lines are done with.

        A spy whose session still waits for its spied call counts as unfinished: a restart must
        read it again."""
        starts = [c.first_seen for c in self._calls.values() if c.events]
        starts.extend(since for since, _ in self._pending)
        return min(starts) if starts else None

    # -- supervision -----------------------------------------------------------------------------
    def _spy_event(self, call: _Call, ev: CelEvent, mark: SpyMark) -> None:
        """A spy channel's marked event: at a session's start, find the call it spies on."""
        if call.spied is None:
            call.spied = {}
        if mark.start and ev.uniqueid not in call.spied:
            call.spied[ev.uniqueid] = self._spied_call(mark, ev.time, call.linkedid)

    def _spied_call(self, mark: SpyMark, at: float, own: str) -> str:
        """The open call `mark` names (see SpyMark), '' if none is open; rare: a linear scan."""
        if mark.call:
            return mark.call
        best, best_start = "", float("-inf")
        for linkedid, other in self._calls.items():
            if other.spied is not None and linkedid != own:
                continue  # another supervisor's spy: never the spied call
            hung: set[str] = set()
            starts: dict[str, float] = {}
            for e in other.events:
                if mark.channel:
                    if e.channel == mark.channel or e.uniqueid == mark.channel:
                        return linkedid
                elif e.agent == mark.agent:
                    if e.event in ("HANGUP", "CHAN_END") and e.time <= at:
                        hung.add(e.uniqueid)
                    else:
                        starts.setdefault(e.uniqueid, e.time)
            # The agent's channel live at `at`; the latest started if several (ChanSpy takes one).
            for uid, start in starts.items():
                if uid not in hung and start <= at + 1 and start > best_start:
                    best, best_start = linkedid, start
        return best

    def _close_spied(self, call: _Call, complete: bool) -> None:
        """A finished call with spy channels: their sessions; a call record only for the rest."""
        spied = call.spied or {}
        events = [e for _, e in sorted(enumerate(call.events), key=_time_then_order)]
        sessions: dict[str, list[Any]] = {}
        ends: dict[str, float] = {}
        last = max((e.time for e in events), default=0.0)
        for ev in events:
            uid = ev.uniqueid
            if uid not in spied:
                continue
            mark = ev.supervision
            if mark is not None:
                if mark.start and uid not in sessions:
                    sessions[uid] = [mark, ev.time, []]
                elif not mark.start and uid in sessions:
                    current = sessions[uid][2][-1][1] if sessions[uid][2] else sessions[uid][0].mode
                    if mark.mode != current:
                        sessions[uid][2].append((utc(ev.time), mark.mode))
            elif ev.event == "APP_END" and ev.appname.lower() == "chanspy" and uid in sessions:
                ends.setdefault(uid, ev.time)
            elif ev.event in ("HANGUP", "CHAN_END"):
                ends.setdefault(uid, ev.time)
        others = [e for e in call.events if e.uniqueid not in spied]
        # The spy's own call id, which must never be a call: none when others share it.
        spy_call = "" if others else call.linkedid
        for uid, (mark, start, switches) in sessions.items():
            row = SupervisionRow(
                uid, spied.get(uid, ""), mark.supervisor[:80], mark.agent[:10], mark.mode, utc(start),
                utc(max(ends.get(uid, last), start)), tuple(switches), mark.origin, spy_call, mark.channel[:128],
            )
            self._supervisions.append(row)
            if not row.linkedid:
                self._pending.append((call.first_seen, row))
        if others:
            # Other channels shared the spy's call: theirs is a call as before, the spy a session.
            rest = _Call(call.linkedid, others, call.seen, call.holds, call.last_seen, call.first_seen, False)
            self._done.append(self._finish(rest, complete))

    # -- assembly --------------------------------------------------------------------------------
    def _finish(self, call: _Call, complete: bool) -> FinishedCall:
        # In time order, arrival order within a time (already so when they came in order).
        events = enumerate(call.events) if call.ordered else sorted(enumerate(call.events), key=_time_then_order)
        chans: dict[str, _Chan] = {}
        queue, queue_in, queue_out, recording_path, recording_at = "", None, None, "", None
        transfers, end = 0, 0.0
        direction = Direction()
        # Line quality by channel id, for the few calls whose legs reported it.
        qualities: dict[str, LineQuality] | None = None
        for order, ev in events:
            ch = chans.get(ev.uniqueid)
            if ch is None:
                ch = chans[ev.uniqueid] = _Chan(ev.uniqueid, order)
            if ev.channel and not ch.channel:
                ch.channel = ev.channel
                ch.agent = ev.agent or None
            kind, t = ev.event, ev.time
            if t > end:
                end = t
            if ev.context:
                direction.see(ev)
            if kind == "CHAN_START":
                ch.start, ch.cid_num, ch.cid_name, ch.exten = t, ev.cid_num, ev.cid_name, ev.exten
            elif kind == "ANSWER":
                ch.answer = ch.answer if ch.answer is not None else t
            elif kind == "HANGUP":
                ch.hangup, ch.hangup_order = t, order
                ch.cause = _int(ev.extra.get("hangupcause"))
                ch.hangup_source = str(ev.extra.get("hangupsource") or "")
                ch.dialstatus = str(ev.extra.get("dialstatus") or "")
            elif kind == "CHAN_END":
                ch.end = t
            elif kind == "BRIDGE_ENTER":
                ch.open[str(ev.extra.get("bridge_id", ""))] = t
            elif kind == "BRIDGE_EXIT":
                bridge = str(ev.extra.get("bridge_id", ""))
                if bridge in ch.open:
                    ch.bridges.append((bridge, ch.open.pop(bridge), t))
            elif kind == "APP_START":
                app = ev.appname.lower()
                if app == "queue" and not queue:
                    queue, queue_in = ev.appdata.split(",", 1)[0], t
                elif app == "mixmonitor" and not recording_path:
                    recording_path, recording_at = ev.appdata.split(",", 1)[0], t
            elif kind == "APP_END" and ev.appname.lower() == "queue" and queue_out is None:
                queue_out = t
            elif kind in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
                transfers += 1
            elif ev.quality is not None:
                if qualities is None:
                    qualities = {}
                qualities[ev.uniqueid] = ev.quality
        for ch in chans.values():
            stop = ch.hangup or ch.end or end
            for bridge, since in ch.open.items():
                ch.bridges.append((bridge, since, stop))
            ch.open.clear()
            if ch.start is None:
                ch.start = min([b[1] for b in ch.bridges] + [ch.answer or stop, stop])
        if call.holds:
            _apply_holds(call, chans, end)

        caller = chans.get(call.linkedid) or min(chans.values(), key=_start_then_order)
        entries = self._claim_entries(chans)
        if not queue:
            joined = [e for e in entries if e.event == "ENTERQUEUE"]
            if joined:
                queue, queue_in = joined[0].queue, joined[0].time

        # Talk: the caller and an agent in the same bridge at the same time.
        legs: list[LegRow] = []
        talks: list[tuple[float, float, str]] = []
        # Legs go out (and into the table) in start order: the first leg of an agent seen here
        # is its first ring, the first with talk its first talk (see LegRow).
        rang: set[str] = set()
        talked: set[str] = set()
        quality_rows: list[QualityRow] = []
        linkedid = call.linkedid
        for ch in sorted(chans.values(), key=_start_then_order) if len(chans) > 1 else chans.values():
            agent = ch.agent
            stop = ch.hangup or ch.end
            ring = talk_s = 0.0
            first_ring = first_talk = False
            if ch is caller:
                role, agent = "caller", ""
            else:
                # Talk: this leg and the caller in the same bridge at the same time.
                overlaps = _overlaps(ch.bridges, caller.bridges) if ch.bridges and caller.bridges else None
                if overlaps:
                    talk_s = round(sum([b - a for a, b in overlaps], 0.0), 3)
                if agent is None:
                    role, agent = "other", ""
                else:
                    role = "agent"
                    if overlaps:
                        talks.extend((a, b, agent) for a, b in overlaps)
                    if ch.answer is not None:
                        ring = ch.answer - ch.start
                    if agent not in rang:
                        rang.add(agent)
                        first_ring = True
                    if talk_s > 0 and agent not in talked:
                        talked.add(agent)
                        first_talk = True
                    if qualities is not None and ch.uniqueid in qualities:
                        q = qualities[ch.uniqueid]
                        quality_rows.append(QualityRow(
                            linkedid, ch.uniqueid, agent, utc(stop if stop is not None else end), q.loss_from_pct,
                            q.loss_to_pct, q.jitter_ms, q.rtt_ms, mos(q)))
            answer = ch.answer
            legs.append(LegRow(
                linkedid, ch.uniqueid, ch.channel, role, agent, utc(ch.start),
                utc(answer) if answer is not None else None, utc(stop) if stop is not None else None, round(ring, 3),
                talk_s, round(sum([b - a for a, b in ch.holds], 0.0), 3) if ch.holds else 0.0, ch.cause,
                first_ring, first_talk,
            ))
        talks.sort()
        answered_at = talks[0][0] if talks else None
        first_agent = talks[0][2] if talks else ""
        last_agent = max(talks, key=_first)[2] if talks else ""
        agent_legs = [c for c in chans.values() if c is not caller and c.agent is not None]
        answering = next((c for c in agent_legs if c.agent == first_agent and c.answer is not None), None)
        if answering is not None:
            ring_s = (answering.answer or 0.0) - answering.start
        else:
            ring_s = max(((c.hangup or c.end or end) - c.start for c in agent_legs), default=0.0)
        caller_stop = caller.hangup or caller.end or end
        if queue_in is not None:
            wait_s = (answered_at if answered_at is not None else (queue_out or caller_stop)) - queue_in
        else:
            wait_s = (answered_at if answered_at is not None else caller_stop) - caller.start

        disposition = self._disposition(answered_at, entries, queue_in, caller, agent_legs)
        hangup_side = _hangup_side(caller, agent_legs, answered_at, disposition)
        hold_s = sum([b - a for c in chans.values() for a, b in c.holds], 0.0) if call.holds else 0.0

        row = CallRow(
            linkedid, utc(caller.start), utc(answered_at) if answered_at else None, utc(end), caller.cid_num[:80],
            caller.cid_name[:80], caller.exten[:80], queue[:40], first_agent[:10], last_agent[:10], disposition,
            hangup_side, round(max(wait_s, 0.0), 3), round(max(ring_s, 0.0), 3),
            round(_union(talks), 3) if talks else 0.0, round(hold_s, 3), transfers, recording_path[:255], complete,
            *direction.values(),
        )
        queue_rows, agent_rows = self._queue_rows(row, entries, caller, queue_in, answered_at, end)
        recordings = []
        if recording_path and recording_at is not None:
            recordings.append(RecordingRow(recording_path[:255], call.linkedid, first_agent, utc(recording_at), utc(end)))
        if self._pending:
            self._attach_pending(linkedid, chans)
        return FinishedCall(row, legs, queue_rows, recordings, agent_rows, quality_rows)

    def _attach_pending(self, linkedid: str, chans: dict[str, _Chan]) -> None:
        """Give the waiting sessions this call spied on (by channel, else the agent's leg then)."""
        still: list[tuple[float, SupervisionRow]] = []
        for since, row in self._pending:
            at = row.started_at
            for ch in chans.values():
                if row.channel:
                    hit = row.channel in (ch.channel, ch.uniqueid)
                else:
                    stop = ch.hangup or ch.end
                    hit = (ch.agent == row.agent and ch.start is not None and utc(ch.start - 1) <= at
                           and (stop is None or utc(stop) >= at))
                if hit:
                    self._supervisions.append(replace(row, linkedid=linkedid))
                    break
            else:
                still.append((since, row))
        self._pending = still

    def _claim_entries(self, chans: dict[str, _Chan]) -> list[QueueEntry]:
        claimed: list[QueueEntry] = []
        for uid in chans:
            claimed.extend(self._entries.pop(uid, ()))
            self._entry_seen.pop(uid, None)
        claimed.sort(key=lambda e: e.time)
        return claimed

    @staticmethod
    def _disposition(answered_at: float | None, entries: list[QueueEntry], queue_in: float | None,
                     caller: _Chan, agent_legs: list[_Chan]) -> str:
        if answered_at is not None:
            return "answered"
        for entry in entries:
            if entry.event in _OUTCOMES:
                return _OUTCOMES[entry.event]
        if queue_in is not None:
            # Live AMI has no timeout event (QueueCallerAbandon does exist): without one, a caller
            # who hung up on their own abandoned, anyone else was let out of the queue.
            if caller.hangup_source and caller.hangup_source == caller.channel:
                return "abandoned"
            return "timeout"
        statuses = {c.dialstatus for c in agent_legs} | {caller.dialstatus}
        for status, name in _DIALSTATUS.items():
            if status in statuses:
                return name
        return "no_answer" if agent_legs else "failed"

    def _queue_rows(self, row: CallRow, entries: list[QueueEntry], caller: _Chan, queue_in: float | None,
                    answered_at: float | None, end: float) -> tuple[list[QueueEventRow], list[AgentEventRow]]:
        queue_rows: list[QueueEventRow] = []
        agent_rows: list[AgentEventRow] = []
        keys: set[tuple[str, str, str, Any]] = set()

        def add(callid: str, queue: str, event: str, at: float, agent: str, wait: float | None, talk: float | None) -> None:
            key = (callid, queue, event, int(at))
            if key in keys:
                return
            keys.add(key)
            queue_rows.append(QueueEventRow(row.linkedid, callid, queue, event, utc(int(at)), agent, wait, talk))
            if event in ("COMPLETEAGENT", "COMPLETECALLER") and agent:
                agent_rows.append(AgentEventRow(utc(int(at)), agent, queue, "wrapup", "", row.linkedid))

        stored = [e for e in entries if e.event in _STORED_QUEUE_EVENTS]
        for e in stored:
            wait = talk = None
            if e.event == "CONNECT":
                wait = _float_at(e.data, 0)
            elif e.event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"):
                wait = _float_at(e.data, 2)
            elif e.event in ("COMPLETEAGENT", "COMPLETECALLER"):
                wait, talk = _float_at(e.data, 0), _float_at(e.data, 1)
            add(e.callid, e.queue, e.event, e.time, e.agent, wait, talk)
        if queue_in is not None and row.queue:
            # Fill what neither queue_log nor AMI told us (AMI has no timeout event; a collector
            # started mid-call missed the join) from the channel events.
            have = {r.event for r in queue_rows if r.queue == row.queue}
            callid = next((r.callid for r in queue_rows if r.queue == row.queue), caller.uniqueid)
            if "ENTERQUEUE" not in have:
                add(callid, row.queue, "ENTERQUEUE", queue_in, "", None, None)
            if answered_at is not None:
                if "CONNECT" not in have:
                    add(callid, row.queue, "CONNECT", answered_at, row.agent, row.wait_s, None)
                if not have & {"COMPLETEAGENT", "COMPLETECALLER"}:
                    add(callid, row.queue, "COMPLETECALLER" if row.hangup_side == "caller" else "COMPLETEAGENT",
                        end, row.agent, row.wait_s, row.talk_s)
            elif not have & {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"}:
                outcome = {"abandoned": "ABANDON", "timeout": "EXITWITHTIMEOUT", "no_agents": "EXITEMPTY"}
                add(callid, row.queue, outcome.get(row.disposition, "ABANDON"), queue_in + row.wait_s, "",
                    row.wait_s, None)
        return queue_rows, agent_rows


def _start_then_order(ch: _Chan) -> tuple[float | None, int]:
    return ch.start, ch.first_order


def _first(item: tuple[float, float, str]) -> float:
    return item[0]


def _time_then_order(pair: tuple[int, CelEvent]) -> tuple[float, int]:
    return pair[1].time, pair[0]


def _apply_holds(call: _Call, chans: dict[str, _Chan], end: float) -> None:
    open_at: dict[str, float] = {}
    for ev in sorted(call.holds, key=lambda h: h.time):
        if ev.on:
            open_at.setdefault(ev.uniqueid, ev.time)
        elif ev.uniqueid in open_at and ev.uniqueid in chans:
            chans[ev.uniqueid].holds.append((open_at.pop(ev.uniqueid), ev.time))
    for uid, since in open_at.items():
        if uid in chans:
            ch = chans[uid]
            chans[uid].holds.append((since, ch.hangup or ch.end or end))


def _overlaps(mine: list[tuple[str, float, float]], theirs: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    out = []
    for bridge, a1, b1 in mine:
        for other, a2, b2 in theirs:
            if bridge == other:
                lo, hi = max(a1, a2), min(b1, b2)
                if hi > lo:
                    out.append((lo, hi))
    return out


def _union(intervals: list[tuple[float, float, str]]) -> float:
    total, cur_a, cur_b = 0.0, None, None
    for a, b, _ in sorted(intervals):
        if cur_b is None or a > cur_b:
            if cur_b is not None and cur_a is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_a is not None and cur_b is not None:
        total += cur_b - cur_a
    return total


def _hangup_side(caller: _Chan, agent_legs: list[_Chan], answered_at: float | None, disposition: str) -> str:
    if answered_at is None:
        return "caller" if disposition == "abandoned" else "system"
    source = caller.hangup_source
    if source:
        if source == caller.channel:
            return "caller"
        if any(source == c.channel for c in agent_legs):
            return "agent"
    # No hangupsource: whoever hung up first (arrival order breaks a tie within one second).
    talked = [c for c in agent_legs if c.bridges]
    first = min([caller] + talked, key=lambda c: (c.hangup if c.hangup is not None else float("inf"), c.hangup_order))
    if first.hangup is None:
        return "system"
    return "caller" if first is caller else "agent"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_at(data: tuple[str, ...], index: int) -> float | None:
    try:
        return float(data[index])
    except (IndexError, ValueError):
        return None
