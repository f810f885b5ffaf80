"""The detached follower of a transfer: moves a recording once the caller is with the new agent.

`calls.transfer` hands a long wait (an attended transfer, a blind one to a queue) to this
process, started by `calls.follower` as `python -m homepbx.asterisk.follow [--config FILE]
CALLER AGENT MIXMONITOR_ID PATH [--blind] [--muted] [--source CHANNEL] [--wait SECONDS]`, so the
command that transferred returns at once. It ends by itself when the transfer completes, is
abandoned, the caller hangs up, or the wait passes; and it always clears the caller's hand-over
mark (`calls.TRANSFER_OWNER_VAR`) so the collector's watch may act on later transfers.
"""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..errors import HomepbxError
from . import calls
from .ami import AmiClient, run_actions


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The follower's arguments (as `calls.follower` passes them)."""
    parser = argparse.ArgumentParser(prog="python -m homepbx.asterisk.follow", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="The settings file (default: $HOMEPBX_CONFIG or the default path).")
    parser.add_argument("caller_channel")
    parser.add_argument("agent_channel")
    parser.add_argument("mixmonitor_id")
    parser.add_argument("path")
    parser.add_argument("--blind", action="store_true", help="A blind transfer (to a queue): wait for an agent to answer.")
    parser.add_argument("--muted", action="store_true")
    parser.add_argument("--source", default="", help="The channel the recording runs on, if not the caller's.")
    parser.add_argument("--wait", type=float, default=120.0)
    return parser.parse_args(argv)


def follow(argv: list[str] | None = None) -> bool:
    """Wait for the transfer, move the recording; True once it runs on the new agent's channel."""
    args = parse(argv)
    settings = config.load(args.config)
    # Values reach AMI headers only through the AMI writer, which refuses CR/LF.
    rec = calls.MixMonitor(args.mixmonitor_id, args.path, args.muted, args.source or args.caller_channel)
    hand_over = calls.hand_recording_over if args.blind else calls.follow_attended_transfer

    async def work(client: AmiClient) -> bool:
        try:
            return await hand_over(client, args.caller_channel, args.agent_channel, rec, args.wait)
        finally:
            await calls.set_owner(client, args.caller_channel, "")

    return run_actions(settings.ami, work)


def main() -> None:
    """Entry point: an expected error is one sentence on stderr (nobody reads it: detached)."""
    try:
        follow()
    except HomepbxError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
