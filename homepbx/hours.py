"""Opening hours: a weekly schedule in a time zone, public holidays, one-off closures.

The weekly spec is what sysadmins type, `mon-fri 09:00-12:30,13:30-18:00; sat 09:00-12:00`:
day groups separated by `;`, each a day or day range (or a comma list of them) and time ranges.
It is kept in canonical form (same schedule, same text) and rendered per PBX; `is_open` is the
reference evaluation the tests compare the PBX with, across daylight-saving changes too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_COUNTRY = "FR"

_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True)
class Range:
    """Open from `start` to `end` minutes after midnight (end excluded; 1440 = midnight)."""

    start: int
    end: int

    def text(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class Rule:
    """The days (0 = Monday) a set of ranges applies to."""

    days: tuple[int, ...]
    ranges: tuple[Range, ...]


def _hhmm(minutes: int) -> str:
    return "24:00" if minutes == 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str, end: bool) -> int:
    if end and text == "24:00":
        return 1440
    m = _TIME.fullmatch(text)
    if not m:
        raise InvalidInput(f"The schedule time {text!r} is not HH:MM (00:00 to 23:59, or 24:00 as an end).",
                           field="schedule")
    return int(m.group(1)) * 60 + int(m.group(2))


def _days(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise InvalidInput(f"The schedule day {part.strip()!r} is not mon..sun or a range like mon-fri.",
                               field="schedule")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise InvalidInput(f"The schedule day range {part.strip()!r} runs backwards.", field="schedule")
        out.extend(range(a, b + 1))
    return out


def parse_weekly(spec: str) -> tuple[Rule, ...]:
    """Parse and check a weekly spec; InvalidInput naming the schedule on any error or overlap."""
    per_day: dict[int, list[Range]] = {d: [] for d in range(7)}
    groups = [g.strip() for g in spec.replace("\n", ";").split(";") if g.strip()]
    if not groups:
        raise InvalidInput("The schedule is empty: give days and hours, e.g. 'mon-fri 09:00-18:00'.",
                           field="schedule")
    for group in groups:
        days_text, _, ranges_text = group.partition(" ")
        if not ranges_text.strip():
            raise InvalidInput(f"The schedule part {group!r} has no hours (e.g. 'mon-fri 09:00-18:00').",
                               field="schedule")
        days = _days(days_text)
        for part in ranges_text.replace(" ", "").split(","):
            start_text, sep, end_text = part.partition("-")
            if not sep:
                raise InvalidInput(f"The schedule hours {part!r} are not a range like 09:00-18:00.", field="schedule")
            r = Range(_minutes(start_text, False), _minutes(end_text, True))
            if r.end <= r.start:
                raise InvalidInput(f"The schedule hours {part!r} end before they start.", field="schedule")
            for d in days:
                per_day[d].append(r)
    for d, ranges in per_day.items():
        ranges.sort(key=lambda r: r.start)
        for a, b in zip(ranges, ranges[1:]):
            if b.start < a.end:
                raise InvalidInput(f"The schedule overlaps itself on {DAYS[d]} ({a.text()} and {b.text()}).",
                                   field="schedule")
    # Canonical: consecutive days with the same hours grouped, in day order.
    rules: list[Rule] = []
    for d in range(7):
        ranges = tuple(per_day[d])
        if not ranges:
            continue
        if rules and rules[-1].ranges == ranges and rules[-1].days[-1] == d - 1:
            rules[-1] = Rule(rules[-1].days + (d,), ranges)
        else:
            rules.append(Rule((d,), ranges))
    return tuple(rules)


def days_text(days: tuple[int, ...]) -> str:
    """`mon-fri`, `sat`, as Asterisk's GotoIfTime reads them too (days are consecutive)."""
    first, last = DAYS[days[0]], DAYS[days[-1]]
    return first if first == last else f"{first}-{last}"


def canonical(rules: tuple[Rule, ...]) -> str:
    return "; ".join(f"{days_text(r.days)} {','.join(x.text() for x in r.ranges)}" for r in rules)


def timezone(name: str) -> str:
    """An IANA time zone name (Europe/Paris)."""
    name = name.strip()
    if name not in _zones():
        raise InvalidInput(f"The time zone {name!r} is not an IANA zone name like Europe/Paris.", field="timezone")
    return name


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def country(code: str) -> str:
    """A country whose public holidays the holidays library knows ('' or 'none': no holidays)."""
    import holidays

    code = code.strip().upper()
    if code in ("", "NONE"):
        return ""
    if code not in holidays.list_supported_countries():
        raise InvalidInput(f"No public holidays are known for the country {code!r}.", field="holidays")
    return code


def closure_dates(values: list[str] | tuple[str, ...]) -> str:
    """One-off closures (ISO dates), canonical comma list."""
    out = set()
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.add(date.fromisoformat(part))
            except ValueError:
                raise InvalidInput(f"The closure date {part!r} is not YYYY-MM-DD.", field="closed") from None
    return ",".join(d.isoformat() for d in sorted(out))


def holiday_dates(country_code: str, years: tuple[int, ...]) -> tuple[date, ...]:
    """The country's public holidays in these years (the holidays library's own list)."""
    if not country_code:
        return ()
    import holidays

    return tuple(sorted(holidays.country_holidays(country_code, years=list(years)).keys()))


def closed_dates(country_code: str, closures: str, years: tuple[int, ...]) -> tuple[date, ...]:
    """Holidays of `years` and one-off closures, sorted, no duplicates."""
    extra = {date.fromisoformat(d) for d in closures.split(",") if d}
    return tuple(sorted(set(holiday_dates(country_code, years)) | extra))


def is_open(rules: tuple[Rule, ...], tz: str, closed: tuple[date, ...] | frozenset[date], at: datetime) -> bool:
    """Whether the schedule is open at `at` (an aware datetime), in the schedule's zone."""
    local = at.astimezone(ZoneInfo(tz))
    if local.date() in closed:
        return False
    minute = local.hour * 60 + local.minute
    return any(local.weekday() in r.days and x.start <= minute < x.end for r in rules for x in r.ranges)


def gotoiftime_ranges(rule: Rule) -> list[str]:
    """The rule's ranges as GotoIfTime reads them: the end minute is matched too, so one less."""
    return [f"{_hhmm(x.start)}-{_hhmm(x.end - 1)}" for x in rule.ranges]


def render_years(today: date) -> tuple[int, ...]:
    """Holidays are rendered for this year and the next: `apply` once a year keeps them current."""
    return (today.year, today.year + 1)


__all__ = ["DAYS", "DEFAULT_COUNTRY", "Range", "Rule", "canonical", "closed_dates", "closure_dates", "country",
           "days_text", "gotoiftime_ranges", "holiday_dates", "is_open", "parse_weekly", "render_years",
           "timezone"]
