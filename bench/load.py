"""Load benchmark on the lab PBX (issue 17): steps of simultaneous calls driven by SIPp.

    sudo .venv/bin/python bench/load.py [--db sqlite|postgresql|both] [--steps 50,100,200,300,400]

Per step, half the calls go agent to agent and half through a queue (agents calling the queue
extension; its members answer), each call 25 s with G.711 RTP: callers play sipp's g711a.pcap,
the answering agents (one SIPp UAS registered for every callee with the passwords `agent add`
printed) echo what they get. `homepbx collect` runs all along. Printed per step: calls made,
failed and why (SIP codes SIPp saw), answered call records found (lost / duplicated compared
with SIPp's successful calls), Asterisk and collector CPU and peak RSS, delay from the last
hang-up to the last record. Stops at the first step that fails and prints the highest held.

Lab root and address: HOMEPBX_BENCH_LAB_ROOT / HOMEPBX_BENCH_LAB_ADDRESS (default
/var/lib/homepbx/lab-bench, 127.0.0.1): use your own so you never disturb another lab.
PostgreSQL: a database of its own on 127.0.0.1:5432 (trust), dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from homepbx import config, db, publish  # noqa: E402
from homepbx.asterisk.lab.pbx import LabPBX  # noqa: E402
from homepbx.cli import main  # noqa: E402
from homepbx.config import LabSettings, Settings  # noqa: E402
from homepbx.lab.chroot import CHROOT_ENV  # noqa: E402

CALL_S = 25
RAMP_S = 15  # every call of a step starts within this, so all are up together for ~10 s
INNER = "/var/lib/homepbx-lab/bench"
UAS_PORT, A2A_PORT, QUEUE_PORT = 5070, 5080, 5090
QUEUE, QUEUE_EXT = "benchq", "549"
# Agent pools: callers to agents, callees, callers to the queue, queue members (+10 % spare).
BASE = {"a2a_caller": 7000, "callee": 7250, "q_caller": 7500, "member": 7750}

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
<send retrans="500"><![CDATA[
REGISTER sip:[remote_ip] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field0]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: 3600
Content-Length: 0

]]></send>
<recv response="401" auth="true"/>
<send retrans="500"><![CDATA[
REGISTER sip:[remote_ip] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field0]@[remote_ip]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
[authentication username=[field0] password=[field1]]
Max-Forwards: 70
Expires: 3600
Content-Length: 0

]]></send>
<recv response="200"/>
</scenario>
"""

_INVITE = """INVITE sip:[field2]@[remote_ip] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field2]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
{auth}Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
"""

