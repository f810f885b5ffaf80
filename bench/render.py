"""Provision 10,000 agents in 200 queues (plus 50 trunks, 2,000 public numbers, opening hours and
outbound policies), then time bulk import, render and `homepbx --help`.

Targets (issue 2): import <= 15 s on SQLite, render <= 1 s, `homepbx --help` cold start <= 0.3 s.
Usage: python bench/render.py [--agents 10000] [--queues 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def homepbx(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homepbx", "--config", str(cfg), *args],
        check=True, capture_output=True, text=True, cwd=HERE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--trunks", type=int, default=50)
    parser.add_argument("--numbers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from homepbx import carrier, config, db, provisioning
    from homepbx.asterisk.render import render_site

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        cfg = work / "homepbx.toml"
        homepbx(cfg, "init", "--database-url", url, "--sip-domain", "bench.example.com",
                "--asterisk-config-dir", str(work / "asterisk"))
        teams = 20
        for t in range(teams):
            homepbx(cfg, "team", "add", f"team{t}")
        csv_path = work / "agents.csv"
        with csv_path.open("w", encoding="utf-8") as handle:
            handle.write("extension,display_name,email,team,employment,billing_rate\n")
            for i in range(args.agents):
                handle.write(f"{100000 + i},Agent Numéro {i},agent{i}@example.com,team{i % teams},independent,0.35\n")

        start = time.perf_counter()
        homepbx(cfg, "agent", "import", str(csv_path), "--credentials", str(work / "creds.csv"))
        import_s = time.perf_counter() - start

        settings = config.load(cfg)
        with db.session_scope(url) as session:
            agents = [a.extension for a in provisioning.list_agents(session)]
            per_queue = max(1, len(agents) // args.queues)
            for q in range(args.queues):
                provisioning.add_queue(session, f"queue{q}", str(7000 + q))
            session.flush()
            for q in range(args.queues):
                provisioning.add_members(session, f"queue{q}", agents[q * per_queue:(q + 1) * per_queue])
            for s in range(20):
                provisioning.add_agents(session, settings, [provisioning.AgentSpec(
                    extension=str(90000 + s), display_name=f"Superviseur {s}", role="supervisor")])  # type: ignore[arg-type]
                provisioning.add_scope(session, str(90000 + s), f"team{s % teams}")

        # The carrier side: trunks (half registering), numbers spread over them and the queues.
        start = time.perf_counter()
        with db.session_scope(url) as session:
            carrier.add_schedule(session, "office", ["mon-fri 09:00-12:30,13:30-18:00", "sat 09:00-12:00"],
                                 closed=["2026-12-24"])
            for t in range(teams):
                carrier.set_outbound(session, settings, f"team{t}", ("national", "mobile", "international")[t % 3],
                                     caller_id=f"+3314000{t:04d}")
            for t in range(args.trunks):
                spec = carrier.TrunkSpec(host=f"sip{t}.carrier.example", max_channels=30,
                                         caller_id=f"+3319000{t:04d}",
                                         **({"username": f"acct{t}"} if t % 2 else {"match": f"192.0.2.{t + 1}"}))
                carrier.add_trunk(session, settings, f"trunk{t}", spec, secret=f"secret-{t}" if t % 2 else None)
            session.flush()
            for n in range(args.numbers):
                carrier.add_number(session, settings, f"+3314{n:07d}", carrier.NumberSpec(
                    trunk=f"trunk{n % args.trunks}", route="queue", target=f"queue{n % args.queues}",
                    schedule="office" if n % 2 else ""))
        carrier_s = time.perf_counter() - start

        renders = []
        for _ in range(5):
            start = time.perf_counter()
            with db.session_scope(url) as session:
                files = render_site(session, settings)
            renders.append(time.perf_counter() - start)
        size = sum(len(text) for text in files.values())

        env = dict(os.environ)
        helps = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "homepbx"), "--help"], check=True,
                           capture_output=True, env=env)
            helps.append(time.perf_counter() - start)

    print(f"agents: {args.agents}, queues: {args.queues}, trunks: {args.trunks}, numbers: {args.numbers}, "
          f"database: {url.split(':')[0]}")
    print(f"carrier provisioning (services, one transaction): {carrier_s:.2f} s")
    print(f"bulk import (homepbx agent import, whole process): {import_s:.2f} s   (target <= 15 s)")
    print(f"render (all files, {size / 1e6:.1f} MB): median {statistics.median(renders):.3f} s, "
          f"best {min(renders):.3f} s   (target <= 0.5 s)")
    print(f"homepbx --help cold start: median {statistics.median(helps):.3f} s, best {min(helps):.3f} s   (target <= 0.3 s)")


if __name__ == "__main__":
    main()
