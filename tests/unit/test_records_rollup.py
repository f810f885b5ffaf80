"""The reports' hourly roll-ups (homepbx.records.rollup): kept equal to the raw rows by the store,
purge and migration 0006, and reports read through them equal reports over the raw rows alone.

The reference for the reports is the raw-row computation: the same report functions with every
hour treated as an edge (no roll-up read, no span bound), itself checked against hand-computed
figures in test_records_reports.py and against COUNT(DISTINCT) below.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from homepbx import db
from homepbx.models import Queue
from homepbx.records import purge as retention
from homepbx.records import reports, rollup
from homepbx.asterisk.records.feed import AmiFeed
from homepbx.records.events import Engine
from homepbx.asterisk.records.simulate import Pbx
from homepbx.records.store import store
from homepbx.records.types import Batch

from .records_data import T0
from .test_records_reports import _distinct_calls, provision

AGENTS = ("1001", "1002", "1003", "1004")
QUEUES = ("sales", "support")


def _batches(stream) -> list[Batch]:  # type: ignore[no-untyped-def]
    """The engine's batches for a stream, a few calls each (several UPSERTs, hours shared)."""
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    out = []
    for event in stream.ami:
        feed_ami(event, now=0.0)
        if engine.finished >= 7:
            out.append(engine.drain())
    out.append(engine.drain())
    return [b for b in out if b]


def _store(url: str, batches: list[Batch]) -> int:
    n = 0
    for batch in batches:
        with db.engine_for(url).begin() as conn:
            n += store(conn, batch).calls
    return n


def random_calls(seed: int, start: float, n: int, spread: float) -> Pbx:
    """Calls of every kind (answered with holds and extra rings, abandoned after rings, timed out,
    transferred, to the same agent too) and agent states, over `spread` seconds from `start`."""
    rnd = random.Random(seed)
    p = Pbx(start_uid=1_700_000_000.0 + seed * 100_000)
    for agent in AGENTS:
        for queue in QUEUES:
            p.member(start - rnd.randint(0, 7200), agent, queue, "login")
    for i in range(n):
        t = start + rnd.uniform(0, spread)
        queue, agent, other = rnd.choice(QUEUES), rnd.choice(AGENTS), rnd.choice(AGENTS)
        kind = rnd.random()
        caller = f"06{seed:02d}{i:05d}"
        if kind < 0.45:
            p.answered(t, queue, caller, agent, wait=rnd.uniform(1, 50), ring=rnd.uniform(0.5, 4),
                       talk=rnd.uniform(5, 900), also_rang=(other,) if other != agent and rnd.random() < 0.3 else (),
                       hold=(3, rnd.uniform(1, 30)) if rnd.random() < 0.2 else None,
                       hangup_by=rnd.choice(("caller", "agent")))
        elif kind < 0.6:
            p.abandoned(t, queue, caller, wait=rnd.uniform(1, 90), rang=(agent,) if rnd.random() < 0.7 else ())
        elif kind < 0.7:
            p.timed_out(t, queue, caller, wait=300)
        else:
            p.transferred(t, queue, caller, agent, other, wait=rnd.uniform(1, 30), talk1=rnd.choice((0, 40.5)),
                          ring2=rnd.uniform(1, 8), talk2=rnd.uniform(10, 700))
    for agent in AGENTS:
        for _ in range(3):
            t = start + rnd.uniform(0, spread)
            queue = rnd.choice(QUEUES)
            p.member(t, agent, queue, "pause", rnd.choice(("lunch", "training")))
            p.member(t + rnd.uniform(60, 4000), agent, queue, "unpause")
        if rnd.random() < 0.5:
            p.member(start + spread * rnd.uniform(0.5, 1), agent, rnd.choice(QUEUES), "logout")
    return p


def snapshot(url: str) -> dict[str, set[tuple]]:
    """Every roll-up row (floats to the microsecond; rows whose sums are all zero dropped)."""
    out: dict[str, set[tuple]] = {}
    with db.engine_for(url).connect() as conn:
        for table, (key, summed, same) in rollup.TABLES.items():
            cols = rollup._columns(table)
            rows = set()
            for row in conn.execute(text(f"SELECT {', '.join(cols)} FROM {table}")):
                values = tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                if summed and not any(values[cols.index(c)] for c in summed):
                    continue
                rows.add(values)
            out[table] = rows
    return out


def rebuilt(url: str) -> dict[str, set[tuple]]:
    with db.engine_for(url).begin() as conn:
        rollup.rebuild(conn)
    return snapshot(url)


