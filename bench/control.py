"""Call-control figures on the real lab.

Spy latency: from starting `homepbx spy whisper AGENT --supervisor EXT` (the real CLI, a new
Python process each time, process start included) to the PBX saying the spy's audio path is
established, seen on a separate connection: Asterisk's ChanSpyStart (AMI), FreeSWITCH's
MEDIA_BUG_START of the eavesdrop on the agent's leg (ESL, `--backend freeswitch`). The supervisor's softphone (baresip) answers automatically, so the
figure includes the ring and answer. Target: <= 0.5 s.

The CLI runs with HOMEPBX_BENCH_TIMES=1 and reports the monotonic time of each of its steps
(CLOCK_MONOTONIC is shared by every process), so the bench also prints where the time goes:
Python start to homepbx, imports to the command, settings + permission check, loading the
backend + asyncio + AMI connect + login, CoreShowChannels, Originate accepted, ring + answer +
ChanSpyStart, audit entry.

Needs root. Provisions its own extensions (4191, 4192, 4991) into a fresh database and writes
the rendered config into the lab: give it a lab of its own (`--root`, `--address`).
Usage: python bench/control.py [--backend asterisk|freeswitch] [--root /var/lib/homepbx/lab-bench]
       [--address 127.0.0.13] [--runs 9]
       [--database-url postgresql+psycopg://.../empty_db]  (default: a fresh SQLite file)
For FreeSWITCH, --root names a FreeSWITCH lab build (see homepbx.freeswitch.lab), e.g. a copy of
/var/lib/homepbx/freeswitch-lab.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from homepbx import config, db, publish
from homepbx.asterisk.ami import AmiClient
from homepbx.asterisk.lab.pbx import LabPBX
from homepbx.config import LabSettings, Settings
from homepbx.freeswitch.esl import EslClient
from homepbx.freeswitch.esl import Event as EslEvent
from homepbx.freeswitch.lab import FreeswitchLab
from homepbx.lab.softphone import PhoneConfig, Softphone
from homepbx.pbx import Lab

AGENT, CALLER, SUPERVISOR = "4191", "4192", "4991"


@dataclass
class BenchSite:
    pbx: Lab
    settings: Settings
    config_path: Path
    passwords: dict[str, str]

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "homepbx", "--config", str(self.config_path), *args]

    def run(self, *args: str) -> str:
        done = subprocess.run(self.cli(*args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"homepbx {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def phone(self, ext: str, hz: int) -> Softphone:
        cfg = PhoneConfig(name=f"bench-{ext}", username=ext, password=self.passwords[ext],
                          address=self.pbx.address, sip_port=self.settings.sip.udp_port, tone_hz=hz)
        phone = Softphone(self.pbx.chroot, cfg).start()  # type: ignore[attr-defined]
        phone.wait_registered(15)
        return phone


def provision(pbx: Lab, workdir: Path, database_url: str | None = None) -> BenchSite:
    """A fresh homepbx site on the lab: a team, an agent, a caller and a supervisor, applied."""
    lab = pbx.lab_settings()
    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    settings = replace(lab, database=replace(lab.database, url=url))
    config_path = workdir / "homepbx.toml"
    config_path.write_text(config.to_toml(settings), encoding="utf-8")
    config_path.chmod(0o600)
    db.upgrade(settings.database.url)
    site = BenchSite(pbx, settings, config_path, {})
    site.run("team", "add", "bench-sup")
    for ext, extra in ((AGENT, ["--team", "bench-sup"]), (CALLER, []), (SUPERVISOR, ["--role", "supervisor"])):
        shown = json.loads(site.run("agent", "add", ext, "--name", f"Bench {ext}", *extra, "--json"))
        site.passwords[ext] = shown["password"]
    site.run("supervisor", "scope", "add", SUPERVISOR, "bench-sup")
    if settings.backend == "freeswitch":
        # FreeSWITCH reloads what changed (apply's own way); started on it if it was not running.
        running = pbx.status().running
        publish.publish(settings, force=True, reload=running)
        if not running:
            pbx.up(wait=True, timeout=60)
    else:
        publish.publish(settings, force=True, reload=False)
        pbx.restart()  # type: ignore[attr-defined]
    return site


# (label, from mark, to mark) of the CLI's own steps; "spawn" is when the bench started it.
STEPS: list[tuple[str, str, str]] = [
    ("python start -> homepbx.cli", "spawn", "python_ready"),
    ("imports -> spy command", "python_ready", "command"),
    ("settings + permission check", "command", "authorized"),
    # "ami_ready": the PBX connection is up (the mark keeps its first backend's name).
    ("backend + asyncio + PBX login", "authorized", "ami_ready"),
    ("agent's channel found", "ami_ready", "channel_found"),
    ("originate accepted", "channel_found", "originate_accepted"),
    ("ring + answer + spy started", "originate_accepted", "spy_started"),
    ("audit entry", "spy_started", "recorded"),
]


def cli_marks(stderr: str, spawn: float) -> dict[str, float]:
    """The CLI's step times (HOMEPBX_BENCH_TIMES), with the bench's spawn time; {} if absent."""
    for line in stderr.splitlines():
        if line.startswith("homepbx-bench-times "):
            return json.loads(line.split(" ", 1)[1]) | {"spawn": spawn}
    return {}


@asynccontextmanager
async def monitor(site: BenchSite, seen: list[float], originated: list[float]) -> AsyncIterator[None]:
    """A connection of its own that notes when the spy started and when the supervisor's leg appeared."""
    if site.settings.backend == "freeswitch":
        async with EslClient.from_settings(site.settings.esl, reconnect=False,
                                           events=["MEDIA_BUG_START", "CHANNEL_CREATE"]) as esl:
            def bug(ev: EslEvent) -> None:
                if ev.get("Media-Bug-Function") == "eavesdrop":
                    seen.append(time.monotonic())

            def created(ev: EslEvent) -> None:
                if (ev.get("Channel-Presence-ID") or "").startswith(f"{SUPERVISOR}@"):
                    originated.append(time.monotonic())

            esl.add_event_handler("MEDIA_BUG_START", bug)
            esl.add_event_handler("CHANNEL_CREATE", created)
            yield
        return
    async with AmiClient.from_settings(site.settings.ami, events="call") as ami:
        ami.add_event_handler("ChanSpyStart", lambda ev: seen.append(time.monotonic()))
        # The supervisor's channel appearing = the CLI's Originate reached Asterisk.
        ami.add_event_handler("Newchannel", lambda ev: ev.get("Channel", "").startswith(f"PJSIP/{SUPERVISOR}-")
                              and originated.append(time.monotonic()))
        yield


