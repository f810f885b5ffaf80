"""Settings: a TOML file (default /etc/homepbx/homepbx.toml, --config, or HOMEPBX_CONFIG).

Every field has a default, so homepbx runs with no file at all. Environment variables
HOMEPBX_DATABASE_URL, HOMEPBX_ASTERISK_CONFIG_DIR and HOMEPBX_FREESWITCH_CONFIG_DIR override the file (handy in containers
and tests).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from .errors import InvalidInput

DEFAULT_PATH = Path("/etc/homepbx/homepbx.toml")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:////var/lib/homepbx/homepbx.db"


@dataclass(frozen=True)
class SipSettings:
    """What agents' softphones see, whichever PBX runs the site."""

    # Digest realm and SIP domain; the address agents put in their softphone is public_address.
    domain: str = "homepbx"
    public_address: str = ""
    bind_address: str = "0.0.0.0"
    udp_port: int = 5060
    tcp_port: int = 5060
    tls_port: int = 5061
    # PEM files as the PBX reads them (below its root). Needed as soon as one agent uses TLS.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # The TLS version agents use: "tlsv1_2" or "tlsv1_3". Asterisk's `method` accepts exactly
    # that version (measured: tlsv1_2 refuses 1.3 and 1.1); every softphone has TLS 1.2.
    tls_method: str = "tlsv1_2"
    # OpenSSL cipher list for TLS 1.2 ("" = OpenSSL's defaults, which are sound).
    tls_ciphers: str = ""
    # How agents added without --transport connect: "tls" (TLS + SRTP, mandatory) or, for a
    # site opted into clear text, "udp"/"tcp".
    agent_transport: str = "tls"
    # false: no agent may use clear-text SIP/RTP (udp/tcp); `agent add --transport udp` is refused.
    allow_clear_text: bool = True
    # Set when the PBX itself sits behind NAT: networks that are not NATed.
    local_net: tuple[str, ...] = ()
    rtp_timeout: int = 60


@dataclass(frozen=True)
class AsteriskSettings:
    # Paths below are as Asterisk sees them; `root` turns them into paths on this host:
    # "/" normally, the chroot for the lab.
    root: str = "/"
    # Where `apply` writes the generated files (Asterisk's own /etc/asterisk by default).
    config_dir: str = "/etc/asterisk"
    recordings_dir: str = "/var/spool/asterisk/monitor/homepbx"
    # Asterisk's CSV CDR/CEL and queue_log files (as Asterisk sees them), for the collector's backfill.
    log_dir: str = "/var/log/asterisk"


@dataclass(frozen=True)
class FreeswitchSettings:
    # As for Asterisk: paths as FreeSWITCH sees them, `root` maps them onto this host.
    root: str = "/"
    # FreeSWITCH's configuration directory (its -conf), where `apply` writes freeswitch.xml and the rest.
    config_dir: str = "/etc/freeswitch"
    recordings_dir: str = "/var/lib/freeswitch/recordings/homepbx"
    log_dir: str = "/var/log/freeswitch"
    # FreeSWITCH's state (its core and mod_callcenter SQLite databases).
    db_dir: str = "/var/lib/freeswitch/db"
    # The RTP port range a firewall opens for FreeSWITCH.
    rtp_start_port: int = 16384
    rtp_end_port: int = 32767


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "homepbx"
    secret: str = ""
    timeout: float = 5.0


@dataclass(frozen=True)
class EslSettings:
    host: str = "127.0.0.1"
    port: int = 8021
    password: str = ""
    timeout: float = 5.0


@dataclass(frozen=True)
class CarrierSettings:
    """The site's public side: how numbers typed without a country code read, outbound caps."""

    # ISO country whose national format sysadmins and agents type (01 40 00 00 00 in FR) and
    # whose numbering plan the outbound classes follow.
    region: str = "FR"
    # Simultaneous outbound channels through the trunks, site-wide (emergency calls not counted).
    max_outbound: int = 30


@dataclass(frozen=True)
class QualitySettings:
    """When `homepbx report quality` flags an agent's line (homepbx.records.reports.quality)."""

    # Flagged above this mean packet loss (percent, either direction)...
    max_loss_pct: float = 3.0
    # ...or below this mean estimated MOS (1 to 4.5).
    min_mos: float = 3.6


