"""Agents' queue states on FreeSWITCH (mod_callcenter over ESL): log in, log out, pause, unpause, status.

mod_callcenter keeps one status per agent (Logged Out / Available / On Break) and the queues
an agent takes calls from as tiers. homepbx's vocabulary maps onto them this way:
- an agent is logged in to queue Q when its status is not Logged Out and it has a tier in Q;
- `login` adds the missing tiers of the target queues (`tier add`, level = penalty + 1) and
  makes a Logged Out agent Available;
- `logout` of every queue the agent is in sets Logged Out and keeps the tiers (the softphone's
  login code then logs in to all of them again, as on Asterisk); a logout of some queues only
  deletes those tiers (`tier del`; `homepbx apply` or a FreeSWITCH restart brings them back);
- pause = On Break, in every queue at once (mod_callcenter has no per-queue pause).
mod_callcenter keeps no pause reason: homepbx keeps it in the global variable
`homepbx_pause_reason_<ext>` (set before the status changes, so a callcenter::info event's
reader finds it; the softphone's pause codes set it too, dialplans/freeswitch/agent_features.j2).

The state returned is always FreeSWITCH's own answer (`agent list`, `tier list`), read after
each change, never what homepbx asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import names
from ..errors import InvalidInput, OperationalError
from ..pbx import AgentStatus, Membership, QueueSnapshot, QueueTarget
from .esl import EslClient

LOGGED_OUT = "Logged Out"
AVAILABLE = "Available"
ON_BREAK = "On Break"
# The global variable holding an agent's pause reason (also in dialplans/freeswitch/agent_features.j2).
REASON_VAR = "homepbx_pause_reason_"
# An agent's mod_callcenter states that mean it is busy with a queue call.
_IN_CALL = {"Receiving", "In a queue call"}


def _table(text: str) -> list[dict[str, str]]:
    """A `callcenter_config ... list` answer: a header row, `|`-separated rows, then +OK."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("+OK")]
    if not lines or lines[0].startswith("-ERR"):
        return []
    header = lines[0].split("|")
    return [dict(zip(header, line.split("|"), strict=False)) for line in lines[1:]]


def _local(name: str, domain: str) -> str:
    """'support' for 'support@<domain>', '' for a name of another domain."""
    head, sep, tail = name.rpartition("@")
    return head if sep and tail == domain else ""


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


async def _cc(client: EslClient, arg: str) -> str:
    return await client.api("callcenter_config", arg, check=True)


async def reasons(client: EslClient) -> dict[str, str]:
    """Every agent's recorded pause reason, by extension."""
    out: dict[str, str] = {}
    for line in (await client.api("global_getvar")).splitlines():
        name, sep, value = line.partition("=")
        if sep and name.startswith(REASON_VAR) and value:
            out[name[len(REASON_VAR):]] = value
    return out


async def snapshot(client: EslClient, domain: str, extension: str | None = None) -> QueueSnapshot:
    """mod_callcenter's queues of this site and their logged-in members (one agent's only if given)."""
    queues = frozenset(q for q in (_local(r.get("name", ""), domain) for r in _table(await _cc(client, "queue list"))) if q)
    agents = {}
    for row in _table(await _cc(client, "agent list")):
        ext = _local(row.get("name", ""), domain)
        if ext and (extension is None or ext == extension):
            agents[ext] = row
    why = await reasons(client) if any(a.get("status") == ON_BREAK for a in agents.values()) else {}
    members = []
    for tier in _table(await _cc(client, "tier list")):
        queue, ext = _local(tier.get("queue", ""), domain), _local(tier.get("agent", ""), domain)
        agent = agents.get(ext)
        if not queue or agent is None or agent.get("status", LOGGED_OUT) == LOGGED_OUT:
            continue
        paused = agent.get("status") == ON_BREAK
        members.append(Membership(
            queue=queue, agent=ext, paused=paused, reason=why.get(ext, "") if paused else "",
            in_call=agent.get("state") in _IN_CALL or tier.get("state") == "Active Inbound",
            device=(agent.get("state") or "").lower(),
            calls_taken=_int(agent.get("calls_answered")), penalty=max(0, _int(tier.get("level")) - 1),
        ))
    return QueueSnapshot(queues, tuple(members))


async def _agent_row(client: EslClient, domain: str, extension: str) -> dict[str, str]:
    for row in _table(await _cc(client, "agent list")):
        if row.get("name") == f"{extension}@{domain}":
            return row
    # Only queue members are mod_callcenter agents (homepbx.freeswitch.render.cc_agents).
    raise OperationalError(f"FreeSWITCH has no queue agent {extension}: run `homepbx apply` first.")


async def _tiers(client: EslClient, domain: str, extension: str) -> set[str]:
    return {_local(t.get("queue", ""), domain) for t in _table(await _cc(client, "tier list"))
            if t.get("agent") == f"{extension}@{domain}"}


async def _set_status(client: EslClient, domain: str, extension: str, status: str) -> None:
    await _cc(client, f"agent set status {extension}@{domain} '{status}'")


async def login(client: EslClient, domain: str, extension: str, targets: Sequence[QueueTarget]) -> AgentStatus:
    """Add the agent's missing tiers in the target queues, make it Available if it was logged out."""
    before = await snapshot(client, domain, extension)
    missing = sorted(t.queue for t in targets if t.queue not in before.queues)
    if missing:
        raise OperationalError(f"FreeSWITCH has no queue {missing[0]!r}: run `homepbx apply` first.")
    agent = await _agent_row(client, domain, extension)
    tiers = await _tiers(client, domain, extension)
    for t in targets:
        if t.queue not in tiers:
            await _cc(client, f"tier add {t.queue}@{domain} {extension}@{domain} {t.penalty + 1} 1")
    if agent.get("status") == LOGGED_OUT:
        await _set_status(client, domain, extension, AVAILABLE)
    return (await snapshot(client, domain, extension)).of(extension)


async def logout(client: EslClient, domain: str, extension: str, targets: Sequence[QueueTarget]) -> AgentStatus:
    """Log the agent out of the target queues (see the module doc for how)."""
    before = (await snapshot(client, domain, extension)).of(extension)
    leaving = {t.queue for t in targets} & set(before.queues)
    if leaving and leaving >= set(before.queues):
        await client.api("global_setvar", f"{REASON_VAR}{extension}=")
        await _set_status(client, domain, extension, LOGGED_OUT)
    else:
        for queue in sorted(leaving):
            await _cc(client, f"tier del {queue}@{domain} {extension}@{domain}")
    return (await snapshot(client, domain, extension)).of(extension)


async def set_paused(client: EslClient, domain: str, extension: str, paused: bool, reason: str = "") -> AgentStatus:
    """On Break (with the reason kept beside it) or Available again; return FreeSWITCH's state."""
    ext = names.extension(extension)
    before = (await snapshot(client, domain, ext)).of(ext)
    if not before.logged_in:
        raise InvalidInput(f"Agent {ext} is not logged in to any queue.", field="agent")
    # Checked again here: the reason becomes a FreeSWITCH variable's value (the writer refuses CR/LF).
    why = names.reason(reason) if paused and reason else ""
    # Before the status: whoever sees the status change finds the reason already there.
    await client.api("global_setvar", f"{REASON_VAR}{ext}={why}")
    await _set_status(client, domain, ext, ON_BREAK if paused else AVAILABLE)
    return (await snapshot(client, domain, ext)).of(ext)
