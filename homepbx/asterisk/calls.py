"""Live calls and call control over AMI: list, blind and attended transfer, hang-up.

What a call is comes from Asterisk (`CoreShowChannels`), never from what homepbx asked for.
Channels are grouped into calls by linkedid and by bridge (a consultation call during an
attended transfer has its own linkedid but shares the transferring agent).

Transfers act on the *agent's* channel: AMI `BlindTransfer` and `Atxfer` take the transferer
and move its peer (the caller), which is what "transfer the call" means. Passing the caller's
channel would transfer the agent to the target instead.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import names
from ..errors import InvalidInput
from ..pbx import LiveCall, Target
from .ami import AmiClient
from .live import Channel, agent_call, channels

if TYPE_CHECKING:
    from ..config import Settings

# The transferee (the caller) runs the target extension in this context: it holds every
# enabled agent and includes the queues, whatever context the caller came in through.
TRANSFER_CONTEXT = "homepbx-agents"

# Set by MixMonitor's i() option on a recorded channel (homepbx.asterisk.recording, dialplans/asterisk/queues.j2).
RECORDING_ID_VAR = "HOMEPBX_MIXMON"
# "1" on the recorded channel while the recording is paused (MixMonitorMute), so a recording
# moved to another channel by a transfer stays paused.
RECORDING_MUTED_VAR = "HOMEPBX_MIXMON_MUTED"
# Set on the caller while a `homepbx call transfer` moves its recording: the epoch second until
# which that command owns the hand-over, so the collector's watch on transfers made from the
# phones (homepbx.asterisk.transfer_watch) leaves this one alone. Cleared when the hand-over ends.
TRANSFER_OWNER_VAR = "HOMEPBX_XFER_OWNER"
# b: only while bridged; i(): the MixMonitor's id in RECORDING_ID_VAR; a: append to the file.
RECORDING_OPTIONS = f"bi({RECORDING_ID_VAR})"
RECORDING_APPEND_OPTIONS = f"abi({RECORDING_ID_VAR})"

# Device states in which an agent can take a transferred call.
_FREE_STATES = {"NOT_INUSE"}


def group_calls(chans: list[Channel], agent_exts: set[str], queue_by_ext: dict[str, str]) -> list[LiveCall]:
    """Group live channels into calls (pure: the unit tests feed it CoreShowChannels rows)."""
    parent = {c.uniqueid: c.uniqueid for c in chans}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    first_by: dict[str, str] = {}
    for c in chans:
        # An agent's two channels (call + consultation during an attended transfer) are one call.
        agent_key = f"e:{c.endpoint}" if c.endpoint in agent_exts else ""
        for key in (f"l:{c.linkedid}", f"b:{c.bridge_id}" if c.bridge_id else "", agent_key):
            if not key:
                continue
            if key in first_by:
                union(c.uniqueid, first_by[key])
            else:
                first_by[key] = c.uniqueid
    groups: dict[str, list[Channel]] = {}
    for c in chans:
        groups.setdefault(find(c.uniqueid), []).append(c)

    calls = []
    for members in groups.values():
        # The caller: the channel that started the call (uniqueid == linkedid), else the oldest.
        starters = [c for c in members if c.uniqueid == c.linkedid]
        caller = max(starters or members, key=lambda c: c.seconds)
        agents = sorted({c.endpoint for c in members if c is not caller and c.endpoint in agent_exts})
        bridged_with_agent = bool(caller.bridge_id) and any(
            c.bridge_id == caller.bridge_id and c.endpoint in agent_exts for c in members if c is not caller
        )
        queue = queue_by_ext.get(caller.exten, "") if caller.application.lower() == "queue" else ""
        if bridged_with_agent:
            state = "talking"
        elif queue:
            state = "waiting"
        else:
            state = "ringing" if caller.state != "Up" or any(c.state != "Up" for c in members) else "connected"
        calls.append(LiveCall(
            call_id=caller.linkedid, caller=caller.caller_num, caller_name=caller.caller_name,
            agents=tuple(agents), queue=queue, state=state, seconds=caller.seconds,
        ))
    return sorted(calls, key=lambda c: (-c.seconds, c.call_id))


async def live_calls(client: AmiClient, agent_exts: set[str], queue_by_ext: dict[str, str]) -> list[LiveCall]:
    """Every call in progress on the PBX."""
    return group_calls(await channels(client), agent_exts, queue_by_ext)


async def bridge_peers(client: AmiClient, channel: Channel) -> list[Channel]:
    """The other channels in `channel`'s bridge (the caller, for an agent's channel)."""
    if not channel.bridge_id:
        return []
    return [c for c in await channels(client) if c.bridge_id == channel.bridge_id and c.name != channel.name]


async def _check_target_free(client: AmiClient, target: Target) -> None:
    # Refuse up front rather than send the caller to a softphone that cannot ring: a blind
    # transfer to an unreachable agent would otherwise end in a hang-up.
    if not target.agent:
        return
    response = (await client.action("DeviceStateList")).raise_for_error()
    device = f"PJSIP/{target.agent}"
    state = next((ev.get("State", "") for ev in response.events if ev.get("Device") == device), "UNKNOWN")
    if state in _FREE_STATES:
        return
    if state in ("UNAVAILABLE", "UNKNOWN", "INVALID"):
        raise InvalidInput(f"Agent {target.agent} cannot take the call: their softphone is not registered.",
                           field="target")
    raise InvalidInput(f"Agent {target.agent} cannot take the call: they are busy ({state.lower()}).",
                       field="target")


# Called, instead of waiting, when the hand-over of a recording may take long: an attended
# transfer (until the agent hangs up) or a blind one to a queue (until an agent answers), so the
# command returns at once (`follower` hands the wait to a detached process). Arguments: "blind"
# or "attended", the caller's channel, the transferring agent's channel, the recording, the wait.
Follow = Callable[[str, str, str, "MixMonitor", float], None]


def follower(settings: Settings) -> Follow:
    """A `Follow` that hands the wait to a detached `python -m homepbx.asterisk.follow`.

    The follower reads the same settings file (`settings.source`; none: its defaults and
    environment, as this process did).
    """
    source = settings.source

    def spawn(kind: str, caller: str, old: str, rec: MixMonitor, wait: float) -> None:
        args = [sys.executable, "-m", "homepbx.asterisk.follow"]
        if source is not None:
            args += ["--config", str(source)]
        args += [caller, old, rec.mixmonitor_id, rec.path, "--wait", f"{wait:.0f}"]
        if kind == "blind":
            args.append("--blind")
        if rec.muted:
            args.append("--muted")
        if rec.channel and rec.channel != caller:
            args += ["--source", rec.channel]
        # Its own session: the follower outlives this command (and a closing terminal), and ends
        # by itself when the transfer completes, is abandoned, the caller hangs up, or `wait` passes.
        subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)

    return spawn


# The longest a hand-over waits for a queue with no waiting limit to put the caller with an agent.
UNLIMITED_QUEUE_WAIT = 3600.0


def handover_wait(target: Target, agent_wait: float) -> float:
    """How long a blind transfer's hand-over may wait: an agent rings for `agent_wait` at most,
    a queue holds its caller for its `max_wait` (plus a minute for the last ring)."""
    if target.agent:
        return agent_wait
    return target.max_wait + 60.0 if target.max_wait else UNLIMITED_QUEUE_WAIT


async def transfer(client: AmiClient, agent: str, target: Target, *, attended: bool = False,
                   wait: float = 35.0, attended_wait: float = 120.0, follow: Follow | None = None) -> None:
    """Transfer agent `agent`'s call to `target` (acting on the agent's channel).

    Blind: the caller leaves at once and rings the target (or waits in the target queue).
    Attended: the caller is held while the agent talks to the target; hanging up completes it,
    and a target that does not answer hands the caller back to the agent. A recorded call's
    recording is moved to the new agent (see `hand_recording_over`): here, within `wait`
    seconds for an agent target (its Dial rings 30 s), else by `follow` if given.
    """
    agent = names.extension(agent, "agent")
    if target.agent == agent:
        raise InvalidInput(f"Agent {agent} cannot transfer a call to themselves.", field="target")
    chan = await agent_call(client, agent)
    if not await bridge_peers(client, chan):
        raise InvalidInput(f"Agent {agent} has no one on the line to transfer.", field="agent")
    await _check_target_free(client, target)
    caller = max(await bridge_peers(client, chan), key=lambda c: c.seconds)
    # On the caller; or on the agent's channel, where an earlier transfer's hand-over put it.
    recording = await recording_on(client, caller.name) or await recording_on(client, chan.name)
    hand_wait = attended_wait if attended else handover_wait(target, wait)
    if recording is not None:
        # Before the transfer: its AMI event may reach the collector before our response.
        await set_owner(client, caller.name, f"{time.time() + hand_wait + 10.0:.0f}")
    headers = {"Channel": chan.name, "Exten": target.exten, "Context": TRANSFER_CONTEXT}
    try:
        (await client.action("Atxfer" if attended else "BlindTransfer", headers)).raise_for_error()
    except BaseException:
        if recording is not None:
            await set_owner(client, caller.name, "")
        raise
    if recording is None:
        return
    if follow is not None and (attended or not target.agent):
        # It clears the mark when done.
        follow("attended" if attended else "blind", caller.name, chan.name, recording, hand_wait)
        return
    try:
        if attended:
            await follow_attended_transfer(client, caller.name, chan.name, recording, hand_wait)
        else:
            await hand_recording_over(client, caller.name, chan.name, recording, hand_wait)
    finally:
        await set_owner(client, caller.name, "")


async def set_owner(client: AmiClient, caller: str, until: str) -> None:
    """Mark (or, with '', unmark) the caller's recording as being handed over by this process."""
    await client.action("Setvar", {"Channel": caller, "Variable": TRANSFER_OWNER_VAR, "Value": until})


