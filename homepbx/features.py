"""The codes people dial on their softphones, defined once for every PBX and every document.

Supervisors spy with a code followed by the agent's extension; agents change their own queue
state (the agent is always the calling account, never digits they dial); anyone on a call
transfers it with an in-call code; a supervisor holding every spy mode switches between them
during a spy with one digit. The PBX backends render these values into their dialplans and the
records read them back, so changing one here changes it everywhere at once.

Codes start with `*` (dialled) or `#` (in call), so a digits-only extension never collides
with one, and the families never overlap: `*2x` supervisors, `*4x` agents, `#x` in call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


def _frozen(items: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(items)


@dataclass(frozen=True)
class FeatureCodes:
    """Every feature code; the templates read them as `codes.<field>`."""

    # Spy mode -> code, in homepbx.pbx.SPY_MODES order; dialled followed by the agent's extension (`*221001`: whisper to 1001).
    spy: Mapping[str, str]
    # Spy mode -> the DTMF digit that switches to it during a spy (supervisors holding every mode).
    mode_switch: Mapping[str, str]
    login: str  # log in to every queue one is a member of
    logout: str  # log out of them
    # Pause: alone, with `default_pause_reason`; followed by a digit, with that digit's reason.
    pause: str
    pause_reasons: Mapping[str, str]
    default_pause_reason: str
    unpause: str
    blind_transfer: str  # in call, followed by the target's number
    attended_transfer: str

    def spy_mode(self, code: str) -> str | None:
        """The spy mode a dialled spy code (without the extension) stands for, or None."""
        return next((mode for mode, c in self.spy.items() if c == code), None)


CODES = FeatureCodes(
    spy=_frozen({"listen": "*21", "whisper": "*22", "barge": "*23"}),
    mode_switch=_frozen({"listen": "4", "whisper": "5", "barge": "6"}),
    login="*41",
    logout="*42",
    pause="*43",
    pause_reasons=_frozen({"1": "break", "2": "lunch", "3": "training", "4": "meeting", "5": "technical"}),
    default_pause_reason="break",
    unpause="*44",
    blind_transfer="#1",
    attended_transfer="#2",
)
