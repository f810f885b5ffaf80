"""Call recording on FreeSWITCH: uuid_record start, stop and PCI mask on the caller's leg.

Where the recording lives: on the *caller's* leg (the agent's bridge peer), the leg that stays
for the whole call. A media bug belongs to its channel, so when a transfer moves the caller
(uuid_transfer into the dialplan, or att_xfer bridging the caller with the new agent) the
recording goes with it and keeps hearing both sides: proven on FreeSWITCH 1.10.12 by
tests/lab/test_freeswitch_control_lab.py (the new agent's tone is in the file after a blind and
an attended transfer). Nothing is handed over, unlike Asterisk 22 (homepbx.asterisk.calls).

How a leg says it is being recorded: FreeSWITCH's own media bug list (`uuid_buglist`), where a
`session_record` bug's target is the file: the CLI's recordings and mod_callcenter's per-queue
ones (record-template) alike. A paused recording (`uuid_record ... mask`, silence both ways)
carries RECORDING_MUTED_VAR=1 on its leg, since the bug list does not say.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import names
from ..errors import InvalidInput
from ..pbx import ActiveRecording, AgentCall
from . import live
from .esl import EslClient

RECORDING_MUTED_VAR = "homepbx_record_muted"
_RECORD_BUG = re.compile(r"<function>session_record</function>\s*<target>([^<]*)</target>")


async def recording_on(client: EslClient, uuid: str) -> tuple[str, bool] | None:
    """The file a leg is being recorded into and whether it is paused, if it is recorded."""
    found = _RECORD_BUG.findall(await client.api("uuid_buglist", uuid))
    if not found:
        return None
    muted = (await client.api("uuid_getvar", f"{uuid} {RECORDING_MUTED_VAR}")).strip() == "1"
    return found[0], muted


async def find_active(client: EslClient, agent: str) -> tuple[live.Channel, live.Channel,
                                                             tuple[live.Channel, str, bool] | None]:
    """The agent's leg, the caller's leg, and the recording running on the call (leg, file, paused)."""
    snap, chan = await live.agent_call(client, agent)
    caller = live.caller_of(snap, chan)
    for leg in (caller, chan):
        found = await recording_on(client, leg.uuid)
        if found is not None:
            return chan, caller, (leg, *found)
    return chan, caller, None


def _active(chan: live.Channel, caller: live.Channel, found: tuple[live.Channel, str, bool]) -> ActiveRecording:
    _leg, path, muted = found
    return ActiveRecording(path, live.oldest(chan, caller).uuid, caller.seconds(), muted)


async def _recorded(client: EslClient, agent: str) -> tuple[live.Channel, live.Channel, tuple[live.Channel, str, bool]]:
    agent = names.extension(agent, "agent")
    chan, caller, found = await find_active(client, agent)
    if found is None:
        raise InvalidInput(f"Agent {agent}'s call is not being recorded.", field="agent")
    return chan, caller, found


async def agent_call(client: EslClient, agent: str) -> AgentCall:
    """The agent's answered call: its call uuid and age, and its recording if one runs."""
    agent = names.extension(agent, "agent")
    chan, caller, found = await find_active(client, agent)
    return AgentCall(agent, live.oldest(chan, caller).uuid, caller.seconds(), _active(chan, caller, found) if found else None)


async def start(client: EslClient, agent: str, path: str) -> None:
    """Record both parties of agent `agent`'s call into `path`, on the caller's leg."""
    agent = names.extension(agent, "agent")
    _chan, caller, found = await find_active(client, agent)
    if found is not None:
        raise InvalidInput(f"Agent {agent}'s call is already being recorded ({found[1]}).", field="agent")
    await client.api("uuid_record", f"{caller.uuid} start {path}", check=True)


async def stop(client: EslClient, agent: str) -> ActiveRecording:
    """Stop the recording of agent `agent`'s call, on whichever leg it runs."""
    chan, caller, found = await _recorded(client, agent)
    leg, path, _muted = found
    await client.api("uuid_record", f"{leg.uuid} stop {path}", check=True)
    await client.api("uuid_setvar", f"{leg.uuid} {RECORDING_MUTED_VAR}")
    return _active(chan, caller, found)


async def mute(client: EslClient, agent: str, muted: bool) -> ActiveRecording:
    """Silence (both directions: `mask`) or unsilence the recording of agent `agent`'s call."""
    chan, caller, found = await _recorded(client, agent)
    leg, path, _muted = found
    await client.api("uuid_record", f"{leg.uuid} {'mask' if muted else 'unmask'} {path}", check=True)
    await client.api("uuid_setvar", f"{leg.uuid} {RECORDING_MUTED_VAR} {'1' if muted else ''}".rstrip())
    return replace(_active(chan, caller, found), muted=muted)