async def owned_elsewhere(client: AmiClient, caller: str) -> bool:
    """True while another process (a `homepbx call transfer`) hands the caller's recording over."""
    until = await getvar(client, caller, TRANSFER_OWNER_VAR)
    try:
        return float(until) > time.time()
    except ValueError:
        return False


@dataclass(frozen=True)
class MixMonitor:
    """A homepbx recording's MixMonitor, as found on a channel's variables."""

    mixmonitor_id: str
    path: str
    muted: bool
    # The channel its MixMonitor runs on: the caller's, or after an earlier hand-over the
    # agent's ('' = the caller's).
    channel: str = ""


async def getvar(client: AmiClient, channel: str, variable: str) -> str:
    """A channel variable's value; '' if unset or the channel is gone."""
    response = await client.action("Getvar", {"Channel": channel, "Variable": variable})
    return (response.get("Value") or "") if response.success else ""


async def recording_on(client: AmiClient, channel: str) -> MixMonitor | None:
    """The homepbx recording running on `channel` (its MixMonitor id, file, pause), if any."""
    mixmonitor_id = await getvar(client, channel, RECORDING_ID_VAR)
    if not mixmonitor_id:
        return None
    path = await getvar(client, channel, "MIXMONITOR_FILENAME")
    muted = await getvar(client, channel, RECORDING_MUTED_VAR) == "1"
    return MixMonitor(mixmonitor_id, path, muted, channel) if path else None


