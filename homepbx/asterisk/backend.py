"""The Asterisk backend as the core sees it: `BACKEND` (config target + Control over AMI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

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
    TrunkStatus,
)
from . import calls, queues, recording, spy
from .ami import AmiClient

# The spy command's 0.5 s budget (its Python start included) leaves no room for SQLAlchemy:
# what needs it (rendering, the collector, the lab's site) is imported when used.

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ..config import Settings
    from ..pbx import ConfigTarget, LiveEvent
    from .lab import LabPBX



class AsteriskControl:
    """`homepbx.pbx.Control` for one Asterisk, over one AMI connection."""

    def __init__(self, client: AmiClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def reload(self, changed: Sequence[str], texts: Mapping[str, tuple[str | None, str]]) -> list[str]:
        # Asterisk re-reads whole files: the names are enough.
        from .config_target import reload

        return await reload(self.client, changed)

    async def live_calls(self, agents: set[str], queues_by_ext: Mapping[str, str]) -> list[LiveCall]:
        return await calls.live_calls(self.client, agents, dict(queues_by_ext))

    async def agent_call(self, agent: str) -> AgentCall:
        return await recording.agent_call(self.client, agent)

    async def transfer(self, agent: str, target: Target, *, attended: bool) -> None:
        await calls.transfer(self.client, agent, target, attended=attended,
                             follow=calls.follower(self.settings))

    async def hangup(self, agent: str) -> int:
        return len(await calls.hangup(self.client, agent))

    async def spy(self, plan: SpyPlan, ring_timeout: float) -> SpyResult:
        return await spy.start(self.client, plan, ring_timeout=ring_timeout)

    async def start_recording(self, agent: str, path: str) -> None:
        await recording.start(self.client, agent, path)

    async def stop_recording(self, agent: str) -> ActiveRecording:
        return await recording.stop(self.client, agent)

    async def mute_recording(self, agent: str, muted: bool) -> ActiveRecording:
        return await recording.mute(self.client, agent, muted)

    async def queue_status(self, agent: str | None = None) -> QueueSnapshot:
        return await queues.snapshot(self.client, agent)

    async def queue_login(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        return await queues.login(self.client, agent, targets)

    async def queue_logout(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        return await queues.logout(self.client, agent, targets)

    async def queue_pause(self, agent: str, paused: bool, reason: str = "") -> AgentStatus:
        return await queues.set_paused(self.client, agent, paused, reason)

    async def trunk_status(self) -> list[TrunkStatus]:
        from .trunks import status

        return await status(self.client)


class AsteriskBackend:
    name = "asterisk"
    title = "Asterisk"

    @property
    def config(self) -> ConfigTarget:
        from .config_target import CONFIG

        return CONFIG

    def lab(self, settings: Settings) -> LabPBX:
        from .lab import LabPBX

        return LabPBX(settings)

    def collect(self, settings: Settings) -> CollectTotals:
        from .records.collector import run_forever

        totals = run_forever(settings)
        return CollectTotals(calls=totals.calls, agent_events=totals.agent_events)

    @asynccontextmanager
    async def control(self, settings: Settings, *, events: bool = False) -> AsyncIterator[AsteriskControl]:
        async with AmiClient.from_settings(settings.ami, events=events, timeout=settings.ami.timeout) as client:
            yield AsteriskControl(client, settings)

    def watch(self, settings: Settings, wrapup: Mapping[str, int] | None = None
              ) -> AbstractAsyncContextManager[AsyncIterator[LiveEvent]]:
        from .watch import watch

        return watch(settings, wrapup)


BACKEND = AsteriskBackend()
