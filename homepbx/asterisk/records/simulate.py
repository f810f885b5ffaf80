"""Scripted calls -> what Asterisk 22 would emit for them, in all three forms at once.

Each scripted call produces the live AMI events (CEL with cel.conf [manager], queue and hold
events, `Timestamp` headers as with timestampevents=yes), the lines cel_custom writes to
homepbx-cel.csv, and the lines of queue_log. Tests use it to check that live, file and mixed
ingestion give the same rows; bench/records.py uses it to make a large recorded stream.
The event order follows what Asterisk does for a queue call; the lab tests check the real thing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(values)
    return buf.getvalue()


@dataclass
class Chan:
    name: str
    uniqueid: str
    linkedid: str
    cid_num: str = ""
    cid_name: str = ""
    exten: str = ""


@dataclass
class Stream:
    """What a scripted PBX emitted; times are UTC epoch seconds. AMI EventTime is written in UTC."""

    ami: list[dict[str, str]] = field(default_factory=list)
    cel_lines: list[str] = field(default_factory=list)
    queue_log: list[str] = field(default_factory=list)

    def sorted(self) -> Stream:
        """Events in time order, as Asterisk writes them when calls overlap."""
        return Stream(
            sorted(self.ami, key=lambda e: float(e["Timestamp"])),
            sorted(self.cel_lines, key=lambda line: float(line.split(",", 1)[0].strip('"'))),
            sorted(self.queue_log, key=lambda line: int(line.split("|", 1)[0])),
        )


class Pbx:
    """A pretend Asterisk: each method plays one kind of call starting at time `t`."""

    def __init__(self, start_uid: float = 1_700_000_000.0) -> None:
        self._uid_base = int(start_uid)
        self._seq = 0
        self._chan_seq = 0
        self._bridge_seq = 0
        self.out = Stream()

    # -- primitives ------------------------------------------------------------------------------
    def channel(self, endpoint: str, linkedid: str | None = None, cid_num: str = "", exten: str = "") -> Chan:
        self._seq += 1
        self._chan_seq += 1
        uid = f"{self._uid_base}.{self._seq}"
        return Chan(f"PJSIP/{endpoint}-{self._chan_seq:08x}", uid, linkedid or uid, cid_num, "", exten)

    def bridge(self) -> str:
        self._bridge_seq += 1
        return f"b{self._bridge_seq:06d}-0000-0000-0000-000000000000"

    def cel(self, t: float, event: str, ch: Chan, app: str = "", appdata: str = "", peer: str = "",
            extra: dict[str, Any] | None = None) -> None:
        extra_json = json.dumps(extra) if extra else ""
        local = datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        self.out.ami.append({
            "Event": "CEL", "Timestamp": f"{t:.6f}", "EventName": event, "AccountCode": "",
            "CallerIDnum": ch.cid_num, "CallerIDname": ch.cid_name, "CallerIDani": ch.cid_num,
            "CallerIDrdnis": "", "CallerIDdnid": "", "Exten": ch.exten, "Context": "homepbx-inbound",
            "Channel": ch.name, "Application": app, "AppData": appdata, "EventTime": local,
            "AMAFlags": "DOCUMENTATION", "UniqueID": ch.uniqueid, "LinkedID": ch.linkedid, "Userfield": "",
            "Peer": peer, "PeerAccount": "", "Extra": extra_json,
        })
        self.out.cel_lines.append(_csv_line([
            f"{t:.6f}", event, ch.linkedid, ch.uniqueid, ch.name, "homepbx-inbound", ch.exten, app, appdata,
            peer, "", extra_json, "", ch.cid_num, ch.cid_name,
        ]))

    def ami(self, t: float, name: str, **fields: str) -> None:
        self.out.ami.append({"Event": name, "Timestamp": f"{t:.6f}", **fields})

    def qlog(self, t: float, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        self.out.queue_log.append("|".join([str(int(t)), callid, queue, agent, event, *map(str, data)]) + "\n")

    def member(self, t: float, agent: str, queue: str, event: str, reason: str = "") -> None:
        """Agent state: login | logout | pause | unpause."""
        iface = f"PJSIP/{agent}"
        if event in ("login", "logout"):
            self.ami(t, "QueueMemberAdded" if event == "login" else "QueueMemberRemoved",
                     Queue=queue, MemberName=agent, Interface=iface)
            self.qlog(t, "NONE", queue, iface, "ADDMEMBER" if event == "login" else "REMOVEMEMBER", "")
        else:
            paused = event == "pause"
            self.ami(t, "QueueMemberPause", Queue=queue, MemberName=agent, Interface=iface,
                     Paused="1" if paused else "0", PausedReason=reason if paused else "")
            self.qlog(t, "NONE", queue, iface, "PAUSE" if paused else "UNPAUSE", reason if paused else "")

    # -- calls -----------------------------------------------------------------------------------
    def _enter(self, t: float, caller_num: str, queue: str, queue_exten: str = "500") -> Chan:
        c = self.channel("trunk", cid_num=caller_num, exten=queue_exten)
        self.cel(t, "CHAN_START", c)
        self.cel(t, "ANSWER", c)
        self.cel(t, "APP_START", c, "Queue", f"{queue},t,,,300")
        self.ami(t, "QueueCallerJoin", Queue=queue, Position="1", Count="1", Uniqueid=c.uniqueid,
                 Linkedid=c.linkedid, CallerIDNum=caller_num, Channel=c.name)
        self.qlog(t, c.uniqueid, queue, "NONE", "ENTERQUEUE", "", caller_num, 1)
        return c

    def _ring(self, t: float, agent: str, caller: Chan) -> Chan:
        a = self.channel(agent, linkedid=caller.linkedid, cid_num=caller.cid_num, exten=agent)
        self.cel(t, "CHAN_START", a)
        return a

    def _end(self, t: float, ch: Chan, source: str, cause: int = 16, dialstatus: str = "") -> None:
        self.cel(t, "HANGUP", ch, extra={"hangupcause": cause, "hangupsource": source, "dialstatus": dialstatus})
        self.cel(t, "CHAN_END", ch)

    def answered(self, t: float, queue: str, caller_num: str, agent: str, *, wait: float, ring: float,
                 talk: float, hangup_by: str = "caller", also_rang: tuple[str, ...] = (),
                 hold: tuple[float, float] | None = None, record: str = "") -> str:
        """A queue call answered by `agent` after `wait` s (the last `ring` s ringing)."""
        c = self._enter(t, caller_num, queue)
        if record:
            self.cel(t, "APP_START", c, "MixMonitor", f"{record},b")
        t_ring, t_ans = t + wait - ring, t + wait
        a = self._ring(t_ring, agent, c)
        others = [self._ring(t_ring, o, c) for o in also_rang]
        self.cel(t_ans, "ANSWER", a)
        for o in others:
            self._end(t_ans, o, "", cause=26, dialstatus="")
        self.ami(t_ans, "AgentConnect", Queue=queue, MemberName=agent, Interface=f"PJSIP/{agent}",
                 HoldTime=str(int(wait)), RingTime=str(int(ring)), Uniqueid=c.uniqueid, Linkedid=c.linkedid,
                 Channel=c.name, DestChannel=a.name, DestUniqueid=a.uniqueid)
        self.qlog(t_ans, c.uniqueid, queue, f"PJSIP/{agent}", "CONNECT", int(wait), a.uniqueid, int(ring))
        b = self.bridge()
        self.cel(t_ans, "BRIDGE_ENTER", c, peer=a.name, extra={"bridge_id": b, "bridge_technology": "simple_bridge"})
        self.cel(t_ans, "BRIDGE_ENTER", a, peer=c.name, extra={"bridge_id": b, "bridge_technology": "simple_bridge"})
        if hold:
            self.ami(t_ans + hold[0], "Hold", Channel=a.name, Uniqueid=a.uniqueid, Linkedid=c.linkedid)
            self.ami(t_ans + hold[0] + hold[1], "Unhold", Channel=a.name, Uniqueid=a.uniqueid, Linkedid=c.linkedid)
        t_end = t_ans + talk
        first, second = (c, a) if hangup_by == "caller" else (a, c)
        for ch in (first, second):
            self.cel(t_end, "BRIDGE_EXIT", ch, extra={"bridge_id": b, "bridge_technology": "simple_bridge"})
        reason = "caller" if hangup_by == "caller" else "agent"
        self.ami(t_end, "AgentComplete", Queue=queue, MemberName=agent, Interface=f"PJSIP/{agent}",
                 HoldTime=str(int(wait)), TalkTime=str(int(talk)), Reason=reason, Uniqueid=c.uniqueid,
                 Linkedid=c.linkedid, DestChannel=a.name)
        self.qlog(t_end, c.uniqueid, queue, f"PJSIP/{agent}", "COMPLETECALLER" if reason == "caller" else "COMPLETEAGENT",
                  int(wait), int(talk), 1)
        self.cel(t_end, "APP_END", c, "Queue", f"{queue},t,,,300")
        self._end(t_end, first, first.name)
        self._end(t_end, second, first.name)
        self.cel(t_end, "LINKEDID_END", c)
        return c.linkedid

    def abandoned(self, t: float, queue: str, caller_num: str, *, wait: float, rang: tuple[str, ...] = ()) -> str:
        """The caller hangs up after `wait` s in the queue."""
        c = self._enter(t, caller_num, queue)
        rings = [self._ring(t + 1, agent, c) for agent in rang]
        t_end = t + wait
        for r in rings:
            self._end(t_end, r, "", cause=26)
        self.ami(t_end, "QueueCallerAbandon", Queue=queue, Position="1", OriginalPosition="1",
                 HoldTime=str(int(wait)), Uniqueid=c.uniqueid, Linkedid=c.linkedid)
        self.qlog(t_end, c.uniqueid, queue, "NONE", "ABANDON", 1, 1, int(wait))
        self.ami(t_end, "QueueCallerLeave", Queue=queue, Position="1", Count="0", Uniqueid=c.uniqueid, Linkedid=c.linkedid)
        self.cel(t_end, "APP_END", c, "Queue", f"{queue},t,,,300")
        self._end(t_end, c, c.name)
        self.cel(t_end, "LINKEDID_END", c)
        return c.linkedid

    def timed_out(self, t: float, queue: str, caller_num: str, *, wait: float) -> str:
        """Nobody answers within the queue's maximum wait; the dialplan hangs up."""
        c = self._enter(t, caller_num, queue)
        t_end = t + wait
        self.ami(t_end, "QueueCallerLeave", Queue=queue, Position="1", Count="0", Uniqueid=c.uniqueid, Linkedid=c.linkedid)
        self.qlog(t_end, c.uniqueid, queue, "NONE", "EXITWITHTIMEOUT", 1, 1, int(wait))
        self.cel(t_end, "APP_END", c, "Queue", f"{queue},t,,,300")
        self._end(t_end, c, "dialplan/builtin")
        self.cel(t_end, "LINKEDID_END", c)
        return c.linkedid

    def transferred(self, t: float, queue: str, caller_num: str, agent: str, target: str, *, wait: float,
                    talk1: float, ring2: float, talk2: float) -> str:
        """`agent` answers, then blind-transfers the caller to `target`, who answers after `ring2` s."""
        c = self._enter(t, caller_num, queue)
        t_ans = t + wait
        a = self._ring(t_ans - 1, agent, c)
        self.cel(t_ans, "ANSWER", a)
        self.ami(t_ans, "AgentConnect", Queue=queue, MemberName=agent, Interface=f"PJSIP/{agent}", HoldTime=str(int(wait)),
                 RingTime="1", Uniqueid=c.uniqueid, Linkedid=c.linkedid, Channel=c.name, DestChannel=a.name,
                 DestUniqueid=a.uniqueid)
        self.qlog(t_ans, c.uniqueid, queue, f"PJSIP/{agent}", "CONNECT", int(wait), a.uniqueid, 1)
        b1 = self.bridge()
        for ch, peer in ((c, a), (a, c)):
            self.cel(t_ans, "BRIDGE_ENTER", ch, peer=peer.name, extra={"bridge_id": b1})
        t_x = t_ans + talk1
        self.cel(t_x, "BLINDTRANSFER", a, extra={"extension": target, "context": "homepbx-agents", "bridge_id": b1})
        self.cel(t_x, "BRIDGE_EXIT", a, extra={"bridge_id": b1})
        self.cel(t_x, "BRIDGE_EXIT", c, extra={"bridge_id": b1})
        self.ami(t_x, "AgentComplete", Queue=queue, MemberName=agent, Interface=f"PJSIP/{agent}", HoldTime=str(int(wait)),
                 TalkTime=str(int(talk1)), Reason="transfer", Uniqueid=c.uniqueid, Linkedid=c.linkedid)
        self.qlog(t_x, c.uniqueid, queue, f"PJSIP/{agent}", "COMPLETEAGENT", int(wait), int(talk1), 1)
        self._end(t_x, a, a.name)
        self.cel(t_x, "APP_END", c, "Queue", f"{queue},t,,,300")
        d = self._ring(t_x, target, c)
        t_ans2 = t_x + ring2
        self.cel(t_ans2, "ANSWER", d)
        b2 = self.bridge()
        for ch, peer in ((c, d), (d, c)):
            self.cel(t_ans2, "BRIDGE_ENTER", ch, peer=peer.name, extra={"bridge_id": b2})
        t_end = t_ans2 + talk2
        for ch in (d, c):
            self.cel(t_end, "BRIDGE_EXIT", ch, extra={"bridge_id": b2})
        self._end(t_end, d, d.name)
        self._end(t_end, c, d.name)
        self.cel(t_end, "LINKEDID_END", c)
        return c.linkedid