@pytest.fixture
def stored(migrated_url: str) -> str:
    provision(migrated_url)
    with db.session_scope(migrated_url) as s:
        s.add(Queue(name="support", extension="501", wrapup_time=15, service_level=30))
    # Three days from 2026-01-01 10:00 UTC; a queue ("ghost") nobody provisioned.
    p = random_calls(1, T0, 160, 3 * 86400)
    p.answered(T0 + 5000.25, "ghost", "0699", "1002", wait=7, ring=2, talk=33)
    assert _store(migrated_url, _batches(p.out.sorted())) == 161
    return migrated_url


def test_store_keeps_rollups_equal_to_a_rebuild_and_a_replay_adds_nothing(stored: str) -> None:
    kept = snapshot(stored)
    assert all(kept[t] for t in rollup.TABLES)  # spans too: same-agent transfers
    # A replay of everything (one batch, then the original batches) adds nothing.
    p = random_calls(1, T0, 160, 3 * 86400)
    p.answered(T0 + 5000.25, "ghost", "0699", "1002", wait=7, ring=2, talk=33)
    batches = _batches(p.out.sorted())
    assert _store(stored, [Batch([c for b in batches for c in b.calls], [e for b in batches for e in b.agent_events])]) == 0
    assert _store(stored, batches) == 0
    assert snapshot(stored) == kept
    assert rebuilt(stored) == kept


def test_a_queue_event_the_database_skips_is_not_counted(migrated_url: str) -> None:
    """A queue event whose key is taken (by a row written by hand) is not counted twice: the
    store sees fewer rows inserted than given and recounts the hour."""
    p = Pbx()
    lid = p.answered(T0, "sales", "0611", "1001", wait=12, ring=4, talk=95)
    (batch,) = _batches(p.out.sorted())
    twin = next(e for e in batch.calls[0].queue_events if e.event == "CONNECT")
    with db.engine_for(migrated_url).begin() as conn:
        conn.execute(text("INSERT INTO call_records (linkedid, started_at, ended_at, caller, caller_name, called, queue, "
                          "agent, last_agent, disposition, hangup_side, wait_s, ring_s, talk_s, hold_s, transfers, "
                          "recording, complete) VALUES ('other', :at, :at, '', '', '', '', '', '', 'x', '', 0, 0, 0, 0, "
                          "0, '', true)"), {"at": twin.at})
        from homepbx.records.store import _insert
        from homepbx.records.types import QueueEventRow

        _insert(conn, QueueEventRow, [QueueEventRow("other", twin.callid, twin.queue, twin.event, twin.at, "",
                                                    twin.wait_s, None)])
        rollup.rebuild(conn)
    assert _store(migrated_url, [batch]) == 1
    assert lid == batch.calls[0].call.linkedid
    kept = snapshot(migrated_url)
    ((_, queue, _th, entered, answered, *_),) = kept["rollup_queue_hours"]
    assert (queue, entered, answered) == ("sales", 1, 1)
    assert rebuilt(migrated_url) == kept


def test_recounted_hours_equal_a_rebuild(stored: str) -> None:
    """The recount the store asks for when an insert skipped rows (rollup.Delta.recount_*)."""
    kept = snapshot(stored)
    hours = sorted({h for h, *_ in kept["rollup_queue_hours"]})[3:6] + [rollup.hour_of(datetime(2026, 1, 3, 1))]
    with db.engine_for(stored).begin() as conn:
        conn.execute(text("UPDATE rollup_agent_hours SET wrapups = wrapups + 5, wrapup_s = 1.5"))
        conn.execute(text("UPDATE rollup_wrapup_weights SET wrapup_time = 99"))
        conn.execute(text("UPDATE rollup_queue_hours SET entered = entered + 1"))
    assert snapshot(stored) != kept
    delta = rollup.Delta()
    delta.recount_queues.update(hours)
    delta.recount_wrapups.update(hours)
    with db.engine_for(stored).begin() as conn:
        rollup.add(conn, delta)
    got = snapshot(stored)
    for table, (key, _, _) in rollup.TABLES.items():
        if table == "rollup_span_hours":
            continue
        recounted = {r for r in got[table] if r[0] in hours}
        assert recounted == {r for r in kept[table] if r[0] in hours}, table
        assert {r for r in got[table] if r[0] not in hours} != {r for r in kept[table] if r[0] not in hours}, table


