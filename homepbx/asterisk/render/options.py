"""Settings as the templates see them, checked for config-file syntax.

Settings come from an administrator's TOML file, not from the database, but they still land
in `key = value` lines and dialplan arguments: a `;` would start a comment, a `,` would split
an argument. Each value is checked against what its option can really hold.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ...config import Settings
from ...errors import InvalidInput

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")
_AMI_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# manager.conf ends a value at `;` and strips surrounding blanks: refuse both rather than escape.
_AMI_SECRET = re.compile(r"[A-Za-z0-9!#$%&*+./:<=>?@^_~-]{8,128}")


@dataclass(frozen=True)
class Options:
    """Checked settings, ready for the templates."""

    sip_domain: str
    udp_bind: str
    tcp_bind: str
    tls_bind: str
    tls_cert_file: str
    tls_key_file: str
    public_address: str
    local_net: tuple[str, ...]
    rtp_timeout: int
    recordings_dir: str
    ami_host: str
    ami_port: int
    ami_username: str
    ami_secret: str


def _fail(field: str, value: object, what: str) -> InvalidInput:
    return InvalidInput(f"The setting {field} must be {what}, got {value!r}.", field=field)


def _ip(value: str, field: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _fail(field, value, "an IP address") from None


def _host(value: str, field: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if _HOSTNAME.fullmatch(value):
            return value
    raise _fail(field, value, "an IP address or a host name")


def _network(value: str, field: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise _fail(field, value, "a network such as 192.168.0.0/16") from None


def _port(value: int, field: str) -> int:
    if not 1 <= value <= 65535:
        raise _fail(field, value, "a port number")
    return value


def _path(value: str, field: str, allow_empty: bool = False) -> str:
    if allow_empty and value == "":
        return value
    if not _PATH.fullmatch(value) or "/../" in value + "/":
        raise _fail(field, value, "an absolute path of letters, digits, '.', '_', '-', '+' and '/'")
    return value.rstrip("/") or "/"


def _bind(address: str, port: int) -> str:
    # PJSIP wants IPv6 bind addresses in brackets.
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def options_from(settings: Settings) -> Options:
    """Check the settings the templates use; raise InvalidInput naming the first bad one."""
    ast, sip, ami = settings.asterisk, settings.sip, settings.ami
    bind = _ip(sip.bind_address, "sip.bind_address")
    cert = _path(sip.tls_cert_file, "sip.tls_cert_file", allow_empty=True)
    key = _path(sip.tls_key_file, "sip.tls_key_file", allow_empty=True)
    if bool(cert) != bool(key):
        raise InvalidInput("Set both sip.tls_cert_file and sip.tls_key_file, or neither.", field="sip.tls_cert_file")
    if not _HOSTNAME.fullmatch(sip.domain):
        raise _fail("sip.domain", sip.domain, "a domain name")
    if not 0 <= sip.rtp_timeout <= 3600:
        raise _fail("sip.rtp_timeout", sip.rtp_timeout, "between 0 and 3600 seconds")
    if not _AMI_USER.fullmatch(ami.username):
        raise _fail("ami.username", ami.username, "letters, digits, '.', '_' or '-'")
    if not _AMI_SECRET.fullmatch(ami.secret):
        raise InvalidInput(
            "The setting ami.secret must be 8 to 128 characters without blanks, ';', ',' or quotes "
            "(`homepbx init` generates one).",
            field="ami.secret",
        )
    return Options(
        sip_domain=sip.domain,
        udp_bind=_bind(bind, _port(sip.udp_port, "sip.udp_port")),
        tcp_bind=_bind(bind, _port(sip.tcp_port, "sip.tcp_port")),
        tls_bind=_bind(bind, _port(sip.tls_port, "sip.tls_port")),
        tls_cert_file=cert,
        tls_key_file=key,
        public_address=_host(sip.public_address, "sip.public_address") if sip.public_address else "",
        local_net=tuple(_network(n, "sip.local_net") for n in sip.local_net),
        rtp_timeout=sip.rtp_timeout,
        recordings_dir=_path(ast.recordings_dir, "asterisk.recordings_dir"),
        ami_host=_ip(ami.host, "ami.host"),
        ami_port=_port(ami.port, "ami.port"),
        ami_username=ami.username,
        ami_secret=ami.secret,
    )
