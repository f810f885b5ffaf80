"""Live calls and call control over ESL: list, blind and attended transfer, hang-up.

What a call is comes from FreeSWITCH (homepbx.freeswitch.live): legs are grouped into calls by
call uuid, by bridge, by agent (an agent's consultation leg during an attended transfer
belongs to the call it came from) and by loopback pair.

Blind transfer moves the *caller's* leg (the agent's bridge peer): `uuid_transfer` into the
target extension in the agents' context, whose dialplan rings the agent (and sends a queue
caller back to their queue when nobody answers: dialplans/freeswitch/agents.j2) or queues the
caller. The agent's leg, left alone, is hung up by FreeSWITCH.

Attended transfer runs `att_xfer` on the *agent's* leg (uuid_broadcast, the caller held): the
agent talks to the target; hanging up completes it (the caller is bridged with the target);
a target that does not answer within ATTENDED_RING seconds, or hangs up, hands the caller back
to the agent. A recording on the caller's leg follows by itself (homepbx.freeswitch.recording).
"""

from __future__ import annotations

from .. import names
from ..errors import InvalidInput
from ..pbx import LiveCall, Target
from . import live
from .esl import EslClient, EslCommandError

# The transferee (the caller) runs the target extension in this context: it holds every
# enabled account and the queues, whatever context the caller came in through.
TRANSFER_CONTEXT = "homepbx-agents"
# How long an attended transfer rings the target agent (Asterisk: atxfernoanswertimeout).
ATTENDED_RING = 15
# Hang-up cause 16: nobody's phone reports an error.
NORMAL_CLEARING = "NORMAL_CLEARING"


def group_calls(snap: live.Snapshot, agent_exts: set[str], queue_by_ext: dict[str, str],
                now: float | None = None) -> list[LiveCall]:
    """Group live legs into calls (pure: the unit tests feed it `show channels` rows)."""
    parent = {c.uuid: c.uuid for c in snap.channels}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_by: dict[str, str] = {}
    for c in snap.channels:
        agent_key = f"e:{c.account}" if c.account in agent_exts else ""
        bridge = snap.bridged.get(c.uuid, "")
        bridge_key = f"b:{min(c.uuid, bridge)}" if bridge else ""
        for key in (f"c:{c.call_uuid}", bridge_key, agent_key):
            if not key:
                continue
            if key in first_by:
                parent[find(c.uuid)] = find(first_by[key])
            else:
                first_by[key] = c.uuid
    # A loopback channel's two halves (an attended transfer to a queue dials through one) share
    # no uuid: pair `loopback/<x>-a` with the `loopback/<x>-b` created closest to it.
    halves = [c for c in snap.channels if c.name.startswith("loopback/")]
    for a in (c for c in halves if c.name.endswith("-a")):
        twins = [b for b in halves if b.name == a.name[:-1] + "b"]
        if twins:
            b = min(twins, key=lambda b: abs(b.created_epoch - a.created_epoch))
            parent[find(b.uuid)] = find(a.uuid)
    groups: dict[str, list[live.Channel]] = {}
    for c in snap.channels:
        groups.setdefault(find(c.uuid), []).append(c)

    calls = []
    for members in groups.values():
        # The caller: the leg that started the call (homepbx.freeswitch.live).
        caller = live.oldest(*members)
        agents = sorted({c.account for c in members if c is not caller and c.account in agent_exts})
        queue = queue_by_ext.get(caller.dest, "")
        # Bridged, and so is an agent of the call (directly with the caller, or behind a loopback).
        with_agent = caller.uuid in snap.bridged and any(
            c.account in agent_exts and c.uuid in snap.bridged and c.answered for c in members if c is not caller)
        if with_agent:
            state = "talking"
        elif caller.application == "callcenter" and queue:
            state = "waiting"
        else:
            state = "ringing" if any(not c.answered for c in members) else "connected"
        calls.append(LiveCall(
            call_id=caller.uuid, caller=caller.cid_num or caller.account, caller_name=caller.cid_name,
            agents=tuple(agents), queue=queue, state=state, seconds=caller.seconds(now),
        ))
    return sorted(calls, key=lambda c: (-c.seconds, c.call_id))


async def live_calls(client: EslClient, agent_exts: set[str], queue_by_ext: dict[str, str]) -> list[LiveCall]:
    """Every call in progress on FreeSWITCH."""
    return group_calls(await live.snapshot(client), agent_exts, queue_by_ext)


async def hangup(client: EslClient, agent: str) -> list[str]:
    """End agent `agent`'s call: hang up the agent's leg and the leg bridged with it."""
    snap, chan = await live.agent_call(client, agent)
    peer = snap.peer(chan)
    victims = [chan.uuid] + ([peer.uuid] if peer is not None else [])
    for uuid in victims:
        try:
            await client.api("uuid_kill", f"{uuid} {NORMAL_CLEARING}", check=True)
        except EslCommandError as exc:
            if "No such channel" not in str(exc):
                raise
    return victims


async def _check_target_free(client: EslClient, snap: live.Snapshot, target: Target, domain: str) -> None:
    # Refuse up front rather than send the caller to a softphone that cannot ring.
    if not target.agent:
        return
    contact = (await client.api("sofia_contact", f"{target.agent}@{domain}")).strip()
    if not contact or contact.startswith("error/"):
        raise InvalidInput(f"Agent {target.agent} cannot take the call: their softphone is not registered.",
                           field="target")
    if snap.of_account(target.agent):
        raise InvalidInput(f"Agent {target.agent} cannot take the call: they are busy (in use).", field="target")


def consultation_dialstring(target: Target, domain: str) -> str:
    """What att_xfer dials: the agent's softphone, or the queue through the dialplan.

    loopback_bowout=false: with the default bow-out, the loopback replaces itself by a direct
    bridge while att_xfer bridges its half with the caller, and the caller was left alone
    (seen on 1.10.12); kept, the two halves stay between the caller and the queue's agent.
    """
    if target.agent:
        return f"{{leg_timeout={ATTENDED_RING}}}user/{target.agent}@{domain}"
    return f"{{loopback_bowout=false}}loopback/{target.exten}/{TRANSFER_CONTEXT}"


async def transfer(client: EslClient, agent: str, target: Target, domain: str, *, attended: bool = False) -> None:
    """Transfer agent `agent`'s caller to `target` (blind: the caller leaves at once)."""
    agent = names.extension(agent, "agent")
    if target.agent == agent:
        raise InvalidInput(f"Agent {agent} cannot transfer a call to themselves.", field="target")
    snap, chan = await live.agent_call(client, agent)
    caller = snap.peer(chan)
    if caller is None:
        raise InvalidInput(f"Agent {agent} has no one on the line to transfer.", field="agent")
    await _check_target_free(client, snap, target, domain)
    exten = names.extension(target.exten, "target")
    if attended:
        # aleg: att_xfer runs on the agent's leg; holdb: the caller is held meanwhile.
        await client.api("uuid_broadcast",
                         f"{chan.uuid} att_xfer::{consultation_dialstring(target, domain)} aleg,holdb", check=True)
    else:
        await client.api("uuid_transfer", f"{caller.uuid} {exten} XML {TRANSFER_CONTEXT}", check=True)
