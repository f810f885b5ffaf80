"""Records benchmark: ingest rate from a recorded AMI event stream, and report times over 1M calls.

    .venv/bin/python bench/records.py [--ingest-calls 20000] [--report-calls 1000000] [--db sqlite|postgresql|both]

The AMI stream is scripted by homepbx.records.simulate (the event sequence Asterisk 22 emits for
queue calls), written once to a JSON-lines file, then read back and ingested: parse, engine, store
in batches, as the collector does. The report data set is inserted directly (it is large), then
each report runs over a 30-day period covering all of it. Prints the figures; not a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homepbx import db  # noqa: E402
from homepbx.ami.frames import FrameBuffer  # noqa: E402
from homepbx.models import Agent, BillingUnit, CallLeg, CallRecord, Employment, Queue, QueueEvent, Team  # noqa: E402
from homepbx.records import reports  # noqa: E402
from homepbx.records.events import Engine  # noqa: E402
from homepbx.records.simulate import Pbx  # noqa: E402
from homepbx.records.store import store  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = datetime(2026, 1, 1)
AGENTS = [str(1000 + i) for i in range(200)]
QUEUES = [f"q{i}" for i in range(20)]


def make_stream(n_calls: int, path: Path) -> int:
    rnd = random.Random(5)
    p = Pbx()
    t = START.replace(tzinfo=timezone.utc).timestamp()
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


def ingest(url: str, path: Path, batch_calls: int = 1000) -> tuple[int, float, int]:
    engine = Engine(asterisk_tz=timezone.utc)
    conn_engine = db.engine_for(url)
    stored = events = 0
    frames = FrameBuffer(expect_banner=False)
    started = time.perf_counter()
    with path.open("rb") as fh:
        # The collector's path: bytes -> homepbx.ami frames -> engine -> store, a batch at a time.
        while chunk := fh.read(65536):
            for message in frames.feed(chunk):
                engine.feed_ami(message, 0.0)
                events += 1
            if len(engine._done) >= batch_calls:
                with conn_engine.begin() as conn:
                    stored += store(conn, engine.drain()).calls
    with conn_engine.begin() as conn:
        stored += store(conn, engine.drain()).calls
    return stored, time.perf_counter() - started, events


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


def bulk_rows(url: str, n_calls: int, chunk: int = 50_000) -> float:
    """n_calls calls over 30 days: one record, two legs and three queue events each."""
    rnd = random.Random(7)
    span = 30 * 86400
    eng = db.engine_for(url)
    started = time.perf_counter()
    for base in range(0, n_calls, chunk):
        calls, legs, qevents = [], [], []
        for i in range(base, min(n_calls, base + chunk)):
            at = START + timedelta(seconds=i * span / n_calls)
            lid = f"1800000000.{i}"
            agent = rnd.choice(AGENTS)
            queue = rnd.choice(QUEUES)
            answered = rnd.random() < 0.8
            wait = float(rnd.randint(1, 90))
            talk = float(rnd.randint(10, 600)) if answered else 0.0
            calls.append(dict(linkedid=lid, started_at=at, answered_at=at + timedelta(seconds=wait) if answered else None,
                              ended_at=at + timedelta(seconds=wait + talk), caller=f"06{i:08d}", caller_name="",
                              called="500", queue=queue, agent=agent if answered else "", last_agent=agent if answered else "",
                              disposition="answered" if answered else "abandoned", hangup_side="caller", wait_s=wait,
                              ring_s=3.0, talk_s=talk, hold_s=0.0, transfers=0, recording="", complete=True))
            legs.append(dict(linkedid=lid, uniqueid=lid, channel="PJSIP/trunk-1", role="caller", agent="", started_at=at,
                             answered_at=at, ended_at=at, ring_s=0.0, talk_s=0.0, hold_s=0.0, hangup_cause=16))
            legs.append(dict(linkedid=lid, uniqueid=lid + "1", channel=f"PJSIP/{agent}-1", role="agent", agent=agent,
                             started_at=at + timedelta(seconds=wait - 3), answered_at=None, ended_at=None, ring_s=3.0,
                             talk_s=talk, hold_s=0.0, hangup_cause=16))
            qevents.append(dict(linkedid=lid, callid=lid, queue=queue, event="ENTERQUEUE", at=at, agent="", wait_s=None, talk_s=None))
            end_event = "CONNECT" if answered else "ABANDON"
            qevents.append(dict(linkedid=lid, callid=lid, queue=queue, event=end_event, at=at + timedelta(seconds=wait),
                                agent=agent if answered else "", wait_s=wait, talk_s=None))
        with eng.begin() as conn:
            conn.execute(CallRecord.__table__.insert(), calls)
            conn.execute(CallLeg.__table__.insert(), legs)
            conn.execute(QueueEvent.__table__.insert(), qevents)
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def time_reports(url: str) -> dict[str, float]:
    p = reports.period("2026-01-01", "2026-01-30", "Europe/Paris")
    out = {}
    with db.engine_for(url).connect() as conn:
        for name, fn in (("agents", reports.agents), ("queues", reports.queues), ("calls", reports.calls),
                         ("billing", reports.billing)):
            started = time.perf_counter()
            rows = fn(conn, p)
            out[name] = time.perf_counter() - started
            assert rows, name
    return out


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
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        stream = tmp / "ami-stream.txt"
        make_stream(args.ingest_calls, stream)
        n_events = stream.read_bytes().count(b"\r\n\r\n")
        print(f"recorded AMI stream: {args.ingest_calls} calls, {n_events} events ({stream.stat().st_size / 1e6:.1f} MB)")
        for kind in kinds:
            url, handle = fresh(kind, tmp)
            try:
                db.upgrade(url)
                stored, secs, events = ingest(url, stream)
                print(f"[{kind}] ingest: {stored} call records from {events} AMI events in {secs:.2f} s "
                      f"= {stored / secs:,.0f} call records/s ({events / secs:,.0f} events/s)")
                stored2, secs2, _ = ingest(url, stream)
                print(f"[{kind}] replay of the same stream: {stored2} added in {secs2:.2f} s")
            finally:
                drop(url, handle)
            url, handle = fresh(kind, tmp)
            try:
                db.upgrade(url)
                provision(url)
                secs = bulk_rows(url, args.report_calls)
                print(f"[{kind}] loaded {args.report_calls:,} call records (+2 legs, +2 queue events each) in {secs:.0f} s")
                for name, secs in time_reports(url).items():
                    print(f"[{kind}] report {name:8s} over {args.report_calls:,} call records (30 days): {secs:.2f} s")
            finally:
                drop(url, handle)


if __name__ == "__main__":
    main()
