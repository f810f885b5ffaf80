"""`homepbx collect` as a real subprocess, for lab tests: started, killed and reaped by PID.

The collector is a daemon users run under systemd; testing it in-process would hide what only
a process shows (signals, a crash that loses the in-memory batch, JSON logs on stderr).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class CollectorProcess:
    """One `homepbx --config CONFIG collect` process; its stderr (JSON lines) goes to a file."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, "the collector was never started"
        return self.process.pid

    def start(self, timeout: float = 30.0, env: dict[str, str] | None = None) -> CollectorProcess:
        """Start it and wait until it logs that it follows AMI live (backfill done).

        `env` adds to (or overrides) this process's environment, e.g. a TZ of its own.
        """
        assert self.process is None or self.process.poll() is not None, "already running"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "homepbx", "--config", str(self.config_path), "collect"],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        self.wait_log("collecting", timeout)
        return self

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines this run wrote so far (anything else is kept as {'raw': line})."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_start)
            text = handle.read().decode("utf-8", errors="replace")
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def wait_log(self, msg: str, timeout: float, after: int = 0) -> dict[str, Any]:
        """The first log line with this `msg` (after the first `after` lines); fails if it dies first."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.logs()[after:]:
                if entry.get("msg") == msg:
                    return entry
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"collector exited ({self.process.returncode}) before {msg!r}: {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"collector never logged {msg!r} within {timeout} s: {self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(json.dumps(e) for e in self.logs()[-lines:])

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: a crash, nothing gets flushed."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        return self.process.wait(timeout)

    def reap(self) -> None:
        """Teardown: never leave a collector running, whatever happened."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.terminate(10.0)
        except subprocess.TimeoutExpired:
            self.kill()
