"""Supervision on Asterisk: ChanSpy, from the CLI (Originate) and from the dialplan (feature codes).

`start()` finds the agent's live channel, rings the supervisor's own softphone
(`Originate PJSIP/<supervisor>`) with ChanSpy on that exact channel, and returns once Asterisk
reports `ChanSpyStart`. The ChanSpy letters for both ways in are defined here and nowhere else:
the dialplan templates get DIALPLAN_OPTIONS and MODE_SWITCH_OPTION through the render context.
"""

from __future__ import annotations

import asyncio
import time

from ..errors import OperationalError
from ..pbx import SPY_MODES, SpyPlan, SpyResult
from ..supervision import MARKS
from . import live
from .ami import AmiClient, Message

# ChanSpy options (Asterisk 22 `core show application ChanSpy`):
#   q  no beep/announcement: the agent and the caller are not told;
#   E  end the spy when the spied-on channel hangs up;
#   w  whisper: the supervisor talks to the spied-on channel only. We spy on the AGENT's
#      channel, so whisper reaches the agent and never the caller;
#   B  barge: the supervisor talks to both parties.
_MODE_LETTERS: dict[str, str] = {"listen": "", "whisper": "w", "barge": "B"}
# For the dialplan's feature codes. No `u`: it makes the argument an exact channel name, and
# there we only know the "PJSIP/<ext>-" prefix.
DIALPLAN_OPTIONS: dict[str, str] = {m: "qE" + _MODE_LETTERS[m] for m in SPY_MODES}
# For `start()`. `u`: the argument is a full channel name, not a prefix: we spy on that one
# call, never on another channel whose name happens to start the same way.
CHANSPY_OPTIONS: dict[str, str] = {m: "qEu" + _MODE_LETTERS[m] for m in SPY_MODES}
# `d`: DTMF 4/5/6 switches between listen, whisper and barge during the spy (ChanSpy's digits
# are fixed: homepbx.features.CODES.mode_switch must say the same). Given only to supervisors
# allowed all three modes (SpyPlan.mode_switch; the dialplan's `-switch` contexts): with it, a
# listen-only supervisor could press 6 and barge in, so the mode permission would mean nothing.
MODE_SWITCH_OPTION = "d"

# Seconds between the supervisor answering and ChanSpy reporting that it started.
SPY_START_TIMEOUT = 5.0

# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values) in plain words.
_ORIGINATE_REASONS = {
    "0": "could not be called (is the softphone registered?)",
    "1": "hung up",
    "3": "rang without an answer",
    "5": "was busy",
    "8": "could not be reached",
}


def chanspy_options(plan: SpyPlan) -> str:
    """ChanSpy options for the plan's mode, with in-call mode switching if the plan allows it."""
    return CHANSPY_OPTIONS[plan.mode] + (MODE_SWITCH_OPTION if plan.mode_switch else "")


class _Waiter:
    """Collects the events of interest from the moment it is attached, so none is missed."""

    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.events: list[Message] = []
        self._changed = asyncio.Event()
        for name in ("OriginateResponse", "ChanSpyStart"):
            client.add_event_handler(name, self._on_event)

    def _on_event(self, event: Message) -> None:
        self.events.append(event)
        self._changed.set()

    def detach(self) -> None:
        for name in ("OriginateResponse", "ChanSpyStart"):
            self.client.remove_event_handler(name, self._on_event)

    async def first(self, name: str, match: dict[str, str], timeout: float) -> Message | None:
        """The first event `name` whose headers equal `match`, or None after `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for ev in self.events:
                        if ev.name.lower() == name.lower() and all(ev.get(k) == v for k, v in match.items()):
                            return ev
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return None


async def start(
    client: AmiClient, plan: SpyPlan, ring_timeout: float = 30.0, start_timeout: float | None = None
) -> SpyResult:
    """Ring the supervisor and spy on the agent's current call; return once ChanSpyStart is seen.

    The client must receive `call` events. Raises live.NotOnCall (exit 2) if the agent has no
    answered call, OperationalError (exit 1) if the supervisor's softphone does not answer or
    the spy does not start (the supervisor's leg is then hung up: nothing is left half-done).
    The result's call_id is the agent's call (its linkedid); its detail names both channels.
    """
    began = MARKS["ami_ready"] = time.monotonic()
    channel = await live.agent_call(client, plan.agent)
    MARKS["channel_found"] = time.monotonic()
    waiter = _Waiter(client)
    try:
        response = await client.action(
            "Originate",
            {
                "Channel": f"PJSIP/{plan.supervisor}",
                "Application": "ChanSpy",
                "Data": f"{channel.name},{chanspy_options(plan)}",
                "CallerID": f'"{plan.mode.capitalize()} {plan.agent}" <{plan.agent}>',
                "Timeout": str(int(ring_timeout * 1000)),
                "Async": "true",
            },
        )
        MARKS["originate_accepted"] = time.monotonic()
        response.raise_for_error()
        action_id = response.get("ActionID") or ""
        origin = await waiter.first("OriginateResponse", {"ActionID": action_id}, ring_timeout + 5)
        if origin is None:
            raise OperationalError(f"Asterisk did not say whether supervisor {plan.supervisor}'s softphone answered.")
        if (origin.get("Response") or "") != "Success":
            why = _ORIGINATE_REASONS.get(origin.get("Reason") or "", "did not answer")
            raise OperationalError(f"Supervisor {plan.supervisor}'s softphone {why}.")
        MARKS["answered"] = time.monotonic()
        sup_channel = origin.get("Channel") or ""
        started = await waiter.first(
            "ChanSpyStart", {"SpyeeChannel": channel.name},
            SPY_START_TIMEOUT if start_timeout is None else start_timeout,
        )
        if started is None:
            # The agent's call probably ended while the supervisor's phone rang: do not leave
            # the supervisor on a silent ChanSpy waiting for a channel that is gone.
            if sup_channel:
                await client.action("Hangup", {"Channel": sup_channel})
            raise OperationalError(f"Spying on agent {plan.agent} did not start: the call may have ended.")
        MARKS["spy_started"] = time.monotonic()
        return SpyResult(
            plan,
            channel.linkedid,
            time.monotonic() - began,
            detail={"agent_channel": channel.name, "supervisor_channel": started.get("SpyerChannel") or sup_channel},
        )
    finally:
        waiter.detach()