async def hand_recording_over(client: AmiClient, caller: str, old: str, rec: MixMonitor,
                              wait: float) -> bool:
    """After a blind transfer of a recorded call, carry the recording over to the new agent's channel.

    Seen on Asterisk 22.10 (also asterisk/asterisk#507): once a blind transfer has moved the
    caller into a new bridge, a MixMonitor on the caller's channel often stops receiving the
    audio *written* to that channel (the new agent's voice) although the caller still hears it:
    its audiohook's write factory stays empty ("Failed to get 160 samples from write factory"
    at debug level) while the read side (the caller's own voice) keeps coming. Any later
    audiohook on the caller has the same blind spot, so the recording moves instead: once the
    new agent is bridged with the caller, the caller's MixMonitor is stopped and a new one on
    the new agent's channel appends (`a`) to the same file, with the same `i()` variable so
    `homepbx record pause|stop` find it, muted again if the recording was paused.

    Until then the caller's recording is left running (with `b` it writes nothing while the
    caller waits alone), so a hand-over that never happens (nobody answers within `wait`
    seconds, or this process is stopped meanwhile) leaves the recording where it was rather
    than stopped. Returns True once the recording runs on the new agent's channel.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = _backoff()
    while loop.time() <= deadline:
        now = [c for c in await channels(client) if c.name == caller]
        if not now:
            return False  # the caller hung up: the file is complete
        peers = [c for c in await bridge_peers(client, now[0]) if c.name != old] if now[0].bridge_id else []
        if peers and all(p.state == "Up" for p in peers):
            return await _move_recording(client, caller, peers[0].name, rec)
        await asyncio.sleep(next(pause))
    return False


async def _move_recording(client: AmiClient, caller: str, target: str, rec: MixMonitor) -> bool:
    """Stop the recording's MixMonitor and start one on `target`, appending to the same file.

    A recording on the transferring agent's channel has already ended with that channel: the
    stop then finds no channel, which is fine.
    """
    source = rec.channel or caller
    await client.action("StopMixMonitor", {"Channel": source, "MixMonitorID": rec.mixmonitor_id})
    for var in (RECORDING_ID_VAR, RECORDING_MUTED_VAR):
        await client.action("Setvar", {"Channel": source, "Variable": var, "Value": ""})
    return await _start_recording(client, target, rec)


async def follow_attended_transfer(client: AmiClient, caller: str, old: str, rec: MixMonitor,
                                   wait: float) -> bool:
    """Hand a recording over once an attended transfer has put the caller with the new agent.

    The same Asterisk 22.10 blind spot as after a blind transfer (see `hand_recording_over`)
    hits the caller's MixMonitor when the consultation is merged into the caller's bridge. Until
    then the caller's recording stays as it is; if the caller ends up back with the first agent,
    or nothing happens within `wait` seconds, nothing is touched. Returns True once the
    recording runs on the new agent's channel.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = _backoff()
    left_first_agent = False
    while loop.time() < deadline:
        now = [c for c in await channels(client) if c.name == caller]
        if not now:
            return False  # the caller hung up: the file is complete
        peers = await bridge_peers(client, now[0]) if now[0].bridge_id else []
        others = [p for p in peers if p.name != old]
        if others and all(p.state == "Up" for p in others):
            # The consultation ran through a Local channel (Atxfer dials with one): the new
            # agent's own channel is the one bridged with its other half.
            target = await _through_local(client, others[0])
            if target is None:
                await asyncio.sleep(next(pause))
                continue
            return await _move_recording(client, caller, target, rec)
        if any(p.name == old for p in peers):
            if left_first_agent:
                return False  # the transfer was abandoned: back with the first agent
        else:
            left_first_agent = True
        await asyncio.sleep(next(pause))
    return False


