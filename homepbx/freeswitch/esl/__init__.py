"""FreeSWITCH event socket client: sans-IO framing (``frames``) and session (``session``) under
an asyncio shell (``client``).

Typical use from a service::

    async with EslClient(host, 8021, password, events=["CHANNEL_HANGUP_COMPLETE", "callcenter::info"]) as fs:
        fs.add_event_handler("callcenter::info", on_queue_event)
        output = await fs.api("show", "channels")
        job = await fs.start_job("originate", "user/1001 &park()")  # job.uuid known at once
        result = await job.result(timeout=60)

and from a CLI command: ``run_commands(settings, work)``.
"""

from .client import BackgroundJob, EslClient, EslSettingsLike, raise_for_error, run_commands
from .errors import (
    EslCommandError,
    EslDisconnected,
    EslError,
    EslLoginError,
    EslProtocolError,
    EslTimeout,
    EslUnavailable,
    UnsafeEslValue,
)
from .frames import (
    Event,
    Frame,
    FrameBuffer,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_command,
    encode_event_subscription,
    encode_execute,
    encode_sendmsg,
    parse_event_json,
    parse_event_plain,
)
from .session import EslSession, State

__all__ = [
    "BackgroundJob",
    "EslClient",
    "EslCommandError",
    "EslDisconnected",
    "EslError",
    "EslLoginError",
    "EslProtocolError",
    "EslSession",
    "EslSettingsLike",
    "EslTimeout",
    "EslUnavailable",
    "Event",
    "Frame",
    "FrameBuffer",
    "State",
    "UnsafeEslValue",
    "encode_api",
    "encode_auth",
    "encode_bgapi",
    "encode_command",
    "encode_event_subscription",
    "encode_execute",
    "encode_sendmsg",
    "parse_event_json",
    "parse_event_plain",
    "raise_for_error",
    "run_commands",
]
