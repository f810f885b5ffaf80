"""Run the lab's Asterisk 22 inside the cached chroot, bound to the lab address."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ...config import Settings
from ...errors import OperationalError
from . import files
from ...lab.chroot import CHROOT_ENV, Chroot, mounts_under, require_root

# Paths as Asterisk sees them inside the chroot.
# Not astkeydir/keys: res_crypto would try to load the TLS key as an RSA key of its own.
TLS_DIR = "/var/lib/asterisk/homepbx-lab-tls"
STATE_FILE = "pbx.json"
AMI_SECRET_FILE = "ami-secret"
CONSOLE_LOG = "asterisk.out"


@dataclass(frozen=True)
class LabStatus:
    """What `lab status` reports."""

    root: str
    address: str
    built: bool
    running: bool
    pid: int | None
    version: str | None


class LabPBX:
    """The lab Asterisk of `settings.lab` (root, address, mirror)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.lab.root)
        self.address = settings.lab.address
        self.chroot = Chroot(self.root, settings.lab.mirror)
        # Set when this object started Asterisk: lets down() reap its child.
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def tls_cert_file(self) -> str:
        """The lab certificate as seen inside the chroot (one per address: it names the address)."""
        return f"{TLS_DIR}/homepbx-lab-{self.address}.crt"

    @property
    def tls_key_file(self) -> str:
        return f"{TLS_DIR}/homepbx-lab-{self.address}.key"

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    # -- lifecycle -----------------------------------------------------------------------------

    def up(self, wait: bool = True, timeout: float = 60.0, rebuild: bool = False) -> LabStatus:
        """Build the chroot if needed and start Asterisk unless it already runs (idempotent).

        With `wait`, return only once Asterisk is fully booted. `rebuild` stops Asterisk and
        rebuilds the chroot from nothing first.
        """
        require_root()
        with self._lock():
            if rebuild:
                self._down()
            self.chroot.ensure(rebuild=rebuild)
            if self._running_pid() is None:
                self._check_ports_free()
                self._prepare()
                self._start()
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
                raise OperationalError(f"Asterisk stopped while starting: {self._last_output()}")
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
        with self._lock():
            self._down()

    def _down(self) -> None:
        state = self._read_state()
        pid = self._running_pid(state)
        if pid is not None:
            self._stop(pid)
        for point in reversed(state.get("mounts", [])):
            if Path(point) in mounts_under(Path(point)):
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        self.state_path.unlink(missing_ok=True)
        self._process = None

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
        return "\n".join(_tail(newest, lines))

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

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `lab up` at once (two terminals, parallel test workers) must not both build.
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _prepare(self) -> None:
        etc = self.chroot.host("/etc/asterisk")
        etc.mkdir(parents=True, exist_ok=True)
        owned = {
            "asterisk.conf": files.asterisk_conf(self.chroot.module_dir()),
            "modules.conf": files.modules_conf(),
            "rtp.conf": files.rtp_conf(),
            "musiconhold.conf": files.musiconhold_conf(),
        }
        for name, text in owned.items():
            _write_atomic(etc / name, text)
        samples = self.chroot.host("/etc/asterisk.dist")
        for name in files.SAMPLE_FILES:
            if not (etc / name).exists() and (samples / name).is_file():
                _write_atomic(etc / name, files.from_sample((samples / name).read_text(encoding="utf-8")))
        for inner in ("/var/run/asterisk", "/var/log/asterisk", "/var/spool/asterisk/monitor/homepbx",
                      "/var/lib/asterisk", "/var/lib/asterisk/keys", files.MOH_DIR, TLS_DIR):
            self.chroot.host(inner).mkdir(parents=True, exist_ok=True)
        silence = self.chroot.host(files.MOH_DIR) / "silence.wav"
        if not silence.exists():
            silence.write_bytes(files.silence_wav())
        self._ensure_certificate()
        self.ami_secret()

    def _check_ports_free(self) -> None:
        # Asterisk only logs a failed bind and runs on, deaf: say it plainly instead.
        for kind, port in ((socket.SOCK_STREAM, 5038), (socket.SOCK_STREAM, 5060),
                           (socket.SOCK_STREAM, 5061), (socket.SOCK_DGRAM, 5060)):
            with socket.socket(socket.AF_INET, kind) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.address, port))
                except OSError:
                    proto = "TCP" if kind == socket.SOCK_STREAM else "UDP"
                    raise OperationalError(
                        f"{proto} port {port} on {self.address} is already in use: stop the other PBX "
                        f"or give the lab another address.") from None

    def _ensure_certificate(self) -> None:
        if self.chroot.host(self.tls_cert_file).is_file() and self.chroot.host(self.tls_key_file).is_file():
            return
        self.chroot.run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", f"/CN={self.address}", "-addext", f"subjectAltName=IP:{self.address}",
            "-keyout", self.tls_key_file, "-out", self.tls_cert_file,
        ])
        self.chroot.host(self.tls_key_file).chmod(0o600)

    def _start(self) -> None:
        mounts: list[str] = []
        proc_dir = self.chroot.host("/proc")
        # Asterisk reads /proc (CPU count, its own fds); mount it only while Asterisk runs.
        if proc_dir not in mounts_under(proc_dir):
            subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=True, capture_output=True)
            mounts.append(str(proc_dir))
        out = open(self.root / CONSOLE_LOG, "ab")
        try:
            self._process = subprocess.Popen(
                self.chroot.command(["asterisk", "-f", "-C", "/etc/asterisk/asterisk.conf"]),
                env=CHROOT_ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the caller's terminal must not reach it
            )
        finally:
            out.close()
        self._write_state({"pid": self._process.pid, "mounts": mounts, "address": self.address,
                           "started": time.time()})

    def _stop(self, pid: int) -> None:
        self.chroot.run(["asterisk", "-rx", "core stop now"], timeout=10, check=False)
        if self._wait_gone(pid, 10):
            return
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if self._wait_gone(pid, grace):
                return
        raise OperationalError(f"Asterisk (PID {pid}) did not stop.")

    def _wait_gone(self, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return True
            elif not _alive(pid):
                return True
            time.sleep(0.1)
        return False

    def _running_pid(self, state: dict | None = None) -> int | None:
        """Our Asterisk's PID if it still runs (a reused PID of another program is not ours)."""
        state = self._read_state() if state is None else state
        pid = state.get("pid")
        if not isinstance(pid, int):
            return None
        if self._process is not None and self._process.pid == pid:
            return pid if self._process.poll() is None else None
        if not _alive(pid):
            return None
        return pid if self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        # Until chroot(2) runs, the process is still `chroot <our dir> ...` with the host's root.
        ours = os.path.realpath(self.chroot.path)
        try:
            if os.path.realpath(os.readlink(f"/proc/{pid}/root")) == ours:
                return True
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            return False
        return len(argv) > 1 and os.path.basename(argv[0]) == b"chroot" and os.path.realpath(argv[1]) == ours

    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        _write_atomic(self.state_path, json.dumps(state, indent=2) + "\n")

    def _last_output(self) -> str:
        lines = [line for line in _tail(self.root / CONSOLE_LOG, 20) if line.strip()]
        return lines[-1].strip() if lines else "no output (see the Asterisk logs)"


def _alive(pid: int) -> bool:
    """True if `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            return f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return []


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