def _backoff(first: float = 0.2, longest: float = 1.0) -> Iterator[float]:
    """Pauses between polls of the live channels: quick at first (an agent answering), then at
    most once a second (a caller waiting minutes in a queue costs little)."""
    pause = first
    while True:
        yield pause
        pause = min(pause * 1.5, longest)


async def _through_local(client: AmiClient, peer: Channel) -> str | None:
    """The real channel behind `peer`: itself, or what a Local channel's other half is bridged with."""
    if not peer.name.startswith("Local/"):
        return peer.name
    base, _, half = peer.name.rpartition(";")
    other = f"{base};{'2' if half == '1' else '1'}"
    live = await channels(client)
    twin = next((c for c in live if c.name == other), None)
    if twin is None or not twin.bridge_id:
        return None
    real = [c for c in live if c.bridge_id == twin.bridge_id and c.name != other and c.state == "Up"]
    return real[0].name if real else None


async def _start_recording(client: AmiClient, channel: str, rec: MixMonitor) -> bool:
    headers = {"Channel": channel, "File": rec.path, "Options": RECORDING_APPEND_OPTIONS}
    (await client.action("MixMonitor", headers)).raise_for_error()
    if rec.muted:
        await client.action("MixMonitorMute", {"Channel": channel, "Direction": "both", "State": "1"})
        await client.action("Setvar", {"Channel": channel, "Variable": RECORDING_MUTED_VAR, "Value": "1"})
    return True


async def hangup(client: AmiClient, agent: str) -> list[str]:
    """End agent `agent`'s call: hang up the agent's channel and everyone bridged with it."""
    chan = await agent_call(client, agent)
    victims = [chan.name] + [c.name for c in await bridge_peers(client, chan)]
    for name in victims:
        # Cause 16: normal clearing, so nobody's phone reports an error.
        response = await client.action("Hangup", {"Channel": name, "Cause": "16"})
        if not response.success and "No such channel" not in response.text:
            response.raise_for_error()
    return victims
