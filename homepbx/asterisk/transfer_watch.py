"""Recordings follow the transfers agents make from their phones (`#1` blind, `#2` attended).

`homepbx call transfer` moves a call's recording to the new agent itself (homepbx.asterisk.calls: on
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
from collections.abc import Awaitable, Callable
from typing import Any

from . import calls
from .ami import AmiClient, Message

log = logging.getLogger("homepbx.asterisk.transfer_watch")

# calls.hand_recording_over or calls.follow_attended_transfer: (client, caller, agent, recording, wait).
HandOver = Callable[[AmiClient, str, str, calls.MixMonitor, float], Awaitable[bool]]


class TransferWatch:
    """Hands recordings over after phone transfers, on `client`'s connection."""

    def __init__(self, client: AmiClient, *, blind_wait: float = calls.UNLIMITED_QUEUE_WAIT,
                 attended_wait: float = 30.0) -> None:
        self.client = client
        # How long the caller of a blind transfer may take to be answered (a queue may hold them
        # long, or take them back when the agent does not answer), and an attended transfer to
        # merge, before the watch gives up (the recording then stays where it is).
        self._kinds: dict[str, tuple[str, str, HandOver, float]] = {
            # event (lower case: AMI names match in any case) -> (kind, the transferring agent's
            # channel header, hand-over, wait)
            "blindtransfer": ("blind", "TransfererChannel", calls.hand_recording_over, blind_wait),
            "attendedtransfer": ("attended", "OrigTransfererChannel", calls.follow_attended_transfer,
                                 attended_wait),
        }
        self._tasks: set[asyncio.Task[Any]] = set()
        self.handed_over = 0

    def attach(self) -> TransferWatch:
        for name in self._kinds:
            self.client.add_event_handler(name, self._on_transfer)
        return self

    async def close(self, grace: float = 5.0) -> None:
        """Let hand-overs in progress finish for up to `grace` seconds, then cancel the rest."""
        for name in self._kinds:
            self.client.remove_event_handler(name, self._on_transfer)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()

    def _on_transfer(self, event: Message) -> None:
        kind, agent_header, hand_over, wait = self._kinds[event.name.lower()]
        caller, agent = event.get("TransfereeChannel", ""), event.get(agent_header, "")
        if event.get("Result") == "Success" and caller and agent:
            work = self._hand_over(kind, hand_over, wait, caller, agent)
            task = asyncio.get_running_loop().create_task(self._guard(work))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - one failed hand-over must not stop the watch
            log.warning("recording hand-over failed", extra={"error": str(exc)})

    async def _hand_over(self, kind: str, hand_over: HandOver, wait: float, caller: str, agent: str) -> None:
        if await calls.owned_elsewhere(self.client, caller):
            return
        # On the caller; or on the transferring agent's channel after an earlier hand-over,
        # which is only found while that channel still exists (see the module's notes).
        rec = await calls.recording_on(self.client, caller) or await calls.recording_on(self.client, agent)
        if rec is None:
            return
        moved = await hand_over(self.client, caller, agent, rec, wait)
        self.handed_over += moved
        log.info("recording handed over" if moved else "recording left on the caller",
                 extra={"transfer": kind, "caller": caller, "path": rec.path})
