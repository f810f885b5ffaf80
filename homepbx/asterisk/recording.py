"""Call recording on Asterisk: MixMonitor start, stop and PCI mute on the right channel.

Where the recording lives: on the *caller's* channel (the agent's bridge peer), not the agent's.
The caller's channel is the one that stays for the whole call: a transfer moves it to another
agent, whereas the first agent's channel hangs up and would end a recording attached to it.

How a channel says it is being recorded: MixMonitor's `i(HOMEPBX_MIXMON)` option stores the
MixMonitor's id on the channel (the per-queue recording in the dialplan uses the same option).
Asterisk 22 drops the new agent's voice from a MixMonitor on the caller's channel after a blind
transfer: `calls.transfer` moves the recording to the new agent's channel, appending to the same
file (see `calls.hand_recording_over`), and the collector does the same for transfers dialled on
the phones (homepbx.asterisk.transfer_watch), so after a transfer the MixMonitor may be on the
agent's channel: `find_active` looks at both.

MixMonitor's `Command` header is never sent: it runs a shell command as Asterisk.
"""

from __future__ import annotations

from dataclasses import replace

from .. import names
from ..errors import InvalidInput
from ..pbx import ActiveRecording, AgentCall
from .ami import AmiClient
from .calls import (
    RECORDING_ID_VAR,
    RECORDING_MUTED_VAR,
    RECORDING_OPTIONS,
    MixMonitor,
    bridge_peers,
    recording_on,
)
from .live import Channel
from .live import agent_call as agent_channel


async def _call_channels(client: AmiClient, agent: str) -> tuple[Channel, list[Channel]]:
    chan = await agent_channel(client, agent)
    peers = await bridge_peers(client, chan)
    if not peers:
        raise InvalidInput(f"Agent {agent} has no one on the line.", field="agent")
    return chan, peers


async def find_active(client: AmiClient, agent: str) -> tuple[Channel, list[Channel],
                                                             tuple[Channel, MixMonitor] | None]:
    """The agent's channel, its peers, and the recording running on the call with its channel."""
    chan, peers = await _call_channels(client, agent)
    for candidate in (*peers, chan):
        rec = await recording_on(client, candidate.name)
        if rec is not None:
            return chan, peers, (candidate, rec)
    return chan, peers, None


def _caller_of(peers: list[Channel]) -> Channel:
    starters = [p for p in peers if p.uniqueid == p.linkedid]
    return max(starters or peers, key=lambda c: c.seconds)


def _active(found: tuple[Channel, MixMonitor]) -> ActiveRecording:
    channel, rec = found
    return ActiveRecording(rec.path, channel.linkedid, channel.seconds, rec.muted)


async def _recorded(client: AmiClient, agent: str) -> tuple[Channel, MixMonitor]:
    agent = names.extension(agent, "agent")
    _chan, _peers, found = await find_active(client, agent)
    if found is None:
        raise InvalidInput(f"Agent {agent}'s call is not being recorded.", field="agent")
    return found


async def agent_call(client: AmiClient, agent: str) -> AgentCall:
    """The agent's answered call: the caller's linkedid and age, and its recording if one runs."""
    agent = names.extension(agent, "agent")
    _chan, peers, found = await find_active(client, agent)
    caller = _caller_of(peers)
    return AgentCall(agent, caller.linkedid, caller.seconds, _active(found) if found is not None else None)


async def start(client: AmiClient, agent: str, path: str) -> None:
    """Record both parties of agent `agent`'s call into `path`, on the caller's channel."""
    agent = names.extension(agent, "agent")
    _chan, peers, found = await find_active(client, agent)
    if found is not None:
        raise InvalidInput(f"Agent {agent}'s call is already being recorded ({found[1].path}).", field="agent")
    headers = {"Channel": _caller_of(peers).name, "File": path, "Options": RECORDING_OPTIONS}
    (await client.action("MixMonitor", headers)).raise_for_error()


async def stop(client: AmiClient, agent: str) -> ActiveRecording:
    """Stop the recording of agent `agent`'s call, wherever its MixMonitor runs."""
    found = await _recorded(client, agent)
    channel, rec = found
    headers = {"Channel": channel.name, "MixMonitorID": rec.mixmonitor_id}
    (await client.action("StopMixMonitor", headers)).raise_for_error()
    for var in (RECORDING_ID_VAR, RECORDING_MUTED_VAR):
        await client.action("Setvar", {"Channel": channel.name, "Variable": var, "Value": ""})
    return _active(found)


async def mute(client: AmiClient, agent: str, muted: bool) -> ActiveRecording:
    """Silence (both directions) or unsilence the recording of agent `agent`'s call."""
    found = await _recorded(client, agent)
    channel, _rec = found
    headers = {"Channel": channel.name, "Direction": "both", "State": "1" if muted else "0"}
    (await client.action("MixMonitorMute", headers)).raise_for_error()
    # Remembered on the channel: a transfer moving the recording keeps it paused.
    await client.action("Setvar", {"Channel": channel.name, "Variable": RECORDING_MUTED_VAR,
                                   "Value": "1" if muted else ""})
    return replace(_active(found), muted=muted)
