"""Checks for the neutral settings both PBXs render: `[sip]` and the paths and addresses around it.

Settings come from an administrator's TOML file, not from the database, but they land in
config files (Asterisk's `key = value` lines, FreeSWITCH's XML attributes): each value is
checked against what its option can really hold, and a bad one raises InvalidInput naming
the setting. Each backend's `render/options.py` builds on these.
"""

from __future__ import annotations

import ipaddress
import re

from .config import Settings
from .errors import InvalidInput

HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")


def fail(field: str, value: object, what: str) -> InvalidInput:
    """The error for a setting `field` that is not `what`."""
    return InvalidInput(f"The setting {field} must be {what}, got {value!r}.", field=field)


def ip(value: str, field: str) -> str:
    """An IPv4 or IPv6 address, in canonical form."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise fail(field, value, "an IP address") from None


def host(value: str, field: str) -> str:
    """An IP address (canonical form) or a host name."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if HOSTNAME.fullmatch(value):
            return value
    raise fail(field, value, "an IP address or a host name")


def network(value: str, field: str) -> str:
    """A network in CIDR form (host bits allowed, then cleared)."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise fail(field, value, "a network such as 192.168.0.0/16") from None


def port(value: int, field: str) -> int:
    """A TCP/UDP port number."""
    if not 1 <= value <= 65535:
        raise fail(field, value, "a port number")
    return value


def path(value: str, field: str, allow_empty: bool = False) -> str:
    """An absolute path of plain characters, without `..` and without a trailing slash."""
    if allow_empty and value == "":
        return value
    if not _PATH.fullmatch(value) or "/../" in value + "/":
        raise fail(field, value, "an absolute path of letters, digits, '.', '_', '-', '+' and '/'")
    return value.rstrip("/") or "/"


def domain(settings: Settings) -> str:
    """sip.domain: the SIP domain and digest realm."""
    value = settings.sip.domain
    if not HOSTNAME.fullmatch(value):
        raise fail("sip.domain", value, "a domain name")
    return value


def rtp_timeout(settings: Settings) -> int:
    """sip.rtp_timeout: seconds without media before a call is hung up (0: never)."""
    value = settings.sip.rtp_timeout
    if not 0 <= value <= 3600:
        raise fail("sip.rtp_timeout", value, "between 0 and 3600 seconds")
    return value


def tls_files(settings: Settings) -> tuple[str, str]:
    """sip.tls_cert_file and sip.tls_key_file: both set, or neither."""
    cert = path(settings.sip.tls_cert_file, "sip.tls_cert_file", allow_empty=True)
    key = path(settings.sip.tls_key_file, "sip.tls_key_file", allow_empty=True)
    if bool(cert) != bool(key):
        raise InvalidInput("Set both sip.tls_cert_file and sip.tls_key_file, or neither.", field="sip.tls_cert_file")
    return cert, key


def public_address(settings: Settings) -> str:
    """sip.public_address: the address agents reach (empty: the PBX is not behind NAT)."""
    value = settings.sip.public_address
    return host(value, "sip.public_address") if value else ""


def local_net(settings: Settings) -> tuple[str, ...]:
    """sip.local_net: networks that are not NATed (when the PBX itself is behind NAT)."""
    return tuple(network(n, "sip.local_net") for n in settings.sip.local_net)


TLS_METHODS = ("tlsv1_2", "tlsv1_3")
CLEAR_TRANSPORTS = ("udp", "tcp")
# An OpenSSL cipher list: names joined by ':' with '!', '+', '-', '@' modifiers; nothing a
# config line or XML attribute could end at.
_CIPHERS = re.compile(r"[A-Za-z0-9_@=.+!-]+(:[A-Za-z0-9_@=.+!-]+)*")


def tls_method(settings: Settings) -> str:
    """sip.tls_method: the one TLS version agents use (tlsv1_2 or tlsv1_3)."""
    value = settings.sip.tls_method
    if value not in TLS_METHODS:
        raise fail("sip.tls_method", value, " or ".join(TLS_METHODS))
    return value


def tls_ciphers(settings: Settings) -> str:
    """sip.tls_ciphers: an OpenSSL cipher list, or "" for OpenSSL's defaults."""
    value = settings.sip.tls_ciphers
    if value and not _CIPHERS.fullmatch(value):
        raise fail("sip.tls_ciphers", value, "an OpenSSL cipher list such as ECDHE+AESGCM:ECDHE+CHACHA20")
    return value


def agent_transport(settings: Settings) -> str:
    """sip.agent_transport: how agents added without --transport connect (tls, or udp/tcp in clear)."""
    value = settings.sip.agent_transport
    if value not in ("tls", *CLEAR_TRANSPORTS):
        raise fail("sip.agent_transport", value, "tls, udp or tcp")
    if value in CLEAR_TRANSPORTS and not settings.sip.allow_clear_text:
        raise InvalidInput(
            f"The setting sip.agent_transport is {value!r} (clear text) but sip.allow_clear_text is false: "
            "use tls, or allow clear text.", field="sip.agent_transport")
    return value
