"""Live channels on Asterisk, for the services that act on an agent's current call.

The truth comes from Asterisk (`CoreShowChannels`), never from what homepbx asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import names
from .ami import AmiClient, Message
from ..errors import InvalidInput


@dataclass(frozen=True)
class Channel:
    """One live channel as CoreShowChannels reports it."""

    name: str  # e.g. PJSIP/1001-0000002a
    uniqueid: str
    linkedid: str
    state: str  # Up, Ring, Ringing...
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str
    context: str
    exten: str
    application: str
    bridge_id: str
    duration: str

    @property
    def endpoint(self) -> str:
        """The PJSIP endpoint (extension) of the channel, '' for non-PJSIP channels."""
        if not self.name.startswith("PJSIP/"):
            return ""
        return self.name[len("PJSIP/"):].rsplit("-", 1)[0]

    @property
    def seconds(self) -> int:
        """Age of the channel (CoreShowChannels gives HH:MM:SS)."""
        try:
            h, m, sec = (int(x) for x in self.duration.split(":"))
        except ValueError:
            return 0
        return h * 3600 + m * 60 + sec

    @classmethod
    def from_event(cls, ev: Message) -> Channel:
        g = lambda key: ev.get(key, "") or ""  # noqa: E731
        return cls(
            name=g("Channel"), uniqueid=g("Uniqueid"), linkedid=g("Linkedid"),
            state=g("ChannelStateDesc"), caller_num=g("CallerIDNum"), caller_name=g("CallerIDName"),
            connected_num=g("ConnectedLineNum"), connected_name=g("ConnectedLineName"),
            context=g("Context"), exten=g("Exten"), application=g("Application"),
            bridge_id=g("BridgeId"), duration=g("Duration"),
        )


class NotOnCall(InvalidInput):
    """The agent has no call to act on."""


async def channels(client: AmiClient) -> list[Channel]:
    """Every live channel."""
    response = (await client.action("CoreShowChannels")).raise_for_error()
    return [Channel.from_event(ev) for ev in response.events]


async def agent_channels(client: AmiClient, extension: str) -> list[Channel]:
    """The live channels of an agent's endpoint (usually 0 or 1)."""
    ext = names.extension(extension)
    return [c for c in await channels(client) if c.endpoint == ext]


async def agent_call(client: AmiClient, extension: str) -> Channel:
    """The agent's channel in an answered call; NotOnCall if there is none."""
    ext = names.extension(extension)
    up = [c for c in await agent_channels(client, ext) if c.state == "Up"]
    if not up:
        raise NotOnCall(f"Agent {ext} is not on a call.", field="agent")
    # Several channels (a consultation call during an attended transfer): the oldest is the call.
    return max(up, key=lambda c: c.seconds)
