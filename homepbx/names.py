"""The one place that validates user values before they reach Asterisk or FreeSWITCH.

Asterisk's config files are line-based (`[section]`, `key = value ; comment`), the dialplan
splits application arguments on `,` `|` and closes them with `)`, expands `${...}` and `$[...]`,
and AMI is `Key: Value\\r\\n`. A value accepted here can do none of these things, so the
templates can insert it verbatim. Each check raises InvalidInput naming the field.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidInput
from .pbx import SPY_MODES

# Feature codes all start with `*`, so a digits-only extension can never collide with one;
# these are the short numbers homepbx itself uses for features that callers may dial.
RESERVED_EXTENSIONS = frozenset({"0", "112", "911", "999"})

_EXTENSION = re.compile(r"[0-9]{2,10}")
_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")
# Characters that end a config value, open a section, split or close an application argument,
# quote a caller ID, or escape: refused in free text (names, reasons).
_FORBIDDEN_TEXT = frozenset('[];,|()"\\<>\r\n')


def _has_control(text: str) -> bool:
    # Cc: C0/C1 controls; Cf: invisible format characters (bidi overrides, zero-width joiners)
    # that make a name look like another; Zl/Zp: Unicode line and paragraph separators.
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") for c in text)


def extension(value: str, field: str = "extension") -> str:
    """Digits only, 2 to 10 of them, not a reserved number."""
    value = value.strip()
    if not _EXTENSION.fullmatch(value):
        raise InvalidInput(f"The {field} must be 2 to 10 digits, got {value!r}.", field=field)
    if value in RESERVED_EXTENSIONS:
        raise InvalidInput(f"The {field} {value} is reserved.", field=field)
    return value


def slug(value: str, field: str = "name") -> str:
    """Identifiers for teams and queues: lower-case letter first, then letters, digits, - and _."""
    value = value.strip()
    if not _SLUG.fullmatch(value):
        raise InvalidInput(
            f"The {field} must start with a lower-case letter and hold only a-z, 0-9, - and _ "
            f"(at most 40 characters), got {value!r}.",
            field=field,
        )
    return value


def free_text(value: str, field: str, max_len: int = 64, allow_empty: bool = False) -> str:
    """Human text (display names, descriptions, pause reasons): any Unicode letters, no syntax."""
    value = unicodedata.normalize("NFC", value).strip()
    if not value and not allow_empty:
        raise InvalidInput(f"The {field} must not be empty.", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"The {field} must be at most {max_len} characters long.", field=field)
    if _has_control(value):
        raise InvalidInput(f"The {field} must not contain control characters.", field=field)
    bad = sorted(set(value) & _FORBIDDEN_TEXT)
    if bad:
        raise InvalidInput(f"The {field} must not contain {bad[0]!r}.", field=field)
    if "${" in value or "$[" in value:
        raise InvalidInput(f"The {field} must not contain '${{' or '$['.", field=field)
    return value


def display_name(value: str) -> str:
    return free_text(value, "display name")


def reason(value: str) -> str:
    """A pause reason: it reaches AMI headers, queue_log and reports."""
    return free_text(value, "reason", max_len=40)


def email(value: str) -> str:
    value = value.strip()
    if value == "":
        return value
    if not _EMAIL.fullmatch(value):
        raise InvalidInput(f"The email {value!r} is not a valid address.", field="email")
    return value


def spy_modes(value: str) -> str:
    """A comma list of listen, whisper, barge, stored in canonical order."""
    modes = {m.strip() for m in value.split(",") if m.strip()}
    unknown = sorted(modes - set(SPY_MODES))
    if unknown:
        raise InvalidInput(f"Unknown spy mode {unknown[0]!r}: use listen, whisper or barge.", field="modes")
    return ",".join(m for m in SPY_MODES if m in modes)


def integer(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidInput(f"The {field} must be between {low} and {high}, got {value}.", field=field)
    return value


def conf_safe(value: object) -> str:
    """Last line of defence in the renderer: nothing that could start a new line reaches a file.

    Values are validated on the way in; this catches a path that skipped validation.
    """
    text = str(value)
    if any(c in text for c in "\r\n") or _has_control(text):
        raise ValueError(f"refusing to render a value with a line break or control character: {text!r}")
    return text


_HOST = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def hostname(value: str, field: str) -> str:
    """A DNS name or IPv4 address (SIP domain, public address)."""
    value = value.strip()
    if not _HOST.fullmatch(value):
        raise InvalidInput(f"The {field} must be a host name or an IPv4 address, got {value!r}.", field=field)
    return value


_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def call_id(value: str, field: str = "call id") -> str:
    """An Asterisk uniqueid/linkedid (e.g. `pbx1-1718000000.42`), safe as a file name part."""
    if not _CALL_ID.fullmatch(value) or ".." in value:
        raise InvalidInput(f"The {field} {value!r} is not an Asterisk call identifier.", field=field)
    return value


def transfer_target(value: str) -> str:
    """A transfer target: an extension (digits) or a queue name (slug)."""
    value = value.strip()
    if value[:1].isdigit():
        return extension(value, "transfer target")
    return slug(value, "queue")
