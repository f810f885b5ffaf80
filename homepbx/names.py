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
# these are the short numbers homepbx itself uses for features that callers may dial, and the
# emergency numbers (homepbx.dialing), which always go out through a trunk.
RESERVED_EXTENSIONS = frozenset({"0", "112", "911", "999", "15", "17", "18", "114", "115", "119", "116000",
                                 "191", "196", "197"})

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


# --- the carrier side (issue 11) ------------------------------------------------------------------

# A SIP user part of a carrier account: unreserved characters only (no `@`, `:`, `;`, blanks).
_SIP_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~+-]{0,63}")
# A sound file: Asterisk's own (`ss-noservice`, `custom/closed-acme`) or a site file by absolute
# path, without its extension (Asterisk picks the format).
_SOUND = re.compile(r"/?[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
CODECS = ("alaw", "ulaw", "g722", "g729", "opus", "gsm")
TRANSPORTS = ("udp", "tcp", "tls")


def trunk_name(value: str) -> str:
    """A trunk's name (its PJSIP endpoint is `trunk-<name>`)."""
    return slug(value, "trunk")


def sip_user(value: str, field: str = "username") -> str:
    value = value.strip()
    if not _SIP_USER.fullmatch(value):
        raise InvalidInput(f"The {field} must be 1 to 64 letters, digits, '.', '_', '~', '+' or '-', got {value!r}.",
                           field=field)
    return value


def host_port(value: str, field: str) -> str:
    """`host` or `host:port` (an outbound proxy)."""
    value = value.strip()
    host, sep, port = value.partition(":")
    hostname(host, field)
    if sep and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise InvalidInput(f"The {field} port must be 1 to 65535, got {port!r}.", field=field)
    return value


def networks(value: str, field: str = "match") -> str:
    """A comma list of IPv4/IPv6 addresses or networks, canonical (sorted, no duplicates)."""
    import ipaddress

    out = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.add(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise InvalidInput(f"The {field} {part!r} is not an IP address or network.", field=field) from None
    if not out:
        raise InvalidInput(f"The {field} must list at least one IP address or network.", field=field)
    return ",".join(str(n) for n in sorted(out, key=lambda n: (n.version, n)))


def codecs(value: str) -> str:
    """A comma list of known codecs, in the given order of preference."""
    out: list[str] = []
    for part in value.split(","):
        part = part.strip().lower()
        if part not in CODECS:
            raise InvalidInput(f"Unknown codec {part!r}: use {', '.join(CODECS)}.", field="codecs")
        if part not in out:
            out.append(part)
    return ",".join(out)


def transport(value: str) -> str:
    value = value.strip().lower()
    if value not in TRANSPORTS:
        raise InvalidInput(f"The transport must be udp, tcp or tls, got {value!r}.", field="transport")
    return value


def sound(value: str, field: str = "message") -> str:
    """A sound file name as Asterisk plays it (no extension, no `..`)."""
    value = value.strip()
    if not _SOUND.fullmatch(value) or len(value) > 80:
        raise InvalidInput(f"The {field} must be a sound file name like ss-noservice or /var/lib/homepbx/"
                           f"sounds/closed (letters, digits, '_', '-', '/'), got {value!r}.", field=field)
    return value


def phone_number(value: str, region: str, field: str = "number") -> str:
    """A public telephone number in E.164 (`+33140000000`), from any format `phonenumbers` reads;
    numbers without a country code are read in the site's region (`01 40 00 00 00` in FR)."""
    import phonenumbers

    text = value.strip()
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"The {field} {text!r} is not a telephone number.", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"The {field} {text!r} is not a valid telephone number.", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
