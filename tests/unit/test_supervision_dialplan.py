"""The supervisors' feature codes: in-call mode switching (ChanSpy `d`) only for full supervisors."""

from __future__ import annotations

from homepbx import db
from homepbx.models import Agent, Role, SupervisorScope, Team

from .test_render import _reachable_extens, md5, render, url  # noqa: F401 - url is a fixture


def _chanspy_reachable(ext: str, context: str) -> dict[str, str]:
    """Spy code -> ChanSpy options, for every code a caller in `context` can dial."""
    return {
        value.split(",", 1)[0]: value.split("ChanSpy(", 1)[1].rstrip(")").split(",")[1]
        for value in _reachable_extens(ext, context)
        if "ChanSpy(" in value
    }


def test_only_supervisors_holding_every_mode_can_switch_modes_in_call(url: str) -> None:  # noqa: F811
    with db.session_scope(url) as s:
        team = Team(name="sales")
        s.add(team)
        s.flush()
        s.add(Agent(extension="1001", display_name="A", team=team, md5_cred=md5("1001"), realm="homepbx"))
        sups = {
            "1900": "listen",
            "1901": "listen,whisper",
            "1902": "listen,whisper,barge",
        }
        for ext, modes in sups.items():
            sup = Agent(extension=ext, display_name=ext, role=Role.supervisor, spy_modes=modes,
                        md5_cred=md5(ext), realm="homepbx")
            s.add(sup)
            s.flush()
            s.add(SupervisorScope(supervisor=sup, team=team))
    ext = render(url)["extensions.conf"]
    assert _chanspy_reachable(ext, "homepbx-sup-1900") == {"*211001": "qE"}
    assert _chanspy_reachable(ext, "homepbx-sup-1901") == {"*211001": "qE", "*221001": "qEw"}
    assert _chanspy_reachable(ext, "homepbx-sup-1902") == {"*211001": "qEd", "*221001": "qEwd", "*231001": "qEBd"}
    # Agents reach no spy code at all.
    assert _chanspy_reachable(ext, "homepbx-agents") == {}
