"""Run the lab's Asterisk 22 inside the cached chroot, bound to the lab address."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from ...config import Settings
from ...errors import OperationalError
from ...pbx import LabStatus
from . import files
from ...lab.chroot import CHROOT_ENV, Chroot, mounts_under, require_root
from ...lab.daemon import ChrootDaemon, check_ports_free, tail, write_atomic

# Paths as Asterisk sees them inside the chroot.
# Not astkeydir/keys: res_crypto would try to load the TLS key as an RSA key of its own.
TLS_DIR = "/var/lib/asterisk/homepbx-lab-tls"
AMI_SECRET_FILE = "ami-secret"
CONSOLE_LOG = "asterisk.out"
# What a running lab leaves in its chroot that another lab must not inherit (LabPBX.copy_built).
RUNTIME_STATE = ("/var/log/asterisk", "/var/lib/asterisk/astdb.sqlite3", "/var/spool/asterisk/monitor",
                 "/var/lib/homepbx-lab/phones")


class LabPBX:
    """The lab Asterisk of `settings.lab` (root, address, mirror)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.lab.root)
        self.address = settings.lab.address
        self.chroot = Chroot(self.root, settings.lab.mirror)
        self.daemon = ChrootDaemon(self.chroot, "Asterisk", CONSOLE_LOG)

    # -- paths -------------------------------------------------------------------------------

    @property
    def tls_cert_file(self) -> str:
        """The lab certificate as seen inside the chroot (one per address: it names the address)."""
        return f"{TLS_DIR}/homepbx-lab-{self.address}.crt"

    @property
    def tls_key_file(self) -> str:
        return f"{TLS_DIR}/homepbx-lab-{self.address}.key"

    # -- lifecycle -----------------------------------------------------------------------------

    def is_built(self) -> bool:
        """True when the cached chroot is complete."""
        return self.chroot.is_built()

    def ensure_built(self, rebuild: bool = False) -> float:
        """Build the chroot (Debian sid + Asterisk 22 + baresip) unless cached; seconds spent."""
        return self.chroot.ensure(rebuild=rebuild)

    def copy_built(self, source: LabPBX) -> float:
        """Give this lab a copy of `source`'s built chroot rather than building one; seconds spent.

        For a second lab PBX beside the first (the NAT tests' Asterisk on another address): a
        copy takes seconds where a build takes minutes. What is mounted in the source (its
        /proc while its Asterisk runs) stays out (`cp --one-file-system`), and so does the
        source's runtime state (logs and call records, registrations kept in astdb, softphone
        folders): this lab starts with none of the other lab's calls. Nothing is done when this
        lab is built already.
        """
        require_root()
        with self.daemon.lock():
            if self.chroot.is_built():
                return 0.0
            if not source.chroot.is_built():
                raise OperationalError(f"The lab in {source.root} is not built: there is nothing to copy.")
            started = time.monotonic()
            partial = self.root / "chroot.copy"
            for path in (partial, self.chroot.path):
                if path.exists():
                    if mounts_under(path):
                        raise OperationalError(f"Something is still mounted under {path}: unmount it first.")
                    shutil.rmtree(path)
            result = subprocess.run(["cp", "-a", "--one-file-system", str(source.chroot.path), str(partial)],
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                raise OperationalError(f"Could not copy the lab chroot of {source.root}: {result.stderr.strip()}.")
            for inner in RUNTIME_STATE:
                target = partial / inner.lstrip("/")
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            partial.rename(self.chroot.path)
            self.chroot.marker.write_text(f"copied from {source.root}\n", encoding="utf-8")
            return time.monotonic() - started

    def up(self, wait: bool = True, timeout: float = 60.0, rebuild: bool = False) -> LabStatus:
        """Build the chroot if needed and start Asterisk unless it already runs (idempotent).

        With `wait`, return only once Asterisk is fully booted. `rebuild` stops Asterisk and
        rebuilds the chroot from nothing first.
        """
        require_root()
        with self.daemon.lock():
            if rebuild:
                self._down()
            self.chroot.ensure(rebuild=rebuild)
            if self._running_pid() is None:
                check_ports_free(self.address, [("tcp", 5038), ("tcp", 5060), ("tcp", 5061), ("udp", 5060)],
                                 "Asterisk")
                self._prepare()
                # Asterisk reads /proc (CPU count, its own fds): mounted only while it runs.
                self.daemon.start(["asterisk", "-f", "-C", "/etc/asterisk/asterisk.conf"], self.address)
        if wait:
            self.wait_booted(timeout)
        return self.status()

    def restart(self, timeout: float = 60.0) -> LabStatus:
        """Stop and start Asterisk (well under a second): picks up new transports and modules."""
        self.down()
        return self.up(wait=True, timeout=timeout)

    def wait_booted(self, timeout: float = 60.0) -> None:
        """Wait until Asterisk answers `core waitfullybooted` on its control socket."""
        deadline = time.monotonic() + timeout
        while True:
            pid = self._running_pid()
            if pid is None:
                raise OperationalError(f"Asterisk stopped while starting: {self.daemon.last_output()}")
            left = deadline - time.monotonic()
            result = self.chroot.run(["asterisk", "-rx", "core waitfullybooted"],
                                     timeout=max(left, 1.0), check=False)
            if result.returncode == 0 and "fully booted" in result.stdout.lower():
                return
            if time.monotonic() >= deadline:
                raise OperationalError(f"Asterisk did not finish booting within {timeout:g} s.")
            time.sleep(0.2)

    def down(self) -> None:
        """Stop the Asterisk we started and unmount what we mounted; safe to call at any time."""
        if not self.root.is_dir():
            return
        with self.daemon.lock():
            self._down()

    def _down(self) -> None:
        self.daemon.stop(lambda: self.chroot.run(["asterisk", "-rx", "core stop now"], timeout=10, check=False))

    def status(self) -> LabStatus:
        """Built? running? which PID and Asterisk version?"""
        built = self.chroot.is_built()
        pid = self._running_pid()
        version = None
        if built:
            result = self.chroot.run(["asterisk", "-V"], check=False)
            version = result.stdout.strip() or None
        return LabStatus(root=str(self.root), address=self.address, built=built,
                         running=pid is not None, pid=pid, version=version)

    # -- talking to it -------------------------------------------------------------------------

    def rx(self, command: str, timeout: float = 30.0) -> str:
        """Run one Asterisk CLI command and return its output."""
        if self._running_pid() is None:
            raise OperationalError("The lab PBX is not running: start it with homepbx lab up.")
        result = self.chroot.run(["asterisk", "-rx", command], timeout=timeout, check=False)
        if result.returncode != 0:
            raise OperationalError(f"Asterisk refused the command {command!r}: {result.stderr.strip() or 'no reason given'}.")
        # asterisk -rx exits 0 even for a command it does not know
        if result.stdout.lstrip().startswith("No such command"):
            raise OperationalError(f"Asterisk has no command {command!r}.")
        return result.stdout

    def logs(self, lines: int = 50) -> str:
        """The last `lines` lines of Asterisk's message log (or of its console output)."""
        log_dir = self.chroot.host("/var/log/asterisk")
        candidates = [log_dir / "messages.log", log_dir / "messages", log_dir / "full",
                      self.root / CONSOLE_LOG]
        existing = [p for p in candidates if p.is_file() and p.stat().st_size > 0]
        if not existing:
            return ""
        newest = max(existing, key=lambda p: p.stat().st_mtime)
        return "\n".join(tail(newest, lines))

    def shell(self) -> int:
        """An interactive Asterisk console (`asterisk -rvvv`); returns its exit code."""
        if not sys.stdin.isatty():
            # without a terminal the console never sees an end of input and waits forever
            raise OperationalError("The lab shell needs an interactive terminal.")
        if self._running_pid() is None:
            raise OperationalError("The lab PBX is not running: start it with homepbx lab up.")
        return subprocess.call(self.chroot.command(["asterisk", "-rvvv"]), env=CHROOT_ENV)

    def lab_settings(self) -> Settings:
        """`settings` pointed at the lab: config dir, paths, addresses, TLS files, AMI secret.

        The database setting is left as given: the lab is a PBX, not a homepbx install.
        """
        base = self.settings
        asterisk = replace(
            base.asterisk,
            config_dir="/etc/asterisk",
            root=str(self.chroot.path),
            recordings_dir="/var/spool/asterisk/monitor/homepbx",
            log_dir="/var/log/asterisk",
        )
        sip = replace(
            base.sip,
            domain=self.address,
            public_address=self.address,
            bind_address=self.address,
            udp_port=5060, tcp_port=5060, tls_port=5061,
            tls_cert_file=self.tls_cert_file,
            tls_key_file=self.tls_key_file,
            local_net=(),
        )
        ami = replace(base.ami, host=self.address, port=5038, secret=self.ami_secret())
        return replace(base, backend="asterisk", sip=sip, asterisk=asterisk, ami=ami)

    def ami_secret(self) -> str:
        """The lab's AMI secret, generated once and kept (0600) in the lab root."""
        path = self.root / AMI_SECRET_FILE
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
        self.root.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secret + "\n")
        return secret

    # -- internals -----------------------------------------------------------------------------

    @property
    def _process(self) -> subprocess.Popen[bytes] | None:
        return self.daemon._process

    def _running_pid(self) -> int | None:
        return self.daemon.running_pid()

    def _prepare(self) -> None:
        # Before Asterisk starts: it must never send a DNS query off the machine.
        self.chroot.isolate_names(self.address)
        etc = self.chroot.host("/etc/asterisk")
        etc.mkdir(parents=True, exist_ok=True)
        owned = {
            "asterisk.conf": files.asterisk_conf(self.chroot.module_dir()),
            "modules.conf": files.modules_conf(),
            "rtp.conf": files.rtp_conf(),
            "musiconhold.conf": files.musiconhold_conf(),
        }
        for name, text in owned.items():
            write_atomic(etc / name, text)
        samples = self.chroot.host("/etc/asterisk.dist")
        for name in files.SAMPLE_FILES:
            if not (etc / name).exists() and (samples / name).is_file():
                write_atomic(etc / name, files.from_sample((samples / name).read_text(encoding="utf-8")))
        for inner in ("/var/run/asterisk", "/var/log/asterisk", "/var/spool/asterisk/monitor/homepbx",
                      "/var/lib/asterisk", "/var/lib/asterisk/keys", files.MOH_DIR, TLS_DIR):
            self.chroot.host(inner).mkdir(parents=True, exist_ok=True)
        silence = self.chroot.host(files.MOH_DIR) / "silence.wav"
        if not silence.exists():
            silence.write_bytes(files.silence_wav())
        self.chroot.self_signed_certificate(self.tls_cert_file, self.tls_key_file, self.address)
        self.ami_secret()

