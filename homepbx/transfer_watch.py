"""Recordings follow the transfers agents make from their phones (`#1` blind, `#2` attended).

`homepbx call transfer` moves a call's recording to the new agent itself (homepbx.calls: on
Asterisk 22.10 a MixMonitor left on the caller loses the new agent's voice once the caller
changes bridge). A transfer dialled on the softphone never passes through homepbx: only its
AMI event (`BlindTransfer`, `AttendedTransfer`) does, so a resident AMI client (the collector)
watches for them and does the same hand-over.

A transfer made by `homepbx call transfer` also raises these events; that command marks the
caller (`calls.TRANSFER_OWNER_VAR`) before transferring, and the watch leaves marked callers alone,
so one process only ever moves a recording.

Known gap: after a hand-over the recording runs on the new agent's channel. If that agent
transfers the call on from the phone, the event arrives when their channel may already be gone,
and with it the MixMonitor: the recording then ends there. `homepbx call transfer` looks before
transferring and carries it on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from . import calls
from .ami import AmiClient, Message

log = logging.getLogger("homepbx.transfer_watch")


class TransferWatch:
    """Hands recordings over after phone transfers, on `client`'s connection."""

    def __init__(self, client: AmiClient, *, blind_wait: float = calls.UNLIMITED_QUEUE_WAIT,
                 attended_wait: float = 30.0) -> None:
        self.client = client
        # How long the caller of a blind transfer may take to be answered (a queue may hold them
        # long, or take them back when the agent does not answer), and an attended transfer to
        # merge, before the watch gives up (the recording then goes back on the caller, or stays).
        self.blind_wait = blind_wait
        self.attended_wait = attended_wait
        self._tasks: set[asyncio.Task[Any]] = set()
        self.handed_over = 0

    def attach(self) -> TransferWatch:
        self.client.add_event_handler("BlindTransfer", self._on_blind)
        self.client.add_event_handler("AttendedTransfer", self._on_attended)
        return self

    async def close(self, grace: float = 5.0) -> None:
        """Let hand-overs in progress finish for up to `grace` seconds, then cancel the rest."""
        self.client.remove_event_handler("BlindTransfer", self._on_blind)
        self.client.remove_event_handler("AttendedTransfer", self._on_attended)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()

    # -- events ----------------------------------------------------------------------------------
    def _on_blind(self, event: Message) -> None:
        caller, agent = event.get("TransfereeChannel", ""), event.get("TransfererChannel", "")
        if event.get("Result") == "Success" and caller and agent:
            self._spawn(self._blind(caller, agent))

    def _on_attended(self, event: Message) -> None:
        caller, agent = event.get("TransfereeChannel", ""), event.get("OrigTransfererChannel", "")
        if event.get("Result") == "Success" and caller and agent:
            self._spawn(self._attended(caller, agent))

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(work))  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - one failed hand-over must not stop the watch
            log.warning("recording hand-over failed", extra={"error": str(exc)})

    # -- hand-overs ------------------------------------------------------------------------------
    async def _recording(self, caller: str, agent: str) -> calls.Recording | None:
        if await calls.owned_elsewhere(self.client, caller):
            return None
        # On the caller; or on the transferring agent's channel after an earlier hand-over,
        # which is only found while that channel still exists (see the module's notes).
        return await calls.recording_on(self.client, caller) or await calls.recording_on(self.client, agent)

    async def _blind(self, caller: str, agent: str) -> None:
        rec = await self._recording(caller, agent)
        if rec is None:
            return
        moved = await calls.hand_recording_over(self.client, caller, agent, rec, self.blind_wait)
        self._log("blind", moved, caller, rec)

    async def _attended(self, caller: str, agent: str) -> None:
        rec = await self._recording(caller, agent)
        if rec is None:
            return
        moved = await calls.follow_attended_transfer(self.client, caller, agent, rec, self.attended_wait)
        self._log("attended", moved, caller, rec)

    def _log(self, kind: str, moved: bool, caller: str, rec: calls.Recording) -> None:
        self.handed_over += moved
        log.info("recording handed over" if moved else "recording left on the caller",
                 extra={"transfer": kind, "caller": caller, "path": rec.path})
