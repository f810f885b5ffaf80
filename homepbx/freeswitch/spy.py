"""Supervision on FreeSWITCH: eavesdrop, from the CLI (originate) and from the dialplan (feature codes).

`start()` finds the agent's answered leg, rings the supervisor's own softphone
(`originate user/<supervisor>@<domain> &eavesdrop(<agent leg uuid>)`) and returns once
FreeSWITCH reports the eavesdrop's media bug on the agent's leg (MEDIA_BUG_START, function
`eavesdrop`): the counterpart of Asterisk's ChanSpyStart.

The eavesdrop variables for each mode are defined here (the dialplan's spy codes,
dialplans/freeswitch/supervisors.j2, set the same values):
  eavesdrop_whisper_bleg: the supervisor is heard by the spied leg itself. We spy on the
      AGENT's leg, so whisper reaches the agent and never the caller;
  eavesdrop_whisper_aleg: the supervisor is heard by the other party (the caller);
  barge = both. eavesdrop_enable_dtmf (in-call switching: 2 whisper, 3 barge, 0 listen, 1 the
  caller only; eavesdrop's digits are fixed in FreeSWITCH's source) only for holders of every
  mode (SpyPlan.mode_switch): with it a listener could barge in.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuids

from ..errors import OperationalError
from ..pbx import SpyPlan, SpyResult
from ..supervision import MARKS
from . import live
from .esl import EslClient, EslCommandError, Event

# Per mode: (eavesdrop_whisper_aleg, eavesdrop_whisper_bleg).
WHISPER: dict[str, tuple[bool, bool]] = {
    "listen": (False, False),
    "whisper": (False, True),
    "barge": (True, True),
}
# The events a spy waits for: the control connection subscribes to them (backend.CONTROL_EVENTS).
EVENTS = ("MEDIA_BUG_START",)
# Seconds between the supervisor answering and the eavesdrop's media bug on the agent's leg.
SPY_START_TIMEOUT = 5.0

# originate's failure causes in plain words (as Asterisk's sentences say them).
_CAUSES = {
    "USER_NOT_REGISTERED": "could not be called (is the softphone registered?)",
    "SUBSCRIBER_ABSENT": "could not be called (is the softphone registered?)",
    "NO_ANSWER": "rang without an answer",
    "NO_USER_RESPONSE": "rang without an answer",
    "ORIGINATOR_CANCEL": "rang without an answer",
    "ALLOTTED_TIMEOUT": "rang without an answer",
    "PROGRESS_TIMEOUT": "rang without an answer",
    "USER_BUSY": "was busy",
    "CALL_REJECTED": "hung up",
    "NORMAL_CLEARING": "hung up",
}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def originate_variables(plan: SpyPlan, supervisor_uuid: str, ring_timeout: float) -> str:
    """The `{...}` channel variables of the supervisor's leg (pure: the unit tests read it)."""
    aleg, bleg = WHISPER[plan.mode]
    variables = {
        "origination_uuid": supervisor_uuid,
        # What the supervisor's softphone shows: the mode and the agent (no spaces: the
        # originate command splits on them).
        "origination_caller_id_name": f"{plan.mode.capitalize()}-{plan.agent}",
        "origination_caller_id_number": plan.agent,
        "originate_timeout": str(max(1, int(ring_timeout))),
        "ignore_early_media": "true",
        "eavesdrop_whisper_aleg": _flag(aleg),
        "eavesdrop_whisper_bleg": _flag(bleg),
        "eavesdrop_enable_dtmf": _flag(plan.mode_switch),
    }
    return "{" + ",".join(f"{k}={v}" for k, v in variables.items()) + "}"


class _Waiter:
    """Collects MEDIA_BUG_START events from the moment it is attached, so none is missed."""

    def __init__(self, client: EslClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        client.add_event_handler("MEDIA_BUG_START", self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def detach(self) -> None:
        self.client.remove_event_handler("MEDIA_BUG_START", self._on_event)

    async def eavesdrop_on(self, target: str, timeout: float) -> Event | None:
        """The eavesdrop media bug on leg `target`, or None after `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for ev in self.events:
                        if ev.get("Unique-ID") == target and ev.get("Media-Bug-Function") == "eavesdrop":
                            return ev
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return None


def _why(output: str) -> str:
    cause = output.strip().removeprefix("-ERR").strip().split()[0:1]
    return _CAUSES.get(cause[0] if cause else "", "did not answer")


async def start(client: EslClient, plan: SpyPlan, domain: str, ring_timeout: float = 30.0,
                start_timeout: float | None = None) -> SpyResult:
    """Ring the supervisor and eavesdrop on the agent's current call; return once it started.

    The client must receive MEDIA_BUG_START events (EVENTS). Raises live.NotOnCall (exit 2) if
    the agent has no answered call, OperationalError (exit 1) if the supervisor's softphone does
    not answer or the eavesdrop does not start (the supervisor's leg is then hung up: nothing is
    left half-done). The result's call_id is the agent's call (live.call_id); its detail names
    both legs.
    """
    began = MARKS["ami_ready"] = time.monotonic()
    snap, agent = await live.agent_call(client, plan.agent)
    MARKS["channel_found"] = time.monotonic()
    supervisor_uuid = str(uuids.uuid4())
    waiter = _Waiter(client)
    try:
        arg = (f"{originate_variables(plan, supervisor_uuid, ring_timeout)}user/{plan.supervisor}@{domain} "
               f"&eavesdrop({agent.uuid})")
        job = await client.start_job("originate", arg)
        MARKS["originate_accepted"] = time.monotonic()
        output = await job.result(timeout=ring_timeout + 5)
        if not output.startswith("+OK"):
            raise OperationalError(f"Supervisor {plan.supervisor}'s softphone {_why(output)}.")
        MARKS["answered"] = time.monotonic()
        started = await waiter.eavesdrop_on(agent.uuid, SPY_START_TIMEOUT if start_timeout is None else start_timeout)
        if started is None:
            # The agent's call probably ended while the supervisor's phone rang: do not leave
            # the supervisor on a silent line.
            raise OperationalError(f"Spying on agent {plan.agent} did not start: the call may have ended.")
        MARKS["spy_started"] = time.monotonic()
        return SpyResult(plan, live.call_id(snap, agent), time.monotonic() - began,
                         detail={"agent_uuid": agent.uuid, "supervisor_uuid": supervisor_uuid})
    except BaseException:
        try:
            await client.api("uuid_kill", supervisor_uuid)  # "-ERR No such channel" if it never rang
        except (EslCommandError, OperationalError):
            pass
        raise
    finally:
        waiter.detach()

