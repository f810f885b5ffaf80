"""The FreeSWITCH lab: a real FreeSWITCH 1.10 in a Debian sid chroot, on the lab address.

No package archive reachable here carries FreeSWITCH, so the lab runs a build made once from
FreeSWITCH's public source into `<lab.freeswitch_root>/chroot` (prefix /usr/local/freeswitch)
and marked with `<lab.freeswitch_root>/freeswitch.built`; homepbx never downloads or builds it
itself. Ports stay clear of the Asterisk lab's, so both labs run side by side: SIP 5080
(UDP/TCP), TLS 5081, ESL 8021, RTP 20000-24999.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..config import Settings
from ..errors import OperationalError
from ..lab.chroot import CHROOT_ENV, Chroot, require_root
from ..lab.daemon import ChrootDaemon, check_ports_free, tail
from ..pbx import LabStatus

PREFIX = "/usr/local/freeswitch"
BINARY = f"{PREFIX}/bin/freeswitch"
FS_CLI = f"{PREFIX}/bin/fs_cli"
MARKER = "freeswitch.built"
ESL_PASSWORD_FILE = "esl-password"
CONSOLE_LOG = "freeswitch.out"
SIP_PORT = 5080
TLS_PORT = 5081
ESL_PORT = 8021
# Paths as FreeSWITCH sees them inside the chroot.
CONF_DIR = "/etc/freeswitch"
LOG_DIR = "/var/log/freeswitch"
DB_DIR = "/var/lib/freeswitch/db"
RUN_DIR = "/run/freeswitch"
STORAGE_DIR = "/var/lib/freeswitch/storage"
CACHE_DIR = "/var/cache/freeswitch"
RECORDINGS_DIR = "/var/lib/freeswitch/recordings/homepbx"
TLS_DIR = "/etc/freeswitch-tls"
# Beside the Asterisk lab's 10000-20000.
RTP_PORTS = (20000, 24999)


def how_to_build(root: Path) -> str:
    """The one sentence shown wherever the FreeSWITCH build is missing."""
    return (f"No FreeSWITCH 1.10 build in {root}: build FreeSWITCH 1.10 from its source into "
            f"{root / 'chroot'} (a Debian sid chroot, prefix {PREFIX}) and write {root / MARKER}, "
            f"as the README's 'FreeSWITCH lab' section describes.")


class FreeswitchLab:
    """The lab FreeSWITCH of `settings.lab` (freeswitch_root, address)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.lab.freeswitch_root)
        self.address = settings.lab.address
        self.chroot = Chroot(self.root, settings.lab.mirror)
        self.daemon = ChrootDaemon(self.chroot, "FreeSWITCH", CONSOLE_LOG)

    # -- build -------------------------------------------------------------------------------

    def is_built(self) -> bool:
        """True when a marked FreeSWITCH build is in the chroot."""
        return (self.root / MARKER).is_file() and self.chroot.host(BINARY).is_file()

    def ensure_built(self, rebuild: bool = False) -> float:
        """FreeSWITCH is built by hand once (see `how_to_build`); refuse plainly when it is not.

        Also makes the folders `homepbx apply` and FreeSWITCH write into.
        """
        if rebuild or not self.is_built():
            raise OperationalError(how_to_build(self.root))
        self.prepare()
        return 0.0

    def version(self) -> str | None:
        marker = self.root / MARKER
        return marker.read_text(encoding="utf-8").strip() or None if marker.is_file() else None

    # -- settings ----------------------------------------------------------------------------

    @property
    def tls_cert_file(self) -> str:
        """The lab's self-signed certificate as FreeSWITCH sees it (one per address: it names it)."""
        return f"{TLS_DIR}/homepbx-lab-{self.address}.crt"

    @property
    def tls_key_file(self) -> str:
        """Its private key (0600), beside it."""
        return f"{TLS_DIR}/homepbx-lab-{self.address}.key"

    def lab_settings(self) -> Settings:
        """`settings` pointed at the lab FreeSWITCH: backend, addresses, paths, ESL password."""
        base = self.settings
        sip = replace(base.sip, domain=self.address, public_address=self.address, bind_address=self.address,
                      udp_port=SIP_PORT, tcp_port=SIP_PORT, tls_port=TLS_PORT,
                      tls_cert_file=self.tls_cert_file, tls_key_file=self.tls_key_file, local_net=(),
                      agent_transport="tls")
        freeswitch = replace(base.freeswitch, root=str(self.chroot.path), config_dir=CONF_DIR,
                             recordings_dir=RECORDINGS_DIR, log_dir=LOG_DIR, db_dir=DB_DIR,
                             rtp_start_port=RTP_PORTS[0], rtp_end_port=RTP_PORTS[1])
        esl = replace(base.esl, host=self.address, port=ESL_PORT, password=self.esl_password())
        return replace(base, backend="freeswitch", sip=sip, freeswitch=freeswitch, esl=esl)

    def esl_password(self) -> str:
        """The lab's ESL password, generated once and kept (0600) in the lab root."""
        path = self.root / ESL_PASSWORD_FILE
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
        self.root.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
        return password

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self, wait: bool = True, timeout: float = 60.0, rebuild: bool = False) -> LabStatus:
        """Start FreeSWITCH on the configuration `homepbx apply` wrote, unless it already runs."""
        require_root()
        with self.daemon.lock():
            self.ensure_built(rebuild)
            if self.daemon.running_pid() is None:
                if not self.chroot.host(f"{CONF_DIR}/freeswitch.xml").is_file():
                    raise OperationalError(f"The FreeSWITCH lab has no configuration in {CONF_DIR}: "
                                           "run `homepbx apply` with the lab's settings first.")
                check_ports_free(self.address, [("tcp", ESL_PORT), ("tcp", SIP_PORT), ("udp", SIP_PORT),
                                                ("tcp", TLS_PORT)],
                                 "FreeSWITCH")
                self.prepare()
                # Each start logs into a fresh file: what this configuration said, nothing older.
                log = self.chroot.host(f"{LOG_DIR}/freeswitch.log")
                if log.exists():
                    os.replace(log, log.with_name("freeswitch.log.1"))
                self.daemon.start([
                    BINARY, "-nf", "-nc", "-nonat", "-conf", CONF_DIR, "-log", LOG_DIR, "-db", DB_DIR,
                    "-run", RUN_DIR, "-storage", STORAGE_DIR, "-cache", CACHE_DIR,
                    "-recordings", os.path.dirname(RECORDINGS_DIR),
                ], self.address)
        if wait:
            self.wait_ready(timeout)
        return self.status()

    def prepare(self) -> None:
        """The directories FreeSWITCH writes into (config comes from `homepbx apply`), name
        lookups kept on this machine, and the lab's TLS certificate."""
        self.chroot.isolate_names(self.address)
        for inner in (CONF_DIR, LOG_DIR, f"{LOG_DIR}/json_cdr", DB_DIR, RUN_DIR, STORAGE_DIR, CACHE_DIR,
                      RECORDINGS_DIR, TLS_DIR):
            self.chroot.host(inner).mkdir(parents=True, exist_ok=True)
        self.chroot.self_signed_certificate(self.tls_cert_file, self.tls_key_file, self.address)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until FreeSWITCH answers `status` over ESL as ready."""
        deadline = time.monotonic() + timeout
        while True:
            if self.daemon.running_pid() is None:
                raise OperationalError(f"FreeSWITCH stopped while starting: {self.daemon.last_output()}")
            result = self.chroot.run(self._cli_args(["-x", "status"]), timeout=10, check=False)
            if result.returncode == 0 and "is ready" in result.stdout:
                return
            if time.monotonic() >= deadline:
                raise OperationalError(f"FreeSWITCH did not become ready within {timeout:g} s.")
            time.sleep(0.3)

    def down(self) -> None:
        """Stop the FreeSWITCH we started and unmount what we mounted; safe at any time."""
        if not self.root.is_dir():
            return
        with self.daemon.lock():
            self.daemon.stop(lambda: self.chroot.run(self._cli_args(["-x", "fsctl shutdown"]),
                                                     timeout=10, check=False))

    def status(self) -> LabStatus:
        pid = self.daemon.running_pid()
        return LabStatus(root=str(self.root), address=self.address, built=self.is_built(),
                         running=pid is not None, pid=pid, version=self.version())

    # -- talking to it -----------------------------------------------------------------------

    def api(self, command: str, timeout: float = 30.0) -> str:
        """Run one FreeSWITCH API command through fs_cli and return its output."""
        if self.daemon.running_pid() is None:
            raise OperationalError("The FreeSWITCH lab is not running: start it with homepbx lab up --backend freeswitch.")
        result = self.chroot.run(self._cli_args(["-x", command]), timeout=timeout, check=False)
        if result.returncode != 0:
            raise OperationalError(f"FreeSWITCH refused {command!r}: {result.stderr.strip() or 'no reason given'}.")
        return result.stdout

    def log_lines(self) -> list[str]:
        """Everything FreeSWITCH logged since it started."""
        log = self.chroot.host(f"{LOG_DIR}/freeswitch.log")
        return log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []

    def logs(self, lines: int = 50) -> str:
        """The last `lines` lines of FreeSWITCH's log (or of its console output)."""
        candidates = [self.chroot.host(f"{LOG_DIR}/freeswitch.log"), self.daemon.console_log]
        existing = [p for p in candidates if p.is_file() and p.stat().st_size > 0]
        if not existing:
            return ""
        return "\n".join(tail(max(existing, key=lambda p: p.stat().st_mtime), lines))

    def shell(self) -> int:
        """An interactive fs_cli on the lab FreeSWITCH; returns its exit code."""
        if not sys.stdin.isatty():
            raise OperationalError("The lab shell needs an interactive terminal.")
        if self.daemon.running_pid() is None:
            raise OperationalError("The FreeSWITCH lab is not running: start it with homepbx lab up --backend freeswitch.")
        return subprocess.call(self.chroot.command(self._cli_args([])), env=CHROOT_ENV)

    def _cli_args(self, extra: list[str]) -> list[str]:
        return [FS_CLI, "-H", self.address, "-P", str(ESL_PORT), "-p", self.esl_password(), *extra]
