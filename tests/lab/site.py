"""A homepbx site on the lab PBX: provisioned through the real CLI, applied to the real Asterisk.

One site per test session (one database); each test module provisions its own extensions
and calls `site.apply()` before placing calls.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from homepbx import config, db, publish
from homepbx.config import Settings
from homepbx.pbx import Lab
from homepbx.lab.softphone import PhoneConfig, Softphone

from ..unit.cli_helpers import Cli, Result


class LabSite:
    """The lab PBX plus a homepbx database and settings file pointed at it."""

    def __init__(self, pbx: Lab, workdir: Path, database_url: str | None = None) -> None:
        self.pbx = pbx
        settings = pbx.lab_settings()
        url = database_url or f"sqlite:///{workdir / 'site.db'}"
        self.settings: Settings = replace(settings, database=replace(settings.database, url=url))
        self.config_path = workdir / "homepbx.toml"
        self.config_path.write_text(config.to_toml(self.settings), encoding="utf-8")
        self.config_path.chmod(0o600)
        self.cli = Cli(self.config_path)
        db.upgrade(self.settings.database.url)
        # Passwords as `agent add` printed them, by extension.
        self.passwords: dict[str, str] = {}
        self._local_changed = False
        self._outside: dict[str, str] = {}

    def run(self, *args: str) -> Result:
        """Run `homepbx ARGS` and insist it succeeded."""
        res = self.cli(*args)
        assert res.exit_code == 0, f"homepbx {' '.join(args)} failed: {res.stderr}"
        return res

    def add_agent(self, extension: str, name: str, *options: str) -> dict[str, Any]:
        """`homepbx agent add EXT --name NAME ... --json`; returns the softphone settings it printed."""
        shown = json.loads(self.run("agent", "add", extension, "--name", name, *options, "--json").stdout)
        self.passwords[extension] = shown["password"]
        return shown

    def ensure_team(self, name: str) -> None:
        teams = {t["name"] for t in json.loads(self.run("team", "list", "--json").stdout)}
        if name not in teams:
            self.run("team", "add", name)

    def apply(self) -> list[str]:
        """Write the rendered config (replacing other tests' stand-ins) and make the PBX use it.

        Asterisk: a restart (under a second) rather than a reload, since transports only bind
        at start; tests of `homepbx apply`'s own reload use the CLI instead. FreeSWITCH: the
        reload `homepbx apply` does (it keeps calls up), or a start if it is not running.
        """
        if self.settings.backend == "freeswitch":
            running = self.pbx.status().running
            out = publish.publish(self.settings, force=True, reload=running)
            if not running:
                self.pbx.up(wait=True, timeout=60)
            return out.result.changed
        out = publish.publish(self.settings, force=True, reload=False)
        if out.result.changed or self._local_changed or not self.pbx.status().running:
            self.pbx.restart()
            self._local_changed = False
        return out.result.changed

    def add_outside_caller(self, name: str = "outside", password: str = "outside-secret-1") -> None:
        """A lab-only PJSIP account in `homepbx-inbound`: what a trunk's caller reaches (the queues).

        It lives in pjsip_local.conf, which the rendered pjsip.conf includes and homepbx never
        writes; takes effect at the next `apply()` restart.
        """
        from homepbx.apply import config_dir

        if self._outside.get(name) == password:
            return
        self._outside[name] = password
        self.passwords[name] = password
        # The whole file is this session's: stale accounts of an earlier run go away.
        blocks = [
            f"[{n}](homepbx-media)\ntype = endpoint\ncontext = homepbx-inbound\ndisallow = all\nallow = ulaw\n"
            f"auth = {n}\naors = {n}\ndirect_media = no\nrtp_symmetric = yes\n"
            f"[{n}]\ntype = auth\nauth_type = userpass\nusername = {n}\npassword = {p}\n"
            f"[{n}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
            for n, p in sorted(self._outside.items())
        ]
        path = config_dir(self.settings) / "pjsip_local.conf"
        path.write_text("; lab test accounts (tests/lab/site.py)\n" + "\n".join(blocks), encoding="utf-8")
        self._local_changed = True

    def transport(self, extension: str) -> str:
        """The extension's transport as homepbx provisioned it (tls, udp or tcp)."""
        if extension in self._outside:
            return "udp"  # the lab's own stand-in callers (add_outside_caller)
        shown = json.loads(self.run("agent", "show", extension, "--json").stdout)
        return str(shown["transport"])

    def phone(self, extension: str, tone_hz: int, password: str | None = None, **options: Any) -> PhoneConfig:
        """A softphone config for a provisioned extension (use with the `softphone` factory).

        The phone connects as homepbx told the agent to: TLS with mandatory SRTP (checking the
        lab's certificate) unless the agent was opted into clear text; `options` override.
        """
        sip = self.settings.sip
        transport = options.setdefault("transport", self.transport(extension))
        options.setdefault("sip_port", {"tls": sip.tls_port, "tcp": sip.tcp_port}.get(transport, sip.udp_port))
        if transport == "tls":
            options.setdefault("srtp", True)
            options.setdefault("ca_file", sip.tls_cert_file)
        return PhoneConfig(
            name=extension,
            username=extension,
            password=password if password is not None else self.passwords[extension],
            address=self.pbx.address,
            tone_hz=tone_hz,
            **options,
        )

    def start_phone(self, factory: Any, extension: str, tone_hz: int, **options: Any) -> Softphone:
        """Start and register a softphone for EXT through the `softphone` fixture factory."""
        cfg = self.phone(extension, tone_hz, **options)
        fields = {k: v for k, v in cfg.__dict__.items() if k != "name"}
        phone = factory(cfg.name, **fields)
        phone.wait_registered(15)
        return phone
