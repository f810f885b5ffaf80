"""Live channels on FreeSWITCH, for the services that act on an agent's current call.

The truth comes from FreeSWITCH (`show channels as json`, `show calls as json`), never from what
homepbx asked for. Which channel is an agent's, defined here and nowhere else:

- a leg *to* the account (bridge, mod_callcenter, a transfer) carries `presence_id=<ext>@<domain>`
  (the directory's dial-string sets it), while its name holds the softphone's contact user;
- a leg *from* the account is an inbound sofia channel named `sofia/<profile>/<ext>@...` that
  entered the dialplan in an account's context (an outside caller lands in `homepbx-inbound`).

A call's id is the uuid of the leg that started it (the caller's, the oldest leg of the call):
FreeSWITCH's `call_uuid` of every leg until a transfer bridges the caller anew (uuid_bridge, as
att_xfer and mod_callcenter do, rewrites call_uuid to the new a-leg's), whereas the caller's
leg and its uuid stay for the whole call. For the same reason the caller's number is the leg's
`initial_cid_num`: a uuid_bridge also rewrites its caller id.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from .. import names
from ..errors import InvalidInput, OperationalError
from .esl import EslClient

# The context of callers that did not authenticate as an account (dialplans/freeswitch/agents.j2).
INBOUND_CONTEXT = "homepbx-inbound"
# Call states of a leg that is answered (HELD: the other party put it on hold).
ANSWERED = frozenset({"ACTIVE", "HELD"})
# Channel states of a leg that is going away: listed for a moment after its hang-up, no call any more.
ENDING = frozenset({"CS_HANGUP", "CS_REPORTING", "CS_DESTROY"})
_SOFIA_USER = re.compile(r"^sofia/[^/]+/([0-9]{2,10})@")


class NotOnCall(InvalidInput):
    """The agent has no call to act on."""


@dataclass(frozen=True)
class Channel:
    """One live channel as `show channels as json` reports it."""

    uuid: str
    direction: str  # inbound (from a phone) | outbound (to one)
    name: str
    state: str  # CS_EXECUTE, CS_EXCHANGE_MEDIA, CS_HANGUP...
    callstate: str  # DOWN, RINGING, EARLY, ACTIVE, HELD...
    cid_num: str  # as it started (initial_cid_num)
    cid_name: str
    dest: str
    application: str
    context: str
    presence_id: str
    call_uuid: str
    created_epoch: int

    @classmethod
    def from_row(cls, row: dict[str, str]) -> Channel:
        g = lambda key: row.get(key) or ""
        try:
            created = int(g("created_epoch"))
        except ValueError:
            created = 0
        return cls(
            uuid=g("uuid"), direction=g("direction"), name=g("name"), state=g("state"), callstate=g("callstate"),
            cid_num=g("initial_cid_num") or g("cid_num"), cid_name=g("initial_cid_name") or g("cid_name"), dest=g("dest"), application=g("application"),
            context=g("context"), presence_id=g("presence_id"), call_uuid=g("call_uuid") or g("uuid"),
            created_epoch=created,
        )

    @property
    def account(self) -> str:
        """The extension of the homepbx account this leg belongs to, '' if none (see the module doc)."""
        user, _, _host = self.presence_id.partition("@")
        if user.isdigit():
            return user
        if self.direction == "inbound" and self.context != INBOUND_CONTEXT:
            found = _SOFIA_USER.match(self.name)
            if found:
                return found.group(1)
        return ""

    @property
    def answered(self) -> bool:
        return self.callstate in ANSWERED and self.state not in ENDING

    @property
    def age_key(self) -> tuple[int, bool, str]:
        """Sorts the leg that started a call first: the oldest, an inbound one on a tie."""
        return (self.created_epoch, self.direction != "inbound", self.uuid)

    def seconds(self, now: float | None = None) -> int:
        """Age of the channel."""
        if not self.created_epoch:
            return 0
        return max(0, int((time.time() if now is None else now) - self.created_epoch))


@dataclass(frozen=True)
class Snapshot:
    """Every live channel and who is bridged with whom, read together."""

    channels: tuple[Channel, ...]
    # uuid -> the uuid it is bridged with (both directions).
    bridged: dict[str, str]

    def by_uuid(self, uuid: str) -> Channel | None:
        return next((c for c in self.channels if c.uuid == uuid), None)

    def peer(self, channel: Channel) -> Channel | None:
        """The channel bridged with `channel`, if any."""
        other = self.bridged.get(channel.uuid)
        return self.by_uuid(other) if other else None

    def of_account(self, extension: str) -> list[Channel]:
        return [c for c in self.channels if c.account == extension]


def _rows(text: str, what: str) -> list[dict[str, str]]:
    try:
        data = json.loads(text)
    except ValueError:
        raise OperationalError(f"FreeSWITCH answered `{what}` with something that is not JSON.") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    return [r for r in rows or [] if isinstance(r, dict)]


async def snapshot(client: EslClient) -> Snapshot:
    """Every live channel and the bridges between them."""
    chans = tuple(Channel.from_row(r) for r in _rows(await client.api("show", "channels as json", check=True),
                                                     "show channels"))
    bridged: dict[str, str] = {}
    for row in _rows(await client.api("show", "calls as json", check=True), "show calls"):
        a, b = row.get("uuid") or "", row.get("b_uuid") or ""
        if a and b:
            bridged[a] = b
            bridged[b] = a
    return Snapshot(chans, bridged)


def agent_channel(snap: Snapshot, extension: str) -> Channel:
    """The agent's leg in an answered call; NotOnCall if there is none."""
    ext = names.extension(extension, "agent")
    up = [c for c in snap.of_account(ext) if c.answered]
    if not up:
        raise NotOnCall(f"Agent {ext} is not on a call.", field="agent")
    # Several legs (a consultation during an attended transfer): the oldest is the call.
    return min(up, key=lambda c: c.age_key)


async def agent_call(client: EslClient, extension: str) -> tuple[Snapshot, Channel]:
    """The live channels and the agent's answered leg (NotOnCall if none).

    `show channels` reads FreeSWITCH's core database, which its SQL thread updates a moment
    after the fact: a leg hung up a second ago can still be listed. The leg found is checked
    against the live sessions (`uuid_exists`) before anything acts on it.
    """
    snap = await snapshot(client)
    while True:
        chan = agent_channel(snap, extension)
        if (await client.api("uuid_exists", chan.uuid)).strip() == "true":
            return snap, chan
        snap = Snapshot(tuple(c for c in snap.channels if c.uuid != chan.uuid),
                        {a: b for a, b in snap.bridged.items() if chan.uuid not in (a, b)})


def caller_of(snap: Snapshot, agent: Channel) -> Channel:
    """The party on the line with the agent's leg; InvalidInput if nobody is."""
    peer = snap.peer(agent)
    if peer is None:
        raise InvalidInput(f"Agent {agent.account} has no one on the line.", field="agent")
    return peer


def oldest(*legs: Channel) -> Channel:
    """The leg that started the call among `legs` (see the module doc)."""
    return min(legs, key=lambda c: c.age_key)


def call_id(snap: Snapshot, agent: Channel) -> str:
    """The id of the agent's call: the uuid of its oldest leg (see the module doc)."""
    peer = snap.peer(agent)
    return oldest(agent, peer).uuid if peer is not None else agent.uuid