@dataclass(frozen=True)
class LabSettings:
    # The cached Debian sid chroot holding asterisk, baresip and sipp.
    root: str = "/var/lib/homepbx/lab"
    # The chroot holding a FreeSWITCH 1.10 built from source (see homepbx.freeswitch.lab).
    freeswitch_root: str = "/var/lib/homepbx/freeswitch-lab"
    address: str = "127.0.0.1"
    mirror: str = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Settings:
    # Which PBX runs the site: "asterisk" or "freeswitch" (a top-level key of the file).
    backend: str = "asterisk"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    sip: SipSettings = field(default_factory=SipSettings)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    freeswitch: FreeswitchSettings = field(default_factory=FreeswitchSettings)
    esl: EslSettings = field(default_factory=EslSettings)
    lab: LabSettings = field(default_factory=LabSettings)
    carrier: CarrierSettings = field(default_factory=CarrierSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    # The file these settings came from (None: defaults only).
    source: Path | None = None

    @property
    def pbx(self) -> AsteriskSettings | FreeswitchSettings:
        """The paths of the site's PBX (its root, config, recordings and log directories)."""
        return self.freeswitch if self.backend == "freeswitch" else self.asterisk

    def host_path(self, pbx_path: str) -> Path:
        """Translate a path as the site's PBX sees it into the same file on this host."""
        return Path(self.pbx.root) / pbx_path.lstrip("/")


BACKENDS = ("asterisk", "freeswitch")
SECTIONS: dict[str, type] = {
    "database": DatabaseSettings, "sip": SipSettings, "asterisk": AsteriskSettings, "ami": AmiSettings,
    "freeswitch": FreeswitchSettings, "esl": EslSettings, "lab": LabSettings, "carrier": CarrierSettings,
    "quality": QualitySettings,
}
# Settings files written before the [sip] section existed kept these under [asterisk].
_MOVED_TO_SIP = {f.name: f.name for f in fields(SipSettings)} | {"sip_domain": "domain"}
del _MOVED_TO_SIP["domain"]


def _section(cls: type, raw: Any, name: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise InvalidInput(f"Settings section [{name}] must be a table.", field=name)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InvalidInput(f"Unknown setting {name}.{unknown[0]} in the settings file.", field=name)
    values = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise InvalidInput(f"Setting {name}.{key} must be a list.", field=f"{name}.{key}")
            value = tuple(value)
        elif not _same_type(default, value):
            raise InvalidInput(
                f"Setting {name}.{key} must be of type {type(default).__name__}.",
                field=f"{name}.{key}",
            )
        values[key] = value
    return cls(**values)


def _same_type(default: Any, value: Any) -> bool:
    # bool is an int in Python, not in TOML: `port = true` is a mistake, and so is `flag = 1`.
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def load(path: str | Path | None = None) -> Settings:
    """Read the settings from `path`, $HOMEPBX_CONFIG or the default path (if it exists)."""
    explicit = path or os.environ.get("HOMEPBX_CONFIG")
    chosen = Path(explicit) if explicit else DEFAULT_PATH
    raw: dict[str, Any] = {}
    if chosen.exists():
        try:
            raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The settings file {chosen} is not valid TOML: {exc}.") from None
    elif explicit:
        raise InvalidInput(f"The settings file {chosen} does not exist.")
    backend = raw.pop("backend", "asterisk")
    if backend not in BACKENDS:
        raise InvalidInput(f"Unknown backend {backend!r} in {chosen}: use asterisk or freeswitch.", field="backend")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise InvalidInput(f"Unknown settings section [{unknown[0]}] in {chosen}.")
    moved = sorted(set(raw.get("asterisk") or {}) & set(_MOVED_TO_SIP))
    if moved:
        raise InvalidInput(
            f"The setting asterisk.{moved[0]} is now sip.{_MOVED_TO_SIP[moved[0]]} (a [sip] section shared by "
            f"both PBXs): move it in {chosen}.", field=f"asterisk.{moved[0]}")
    settings = Settings(
        backend=backend,
        **{name: _section(cls, raw.get(name), name) for name, cls in SECTIONS.items()},
        source=chosen if chosen.exists() else None,
    )
    return _with_env(settings)


def _with_env(settings: Settings) -> Settings:
    url = os.environ.get("HOMEPBX_DATABASE_URL")
    if url:
        settings = replace(settings, database=replace(settings.database, url=url))
    conf_dir = os.environ.get("HOMEPBX_ASTERISK_CONFIG_DIR")
    if conf_dir:
        settings = replace(settings, asterisk=replace(settings.asterisk, config_dir=conf_dir))
    conf_dir = os.environ.get("HOMEPBX_FREESWITCH_CONFIG_DIR")
    if conf_dir:
        settings = replace(settings, freeswitch=replace(settings.freeswitch, config_dir=conf_dir))
    return settings


def to_toml(settings: Settings) -> str:
    """Serialise settings back to TOML (used by `init` and the lab to write a settings file)."""
    lines: list[str] = [f"backend = {_toml_value(settings.backend)}", ""]
    for section in SECTIONS:
        obj = getattr(settings, section)
        assert is_dataclass(obj)
        lines.append(f"[{section}]")
        for f in fields(obj):
            lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(c) < 0x20 for c in escaped):
        raise InvalidInput("A setting contains a control character.")
    return f'"{escaped}"'
