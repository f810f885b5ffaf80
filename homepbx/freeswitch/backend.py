"""The FreeSWITCH backend as the core sees it: `BACKEND` (config target + Control over ESL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

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
from .esl import EslClient

if TYPE_CHECKING:
    from ..config import Settings
    from ..pbx import ConfigTarget
    from .lab import FreeswitchLab

T = TypeVar("T")


def _not_yet(what: str) -> NoReturn:
    # Live control on FreeSWITCH is issue 15's work: say so plainly rather than half-do it.
    raise OperationalError(f"{what} is not available on FreeSWITCH sites yet: homepbx drives "
                           "FreeSWITCH's configuration and reloads only.")


class FreeswitchControl:
    """`homepbx.pbx.Control` for one FreeSWITCH, over one event socket connection."""

    def __init__(self, client: EslClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

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

    async def live_calls(self, agents: set[str], queues: Mapping[str, str]) -> list[LiveCall]:
        _not_yet("Listing live calls")

    async def agent_call(self, agent: str) -> AgentCall:
        _not_yet("Acting on an agent's call")

    async def transfer(self, agent: str, target: Target, *, attended: bool) -> None:
        _not_yet("Transferring calls")

    async def hangup(self, agent: str) -> int:
        _not_yet("Hanging up calls")

    async def spy(self, plan: SpyPlan, ring_timeout: float) -> SpyResult:
        _not_yet("Supervision from the command line")

    async def start_recording(self, agent: str, path: str) -> None:
        _not_yet("Recording from the command line")

    async def stop_recording(self, agent: str) -> ActiveRecording:
        _not_yet("Recording from the command line")

    async def mute_recording(self, agent: str, muted: bool) -> ActiveRecording:
        _not_yet("Recording from the command line")

    async def queue_status(self, agent: str | None = None) -> QueueSnapshot:
        _not_yet("Agent queue states")

    async def queue_login(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        _not_yet("Agent queue states")

    async def queue_logout(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        _not_yet("Agent queue states")

    async def queue_pause(self, agent: str, paused: bool, reason: str = "") -> AgentStatus:
        _not_yet("Agent queue states")


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

    @asynccontextmanager
    async def control(self, settings: Settings, *, events: bool = False) -> AsyncIterator[FreeswitchControl]:
        # A CLI command's connection: a drop fails the command rather than reconnecting behind it.
        async with EslClient.from_settings(settings.esl, reconnect=False) as client:
            yield FreeswitchControl(client, settings)

    def run(self, settings: Settings, work: Callable[[FreeswitchControl], Awaitable[T]], *,
            events: bool = False) -> T:
        async def main() -> T:
            async with self.control(settings, events=events) as control:
                return await work(control)

        return asyncio.run(main())


BACKEND = FreeswitchBackend()
