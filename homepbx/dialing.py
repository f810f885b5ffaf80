"""What agents may dial out: the numbering plan's classes, as explicit patterns.

A team's outbound policy is a rung of POLICIES (each includes the ones before it); premium-rate
and short numbers are a class of their own, refused unless the team allows them; emergency
numbers always go out, whatever the policy, and are never counted against a cap. Anything that
matches no pattern is not a number the PBX will dial.

Patterns use the common dialplan notation (`X` any digit, `[1-59]` a set, `.` one or more):
Asterisk reads them as they are. Only the site's region has a plan; others are refused at
`apply` with one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput

POLICIES = ("none", "national", "mobile", "international")
# The classes a policy allows (premium is separate: the team's `premium` flag).
ALLOWED: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "national": frozenset({"national"}),
    "mobile": frozenset({"national", "mobile"}),
    "international": frozenset({"national", "mobile", "international"}),
}
CLASSES = ("emergency", "national", "mobile", "international", "premium")


@dataclass(frozen=True)
class Pattern:
    """Digits an agent dials, their class, and how to make the number sent to the carrier.

    The carrier gets `prefix` + the dialled digits without their first `strip` characters
    (E.164 for ordinary numbers, the short code itself for emergency and short numbers).
    """

    pattern: str
    klass: str
    strip: int
    prefix: str


# France (ARCEP plan). 0 + 9 digits national; +33 / 0033 the same in international form.
_FR: tuple[Pattern, ...] = (
    # Emergency: 112, SAMU 15, police 17, fire 18, SMS/fax for the deaf 114, social emergency
    # 115, children in danger 119, missing children 116000, and the aeronautical/maritime ones.
    *(Pattern(n, "emergency", 0, "") for n in ("112", "15", "17", "18", "114", "115", "119", "116000", "191",
                                                "196", "197")),
    Pattern("_0[1-59]XXXXXXXX", "national", 1, "+33"),
    Pattern("_0[67]XXXXXXXX", "mobile", 1, "+33"),
    Pattern("_080XXXXXXX", "national", 1, "+33"),  # freephone
    Pattern("_08[1-9]XXXXXXX", "premium", 1, "+33"),  # shared-cost and premium rate (08 1x..08 9x)
    Pattern("_3XXX", "premium", 0, ""),  # short service numbers
    Pattern("_10XX", "premium", 0, ""),  # carrier-selection and operator numbers
    Pattern("_118XXX", "premium", 0, ""),  # directory enquiries
    Pattern("_+33[1-59]XXXXXXXX", "national", 0, ""),
    Pattern("_+33[67]XXXXXXXX", "mobile", 0, ""),
    Pattern("_+3380XXXXXXX", "national", 0, ""),
    Pattern("_+338[1-9]XXXXXXX", "premium", 0, ""),
    Pattern("_0033[1-59]XXXXXXXX", "national", 2, "+"),
    Pattern("_0033[67]XXXXXXXX", "mobile", 2, "+"),
    Pattern("_003380XXXXXXX", "national", 2, "+"),
    Pattern("_00338[1-9]XXXXXXX", "premium", 2, "+"),
    # Elsewhere: at least 8 digits after the country code's first digit.
    Pattern("_+[1-9]XXXXXXX.", "international", 0, ""),
    Pattern("_00[1-9]XXXXXXX.", "international", 2, "+"),
)

PLANS: dict[str, tuple[Pattern, ...]] = {"FR": _FR}


def plan(region: str) -> tuple[Pattern, ...]:
    """The region's patterns; InvalidInput when homepbx has none for it."""
    try:
        return PLANS[region.upper()]
    except KeyError:
        raise InvalidInput(
            f"The setting carrier.region {region!r} has no outbound numbering plan in homepbx (known: "
            f"{', '.join(sorted(PLANS))}).", field="carrier.region") from None


def emergency_numbers(region: str) -> frozenset[str]:
    return frozenset(p.pattern for p in plan(region) if p.klass == "emergency")


def policy(value: str) -> str:
    value = value.strip().lower()
    if value not in POLICIES:
        raise InvalidInput(f"The outbound policy must be one of {', '.join(POLICIES)}, got {value!r}.",
                           field="outbound")
    return value


def allowed(policy_name: str, premium: bool) -> frozenset[str]:
    """The classes a team may call (emergency is always allowed and not listed)."""
    return ALLOWED[policy_name] | ({"premium"} if premium else frozenset())


def classify(region: str, digits: str) -> Pattern | None:
    """The pattern `digits` matches, the most specific first as the PBX would pick it."""
    for p in sorted(plan(region), key=lambda p: -_specificity(p.pattern)):
        if _matches(p.pattern, digits):
            return p
    return None


def _specificity(pattern: str) -> int:
    return 1000 if not pattern.startswith("_") else len(pattern.rstrip("."))


def _matches(pattern: str, digits: str) -> bool:
    if not pattern.startswith("_"):
        return pattern == digits
    import re

    rx = ""
    body = pattern[1:]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "X":
            rx += "[0-9]"
        elif c == "[":
            j = body.index("]", i)
            rx += body[i:j + 1]
            i = j
        elif c == ".":
            rx += ".+"
        else:
            rx += re.escape(c)
        i += 1
    return re.fullmatch(rx, digits) is not None


__all__ = ["ALLOWED", "CLASSES", "PLANS", "POLICIES", "Pattern", "allowed", "classify", "emergency_numbers",
           "plan", "policy"]
