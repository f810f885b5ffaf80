"""Settings as the templates see them, checked for config-file syntax.

Settings come from an administrator's TOML file, not from the database, but they still land
in `key = value` lines and dialplan arguments: a `;` would start a comment, a `,` would split
an argument. Each value is checked against what its option can really hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ... import sip_options as check
from ...config import Settings
from ...errors import InvalidInput

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
    tls_method: str
    tls_ciphers: str
    public_address: str
    local_net: tuple[str, ...]
    rtp_timeout: int
    recordings_dir: str
    ami_host: str
    ami_port: int
    ami_username: str
    ami_secret: str
    # The carrier side: the numbering plan agents dial in, the site-wide outbound cap.
    region: str = "FR"
    max_outbound: int = 30


def _bind(address: str, port: int) -> str:
    # PJSIP wants IPv6 bind addresses in brackets.
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def options_from(settings: Settings) -> Options:
    """Check the settings the templates use; raise InvalidInput naming the first bad one."""
    ast, sip, ami = settings.asterisk, settings.sip, settings.ami
    bind = check.ip(sip.bind_address, "sip.bind_address")
    cert, key = check.tls_files(settings)
    domain = check.domain(settings)
    rtp_timeout = check.rtp_timeout(settings)
    if not _AMI_USER.fullmatch(ami.username):
        raise check.fail("ami.username", ami.username, "letters, digits, '.', '_' or '-'")
    if not _AMI_SECRET.fullmatch(ami.secret):
        raise InvalidInput(
            "The setting ami.secret must be 8 to 128 characters without blanks, ';', ',' or quotes "
            "(`homepbx init` generates one).",
            field="ami.secret",
        )
    return Options(
        sip_domain=domain,
        udp_bind=_bind(bind, check.port(sip.udp_port, "sip.udp_port")),
        tcp_bind=_bind(bind, check.port(sip.tcp_port, "sip.tcp_port")),
        tls_bind=_bind(bind, check.port(sip.tls_port, "sip.tls_port")),
        tls_cert_file=cert,
        tls_key_file=key,
        tls_method=check.tls_method(settings),
        tls_ciphers=check.tls_ciphers(settings),
        public_address=check.public_address(settings),
        local_net=check.local_net(settings),
        rtp_timeout=rtp_timeout,
        recordings_dir=check.path(ast.recordings_dir, "asterisk.recordings_dir"),
        ami_host=check.ip(ami.host, "ami.host"),
        ami_port=check.port(ami.port, "ami.port"),
        ami_username=ami.username,
        ami_secret=ami.secret,
        region=_region(settings.carrier.region),
        max_outbound=_cap(settings.carrier.max_outbound),
    )


def _region(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise check.fail("carrier.region", value, "a two-letter country code such as FR")
    return value.upper()


def _cap(value: int) -> int:
    if not 1 <= value <= 100000:
        raise InvalidInput(f"The setting carrier.max_outbound must be between 1 and 100000, got {value}.",
                           field="carrier.max_outbound")
    return value