def test_backfill_of_old_calls_into_an_old_hour_is_counted(stored: str) -> None:
    """Calls read late (a backfill) into hours that already have roll-ups add to them."""
    before = snapshot(stored)
    p = random_calls(2, T0 + 3600, 30, 7200)
    assert _store(stored, _batches(p.out.sorted())) == 30
    after = snapshot(stored)
    assert after != before
    assert rebuilt(stored) == after
    # And the reports see them: the same as over the raw rows.
    period = reports.period("2026-01-01T10:07", "2026-01-01T14:53", "UTC")
    with db.engine_for(stored).connect() as conn:
        assert same(reports.queues(conn, period), raw(reports.queues, conn, period))
        assert same(reports.agents(conn, period), raw(reports.agents, conn, period))


def test_purge_takes_the_purged_calls_share_out(stored: str) -> None:
    before = snapshot(stored)
    with db.session_scope(stored) as session:
        done = retention.purge(session, datetime(2026, 1, 2, 13, 17))
    assert done.calls > 20
    after = snapshot(stored)
    assert after["rollup_agent_hours"] != before["rollup_agent_hours"]
    assert min(h for h, *_ in after["rollup_agent_hours"]) >= rollup.hour_of(datetime(2026, 1, 2, 13))
    # Spans are never lowered by a partial rebuild (a larger bound is harmless): compare the rest.
    fresh = rebuilt(stored)
    for table in ("rollup_agent_hours", "rollup_wrapup_weights", "rollup_queue_hours"):
        assert after[table] == fresh[table], table
    assert fresh["rollup_span_hours"] <= before["rollup_span_hours"]