CALL = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call">
<send retrans="500"><![CDATA[
{_INVITE.format(cseq=1, auth="")}
]]></send>
<recv response="100" optional="true"/>
<recv response="401" auth="true"/>
<send><![CDATA[
ACK sip:[field2]@[remote_ip] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field2]@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
{_INVITE.format(cseq=2, auth="[authentication username=[field0] password=[field1]]" + chr(10))}
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="183" optional="true"/>
<recv response="200" rtd="true"/>
<send><![CDATA[
ACK sip:[field2]@[remote_ip] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field2]@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 ACK
Content-Length: 0

]]></send>
<nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>
<pause/>
<send retrans="500"><![CDATA[
BYE sip:[field2]@[remote_ip] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field2]@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Content-Length: 0

]]></send>
<recv response="200" crlf="true"/>
</scenario>
"""


@dataclass
class StepResult:
    calls: int
    ok: int
    failed: int
    why: dict[str, int]
    records: int
    lost: int
    duplicated: int
    ast_cpu: float
    ast_rss_mb: float
    col_cpu: float
    col_rss_mb: float
    record_delay_s: float

    @property
    def held(self) -> bool:
        return self.failed == 0 and self.lost == 0 and self.duplicated == 0


class Bench:
    """One database's run: a site on the lab PBX, registered agents, the collector."""

    def __init__(self, pbx: LabPBX, url: str, workdir: Path, max_step: int) -> None:
        self.pbx, self.url, self.workdir = pbx, url, workdir
        settings = pbx.lab_settings()
        self.settings = replace(settings, database=replace(settings.database, url=url))
        self.config_path = workdir / "homepbx.toml"
        self.config_path.write_text(config.to_toml(self.settings), encoding="utf-8")
        self.config_path.chmod(0o600)
        self.half = (max_step + 1) // 2
        self.pools = {k: [str(v + i) for i in range(self.half + (self.half // 10 if k == "member" else 0))]
                      for k, v in BASE.items()}
        self.passwords: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.host_dir = pbx.chroot.host(INNER)
        self.host_dir.mkdir(parents=True, exist_ok=True)

    def cli(self, *args: str) -> str:
        runner = CliRunner()
        with runner.isolation() as (out, err, _):
            try:
                main(["--config", str(self.config_path), *args])
            except SystemExit as exc:
                if exc.code:
                    raise RuntimeError(f"homepbx {' '.join(args)}: {err.getvalue().decode()}") from None
            return out.getvalue().decode()

    def provision(self) -> None:
        started = time.monotonic()
        db.upgrade(self.url)
        for ext in [e for pool in self.pools.values() for e in pool]:
            self.passwords[ext] = json.loads(self.cli("agent", "add", ext, "--name", f"B{ext}", "--json"))["password"]
        self.cli("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--wrapup", "0", "--strategy", "rrmemory")
        for ext in self.pools["member"]:
            self.cli("queue", "member", "add", QUEUE, ext)
        publish.publish(self.settings, force=True, reload=False)
        self.pbx.restart()
        for ext in self.pools["member"]:
            self.cli("agent", "login", ext)
        print(f"  provisioned {len(self.passwords)} agents in {time.monotonic() - started:.0f} s", flush=True)

    def _sipp(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        argv = self.pbx.chroot.command(["sipp", self.pbx.address, "-i", self.pbx.address, "-nostdin",
                                        "-trace_err", "-error_file", f"{INNER}/{name}.err",
                                        "-trace_stat", "-stf", f"{INNER}/{name}.csv", *args])
        log = open(self.workdir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, env=CHROOT_ENV, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def _csv(self, name: str, rows: list[list[str]]) -> str:
        with open(self.host_dir / f"{name}.inf", "w", encoding="utf-8", newline="") as out:
            out.write("SEQUENTIAL\n")
            csv.writer(out, delimiter=";").writerows(rows)
        return f"{INNER}/{name}.inf"

    def register_agents(self) -> None:
        (self.host_dir / "register.xml").write_text(REGISTER, encoding="utf-8")
        callees = self.pools["callee"] + self.pools["member"]
        inf = self._csv("register", [[e, self.passwords[e]] for e in callees])
        proc = self._sipp("register", ["-sf", f"{INNER}/register.xml", "-inf", inf, "-p", str(UAS_PORT),
                                       "-m", str(len(callees)), "-r", "50", "-l", "50"])
        if proc.wait(120) != 0:
            raise RuntimeError(f"registering the agents failed (see {self.workdir}/register.log)")
        self.procs.remove(proc)
        # Answers every call at once and echoes its RTP; -aa answers qualify's OPTIONS.
        self.uas = self._sipp("uas", ["-sn", "uas", "-p", str(UAS_PORT), "-aa", "-rtp_echo", "-mp", "40000"])
        # A contact left Unreachable by an earlier run keeps that state until qualify answers again.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            shown = self.pbx.rx("pjsip show contacts")
            avail = sum(1 for line in shown.splitlines() if "Contact:" in line and " Avail " in line)
            if avail >= len(callees):
                break
            time.sleep(2)
        print(f"  {avail} of {len(callees)} answering agents reachable", flush=True)

    def start_collector(self) -> None:
        homepbx = Path(sys.executable).with_name("homepbx")
        log = open(self.workdir / "collect.log", "wb")
        self.collector = subprocess.Popen([str(homepbx), "--config", str(self.config_path), "collect"],
                                          stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(self.collector)
        time.sleep(2)

    def step(self, n: int, index: int) -> StepResult:
        a2a, queued = n // 2, n - n // 2
        (self.host_dir / "call.xml").write_text(CALL, encoding="utf-8")
        rows_a = [[c, self.passwords[c], t] for c, t in zip(self.pools["a2a_caller"][:a2a], self.pools["callee"][:a2a])]
        rows_q = [[c, self.passwords[c], QUEUE_EXT] for c in self.pools["q_caller"][:queued]]
        since = self._db_now()
        ast, col = _Usage(self.pbx.status().pid), _Usage(self.collector.pid)
        runs = []
        for name, rows, port, mp in (("a2a", rows_a, A2A_PORT, 42000), ("queue", rows_q, QUEUE_PORT, 46000)):
            if not rows:
                continue
            inf = self._csv(f"{name}{index}", rows)
            for f in (f"{name}{index}.err", f"{name}{index}.csv"):
                (self.host_dir / f).unlink(missing_ok=True)
            rate = max(1.0, len(rows) / RAMP_S)
            runs.append((name, index, self._sipp(f"{name}{index}", [
                "-sf", f"{INNER}/call.xml", "-inf", inf, "-p", str(port), "-mp", str(mp),
                "-m", str(len(rows)), "-l", str(len(rows)), "-r", f"{rate:.2f}", "-d", str(CALL_S * 1000),
                "-recv_timeout", "20000", "-timeout", "90s"])))
        while any(p.poll() is None for _, _, p in runs):
            ast.sample(), col.sample()
            time.sleep(1)
        ended = time.monotonic()
        ok = failed = 0
        why: dict[str, int] = {}
        for name, i, _ in runs:
            s, f, w = self._sipp_result(f"{name}{i}")
            ok, failed = ok + s, failed + f
            for k, v in w.items():
                why[k] = why.get(k, 0) + v
        records, distinct, delay = self._wait_records(since, ok, ended)
        for p in (ast, col):
            p.sample()
        return StepResult(n, ok, failed + max(0, n - ok - failed), why, records, max(0, ok - distinct),
                          records - distinct, ast.cpu(), ast.rss_mb, col.cpu(), col.rss_mb, delay)

    def _sipp_result(self, name: str) -> tuple[int, int, dict[str, int]]:
        rows = list(csv.DictReader(open(self.host_dir / f"{name}.csv", encoding="utf-8"), delimiter=";"))
        last = rows[-1] if rows else {}
        ok, failed = int(last.get("SuccessfulCall(C)", 0)), int(last.get("FailedCall(C)", 0))
        why: dict[str, int] = {}
        for key, value in last.items():
            if key and key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)" and int(value or 0):
                why[key.removesuffix("(C)")] = int(value)
        err = self.host_dir / f"{name}.err"
        if err.exists():
            for code in re.findall(r"Aborting call on unexpected message.*?received 'SIP/2\.0 (\d{3})",
                                   err.read_text(encoding="utf-8", errors="replace")):
                why[f"SIP {code}"] = why.get(f"SIP {code}", 0) + 1
        return ok, failed, why

    def _db_now(self) -> str:
        with create_engine(self.url).connect() as conn:
            return str(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM call_records")).scalar())

    def _wait_records(self, since: str, expected: int, ended: float) -> tuple[int, int, float]:
        engine = create_engine(self.url)
        last_count, last_change = -1, ended
        deadline = ended + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                records, distinct = conn.execute(text(
                    "SELECT COUNT(*), COUNT(DISTINCT caller) FROM call_records "
                    "WHERE id > :since AND answered_at IS NOT NULL AND caller >= '7000' AND caller < '8000'"),
                    {"since": int(since)}).one()
            if records != last_count:
                last_count, last_change = records, time.monotonic()
            if records >= expected and time.monotonic() - last_change > 3:
                break
            time.sleep(0.5)
        engine.dispose()
        return last_count, distinct, max(0.0, last_change - ended)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


class _Usage:
    """CPU seconds and peak RSS of one process (and its threads), from /proc."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.rss_mb = pid, 0.0
        self.start = self._cpu()
        self.started = time.monotonic()
        self.last = self.start

    def _cpu(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def sample(self) -> None:
        self.last = self._cpu() or self.last
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss_mb = max(self.rss_mb, int(line.split()[1]) / 1024)
        except OSError:
            pass

    def cpu(self) -> float:
        """Average CPU use over the step, in % of one core."""
        return 100 * (self.last - self.start) / max(time.monotonic() - self.started, 1e-6)


def run_database(pbx: LabPBX, kind: str, steps: list[int]) -> int:
    """Run the steps on one database; return the highest step held."""
    workdir = Path(tempfile.mkdtemp(prefix=f"homepbx-load-{kind}-"))
    pg_name = f"homepbx_load_{os.getpid()}"
    admin = None
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'site.db'}"
    else:
        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_name}"
    bench = Bench(pbx, url, workdir, max(steps))
    held = 0
    print(f"{kind}: {url}  (work dir {workdir})", flush=True)
    try:
        bench.provision()
        bench.register_agents()
        bench.start_collector()
        print(f"  {'calls':>5} {'ok':>5} {'failed':>6} {'records':>7} {'lost':>4} {'dup':>3} "
              f"{'ast cpu%':>8} {'ast MB':>6} {'col cpu%':>8} {'col MB':>6} {'delay s':>7}  why", flush=True)
        for i, n in enumerate(steps):
            r = bench.step(n, i)
            print(f"  {r.calls:>5} {r.ok:>5} {r.failed:>6} {r.records:>7} {r.lost:>4} {r.duplicated:>3} "
                  f"{r.ast_cpu:>8.0f} {r.ast_rss_mb:>6.0f} {r.col_cpu:>8.0f} {r.col_rss_mb:>6.0f} "
                  f"{r.record_delay_s:>7.1f}  {r.why or ''}", flush=True)
            if not r.held:
                print(f"  step {n} did not hold", flush=True)
                break
            held = n
            time.sleep(5)
    finally:
        bench.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin.dispose()
    print(f"{kind}: highest step held: {held} simultaneous calls", flush=True)
    return held


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--steps", default="50,100,200,300,400")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    root = os.environ.get("HOMEPBX_BENCH_LAB_ROOT", "/var/lib/homepbx/lab-bench")
    address = os.environ.get("HOMEPBX_BENCH_LAB_ADDRESS", "127.0.0.1")
    pbx = LabPBX(Settings(lab=LabSettings(root=root, address=address)))
    was_running = pbx.status().running
    pbx.up(wait=True, timeout=120)
    try:
        for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
            run_database(pbx, kind, steps)
    finally:
        if not was_running:
            pbx.down()


if __name__ == "__main__":
    main_()
