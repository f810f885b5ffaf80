"""The records engine's Asterisk adapter for the live stream: AMI events in, neutral events fed.

`AmiFeed(engine, asterisk_tz).feed(event, now)` translates one AMI event (a homepbx.asterisk.ami
Message, or a dict in tests and recorded streams) with `sources` and feeds the result to the
neutral engine; events the records do not need are dropped. Asterisk's files take the other
path: `backfill` parses them with `sources` and calls `engine.feed` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from ...records.events import Engine
from ...records.types import CelEvent
from ..ami.frames import Message
from .sources import cel_from_index, from_ami


class AmiFeed:
    """Feeds an Engine from AMI. `asterisk_tz` is Asterisk's local zone, needed only for `CEL`
    events (whose EventTime is local); None means this host's zone."""

    __slots__ = ("_feed", "_feed_cel", "asterisk_tz", "engine")

    def __init__(self, engine: Engine, asterisk_tz: tzinfo | None = None) -> None:
        self.engine = engine
        self.asterisk_tz = asterisk_tz
        # Bound once: this runs for every event of a busy call centre.
        self._feed_cel = engine.feed_cel
        self._feed = engine.feed

    def feed(self, event: Mapping[str, Any], now: float) -> None:
        """Feed one AMI event received at `now` (the time of events that carry none)."""
        if type(event) is Message:
            # Most live events are CEL: read them straight from the message's lower-case index
            # (the frames module's own dict; a Message.get per header costs more than the engine).
            index = event._index
            if index.get("event") == "CEL":
                if index.get("linkedid"):
                    self._feed_cel(cel_from_index(index, self.asterisk_tz, now))
                return
        item = from_ami(event, self.asterisk_tz, now)
        if item is None:
            return
        # Most live events are CEL: skip `feed`'s isinstance chain for them.
        if type(item) is CelEvent:
            self._feed_cel(item)
        else:
            self._feed(item)


__all__ = ["AmiFeed"]
