"""A call's direction, public number and trunk, read from the dialplan contexts its events carry.

homepbx's own dialplan names (both PBXs render the same ones): a trunk's calls start in
`homepbx-from-trunk-<trunk>` and pass through `homepbx-numbers` with the E.164 number as the
extension; outbound calls are dialled from `homepbx-to-trunk-<trunk>` with the number sent to the
carrier as the extension (the last trunk tried is the one that carried the call).
"""

from __future__ import annotations

from .types import CelEvent

FROM_TRUNK = "homepbx-from-trunk-"
NUMBERS = "homepbx-numbers"
TO_TRUNK = "homepbx-to-trunk-"


class Direction:
    """Fed a call's events in order; `values()` gives (direction, number, trunk)."""

    __slots__ = ("in_trunk", "in_number", "in_first_exten", "out_trunk", "out_number")

    def __init__(self) -> None:
        self.in_trunk = ""
        self.in_number = ""
        self.in_first_exten = ""
        self.out_trunk = ""
        self.out_number = ""

    def see(self, ev: CelEvent) -> None:
        ctx = ev.context
        if not ctx.startswith("homepbx-"):
            return
        if ctx.startswith(FROM_TRUNK):
            # Only the call's first channel (uniqueid = linkedid) makes it inbound: the channel
            # an outbound call opens to the trunk starts in the trunk's context too.
            if not self.in_trunk and ev.event == "CHAN_START" and ev.uniqueid == ev.linkedid:
                self.in_trunk, self.in_first_exten = ctx[len(FROM_TRUNK):], ev.exten
        elif ctx == NUMBERS:
            if not self.in_number:
                self.in_number = ev.exten
        elif ctx.startswith(TO_TRUNK) and ev.event == "APP_START" and ev.appname.lower() == "dial":
            self.out_trunk, self.out_number = ctx[len(TO_TRUNK):], ev.exten

    def values(self) -> tuple[str, str, str]:
        if self.in_trunk:
            return "inbound", (self.in_number or self.in_first_exten)[:32], self.in_trunk[:40]
        if self.out_trunk:
            return "outbound", self.out_number[:32], self.out_trunk[:40]
        return "internal", "", ""
