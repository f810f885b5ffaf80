"""The one live state every viewer shares: the PBX feed in, server-sent events out.

One `Hub` per server consumes the backend's single feed (`Backend.watch`) and keeps the
current state of every agent and queue. Each connected page is a `Subscriber` that sees only
its supervisor's agents and queues: a change is turned into JSON once and handed to the
subscribers that may see it. A subscriber too slow to keep up is sent a fresh snapshot
instead of a backlog, so one stalled browser costs the others nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from ..errors import HomepbxError
from ..pbx import AgentLive, LiveEvent, QueueLive
from .scope import View

log = logging.getLogger(__name__)

# Messages a subscriber may have waiting before it is resynchronised with a snapshot.
BACKLOG = 500
Feed = Callable[[], AbstractAsyncContextManager[AsyncIterator[LiveEvent]]]


def sse(data: Mapping[str, Any] | str, event: str = "message") -> str:
    """One server-sent event (JSON text holds no newline, so one data line)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {text}\n\n"


def agent_json(live: AgentLive) -> dict[str, Any]:
    return {"agent": live.agent, "state": live.state, "since": live.since, "queue": live.queue,
            "reason": live.reason, "queues": list(live.queues), "call": live.call_id}


def queue_json(live: QueueLive) -> dict[str, Any]:
    return {"queue": live.queue, "waiting": len(live.waiting_since),
            "oldest": live.waiting_since[0] if live.waiting_since else None}


@dataclass(eq=False)
class Subscriber:
    """One connected page: what it may see, and what it has yet to be sent."""

    view: View
    token: str  # the session it belongs to (signing out ends it)
    agents: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    pending: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    stale: bool = False  # missed messages: the next one it reads is a snapshot

    def __post_init__(self) -> None:
        self.agents = self.view.extensions
        self.queues = frozenset(self.view.queues)

    def offer(self, message: str) -> None:
        if self.stale:
            return
        try:
            self.pending.put_nowait(message)
        except asyncio.QueueFull:
            self.stale = True

    def close(self) -> None:
        self.stale = False
        while True:
            try:
                self.pending.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.pending.get_nowait()


class Hub:
    """The shared live state and its subscribers."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.agents: dict[str, AgentLive] = {}
        self.queues: dict[str, QueueLive] = {}
        self.figures: dict[str, dict[str, Any]] = {}
        self.up = False
        self.status = "Connecting to the PBX..."
        self.subscribers: set[Subscriber] = set()
        self.events = 0  # events applied (the bench reads it)

    # -- the feed --------------------------------------------------------------------------------
    def apply(self, event: LiveEvent) -> None:
        """Take one event of the feed into the state and tell the subscribers who may see it."""
        self.events += 1
        if event.kind == "snapshot":
            self.agents = {a.agent: a for a in event.agents}
            self.queues = {q.queue: q for q in event.queues}
            self.up, self.status = True, ""
            for sub in list(self.subscribers):
                sub.offer(self.snapshot(sub))
        elif event.kind == "agent":
            for live in event.agents:
                self.agents[live.agent] = live
                message = sse({"type": "agent", "change": event.change, "agent": agent_json(live)})
                for sub in self.subscribers:
                    if live.agent in sub.agents:
                        sub.offer(message)
        elif event.kind == "queue":
            for live in event.queues:
                self.queues[live.queue] = live
                message = sse({"type": "queue", "change": event.change, "queue": queue_json(live)})
                for sub in self.subscribers:
                    if live.queue in sub.queues:
                        sub.offer(message)
        elif event.kind == "down":
            self.up, self.status = False, event.change or "The PBX cannot be reached."
            message = sse({"type": "status", "up": False, "text": self.status})
            for sub in self.subscribers:
                sub.offer(message)

    def set_figures(self, figures: Mapping[str, dict[str, Any]]) -> None:
        """Today's per-queue figures (from the records), sent to those who see each queue."""
        self.figures = dict(figures)
        for sub in self.subscribers:
            mine = {q: f for q, f in self.figures.items() if q in sub.queues}
            sub.offer(sse({"type": "figures", "figures": mine}))

    async def run(self, feed: Feed) -> None:
        """Consume the feed until cancelled (the feed itself reconnects)."""
        while True:
            try:
                async with feed() as events:
                    async for event in events:
                        self.apply(event)
            except asyncio.CancelledError:
                raise
            except HomepbxError as exc:  # e.g. no live feed on this backend yet: said, not a crash
                log.warning("%s", exc)
                self.apply(LiveEvent("down", self.clock(), str(exc)))
                await asyncio.sleep(30.0)
            except Exception as exc:  # noqa: BLE001 - the wallboard must outlive a feed bug
                log.exception("The live feed failed; starting it again")
                self.apply(LiveEvent("down", self.clock(), f"The live feed failed: {exc}"))
                await asyncio.sleep(2.0)

    # -- subscribers -----------------------------------------------------------------------------
    def subscribe(self, view: View, token: str) -> Subscriber:
        sub = Subscriber(view, token)
        self.subscribers.add(sub)
        sub.offer(self.snapshot(sub))
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def close_session(self, token: str) -> None:
        """End the streams of a session that signed out."""
        for sub in list(self.subscribers):
            if sub.token == token:
                sub.close()

    async def next(self, sub: Subscriber, timeout: float) -> str | None:
        """The subscriber's next message; '' on timeout; None once it is closed."""
        if sub.stale:
            sub.stale = False
            while not sub.pending.empty():
                if sub.pending.get_nowait() is None:
                    return None
            return self.snapshot(sub)
        try:
            return await asyncio.wait_for(sub.pending.get(), timeout)
        except TimeoutError:
            return ""

    def snapshot(self, sub: Subscriber) -> str:
        """Everything the subscriber may see, names included (later messages carry states only)."""
        agents = []
        for a in sub.view.agents:
            live = self.agents.get(a.extension) or AgentLive(a.extension, "logged out", 0.0)
            agents.append({**agent_json(live), "name": a.name, "team": a.team})
        queues = []
        for name in sub.view.queues:
            queues.append({**queue_json(self.queues.get(name) or QueueLive(name)), **self.figures.get(name, {})})
        return sse({"type": "snapshot", "up": self.up, "text": self.status, "now": self.clock(),
                    "agents": agents, "queues": queues})