async def spy_latency(site: BenchSite, runs: int, marks: list[dict[str, float]] | None = None,
                      ) -> list[tuple[float, float, float]]:
    """Seconds from the CLI's start to the spy's start, to the CLI's exit, to the originate, per run.

    `marks` receives each run's step times (see STEPS) when the CLI reports them."""
    seen: list[float] = []
    originated: list[float] = []
    caller, agent, sup = site.phone(CALLER, 440), site.phone(AGENT, 1000), site.phone(SUPERVISOR, 2000)
    out: list[tuple[float, float, float]] = []
    async with monitor(site, seen, originated):
        try:
            for _ in range(runs):
                caller.dial(AGENT)
                caller.wait_event("CALL_ESTABLISHED", 15)
                agent.wait_event("CALL_ESTABLISHED", 15)
                await asyncio.sleep(0.5)
                seen.clear()
                originated.clear()
                started = time.monotonic()
                proc = await asyncio.create_subprocess_exec(
                    *site.cli("spy", "whisper", AGENT, "--supervisor", SUPERVISOR),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                    env=os.environ | {"HOMEPBX_BENCH_TIMES": "1"},
                )
                _, err = await proc.communicate()
                exited = time.monotonic()
                if proc.returncode != 0:
                    raise SystemExit(f"homepbx spy whisper failed: {err.decode().strip()}")
                for _ in range(50):  # the monitor's copy of the event may trail the CLI's
                    if seen:
                        break
                    await asyncio.sleep(0.02)
                if not seen:
                    raise SystemExit("no spy start event reached the monitor connection")
                out.append((seen[0] - started, exited - started, originated[0] - started))
                if marks is not None:
                    marks.append(cli_marks(err.decode(), started))
                sup.wait_event("CALL_ESTABLISHED", 10)
                caller.hangup()
                for phone in (caller, agent, sup):
                    phone.wait_event("CALL_CLOSED", 10)
                await asyncio.sleep(0.5)
        finally:
            for phone in (caller, agent, sup):
                phone.stop()
    return out


def print_spy_latency(results: list[tuple[float, float, float]]) -> None:
    to_event = [r[0] for r in results]
    to_exit = [r[1] for r in results]
    to_originate = [r[2] for r in results]
    print(f"spy whisper -> spy started over {len(results)} runs (process start included): "
          f"median {statistics.median(to_event) * 1000:.0f} ms, best {min(to_event) * 1000:.0f} ms, "
          f"worst {max(to_event) * 1000:.0f} ms (target <= 500 ms); "
          f"of which CLI start -> Originate median {statistics.median(to_originate) * 1000:.0f} ms; "
          f"CLI exit median {statistics.median(to_exit) * 1000:.0f} ms")


def print_breakdown(marks: list[dict[str, float]]) -> None:
    """Median of each CLI step over the runs that reported it."""
    for label, start, end in STEPS:
        spans = [m[end] - m[start] for m in marks if start in m and end in m]
        if spans:
            print(f"  {label:<32} median {statistics.median(spans) * 1000:6.1f} ms  "
                  f"min {min(spans) * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("asterisk", "freeswitch"), default="asterisk")
    parser.add_argument("--root", default="/var/lib/homepbx/lab-bench")
    parser.add_argument("--address", default="127.0.0.13")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--database-url", help="an EMPTY database to provision into (default: a fresh SQLite file)")
    args = parser.parse_args()
    pbx: Lab
    if args.backend == "freeswitch":
        pbx = FreeswitchLab(Settings(lab=LabSettings(freeswitch_root=args.root, address=args.address)))
    else:
        pbx = LabPBX(Settings(lab=LabSettings(root=args.root, address=args.address)))
    was_running = pbx.status().running
    if args.backend == "asterisk" or pbx.status().running:
        pbx.up(wait=True, timeout=180)  # FreeSWITCH starts once the site's config is applied
    try:
        with tempfile.TemporaryDirectory(prefix="homepbx-bench-control-") as tmp:
            site = provision(pbx, Path(tmp), args.database_url)
            marks: list[dict[str, float]] = []
            print_spy_latency(asyncio.run(spy_latency(site, args.runs, marks)))
            print_breakdown(marks)
    finally:
        if not was_running:  # leave the machine as we found it
            pbx.down()


if __name__ == "__main__":
    main()
