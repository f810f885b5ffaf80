"""One PBX process inside a lab chroot: started, found again and stopped by PID, never by name.

Both labs (Asterisk, FreeSWITCH) run their PBX the same way: /proc mounted only while it runs,
its PID and mounts kept in a state file in the lab root so a later `lab down` (another process)
stops exactly what was started, and a PID reused by another program is never taken for ours.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OperationalError
from .chroot import CHROOT_ENV, Chroot, mounts_under

STATE_FILE = "pbx.json"


class ChrootDaemon:
    """The PBX process of one lab root (`what` names it in messages: "Asterisk", "FreeSWITCH")."""

    def __init__(self, chroot: Chroot, what: str, console_log: str) -> None:
        self.chroot = chroot
        self.root = chroot.lab_root
        self.what = what
        self.console_log = self.root / console_log
        # Set when this object started the process: lets stop() reap its child.
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise lab operations (two `lab up` at once must not both start or build)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def start(self, argv: list[str], address: str) -> int:
        """Mount /proc in the chroot and start `argv` inside it; return its PID."""
        mounts: list[str] = []
        proc_dir = self.chroot.host("/proc")
        if proc_dir not in mounts_under(proc_dir):
            subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=True, capture_output=True)
            mounts.append(str(proc_dir))
        out = open(self.console_log, "ab")
        try:
            self._process = subprocess.Popen(
                self.chroot.command(argv), env=CHROOT_ENV, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the caller's terminal must not reach it
            )
        finally:
            out.close()
        self.write_state({"pid": self._process.pid, "mounts": mounts, "address": address, "started": time.time()})
        return self._process.pid

    def stop(self, polite: Callable[[], object] | None = None) -> None:
        """Stop our process (`polite` first, then SIGTERM, SIGKILL) and unmount what start mounted."""
        state = self.read_state()
        pid = self.running_pid(state)
        if pid is not None:
            self._stop(pid, polite)
        for point in reversed(state.get("mounts", [])):
            if Path(point) in mounts_under(Path(point)):
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        self.state_path.unlink(missing_ok=True)
        self._process = None

    def _stop(self, pid: int, polite: Callable[[], object] | None) -> None:
        if polite is not None:
            polite()
            if self.wait_gone(pid, 10):
                return
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if self.wait_gone(pid, grace):
                return
        raise OperationalError(f"{self.what} (PID {pid}) did not stop.")

    def wait_gone(self, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return True
            elif not alive(pid):
                return True
            time.sleep(0.1)
        return False

    def running_pid(self, state: dict | None = None) -> int | None:
        """Our process's PID if it still runs (a reused PID of another program is not ours)."""
        state = self.read_state() if state is None else state
        pid = state.get("pid")
        if not isinstance(pid, int):
            return None
        if self._process is not None and self._process.pid == pid:
            return pid if self._process.poll() is None else None
        if not alive(pid):
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

    def read_state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def write_state(self, state: dict) -> None:
        write_atomic(self.state_path, json.dumps(state, indent=2) + "\n")

    def last_output(self) -> str:
        """The last non-blank line the process printed (why it died, usually)."""
        lines = [line for line in tail(self.console_log, 20) if line.strip()]
        return lines[-1].strip() if lines else f"no output (see the {self.what} logs)"


def alive(pid: int) -> bool:
    """True if `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a (possibly large) text file; [] if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            return f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return []


def write_atomic(path: Path, text: str) -> None:
    """Replace a lab-owned file in one step (a reader never sees half of it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_ports_free(address: str, ports: list[tuple[str, int]], what: str) -> None:
    """Raise a plain sentence if a (protocol 'tcp'|'udp', port) on `address` is taken.

    A PBX that fails to bind often only logs it and runs on, deaf.
    """
    import socket

    for proto, port in ports:
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError:
                raise OperationalError(
                    f"{proto.upper()} port {port} on {address} is already in use: stop the other PBX "
                    f"or give the {what} lab another address.") from None
