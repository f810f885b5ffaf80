"""Settings as the FreeSWITCH templates see them, checked.

The values land in XML attributes (escaped by the template environment) but also pass
FreeSWITCH's line-based pre-processor, which expands `$${...}` and drops lines mentioning
X-PRE-PROCESS before any XML parsing: so each value is held to what its option really takes,
and a bad one raises InvalidInput naming the setting.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ... import sip_options as sip
from ...config import Settings
from ...errors import InvalidInput

# Not the AMI secret's alphabet: `$`, `&`, `<`, `>` are refused too, so the password can never
# start a pre-processor variable or need escaping ( `secrets.token_urlsafe` output fits).
_ESL_PASSWORD = re.compile(r"[A-Za-z0-9!#%*+./:=?@^_~-]{8,128}")
# FreeSWITCH's own example password: a listener with it is as good as open.
_DEFAULT_ESL_PASSWORD = "ClueCon"


@dataclass(frozen=True)
class Options:
    """Checked settings, ready for the templates."""

    domain: str
    # sofia's sip-ip/rtp-ip; "" for a wildcard bind address, which sofia cannot advertise in
    # Contact and SDP: vars.xml then takes FreeSWITCH's own $${local_ip_v4} (or _v6), found
    # from the host's interfaces at start (no STUN, no lookup).
    sip_ip: str
    sip_ip_family: int
    sip_port: int
    public_address: str
    local_net: tuple[str, ...]
    rtp_timeout: int
    rtp_start_port: int
    rtp_end_port: int
    recordings_dir: str
    log_dir: str
    json_cdr_dir: str
    db_dir: str
    esl_host: str
    esl_port: int
    esl_password: str
    # TLS for agents' softphones: on when a certificate is set (sip.tls_cert_file).
    tls: bool = False
    tls_port: int = 5061
    # sofia's tls-version list for sip.tls_method (see TLS_VERSIONS).
    tls_version: str = ""
    tls_ciphers: str = ""
    # Where `homepbx apply` writes agent.pem and cafile.pem (TLS_KEY_AND_CERT, TLS_CHAIN), as FreeSWITCH sees it.
    tls_cert_dir: str = ""
    # The SRTP suite agents on TLS must use, both ways (rtp_secure_media_*=mandatory:<this>).
    srtp_suite: str = "AES_CM_128_HMAC_SHA1_80"


# sip.tls_method -> sofia's tls-version. sofia-sip 1.13 can switch TLS 1.0-1.2 off but has no
# switch for 1.3: "tlsv1_2" therefore accepts TLS 1.2 and 1.3 (a phone that speaks 1.3 gets it),
# where Asterisk's method speaks exactly 1.2. "tlsv1_3" is 1.3 only on both.
TLS_VERSIONS = {"tlsv1_2": "tlsv1.2", "tlsv1_3": "tlsv1.3"}
# Beside the XML, in FreeSWITCH's conf dir: sofia's tls-cert-dir. sofia-sip reads the key and
# certificate from agent.pem and trusts cafile.pem; if either is missing, FreeSWITCH silently
# generates a self-signed tls.pem there and uses it, so `apply` always writes both.
TLS_SUBDIR = "tls"
TLS_KEY_AND_CERT = f"{TLS_SUBDIR}/agent.pem"
TLS_CHAIN = f"{TLS_SUBDIR}/cafile.pem"


def _sip_ip(settings: Settings) -> tuple[str, int]:
    address = ipaddress.ip_address(sip.ip(settings.sip.bind_address, "sip.bind_address"))
    return ("" if address.is_unspecified else str(address)), address.version


def options_from(settings: Settings) -> Options:
    """Check the settings the FreeSWITCH templates use; raise InvalidInput naming the first bad one."""
    fs, esl = settings.freeswitch, settings.esl
    domain = sip.domain(settings)
    sip_ip, family = _sip_ip(settings)
    udp_port = sip.port(settings.sip.udp_port, "sip.udp_port")
    # One sofia profile listens on UDP and TCP on the same port.
    if sip.port(settings.sip.tcp_port, "sip.tcp_port") != udp_port:
        raise sip.fail("sip.tcp_port", settings.sip.tcp_port, f"equal to sip.udp_port ({udp_port}) on FreeSWITCH")
    cert, _ = sip.tls_files(settings)
    tls_port = sip.port(settings.sip.tls_port, "sip.tls_port")
    if cert and tls_port == udp_port:
        raise sip.fail("sip.tls_port", tls_port, f"another port than sip.udp_port ({udp_port})")
    esl_host = sip.ip(esl.host, "esl.host")
    if not ipaddress.ip_address(esl_host).is_loopback:
        # The event socket runs any API command (originate, system...): never off the host.
        raise sip.fail("esl.host", esl.host, "a loopback address such as 127.0.0.1")
    if not _ESL_PASSWORD.fullmatch(esl.password) or esl.password == _DEFAULT_ESL_PASSWORD:
        raise InvalidInput(
            "The setting esl.password must be 8 to 128 characters without blanks, quotes, '$', '&', '<' or '>', "
            "and not FreeSWITCH's default (`homepbx init` generates one).",
            field="esl.password",
        )
    log_dir = sip.path(fs.log_dir, "freeswitch.log_dir")
    rtp_start = sip.port(fs.rtp_start_port, "freeswitch.rtp_start_port")
    rtp_end = sip.port(fs.rtp_end_port, "freeswitch.rtp_end_port")
    if rtp_end <= rtp_start:
        raise sip.fail("freeswitch.rtp_end_port", rtp_end, f"above freeswitch.rtp_start_port ({rtp_start})")
    return Options(
        domain=domain,
        sip_ip=sip_ip,
        sip_ip_family=family,
        sip_port=udp_port,
        public_address=sip.public_address(settings),
        local_net=sip.local_net(settings),
        rtp_timeout=sip.rtp_timeout(settings),
        rtp_start_port=rtp_start,
        rtp_end_port=rtp_end,
        recordings_dir=sip.path(fs.recordings_dir, "freeswitch.recordings_dir"),
        log_dir=log_dir,
        json_cdr_dir=f"{log_dir.rstrip('/')}/json_cdr",
        db_dir=sip.path(fs.db_dir, "freeswitch.db_dir"),
        esl_host=esl_host,
        esl_port=sip.port(esl.port, "esl.port"),
        esl_password=esl.password,
        tls=bool(cert),
        tls_port=tls_port,
        tls_version=TLS_VERSIONS[sip.tls_method(settings)],
        tls_ciphers=sip.tls_ciphers(settings),
        tls_cert_dir=f"{sip.path(fs.config_dir, 'freeswitch.config_dir').rstrip('/')}/{TLS_SUBDIR}" if cert else "",
    )
