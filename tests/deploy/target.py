"""A booted Debian sid server on this machine for the deploy test: systemd-nspawn, cached root.

The root is built once with debootstrap (systemd, python3, python3-apt: what Ansible needs) into
CACHE/root, with the packages the playbook installs downloaded into its apt cache; each run
copies it and boots the copy. The container has no network of its own: apt downloads happen
through the host (chroot at build time, `nsenter` without -n at run time), and the roles install
from the apt cache without updating it.

What this host needs (see design.md): a private mount namespace with a tmpfs on
/run/systemd/nspawn (/run is on disk here), `--register=no --keep-unit` (PID 1 is not systemd)
and SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 (mixed cgroup layout).

Network: a veth pair we create, host side HOST_ADDRESS (+ OTHER_ADDRESS, the "scanner" the
fail2ban check gets banned), container side TARGET_ADDRESS; nothing else is reachable.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("HOMEPBX_TEST_DEPLOY_CACHE", "/var/lib/homepbx/deploy-target-cache"))
MIRROR = "http://deb.debian.org/debian"
# What the roles install (pbx, database, security, homepbx); downloaded through the host.
PACKAGES = ["asterisk", "postgresql", "python3-psycopg2", "python3-venv", "nftables", "fail2ban",
            "openssl", "logrotate"]
BASE_INCLUDE = "systemd,systemd-sysv,dbus,ca-certificates,python3,python3-apt"
APT_CONF = 'Acquire::Check-Valid-Until "false";\n'

HOST_IF, TARGET_IF = "hpxdep-h", "hpxdep-c"
PREFIX = 29
HOST_ADDRESS = "10.213.77.1"
OTHER_ADDRESS = "10.213.77.3"
TARGET_ADDRESS = "10.213.77.2"


def _run(argv: list[str], *, log: Path | None = None, timeout: float = 900,
         env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if log is not None:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if check and result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}")
    return result


def ensure_cache(log: Path) -> float:
    """Build the cached root unless it is there; return the seconds spent."""
    marker = CACHE / "root.built"
    if marker.is_file():
        return 0.0
    started = time.monotonic()
    root = CACHE / "root"
    if root.exists():
        shutil.rmtree(root)
    CACHE.mkdir(parents=True, exist_ok=True)
    _run(["debootstrap", "--variant=minbase", f"--include={BASE_INCLUDE}", "sid", str(root), MIRROR],
         log=log, timeout=1800)
    (root / "etc/apt/apt.conf.d/99homepbx-test").write_text(APT_CONF, encoding="utf-8")
    _run(["chroot", str(root), "apt-get", "update", "-q"], log=log)
    download(root, log)
    (root / "etc/machine-id").write_text("", encoding="utf-8")  # each boot makes its own
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()), encoding="utf-8")
    return time.monotonic() - started


def download(root: Path, log: Path) -> None:
    """Fetch the playbook's packages into the root's apt cache, through the host's network."""
    _run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends",
          *PACKAGES], log=log, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@dataclass
class Target:
    """One booted copy of the cached root."""

    workdir: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0  # the container's init, as seen from the host
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    def boot(self, timeout: float = 60.0) -> None:
        started = time.monotonic()
        if self.root.exists():
            shutil.rmtree(self.root)
        _run(["cp", "-a", "--reflink=auto", str(CACHE / "root"), str(self.root)])
        self.timings["copy"] = time.monotonic() - started
        started = time.monotonic()
        script = ("mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && "
                  f"exec systemd-nspawn --boot --private-network --register=no --keep-unit "
                  f"--machine=homepbx-deploy -D {self.root}")
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        with open(self.workdir / "console.log", "ab") as console:
            self.process = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.pid:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the container did not start: see {self.workdir / 'console.log'}")
            self.pid = self._find_init()
            time.sleep(0.2)
        while True:
            state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the container's systemd is {state!r} after {timeout:g} s")
            time.sleep(0.3)
        self.timings["boot"] = time.monotonic() - started
        self._network()
        started = time.monotonic()
        # Through the host's network (no -n): nothing to fetch when the cache is current.
        _run(["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-p", "--", "apt-get", "install", "-y", "-q",
              "--download-only", "--no-install-recommends", *PACKAGES], log=self.log,
             env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        self.timings["download"] = time.monotonic() - started

    def _find_init(self) -> int:
        """The container's PID 1: a child of nspawn (the process we started) that is 1 in its namespace."""
        assert self.process is not None
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return 0
        for child in children:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspid) > 1 and nspid[-1] == "1":
                return int(child)
        return 0

    def _network(self) -> None:
        _run(["ip", "link", "del", HOST_IF], check=False)
        _run(["ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", TARGET_IF])
        _run(["ip", "link", "set", TARGET_IF, "netns", str(self.pid)])
        for address in (HOST_ADDRESS, OTHER_ADDRESS):
            _run(["ip", "addr", "add", f"{address}/{PREFIX}", "dev", HOST_IF])
        _run(["ip", "link", "set", HOST_IF, "up"])
        inside = ["nsenter", "-t", str(self.pid), "-n", "--", "ip"]
        _run(inside + ["addr", "add", f"{TARGET_ADDRESS}/{PREFIX}", "dev", TARGET_IF])
        _run(inside + ["link", "set", TARGET_IF, "up"])
        _run(inside + ["link", "set", "lo", "up"])

    def run(self, argv: list[str], check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (all its namespaces)."""
        return _run(["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-n", "-p", "--", *argv],
                    check=check, timeout=timeout, log=self.log)

    def stop(self, timeout: float = 30.0) -> None:
        """Power the container off (SIGTERM to nspawn asks its init to), then tidy up after it."""
        _run(["ip", "link", "del", HOST_IF], check=False)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            # `unshare` and `sh` exec'd nspawn: the process we started is nspawn itself.
            nspawn = process.pid
            os.kill(nspawn, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(nspawn, signal.SIGKILL)
                process.wait(10)
        self.pid = 0
        for hierarchy in ("systemd", "unified"):
            _rmdir_tree(Path("/sys/fs/cgroup") / hierarchy / "payload")
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)


def _rmdir_tree(path: Path) -> None:
    """Remove an empty cgroup tree nspawn leaves behind (cgroup folders go with rmdir only)."""
    if not path.is_dir():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass
