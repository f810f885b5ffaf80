"""Records benchmark: ingest rate from a recorded AMI event stream, and report times over 1M calls.

    .venv/bin/python bench/records.py [--ingest-calls 20000] [--report-calls 1000000] [--db sqlite|postgresql|both]

The AMI stream is scripted by homepbx.asterisk.records.simulate (the event sequence Asterisk 22 emits for
queue calls), written once as AMI bytes, then ingested by the collector itself: a
homepbx.asterisk.records.collector.Collector runs as `homepbx collect` does (AMI client, engine, batches,
its writer thread on PostgreSQL), connected over TCP to an AMI server replaying the bytes from
another process (as Asterisk is: in the collector's process it was charged to ingest), and
stopped through SIGTERM's path once every event is fed; the rate counts from its start to its
exit, and the CPU this process spent meanwhile is the collector's. Then the same again on the
same database (must add nothing).

Each ingest run is preceded by its ceiling, measured back to back so that both see the same
machine: the CPU per call record of the work the collector carries, each stage alone (AMI
parsing and the records engine, read by read as the AMI client reads; then the store, inline,
batches of 1,000 calls). Their sum is what one Python thread could reach if the collector's own
loop cost nothing; the bench prints ingest against it, as a rate (wall) and as CPU per call
record (steadier on a busy machine). The report data set is
bulk-loaded (SQLite executemany, PostgreSQL binary COPY; VACUUM ANALYZE as autovacuum would),
its hourly roll-ups built as for data stored before migration 0006 (homepbx.records.rollup.rebuild,
timed apart: not report time), then each report runs over a 30-day period covering all of it. Every measurement runs --reps
times and the median is printed (the machine may be busy). Prints the figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homepbx import db  # noqa: E402
from homepbx.config import AmiSettings, AsteriskSettings, DatabaseSettings, Settings  # noqa: E402
from homepbx.asterisk.ami.client import READ_SIZE  # noqa: E402
from homepbx.asterisk.ami.frames import FrameBuffer  # noqa: E402
from homepbx.models import Agent, BillingUnit, Employment, Queue, Team  # noqa: E402
from homepbx.records import reports, rollup  # noqa: E402
from homepbx.records.events import Engine  # noqa: E402
from homepbx.asterisk.records.feed import AmiFeed  # noqa: E402
from homepbx.asterisk.records.simulate import Pbx  # noqa: E402
from homepbx.asterisk.records.collector import Collector, records_gc  # noqa: E402
from homepbx.records.store import store  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = datetime(2026, 1, 1)
AGENTS = [str(1000 + i) for i in range(200)]
QUEUES = [f"q{i}" for i in range(20)]


def make_stream(n_calls: int, path: Path, start: float) -> int:
    """`start`: epoch of the first call. The collector closes calls silent for 6 hours by the
    wall clock (lost LINKEDID_END), so a stream replayed at thousands of calls a second must not
    lie in the past: its times start a minute from now (the hours it spans lie ahead)."""
    rnd = random.Random(5)
    p = Pbx()
    t = start
    for i in range(n_calls):
        t += rnd.uniform(0.5, 3.0)
        queue, agent = rnd.choice(QUEUES), rnd.choice(AGENTS)
        kind = rnd.random()
        if kind < 0.75:
            p.answered(t, queue, f"06{i:08d}", agent, wait=rnd.randint(2, 60), ring=rnd.randint(1, 10),
                       talk=rnd.randint(10, 600), hold=(5, 10) if rnd.random() < 0.1 else None)
        elif kind < 0.9:
            p.abandoned(t, queue, f"06{i:08d}", wait=rnd.randint(1, 120), rang=(agent,))
        elif kind < 0.95:
            p.timed_out(t, queue, f"06{i:08d}", wait=300)
        else:
            p.transferred(t, queue, f"06{i:08d}", agent, rnd.choice(AGENTS), wait=5, talk1=30, ring2=4, talk2=90)
    # As Asterisk sends it on the wire: `Key: Value` lines, a blank line after each event.
    with path.open("wb") as fh:
        for event in p.out.sorted().ami:
            fh.write("".join(f"{k}: {v}\r\n" for k, v in event.items()).encode() + b"\r\n")
    return n_calls


class ReplayAmi:
    """An AMI server on 127.0.0.1 replaying the recorded stream: the banner, a login accepted,
    then the stream's bytes as fast as the client reads them; later actions (Ping, Logoff) are
    answered. Runs in a process of its own (`replay_process`), as Asterisk does: in the
    collector's event loop it took the collector's CPU and turns, and charged them to ingest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> "ReplayAmi":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        first = True
        try:
            while True:
                action = (await reader.readuntil(b"\r\n\r\n")).decode()
                fields = dict(line.split(": ", 1) for line in action.split("\r\n") if ": " in line)
                reply = "Goodbye" if fields.get("Action", "").lower() == "logoff" else "Success"
                writer.write(f"Response: {reply}\r\nActionID: {fields.get('ActionID', '')}\r\n\r\n".encode())
                if first:
                    first = False
                    with self.path.open("rb") as fh:
                        while chunk := fh.read(65536):
                            writer.write(chunk)
                            await writer.drain()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def serve_replay(path: Path) -> None:
    """The replay server's process: prints its port, serves until its stdin is closed."""

    async def main() -> None:
        async with ReplayAmi(path) as ami:
            print(ami.port, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


@contextmanager
def replay_process(path: Path) -> Iterator[int]:
    """A ReplayAmi of `path` in a child process; yields its port."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve-replay", str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Ingest:
    calls: int  # call records stored
    secs: float  # wall seconds from the collector's start to its exit
    cpu: float  # CPU seconds of this process meanwhile: the collector's (its writer thread too)

    @property
    def rate(self) -> float:
        return self.calls / self.secs

    @property
    def cpu_per_call(self) -> float:
        return self.cpu / self.calls


@dataclass
class Run:
    """One run: the CPU seconds per call record of each stage alone, then the collector's ingest."""

    parse: float
    engine: float
    store: float
    got: Ingest
    replay_added: int

    @property
    def ceiling(self) -> float:
        """CPU seconds per call record of the work the collector carries: what one thread
        could reach if the collector's own loop cost nothing (SQLite's work is in-process;
        PostgreSQL's client side only: its server runs in another process)."""
        return self.parse + self.engine + self.store

    @property
    def ratio(self) -> float:
        """Ingest rate against the ceiling's (wall: the machine's load stretches it)."""
        return self.got.rate * self.ceiling

    @property
    def cpu_ratio(self) -> float:
        """The ceiling's CPU per call record against what the collector's process spent."""
        return self.ceiling / self.got.cpu_per_call


def spread(values: list[float], fmt: str) -> str:
    """'median (min..max)'."""
    low, high = min(values), max(values)
    return f"{fmt.format(median(values))} ({fmt.format(low)}..{fmt.format(high)})"


def ingest(url: str, path: Path, n_events: int, tmp: Path) -> Ingest:
    """The collector itself (homepbx.asterisk.records.collector.Collector.run, as `homepbx collect` runs it)
    connected over TCP to an AMI server (another process) replaying the stream; stopped
    (SIGTERM's path) once it has fed every event to its engine."""

    async def main(port: int) -> Ingest:
        settings = Settings(database=DatabaseSettings(url=url),
                            asterisk=AsteriskSettings(root=str(tmp), log_dir="/no-asterisk-files"),
                            ami=AmiSettings(port=port, secret="bench"))
        collector = Collector(settings)

        async def stop_when_fed() -> None:
            while collector.totals.events < n_events:
                await asyncio.sleep(0.005)
            collector.request_stop()

        watcher = asyncio.create_task(stop_when_fed())
        cpu, started = time.process_time(), time.perf_counter()
        totals = await collector.run()
        secs, cpu = time.perf_counter() - started, time.process_time() - cpu
        await watcher
        return Ingest(totals.calls, secs, cpu)

    with replay_process(path) as port:
        return asyncio.run(main(port))


def complete_calls(url: str) -> int:
    """Call records stored whole (LINKEDID_END seen, not closed for silence)."""
    with db.engine_for(url).connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM call_records WHERE complete")).scalar_one()


def provision(url: str) -> None:
    with db.session_scope(url) as s:
        team = Team(name="all")
        s.add(team)
        for q in QUEUES:
            s.add(Queue(name=q, extension=str(500 + QUEUES.index(q)), wrapup_time=10, service_level=20))
        for i, ext in enumerate(AGENTS):
            emp = (Employment.independent, Employment.umbrella, Employment.employee)[i % 3]
            s.add(Agent(extension=ext, display_name=f"Agent {ext}", team=team, employment=emp,
                        billing_rate=Decimal("0.35"), billing_unit=BillingUnit.minute if i % 2 else BillingUnit.call,
                        md5_cred="0" * 32, realm="homepbx"))


def synthetic_calls(n_calls: int, chunk: int) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """n_calls calls over 30 days, shaped as the engine writes them, `chunk` calls at a time.

    Answered (80 %): a record, a caller and an agent leg, ENTERQUEUE + CONNECT + COMPLETECALLER,
    and the agent's wrap-up event. Abandoned: a record, the caller leg, ENTERQUEUE + ABANDON, and
    a leg for the agent whose phone rang; 1 call in 10 waiting 10 s or more rang its agent twice
    (two legs of one agent in one call: the first-leg flags matter). Each agent also logs in, pauses twice and logs out
    every day. Rows are tuples in the column order of `COLUMNS`.
    """
    rnd = random.Random(7)
    span = 30 * 86400
    for base in range(0, n_calls, chunk):
        out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
        calls, legs, qevents, aevents = out["call_records"], out["call_legs"], out["queue_events"], out["agent_events"]
        for i in range(base, min(n_calls, base + chunk)):
            at = START + timedelta(seconds=i * span / n_calls)
            lid = f"1800000000.{i}"
            agent = AGENTS[rnd.randrange(len(AGENTS))]
            queue = QUEUES[rnd.randrange(len(QUEUES))]
            answered = rnd.random() < 0.8
            wait = float(rnd.randint(1, 90))
            talk = float(rnd.randint(10, 600)) if answered else 0.0
            answer_at = at + timedelta(seconds=wait)
            end = answer_at + timedelta(seconds=talk)
            calls.append((lid, at, answer_at if answered else None, end, f"06{i:08d}", "", "500", queue,
                          agent if answered else "", agent if answered else "", "answered" if answered else "abandoned",
                          "caller", wait, 3.0, talk, 0.0, 0, "", True))
            legs.append((lid, lid, "PJSIP/trunk-1", "caller", "", at, at, end, 0.0, 0.0, 0.0, 16, False, False))
            rerung = wait >= 10 and rnd.random() < 0.1
            if rerung:
                # The agent's phone rang once without an answer before (a second leg in the call).
                legs.append((lid, lid + "2", f"PJSIP/{agent}-2", "agent", agent, at, None, at + timedelta(seconds=5),
                             5.0, 0.0, 0.0, 19, True, False))
            legs.append((lid, lid + "1", f"PJSIP/{agent}-1", "agent", agent, answer_at - timedelta(seconds=3),
                         answer_at if answered else None, end, 3.0, talk, 0.0, 16, not rerung, talk > 0))
            qevents.append((lid, lid, queue, "ENTERQUEUE", at, "", None, None))
            if answered:
                qevents.append((lid, lid, queue, "CONNECT", answer_at, agent, wait, None))
                qevents.append((lid, lid, queue, "COMPLETECALLER", end, agent, wait, talk))
                aevents.append((end, agent, queue, "wrapup", "", lid))
            else:
                qevents.append((lid, lid, queue, "ABANDON", answer_at, "", wait, None))
        # Agent states: one day's worth per agent whenever the chunk crosses into a new day.
        first_day = int((base * span / n_calls) // 86400)
        last_day = int((min(n_calls, base + chunk) - 1) * span / n_calls // 86400)
        for day in range(first_day if base == 0 else first_day + 1, last_day + 1):
            morning = START + timedelta(days=day, hours=8)
            for k, agent in enumerate(AGENTS):
                q = QUEUES[k % len(QUEUES)]
                for offset, event, reason in ((0, "login", ""), (3 * 3600, "pause", "lunch"), (4 * 3600, "unpause", ""),
                                              (6 * 3600, "pause", "training"), (6.5 * 3600, "unpause", ""),
                                              (9 * 3600, "logout", "")):
                    aevents.append((morning + timedelta(seconds=offset + k), agent, q, event, reason, ""))
        yield out


COLUMNS = {
    "call_records": ("linkedid", "started_at", "answered_at", "ended_at", "caller", "caller_name", "called", "queue",
                     "agent", "last_agent", "disposition", "hangup_side", "wait_s", "ring_s", "talk_s", "hold_s",
                     "transfers", "recording", "complete"),
    "call_legs": ("linkedid", "uniqueid", "channel", "role", "agent", "started_at", "answered_at", "ended_at", "ring_s",
                  "talk_s", "hold_s", "hangup_cause", "first_ring", "first_talk"),
    "queue_events": ("linkedid", "callid", "queue", "event", "at", "agent", "wait_s", "talk_s"),
    "agent_events": ("at", "agent", "queue", "event", "reason", "linkedid"),
}


def bulk_rows(url: str, n_calls: int, chunk: int = 50_000) -> tuple[float, dict[str, int]]:
    """Load the report data set: SQLite executemany, PostgreSQL binary COPY; then ANALYZE."""
    eng = db.engine_for(url)
    started = time.perf_counter()
    totals = dict.fromkeys(COLUMNS, 0)
    for rows in synthetic_calls(n_calls, chunk):
        with eng.begin() as conn:
            raw = conn.connection.driver_connection
            for table, cols in COLUMNS.items():
                data = rows[table]
                totals[table] += len(data)
                if eng.dialect.name == "postgresql":
                    with raw.cursor() as cur, cur.copy(f'COPY {table} ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                                                       "FROM STDIN (FORMAT BINARY)") as copy:
                        types = [COPY_TYPES[table][c] for c in cols]
                        copy.set_types(types)
                        for row in data:
                            copy.write_row(row)
                else:
                    stamp = [i for i, c in enumerate(cols) if c in ("started_at", "answered_at", "ended_at", "at")]
                    sql = (f'INSERT INTO {table} ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})')
                    conn.exec_driver_sql(sql, [_sqlite_row(r, stamp) for r in data])
    with eng.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started, totals


def build_rollups(url: str) -> float:
    """The roll-ups of the bulk-loaded rows, as migration 0006 builds them for stored data; seconds."""
    eng = db.engine_for(url)
    started = time.perf_counter()
    with eng.begin() as conn:
        rollup.rebuild(conn)
    secs = time.perf_counter() - started
    if eng.dialect.name == "sqlite":
        with eng.begin() as conn:
            conn.execute(text("ANALYZE"))
    return secs


def _sqlite_row(row: tuple[Any, ...], stamps: list[int]) -> tuple[Any, ...]:
    # The text form SQLAlchemy's SQLite dialect writes (and the store writes) for DateTime.
    out = list(row)
    for i in stamps:
        if out[i] is not None:
            out[i] = out[i].isoformat(" ", "microseconds")
    return tuple(out)


_T = {"linkedid": "varchar", "uniqueid": "varchar", "channel": "varchar", "role": "varchar", "agent": "varchar",
      "caller": "varchar", "caller_name": "varchar", "called": "varchar", "queue": "varchar", "last_agent": "varchar",
      "disposition": "varchar", "hangup_side": "varchar", "recording": "varchar", "callid": "varchar",
      "event": "varchar", "reason": "varchar", "started_at": "timestamp", "answered_at": "timestamp",
      "ended_at": "timestamp", "at": "timestamp", "wait_s": "float8", "ring_s": "float8", "talk_s": "float8",
      "hold_s": "float8", "transfers": "int4", "hangup_cause": "int4", "complete": "bool",
      "first_ring": "bool", "first_talk": "bool"}
COPY_TYPES = {table: {c: _T[c] for c in cols} for table, cols in COLUMNS.items()}


def time_reports(url: str, reps: int) -> dict[str, list[float]]:
    p = reports.period("2026-01-01", "2026-01-30", "Europe/Paris")
    out: dict[str, list[float]] = {}
    with db.engine_for(url).connect() as conn:
        for _ in range(reps):
            for name, fn in (("agents", reports.agents), ("queues", reports.queues), ("calls", reports.calls),
                             ("billing", reports.billing)):
                started = time.perf_counter()
                rows = fn(conn, p)
                out.setdefault(name, []).append(time.perf_counter() - started)
                assert rows, name
    return out


def check_counts(url: str) -> bool:
    """The agents report's call counts (first-leg flags) equal COUNT(DISTINCT linkedid), the way
    they were counted before migration 0004, over the whole period and one starting mid-data."""
    from sqlalchemy import and_, case, func, select

    from homepbx.models import CallLeg

    leg = CallLeg.__table__.c
    ok = True
    with db.engine_for(url).connect() as conn:
        for start in ("2026-01-01", "2026-01-15T12:00"):
            p = reports.period(start, "2026-01-30", "Europe/Paris")
            want = dict((a, (o, n)) for a, o, n in conn.execute(
                select(leg.agent, func.count(func.distinct(leg.linkedid)),
                       func.count(func.distinct(case((leg.talk_s > 0, leg.linkedid)))))
                .where(and_(leg.role == "agent", leg.started_at >= p.start, leg.started_at < p.end))
                .group_by(leg.agent)))
            got = {r["agent"]: (r["offered"], r["answered"]) for r in reports.agents(conn, p) if r["offered"]}
            ok = ok and got == want
    return ok


def vacuum(url: str) -> None:
    """PostgreSQL: VACUUM ANALYZE, the state autovacuum keeps a table in (index-only scans need the
    visibility map); SQLite: ANALYZE (done by the loader)."""
    eng = db.engine_for(url)
    if eng.dialect.name == "postgresql":
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def split(path: Path) -> tuple[dict[str, float], list[Any]]:
    """CPU seconds per call record of each stage, without a database: parse, then the engine;
    and the batches of 1,000 calls the engine made (for `store_split`).

    Read by read, as ingest runs: the AMI client's read size, each read parsed then fed
    (holding every parsed message of the stream at once would mostly measure the garbage
    collector walking them; larger reads measure the CPU caches missing)."""
    data = path.read_bytes()
    clock = time.process_time
    batches: list[Any] = []
    frames = FrameBuffer(expect_banner=False)
    eng = Engine()
    # The engine's figure includes the AMI adapter's translation, as it always has.
    feed = AmiFeed(eng, timezone.utc).feed
    t_parse = t_engine = 0.0
    # Under the collector's GC settings: with the default ones the parse measured twice what
    # the collector pays for it (434 against 196 us a call on 20,000 calls).
    with records_gc():
        for i in range(0, len(data), READ_SIZE):
            started = clock()
            messages = frames.feed(data[i:i + READ_SIZE])
            parsed = clock()
            for message in messages:
                feed(message, 0.0)
            t_parse += parsed - started
            t_engine += clock() - parsed
            if eng.finished >= 1000:
                batches.append(eng.drain())
    batches.append(eng.drain())
    calls = sum(len(batch.calls) for batch in batches)
    return {"parse": t_parse / calls, "engine": t_engine / calls}, batches


def store_split(url: str, batches: list[Any]) -> tuple[float, float]:
    """(CPU, wall) seconds per call record of `store` alone, one transaction per batch, inline."""
    eng = db.engine_for(url)
    calls = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in batches:
        with eng.begin() as conn:
            calls += store(conn, batch).calls
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def fresh(kind: str, tmp: Path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}", None
    name = f"homepbx_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)


def drop(url: str, handle: object) -> None:
    eng = db._engines.pop(url, None)
    if eng is not None:
        eng.dispose()
    if handle:
        admin, name = handle  # type: ignore[misc]
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingest-calls", type=int, default=20_000)
    ap.add_argument("--report-calls", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3, help="runs of each measurement; the median is printed")
    ap.add_argument("--no-reports", action="store_true", help="ingest only")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--serve-replay", type=Path, help=argparse.SUPPRESS)  # the replay server's process
    args = ap.parse_args()
    if args.serve_replay:
        serve_replay(args.serve_replay)
        return
    # The collector logs a line per batch: keep the figures readable.
    logging.getLogger("homepbx").setLevel(logging.WARNING)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    table: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        stream = tmp / "ami-stream.txt"
        make_stream(args.ingest_calls, stream, time.time() + 60)
        n_events = stream.read_bytes().count(b"\r\n\r\n")
        print(f"recorded AMI stream: {args.ingest_calls} calls, {n_events} events ({stream.stat().st_size / 1e6:.1f} MB)")
        for kind in kinds:
            # Each run: the ceiling (the work alone, stage by stage), then the collector, back
            # to back so that both see the same machine (others' load comes and goes).
            runs: list[Run] = []
            for _ in range(args.reps):
                stages, batches = split(stream)
                url, handle = fresh(kind, tmp)
                try:
                    db.upgrade(url)
                    store_cpu, store_wall = store_split(url, batches)
                finally:
                    drop(url, handle)
                del batches
                url, handle = fresh(kind, tmp)
                try:
                    db.upgrade(url)
                    got = ingest(url, stream, n_events, tmp)
                    whole = complete_calls(url)
                    again = ingest(url, stream, n_events, tmp)
                finally:
                    drop(url, handle)
                run = Run(stages["parse"], stages["engine"], store_cpu, got, again.calls)
                runs.append(run)
                print(f"[{kind}] ceiling: parse {run.parse * 1e6:.0f} + engine {run.engine * 1e6:.0f} + store "
                      f"{run.store * 1e6:.0f} (wall {store_wall * 1e6:.0f}) = {run.ceiling * 1e6:.0f} us CPU per call "
                      f"record -> {1 / run.ceiling:,.0f}/s (AMI parsing free: {1 / (run.engine + run.store):,.0f}/s); "
                      f"ingest: {got.calls} call records ({whole} complete) from {n_events} AMI events in "
                      f"{got.secs:.2f} s = {got.rate:,.0f}/s = {run.ratio:.0%}, {got.cpu_per_call * 1e6:.0f} us CPU "
                      f"per call record = {run.cpu_ratio:.0%}; replay added {again.calls} in {again.secs:.2f} s")
            ratio, cpu_ratio = spread([r.ratio for r in runs], "{:.0%}"), spread([r.cpu_ratio for r in runs], "{:.0%}")
            print(f"[{kind}] ingest {spread([r.got.rate for r in runs], '{:,.0f}/s')} against a ceiling of "
                  f"{spread([1 / r.ceiling for r in runs], '{:,.0f}/s')}: ratio {ratio}; CPU per call record "
                  f"{spread([r.got.cpu_per_call * 1e6 for r in runs], '{:.0f} us')} against "
                  f"{spread([r.ceiling * 1e6 for r in runs], '{:.0f} us')}: ratio {cpu_ratio}")
            row = table.setdefault(kind, {})
            row["ingest"] = f"{median(r.got.rate for r in runs):,.0f}/s"
            row["ceiling"] = f"{median(1 / r.ceiling for r in runs):,.0f}/s"
            row["ratio"] = f"{median(r.ratio for r in runs):.0%}"
            row["cpu ratio"] = f"{median(r.cpu_ratio for r in runs):.0%}"
            row["replay"] = f"{max(r.replay_added for r in runs)} added"
            if args.no_reports:
                continue
            url, handle = fresh(kind, tmp)
            try:
                db.upgrade(url)
                provision(url)
                secs, totals = bulk_rows(url, args.report_calls)
                print(f"[{kind}] loaded " + ", ".join(f"{n:,} {t}" for t, n in totals.items()) + f" in {secs:.0f} s")
                built = build_rollups(url)
                print(f"[{kind}] hourly roll-ups built from the loaded rows (rollup.rebuild, as migration 0006) "
                      f"in {built:.1f} s")
                vacuum(url)
                same = check_counts(url)
                print(f"[{kind}] agents report call counts equal COUNT(DISTINCT): {'yes' if same else 'NO'}")
                row["counts"] = "equal" if same else "DIFFER"
                for name, times in time_reports(url, args.reps).items():
                    print(f"[{kind}] report {name:8s} over {args.report_calls:,} call records (30 days): "
                          + ", ".join(f"{t:.2f}" for t in times) + f" s -> median {median(times):.2f} s")
                    row[name] = f"{median(times):.2f} s"
            finally:
                drop(url, handle)
    print()
    print(f"median of {args.reps} runs; ingest = the collector (`homepbx collect`'s Collector.run) reading the stream "
          "from an AMI server (another process) over TCP: AMI client -> engine -> store, a batch per 1,000 finished "
          "calls or second (PostgreSQL: written by its BatchWriter thread; SQLite: inline); ceiling = parse + engine "
          "+ store CPU per call record, one thread; ratio = ingest rate / ceiling rate, cpu ratio = ceiling CPU / "
          "ingest CPU per call record (each run against its own ceiling)")
    heads = ["ingest", "ceiling", "ratio", "cpu ratio", "replay", "agents", "queues", "calls", "billing", "counts"]
    targets = {"ingest": "", "ceiling": "", "ratio": ">= 80%", "cpu ratio": ">= 80%", "replay": "0 added",
               "agents": "<= 2 s", "queues": "<= 2 s", "calls": "<= 2 s", "billing": "<= 2 s", "counts": "equal"}
    print(f"{'':12s}" + "".join(f"{h:>14s}" for h in heads))
    for kind in kinds:
        print(f"{kind:12s}" + "".join(f"{table[kind].get(h, '-'):>14s}" for h in heads))
    print(f"{'target':12s}" + "".join(f"{targets[h]:>14s}" for h in heads))


if __name__ == "__main__":
    main()
