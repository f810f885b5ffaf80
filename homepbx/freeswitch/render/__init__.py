"""Render FreeSWITCH 1.10's configuration from the database: `render_site(session, settings)`.

The same site model as Asterisk (`homepbx.site.load_site`: frozen, sorted values), so the
output is a pure function of the provisioning rows and the settings: same input, same bytes.
The result maps paths relative to FreeSWITCH's conf dir (its `-conf`) to XML text; every file
starts with HEADER, an XML comment carrying the MANAGED_MARKER `homepbx.apply` looks for. With a
certificate set, sofia's TLS files join them (render/tls.py: PEM, their header a `#` line).

freeswitch.xml includes the others by explicit name (no globs), so a file left in the conf dir
by a package or by hand is never loaded, and each concern stays in its own file: `apply` can
keep only the files holding secrets at 0640 and `config_target.reload_commands` can tell from
the changed names what FreeSWITCH must reload.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ...apply import MANAGED_MARKER
from ...config import Settings
from ...errors import InvalidInput
from ...features import CODES
from ...site import SPY_MODES, Site, load_site
from .environment import config_templates, environment
from .options import Options, options_from
from .tls import tls_files

HEADER = f"<!-- {MANAGED_MARKER}: changes are overwritten by `homepbx apply`. -->\n"

# The only sofia profile: home agents' softphones register here.
PROFILE = "homepbx"

# mod_callcenter's strategy for each Asterisk strategy (the site model's vocabulary).
# rrmemory: round-robin resumes after the last agent rung, as rrmemory does. wrandom has no
# weighted counterpart: plain random. linear: top-down rings in tier order from the top each time.
STRATEGIES: dict[str, str] = {
    "ringall": "ring-all",
    "rrmemory": "round-robin",
    "leastrecent": "longest-idle-agent",
    "fewestcalls": "agent-with-fewest-calls",
    "random": "random",
    "wrandom": "random",
    "linear": "top-down",
}


def cc_queue(name: str, domain: str) -> str:
    """mod_callcenter's name for a homepbx queue (`callcenter <this>`, `callcenter_config queue ...`)."""
    return f"{name}@{domain}"


def cc_agent(extension: str, domain: str) -> str:
    """mod_callcenter's name for an agent (`callcenter_config agent set status <this> ...`)."""
    return f"{extension}@{domain}"


def eavesdrop_group(extension: str) -> str:
    """The `eavesdrop_group` every channel of this SIP account carries (see dialplans/freeswitch/supervisors.j2)."""
    return f"homepbx-agent-{extension}"


@dataclass(frozen=True)
class CcAgent:
    """A mod_callcenter agent: an account that is a member of at least one queue."""

    extension: str
    # The shortest ring timeout and the longest wrap-up of their queues: mod_callcenter keeps
    # both per agent, Asterisk per queue.
    ring_timeout: int
    wrapup_time: int


@dataclass(frozen=True)
class CcTier:
    queue: str
    extension: str
    # Asterisk's penalty 0 is mod_callcenter's level 1 (lower is tried first in both).
    level: int
    # Order within the level: by extension.
    position: int


def cc_agents(site: Site) -> tuple[CcAgent, ...]:
    """The callcenter agents, by extension."""
    timeouts: dict[str, list[int]] = {}
    wrapups: dict[str, list[int]] = {}
    for q in site.queues:
        for m in q.members:
            timeouts.setdefault(m.extension, []).append(q.ring_timeout)
            wrapups.setdefault(m.extension, []).append(q.wrapup_time)
    return tuple(CcAgent(ext, min(timeouts[ext]), max(wrapups[ext])) for ext in sorted(timeouts))


def cc_tiers(site: Site) -> tuple[CcTier, ...]:
    """One tier per queue membership, by queue then level then extension."""
    tiers: list[CcTier] = []
    for q in site.queues:
        by_level: dict[int, list[str]] = {}
        for m in q.members:
            by_level.setdefault(m.penalty + 1, []).append(m.extension)
        for level in sorted(by_level):
            for position, ext in enumerate(sorted(by_level[level]), start=1):
                tiers.append(CcTier(q.name, ext, level, position))
    return tuple(tiers)


def _check_realms(site: Site, options: Options) -> None:
    # sofia challenges with one realm per profile; an a1-hash made for another realm can
    # never match, and the clear password is not kept to make a new one.
    for a in site.agents:
        if a.realm != options.domain:
            raise InvalidInput(
                f"The SIP account {a.extension} has a password digest for realm {a.realm!r}, but sip.domain is "
                f"{options.domain!r}: reset its password or set sip.domain to {a.realm!r}.",
                field="sip.domain",
            )


def render_files(site: Site, options: Options) -> dict[str, str]:
    """Render every managed file from an already-loaded site model, in path order."""
    _check_realms(site, options)
    encrypted = [a.extension for a in site.agents if a.srtp]
    if encrypted and not options.tls:
        # Without a TLS listener their phones could not register: never render them in clear.
        raise InvalidInput(f"Agent {encrypted[0]} uses TLS, but sip.tls_cert_file and sip.tls_key_file are not set.",
                           field="sip.tls_cert_file")
    unknown = sorted({q.strategy for q in site.queues} - set(STRATEGIES))
    if unknown:
        raise InvalidInput(f"The queue strategy {unknown[0]!r} has no FreeSWITCH counterpart.", field="strategy")
    env = environment()
    spy_teams = {t.name: t.agents for t in site.teams if t.agents}
    context = {
        "site": site,
        "opt": options,
        "profile": PROFILE,
        "spy_modes": SPY_MODES,
        "codes": CODES,
        "strategies": STRATEGIES,
        "cc_agents": cc_agents(site),
        "cc_tiers": cc_tiers(site),
        # Per supervisor: the agents they may spy on, in their teams' order, without repeats.
        "spy_targets": {
            s.extension: tuple(dict.fromkeys(ext for t in s.teams for ext in spy_teams.get(t, ())))
            for s in site.supervisors
        },
        "cc_queue": lambda name: cc_queue(name, options.domain),
        "cc_agent": lambda ext: cc_agent(ext, options.domain),
        "eavesdrop_group": eavesdrop_group,
    }
    return {name: HEADER + env.get_template(template).render(context) for name, template in config_templates()}


def render_site(session: Session, settings: Settings) -> dict[str, str]:
    """Map each managed file (path relative to FreeSWITCH's conf dir) to its text.

    With a certificate set, also sofia's TLS files, read from sip.tls_cert_file and
    sip.tls_key_file (homepbx.sip_tls checked them before: TLS agents need them).
    """
    options = options_from(settings)
    site = load_site(session)
    return render_files(site, options) | tls_files(settings, options)


__all__ = [
    "HEADER",
    "MANAGED_MARKER",
    "PROFILE",
    "STRATEGIES",
    "cc_agent",
    "cc_queue",
    "eavesdrop_group",
    "render_files",
    "render_site",
]
