"""The PostgreSQL server the tests use: one that is there, or a private one this run starts.

`HOMEPBX_TEST_PG` names an admin URL (trust authentication) to use as it is; `private` makes the
run start its own server. Otherwise the server on 127.0.0.1:5432 is used when it lets `postgres`
in without a password (the CI machines have one), and a private one is started when it does not:
a fresh Debian box has no PostgreSQL server, and `scripts/install-system-packages` installs the
binaries (without a cluster) so that this works there. The private server lives in a temporary
folder, listens on a free loopback port, runs as the `postgres` user when the tests run as root
(PostgreSQL refuses root), and is stopped, by its own pid file, when the test process exits.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@functools.cache
def admin_url() -> str:
    """The admin URL of the PostgreSQL server the tests create their databases on."""
    chosen = os.environ.get("HOMEPBX_TEST_PG", "")
    if chosen and chosen != "private":
        return chosen
    if chosen != "private" and _answers(DEFAULT_URL):
        return DEFAULT_URL
    return _start_private()


def _answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("No PostgreSQL server lets postgres in on 127.0.0.1:5432 and no PostgreSQL binaries "
                           "are installed: run scripts/install-system-packages, or set HOMEPBX_TEST_PG.")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_private() -> str:
    bin_dir = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="homepbx-test-pg-"))
    data = folder / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = _free_port()
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    atexit.register(_stop_private, as_user, bin_dir, data, folder)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    while not _answers(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"The private PostgreSQL server in {folder} did not answer.")
        time.sleep(0.2)
    return url


def _stop_private(as_user: list[str], bin_dir: Path, data: Path, folder: Path) -> None:
    # pg_ctl stops the server by the pid in its own data folder: only the server this run started.
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                   capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)
