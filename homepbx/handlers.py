"""Async event handlers of a PBX client (AMI, ESL), run one at a time, in arrival order.

A handler that returns an awaitable must not hold up reading the socket, nor run out of order
with the next event's handler, nor take the connection down when it fails: each is queued to
one worker task, guarded, and the queue is drained (within a limit) when the client closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any


class AsyncHandlers:
    """The queue and worker of one client's async handlers (`what` names it in logs: "AMI")."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self.log = log
        self._queue: asyncio.Queue[Awaitable[Any]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def submit(self, awaitable: Awaitable[Any], handler: Callable[..., Any], name: str) -> None:
        """Run `awaitable` (what `handler` returned for event `name`) after those queued before it."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())
        self._queue.put_nowait(self._guard(awaitable, handler, name))

    async def _guard(self, awaitable: Awaitable[Any], handler: Callable[..., Any], name: str) -> None:
        try:
            await awaitable
        except Exception:
            self.log.exception("%s event handler %r failed on %s; carrying on", self.what, handler, name)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            job = await queue.get()
            try:
                await job
            finally:
                queue.task_done()

    async def drain(self, timeout: float) -> None:
        """Let queued handlers finish for up to `timeout` seconds, then cancel the rest."""
        queue, worker = self._queue, self._worker
        if queue is None or worker is None:
            return
        try:
            await asyncio.wait_for(queue.join(), timeout)
        except TimeoutError:
            self.log.warning("%s async event handlers still busy at close; cancelling them", self.what)
        worker.cancel()
        while not queue.empty():
            job = queue.get_nowait()
            job.close()  # type: ignore[attr-defined]
