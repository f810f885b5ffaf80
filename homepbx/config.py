"""Settings: a TOML file (default /etc/homepbx/homepbx.toml, --config, or HOMEPBX_CONFIG).

Every field has a default, so homepbx runs with no file at all. Environment variables
HOMEPBX_DATABASE_URL and HOMEPBX_ASTERISK_CONFIG_DIR override the file (handy in containers
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
class AsteriskSettings:
    # Paths below are as Asterisk sees them; `root` turns them into paths on this host:
    # "/" normally, the chroot for the lab.
    root: str = "/"
    # Where `apply` writes the generated files (Asterisk's own /etc/asterisk by default).
    config_dir: str = "/etc/asterisk"
    # Digest realm and the address agents put in their softphone.
    sip_domain: str = "homepbx"
    public_address: str = ""
    bind_address: str = "0.0.0.0"
    udp_port: int = 5060
    tcp_port: int = 5060
    tls_port: int = 5061
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Set when Asterisk itself sits behind NAT: networks that are not NATed.
    local_net: tuple[str, ...] = ()
    rtp_timeout: int = 60
    recordings_dir: str = "/var/spool/asterisk/monitor/homepbx"
    # Asterisk's CSV CDR/CEL and queue_log files (as Asterisk sees them), for the collector's backfill.
    log_dir: str = "/var/log/asterisk"


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "homepbx"
    secret: str = ""
    timeout: float = 5.0


@dataclass(frozen=True)
class LabSettings:
    # The cached Debian sid chroot holding asterisk, baresip and sipp.
    root: str = "/var/lib/homepbx/lab"
    address: str = "127.0.0.1"
    mirror: str = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    lab: LabSettings = field(default_factory=LabSettings)
    # The file these settings came from (None: defaults only).
    source: Path | None = None

    def host_path(self, asterisk_path: str) -> Path:
        """Translate a path as Asterisk sees it into the same file on this host."""
        return Path(self.asterisk.root) / asterisk_path.lstrip("/")


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
        elif isinstance(default, bool) or not isinstance(value, type(default)):
            if not (isinstance(default, float) and isinstance(value, int)):
                raise InvalidInput(
                    f"Setting {name}.{key} must be of type {type(default).__name__}.",
                    field=f"{name}.{key}",
                )
        values[key] = value
    return cls(**values)


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
    sections = {"database": DatabaseSettings, "asterisk": AsteriskSettings, "ami": AmiSettings, "lab": LabSettings}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise InvalidInput(f"Unknown settings section [{unknown[0]}] in {chosen}.")
    settings = Settings(
        **{name: _section(cls, raw.get(name), name) for name, cls in sections.items()},
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
    return settings


def to_toml(settings: Settings) -> str:
    """Serialise settings back to TOML (used by `init` and the lab to write a settings file)."""
    lines: list[str] = []
    for section in ("database", "asterisk", "ami", "lab"):
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
