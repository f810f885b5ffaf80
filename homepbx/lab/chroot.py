"""The lab's Debian sid chroot: built once with debootstrap, cached under `lab.root`.

Debian stable has no Asterisk package; sid has Asterisk 22, baresip and SIPp. The chroot
shares the host's network, so whatever runs inside binds host addresses directly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import OperationalError

PACKAGES = ("asterisk", "baresip-core", "sip-tester", "openssl")

# Written last: its presence means every step of the build finished.
MARKER = "chroot.built"
# The environment of every process started inside the chroot: the host's (a venv, a
# locale the chroot lacks...) must not leak in.
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "TERM": os.environ.get("TERM", "dumb"),
}
# Stops package scripts from starting services: an Asterisk started by the asterisk
# package's postinst would listen on every host address, outside our control.
POLICY_RC = "#!/bin/sh\n# homepbx lab: never start services while installing\nexit 101\n"

# The chroot's resolver and hosts (see Chroot.isolate_names).
RESOLV_CONF = (
    "# managed by homepbx lab: no resolver outside this machine; nothing answers on {address}:53\n"
    "nameserver {address}\n"
    "options timeout:1 attempts:1\n"
)
HOSTS = (
    "# managed by homepbx lab: the host name resolves here, never through DNS\n"
    "127.0.0.1\tlocalhost\n"
    "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
    "{address}\t{hostname}\n"
)


def require_root() -> None:
    """Raise OperationalError unless we run as root (chroot, mount and debootstrap need it)."""
    if os.geteuid() != 0:
        raise OperationalError("The lab needs root: run it with sudo.")


@dataclass(frozen=True)
class Chroot:
    """The cached chroot of one lab root."""

    lab_root: Path
    mirror: str = "http://deb.debian.org/debian"

    @property
    def path(self) -> Path:
        return self.lab_root / "chroot"

    @property
    def marker(self) -> Path:
        return self.lab_root / MARKER

    def is_built(self) -> bool:
        """True when a complete build is cached."""
        return self.marker.is_file() and (self.path / "usr/sbin/asterisk").exists()

    def host(self, inner: str) -> Path:
        """The host path of `inner`, a path as seen inside the chroot."""
        return self.path / inner.lstrip("/")

    def ensure(self, rebuild: bool = False, log: Path | None = None) -> float:
        """Build the chroot unless a complete one is cached; return the seconds spent building.

        `rebuild` throws the cached one away first. The caller must have stopped
        whatever runs inside it.
        """
        require_root()
        if self.is_built() and not rebuild:
            return 0.0
        if shutil.which("debootstrap") is None:
            raise OperationalError("debootstrap is not installed: run apt-get install debootstrap.")
        started = time.monotonic()
        self.lab_root.mkdir(parents=True, exist_ok=True)
        self.marker.unlink(missing_ok=True)
        self._remove_tree()
        log = log or self.lab_root / "build.log"
        with open(log, "w", encoding="utf-8") as out:
            self._run(
                ["debootstrap", "--variant=minbase", "sid", str(self.path), self.mirror],
                out, "debootstrap could not build the sid chroot",
            )
            policy = self.path / "usr/sbin/policy-rc.d"
            policy.write_text(POLICY_RC, encoding="utf-8")
            policy.chmod(0o755)
            # sid's Release files are short-lived; a slightly stale mirror must not stop the build.
            apt = ["apt-get", "-o", "Acquire::Check-Valid-Until=false"]
            self._run(self.command(apt + ["update"]), out, "apt-get update failed inside the lab chroot")
            self._run(
                self.command(apt + ["install", "-y", "--no-install-recommends", *PACKAGES]),
                out, "apt-get could not install Asterisk and baresip inside the lab chroot",
            )
            self._run(self.command(["apt-get", "clean"]), out, "apt-get clean failed inside the lab chroot")
        unmount_under(self.path)
        self._set_aside_stock_config()
        self.marker.write_text(f"built {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n",
                               encoding="utf-8")
        return time.monotonic() - started

    def isolate_names(self, address: str) -> None:
        """Keep the chroot's name lookups on this machine: no outside resolver, the host name in hosts.

        The chroot shares the host's host name, and Asterisk looks it up (through
        ast_find_ourip) whenever something binds the wildcard address. debootstrap copied the
        host's resolv.conf: every such lookup left the machine and, with a slow resolver,
        stalled SIP threads for seconds. Now the host name resolves from /etc/hosts to the lab
        address, and anything else is asked of `address`:53, where nothing listens (an
        immediate refusal) unless a test listens there to count queries. Rewritten at every
        start; a rebuild copies the host's resolv.conf again for apt, then this replaces it.
        """
        hostname = socket.gethostname()
        etc = self.path / "etc"
        _replace_file(etc / "resolv.conf", RESOLV_CONF.format(address=address))
        _replace_file(etc / "hosts", HOSTS.format(address=address, hostname=hostname))

    def self_signed_certificate(self, cert: str, key: str, address: str) -> None:
        """A self-signed certificate for `address` at `cert` (key at `key`, 0600), both as seen
        inside the chroot, made once: the lab PBXs' TLS for agents."""
        if self.host(cert).is_file() and self.host(key).is_file():
            return
        self.run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", f"/CN={address}", "-addext", f"subjectAltName=IP:{address}",
            "-keyout", key, "-out", cert,
        ])
        self.host(key).chmod(0o600)

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as a command line running inside the chroot."""
        return ["chroot", str(self.path), *argv]

    def run(self, argv: list[str], timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the chroot and return its output."""
        try:
            result = subprocess.run(self.command(argv), env=CHROOT_ENV, capture_output=True, text=True,
                                    timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise OperationalError(f"{argv[0]} did not finish within {timeout:g} s inside the lab.") from None
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise OperationalError(f"{argv[0]} failed inside the lab: {detail[-1] if detail else result.returncode}.")
        return result

    def module_dir(self) -> str:
        """Asterisk's module directory as seen inside the chroot (it carries the multiarch triplet)."""
        found = sorted(self.path.glob("usr/lib/*/asterisk/modules"))
        if not found:
            raise OperationalError("The lab chroot has no Asterisk modules: rebuild it.")
        return "/" + str(found[0].relative_to(self.path))

    def _run(self, argv: list[str], out, message: str) -> None:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, env=CHROOT_ENV, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            unmount_under(self.path)
            raise OperationalError(f"{message} (see {out.name}).")

    def _remove_tree(self) -> None:
        # A build interrupted while debootstrap had /proc mounted must not make rmtree
        # walk into the host's /proc.
        if not self.path.exists():
            return
        unmount_under(self.path)
        if mounts_under(self.path):
            raise OperationalError(f"Something is still mounted under {self.path}: unmount it first.")
        shutil.rmtree(self.path)

    def _set_aside_stock_config(self) -> None:
        # The package's sample files would be loaded by modules we do not configure and would
        # make `homepbx apply` refuse to overwrite files it does not manage.
        etc = self.path / "etc/asterisk"
        dist = self.path / "etc/asterisk.dist"
        if etc.exists() and not dist.exists():
            etc.rename(dist)
        etc.mkdir(exist_ok=True)


def _replace_file(path: Path, text: str) -> None:
    # resolv.conf may be a dangling symlink copied from the host (systemd-resolved): replace the
    # link itself, never write through it onto the host.
    tmp = path.with_name(path.name + ".homepbx-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first."""
    root = os.path.realpath(path)
    found: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> None:
    """Unmount everything mounted below `path` (lazily, so a busy mount cannot block us)."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
