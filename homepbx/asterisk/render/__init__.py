"""Render Asterisk's configuration from the database: `render_site(session, settings)`.

A pure function of the provisioning rows and the settings: same input, same bytes. Every
file starts with HEADER, whose MANAGED_MARKER `homepbx.apply` looks for before overwriting.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ... import dialing
from ...apply import MANAGED_MARKER
from ...config import Settings
from ...features import CODES
from ...pbx import SPY_MODES
from ...site import NumberView, Site, TeamView, load_site
from ..spy import DIALPLAN_OPTIONS, MODE_SWITCH_OPTION
from .environment import config_templates, environment
from .options import Options, options_from

HEADER = f"; {MANAGED_MARKER}: changes are overwritten by `homepbx apply`.\n"

# Feature codes come from homepbx.features, ChanSpy letters from asterisk/spy.py: one definition
# each. dialplans/asterisk/supervisors.j2 adds the mode switch option only in the contexts of
# supervisors who hold every mode, since it would let a listener turn into a barger.


@dataclass(frozen=True)
class MemberQueue:
    name: str
    penalty: int


def agent_queues(site: Site) -> dict[str, list[MemberQueue]]:
    """Each agent's queues (by extension, in extension order) for the login/logout feature codes."""
    by_agent: dict[str, list[MemberQueue]] = {}
    for q in site.queues:
        for m in q.members:
            by_agent.setdefault(m.extension, []).append(MemberQueue(q.name, m.penalty))
    return dict(sorted(by_agent.items()))


def numbers_by_trunk(site: Site) -> dict[str, list[NumberView]]:
    """Each trunk's public numbers, in number order."""
    out: dict[str, list[NumberView]] = {}
    for n in site.numbers:
        out.setdefault(n.trunk, []).append(n)
    return out


def allowed_classes(team: TeamView) -> list[str]:
    """The outbound classes a team may call, in dialing.CLASSES order (emergency: always, not listed)."""
    allowed = dialing.allowed(team.outbound, team.premium)
    return [c for c in dialing.CLASSES if c in allowed]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def render_files(site: Site, options: Options) -> dict[str, str]:
    """Render every managed file from an already-loaded site model."""
    env = environment()
    context = {
        "site": site,
        "opt": options,
        "codes": CODES,
        "spy_modes": SPY_MODES,
        "spy_options": DIALPLAN_OPTIONS,
        "spy_switch_option": MODE_SWITCH_OPTION,
        # Teams with agents get spy contexts; including an empty (so missing) context would warn.
        "spy_teams": frozenset(t.name for t in site.teams if t.agents),
        "agent_queues": agent_queues(site),
        # The carrier side (dialplans/asterisk/carrier.j2).
        "numbers_by_trunk": numbers_by_trunk(site),
        "trunk_limits": {t.name: t.max_channels for t in site.trunks},
        "outbound_trunks": [t for t in site.trunks if t.outbound],
        "outbound_patterns": dialing.plan(options.region),
        "allowed_classes": allowed_classes,
        "hhmm": _hhmm,
    }
    return {name: HEADER + env.get_template(template).render(context) for name, template in config_templates()}


def render_site(session: Session, settings: Settings) -> dict[str, str]:
    """Map each managed file name (e.g. "pjsip.conf") to its text, in file-name order."""
    return render_files(load_site(session, settings.carrier.region), options_from(settings))


__all__ = ["HEADER", "MANAGED_MARKER", "render_files", "render_site"]
