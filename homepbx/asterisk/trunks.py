"""Trunks as Asterisk reports them (AMI): outbound registrations and the qualify of their contacts.

Rendered trunks are PJSIP objects named `trunk-<name>` (endpoint, aor, registration); only
homepbx's trunk names go back above the seam.
"""

from __future__ import annotations

from ..pbx import TrunkStatus
from .ami import AmiClient

PREFIX = "trunk-"


def _name(object_name: str) -> str:
    return object_name[len(PREFIX):] if object_name.startswith(PREFIX) else ""


async def status(client: AmiClient) -> list[TrunkStatus]:
    """Every rendered trunk with its registration state and qualify result, by trunk name."""
    endpoints = (await client.action("PJSIPShowEndpoints", timeout=10)).raise_for_error()
    names = sorted({n for ev in endpoints.events if (n := _name(ev.get("ObjectName") or ""))})
    regs = await client.action("PJSIPShowRegistrationsOutbound", timeout=10)
    registration: dict[str, str] = {}
    for ev in regs.events if regs.success else ():
        if ev.name == "OutboundRegistrationDetail" and (n := _name(ev.get("ObjectName") or "")):
            registration[n] = (ev.get("Status") or "").lower()
    contacts = await client.action("PJSIPShowContacts", timeout=10)
    reach: dict[str, tuple[str, float | None]] = {}
    for ev in contacts.events if contacts.success else ():
        n = _name(ev.get("Aor") or "")
        if not n:
            continue
        state = (ev.get("Status") or "unknown").lower()
        state = {"nonqualified": "unknown", "created": "unknown", "updated": "unknown"}.get(state, state)
        try:
            rtt = round(int(ev.get("RoundtripUsec") or "") / 1000, 1) or None
        except ValueError:
            rtt = None
        if n not in reach or state == "reachable":
            reach[n] = (state, rtt)
    return [TrunkStatus(n, registration.get(n, ""), *reach.get(n, ("unknown", None))) for n in names]