# -- reports through the roll-ups equal reports over the raw rows -----------------------------------
def raw(fn, conn, period, **kwargs):  # type: ignore[no-untyped-def]
    """`fn` computed from the raw rows alone: no whole hour read from the roll-ups, no span bound."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(rollup, "whole_hours", lambda lo, hi: (None, [(lo, hi)]))
        mp.setattr(rollup, "longest_span", lambda conn, before: 10.0 ** 9)
        return fn(conn, period, **kwargs)
    finally:
        mp.undo()


def same(got, want, key: str = "") -> bool:  # type: ignore[no-untyped-def]
    """Equal, but for the last rounded digit of a float (or of billing's minutes and total): sums
    of fractional seconds in another order may round a ...5 the other way. Counts, keys, which
    rows exist: exactly."""
    from decimal import Decimal

    if isinstance(got, dict):
        return isinstance(want, dict) and got.keys() == want.keys() and all(same(got[k], want[k], k) for k in got)
    if isinstance(got, list):
        return isinstance(want, list) and len(got) == len(want) and all(same(a, b) for a, b in zip(got, want))
    if isinstance(got, float) and isinstance(want, float):
        return abs(got - want) <= (0.001 if key in ("occupancy", "service_level") else 0.1) + 1e-9
    if key in ("minutes", "total") and isinstance(got, str) and isinstance(want, str):
        return abs(Decimal(got) - Decimal(want)) <= Decimal("0.01")
    return type(got) is type(want) and got == want


ZONES = ("UTC", "Asia/Kolkata", "Europe/Paris", "America/St_Johns", "Australia/Eucla")


def _random_periods(seed: int, n: int) -> list[reports.Period]:
    rnd = random.Random(seed)
    out = []
    base = datetime(2026, 1, 1, 9, 0)
    for _ in range(n):
        lo = base + timedelta(minutes=rnd.randint(0, 4 * 24 * 60), seconds=rnd.choice((0, 0, 17)))
        hi = lo + timedelta(minutes=rnd.choice((1, 43, 61, 119, 600, 1441, 2890, 5000)))
        out.append(reports.Period(lo, hi, ZoneInfo(rnd.choice(ZONES))))
    return out


def test_reports_through_rollups_equal_the_raw_rows_for_any_period(stored: str) -> None:
    """Odd minutes, +05:30, -03:30 and +08:45 zones, periods shorter than an hour, spanning days."""
    periods = [reports.period("2026-01-01T10:07", "2026-01-03T16:53", "Asia/Kolkata"),
               reports.period("2026-01-01", "2026-01-04", "Asia/Kolkata"),
               reports.period("2026-01-01T15:31", "2026-01-01T15:59", "Asia/Kolkata")] + _random_periods(3, 40)
    with db.engine_for(stored).connect() as conn:
        assert reports.agents(conn, periods[1])  # the data set is not empty
        for p in periods:
            for fn in (reports.agents, reports.queues, reports.billing):
                got, want = fn(conn, p), raw(fn, conn, p)
                assert same(got, want), (fn.__name__, p, got, want)
            want = _distinct_calls(conn, p.start, p.end)
            got = {r["agent"]: (r["offered"], r["answered"]) for r in reports.agents(conn, p)
                   if r["offered"] or r["answered"]}
            assert got == want, p


def test_reports_follow_a_changed_service_level_and_wrapup_time(stored: str) -> None:
    """Roll-ups hold answers within the threshold, and wrap-up seconds weighed with the wrap-up
    time, of their day; hours of a queue changed since are counted again."""
    p = reports.period("2026-01-01T10:07", "2026-01-03T16:53", "Asia/Kolkata")
    with db.engine_for(stored).connect() as conn:
        first = {r["queue"]: r["service_level"] for r in reports.queues(conn, p)}
    with db.engine_for(stored).connect() as conn:
        wrap = {r["agent"]: r["wrapup_s"] for r in reports.agents(conn, p)}
    with db.session_scope(stored) as s:
        s.query(Queue).filter(Queue.name == "sales").update({"service_level": 5, "wrapup_time": 45})
    with db.engine_for(stored).connect() as conn:
        rows = reports.queues(conn, p)
        assert same(rows, raw(reports.queues, conn, p))
        agents = reports.agents(conn, p)
        assert same(agents, raw(reports.agents, conn, p))
        assert all(r["wrapup_s"] > wrap[r["agent"]] for r in agents if r["wrapup_s"])
    changed = {r["queue"]: r["service_level"] for r in rows}
    assert changed["sales"] < first["sales"] and changed["support"] == first["support"]
    # Calls stored now count under the new threshold: one hour then holds two (-1), still exact.
    more = random_calls(4, T0 + 1800, 20, 3600)
    assert _store(stored, _batches(more.out.sorted())) == 20
    with db.engine_for(stored).connect() as conn:
        ths = {th for th, in conn.execute(text("SELECT threshold FROM rollup_queue_hours WHERE queue = 'sales'"))}
        assert rollup.MIXED in ths
        ws = {w for w, in conn.execute(text("SELECT wrapup_time FROM rollup_wrapup_weights WHERE queue = 'sales'"))}
        assert rollup.MIXED in ws
        assert same(reports.queues(conn, p), raw(reports.queues, conn, p))
        assert same(reports.agents(conn, p), raw(reports.agents, conn, p))


def test_whole_hours_split() -> None:
    d = datetime
    assert rollup.whole_hours(d(2026, 1, 1, 10, 30), d(2026, 1, 1, 13, 30)) == (
        (rollup.hour_of(d(2026, 1, 1, 11)), rollup.hour_of(d(2026, 1, 1, 13))),
        [(d(2026, 1, 1, 10, 30), d(2026, 1, 1, 11)), (d(2026, 1, 1, 13), d(2026, 1, 1, 13, 30))])
    assert rollup.whole_hours(d(2026, 1, 1, 10), d(2026, 1, 1, 12)) == (
        (rollup.hour_of(d(2026, 1, 1, 10)), rollup.hour_of(d(2026, 1, 1, 12))), [])
    assert rollup.whole_hours(d(2026, 1, 1, 10, 1), d(2026, 1, 1, 11, 59)) == (
        None, [(d(2026, 1, 1, 10, 1), d(2026, 1, 1, 11, 59))])
    assert rollup.hour_of(d(1970, 1, 1, 1, 59, 59, 999999)) == 1
    assert rollup.hour_start(rollup.hour_of(d(2026, 1, 1, 10, 59, 59, 999999))) == d(2026, 1, 1, 10)


@pytest.mark.postgres
def test_a_rebuild_while_the_collector_stores_counts_each_call_once(pg_url: str) -> None:
    """A purge (which rebuilds) while the collector commits a batch, on PostgreSQL: the batch's
    transaction has written its rows and roll-up shares but not committed when the rebuild
    starts. Each call ends up counted once, whichever waits for the other."""
    import threading

    db.upgrade(pg_url)
    provision(pg_url)
    early = random_calls(3, T0, 40, 7200)
    assert _store(pg_url, _batches(early.out.sorted())) == 40
    # Later calls: hours the roll-ups have already, and new ones.
    late = random_calls(4, T0 + 3600, 40, 4 * 3600)
    (batch,) = [Batch([c for b in _batches(late.out.sorted()) for c in b.calls])]
    engine = db.engine_for(pg_url)
    errors: list[BaseException] = []
    with engine.connect() as collector:
        tx = collector.begin()
        assert store(collector, batch).calls == 40

        def rebuild() -> None:
            try:
                with engine.begin() as conn:
                    rollup.rebuild(conn)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=rebuild)
        thread.start()
        thread.join(1.0)  # the rebuild goes as far as it can meanwhile
        tx.commit()
    thread.join(30)
    assert not thread.is_alive()
    assert not errors, errors
    kept = snapshot(pg_url)
    assert rebuilt(pg_url) == kept
