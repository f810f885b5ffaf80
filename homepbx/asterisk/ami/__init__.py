"""Asterisk Manager Interface client: sans-IO framing (``frames``) under an asyncio shell (``client``).

Typical use from a service::

    async with AmiClient.from_settings(settings.ami) as ami:
        ami.add_event_handler("Hangup", on_hangup)
        channels = (await ami.action("CoreShowChannels")).events

and from a CLI command: ``run_actions(settings.ami, work)``.
"""

from .client import SAFE_TO_RETRY, AmiClient, Response, run_actions
from .errors import (
    AmiActionError,
    AmiDisconnected,
    AmiError,
    AmiLoginError,
    AmiProtocolError,
    AmiTimeout,
    AmiUnavailable,
    UnsafeHeader,
)
from .frames import FrameBuffer, Message, encode_action, parse_frame

__all__ = [
    "SAFE_TO_RETRY",
    "AmiActionError",
    "AmiClient",
    "AmiDisconnected",
    "AmiError",
    "AmiLoginError",
    "AmiProtocolError",
    "AmiTimeout",
    "AmiUnavailable",
    "FrameBuffer",
    "Message",
    "Response",
    "UnsafeHeader",
    "encode_action",
    "parse_frame",
    "run_actions",
]
