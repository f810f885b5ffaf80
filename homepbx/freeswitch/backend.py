"""The FreeSWITCH backend as the core sees it: `BACKEND` (config target + Control over ESL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn

from ..errors import OperationalError
from ..pbx import (
    ActiveRecording,
    AgentCall,
    AgentStatus,
    CollectTotals,
    LiveCall,
    QueueSnapshot,
    QueueTarget,
    SpyPlan,
    SpyResult,
    Target,
)
from ..sip_options import domain as sip_domain
from . import calls, queues, recording, spy
from .esl import EslClient

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ..config import Settings
    from ..pbx import ConfigTarget, LiveEvent
    from .lab import FreeswitchLab



def _not_yet(what: str) -> NoReturn:
    # Said plainly rather than half-done.
    raise OperationalError(f"{what} is not available on FreeSWITCH sites yet.")


# What a Control opened with `events=True` listens to: the spy's start.
CONTROL_EVENTS = spy.EVENTS


class FreeswitchControl:
    """`homepbx.pbx.Control` for one FreeSWITCH, over one event socket connection.

    Thin delegations to homepbx/freeswitch/{live,calls,recording,spy,queues}.py; accounts and
    queues are named `<ext>@<sip.domain>` on FreeSWITCH (homepbx.freeswitch.render).
    """

    def __init__(self, client: EslClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @property
    def domain(self) -> str:
        return sip_domain(self.settings)

    async def reload(self, changed: Sequence[str], texts: Mapping[str, tuple[str | None, str]]) -> list[str]:
        from .config_target import reload_commands

        before = {name: old for name, (old, _new) in texts.items()}
        after = {name: new for name, (_old, new) in texts.items()}
        sent = []
        for command in reload_commands(changed, before, after):
            name, _, arg = command.partition(" ")
            await self.client.api(name, arg, check=True)
            sent.append(command)
        return sent

    async def live_calls(self, agents: set[str], queues_by_ext: Mapping[str, str]) -> list[LiveCall]:
        return await calls.live_calls(self.client, agents, dict(queues_by_ext))

    async def agent_call(self, agent: str) -> AgentCall:
        return await recording.agent_call(self.client, agent)

    async def transfer(self, agent: str, target: Target, *, attended: bool) -> None:
        await calls.transfer(self.client, agent, target, self.domain, attended=attended)

    async def hangup(self, agent: str) -> int:
        return len(await calls.hangup(self.client, agent))

    async def spy(self, plan: SpyPlan, ring_timeout: float) -> SpyResult:
        return await spy.start(self.client, plan, self.domain, ring_timeout=ring_timeout)

    async def start_recording(self, agent: str, path: str) -> None:
        await recording.start(self.client, agent, path)

    async def stop_recording(self, agent: str) -> ActiveRecording:
        return await recording.stop(self.client, agent)

    async def mute_recording(self, agent: str, muted: bool) -> ActiveRecording:
        return await recording.mute(self.client, agent, muted)

    async def queue_status(self, agent: str | None = None) -> QueueSnapshot:
        return await queues.snapshot(self.client, self.domain, agent)

    async def queue_login(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        return await queues.login(self.client, self.domain, agent, targets)

    async def queue_logout(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        return await queues.logout(self.client, self.domain, agent, targets)

    async def queue_pause(self, agent: str, paused: bool, reason: str = "") -> AgentStatus:
        return await queues.set_paused(self.client, self.domain, agent, paused, reason)

    async def trunk_status(self) -> list[object]:
        # Trunks are rendered for Asterisk only so far (issue 11).
        _not_yet("Trunk status")


class FreeswitchBackend:
    name = "freeswitch"
    title = "FreeSWITCH"

    @property
    def config(self) -> ConfigTarget:
        from .config_target import CONFIG

        return CONFIG

    def lab(self, settings: Settings) -> FreeswitchLab:
        from .lab import FreeswitchLab

        return FreeswitchLab(settings)

    def collect(self, settings: Settings) -> CollectTotals:
        from .records.collector import run_forever

        totals = run_forever(settings)
        return CollectTotals(calls=totals.calls, agent_events=totals.agent_events)

    def watch(self, settings: Settings, wrapup: Mapping[str, int] | None = None
              ) -> AbstractAsyncContextManager[AsyncIterator[LiveEvent]]:
        _not_yet("The live wallboard")

    @asynccontextmanager
    async def control(self, settings: Settings, *, events: bool = False) -> AsyncIterator[FreeswitchControl]:
        # A CLI command's connection: a drop fails the command rather than reconnecting behind it.
        async with EslClient.from_settings(settings.esl, reconnect=False,
                                           events=CONTROL_EVENTS if events else ()) as client:
            yield FreeswitchControl(client, settings)


BACKEND = FreeswitchBackend()
