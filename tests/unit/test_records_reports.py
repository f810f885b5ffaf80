"""Reports against figures computed by hand from the fixed data set (tests/unit/records_data.py).

The data set, 2026-01-01 UTC (T0 = 10:00):
- answered:     sales, 1001 after 12 s (rang 4 s; 1002 rang too), talk 95 s, hold 20 s, caller hangs up
- abandoned:    sales, caller gives up after 30 s while 1001 rings
- timeout:      sales, nobody answers in 300 s
- transferred:  sales, 1001 after 5 s, talks 40 s, blind transfer to 1003 (rings 6 s), talk 60 s
- agent_hangup: sales, 1002 after 25 s, talk 200 s, agent hangs up
- 1001 and 1002 log in at 09:50; 1002 pauses for lunch 10:20-10:25; 1001 logs out at 10:50.
Queue sales: wrap-up 10 s, service level 20 s.
"""

from __future__ import annotations

from datetime import timezone
from decimal import Decimal

import pytest

from homepbx import db
from homepbx.errors import InvalidInput, NotFound
from homepbx.models import Agent, BillingUnit, Employment, Queue, Team
from homepbx.records import reports
from homepbx.asterisk.records.feed import AmiFeed
from homepbx.records.events import Engine
from homepbx.asterisk.records.simulate import Pbx
from homepbx.records.store import store

from .records_data import day_one


def provision(url: str) -> None:
    with db.session_scope(url) as s:
        blue, red = Team(name="blue"), Team(name="red")
        s.add_all([blue, red])
        s.add(Queue(name="sales", extension="500", wrapup_time=10, service_level=20))
        for ext, team, emp, rate, unit in (
            ("1001", blue, Employment.independent, "0.50", BillingUnit.minute),
            ("1002", blue, Employment.umbrella, "2.00", BillingUnit.call),
            ("1003", red, Employment.employee, "0", BillingUnit.minute),
        ):
            s.add(Agent(extension=ext, display_name=f"Agent {ext}", team=team, employment=emp,
                        billing_rate=Decimal(rate), billing_unit=unit, md5_cred="0" * 32, realm="homepbx"))


def ingest(url: str, stream) -> None:  # type: ignore[no-untyped-def]
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    for event in stream.ami:
        feed_ami(event, now=0.0)
    with db.engine_for(url).begin() as conn:
        store(conn, engine.drain())


@pytest.fixture
def loaded(migrated_url: str) -> str:
    provision(migrated_url)
    stream, _ = day_one()
    ingest(migrated_url, stream)
    return migrated_url


def run(url: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with db.engine_for(url).connect() as conn:
        return fn(conn, *args, **kwargs)


def test_agents_report(loaded: str) -> None:
    rows = {r["agent"]: r for r in run(loaded, reports.agents, reports.period("2026-01-01", "2026-01-01"))}
    assert set(rows) == {"1001", "1002", "1003"}
    a = rows["1001"]
    assert (a["offered"], a["answered"], a["talk_s"], a["hold_s"], a["wrapup_s"]) == (3, 2, 135.0, 20.0, 20.0)
    assert a["aht_s"] == 77.5  # (135 + 20) / 2
    assert (a["logged_in_s"], a["pause_s"], a["occupancy"]) == (3600.0, 0.0, 0.043)  # 155 / 3600
    b = rows["1002"]
    assert (b["offered"], b["answered"], b["talk_s"], b["wrapup_s"], b["aht_s"]) == (2, 1, 200.0, 10.0, 210.0)
    # Logged in from 09:50 to the end of the day (no logout): 14 h 10 min; lunch 5 min.
    assert (b["logged_in_s"], b["pause_s"], b["pause_by_reason"]) == (51000.0, 300.0, {"lunch": 300.0})
    assert b["occupancy"] == 0.004  # 210 / 50700
    c = rows["1003"]
    assert (c["offered"], c["answered"], c["talk_s"], c["aht_s"], c["occupancy"]) == (1, 1, 60.0, 60.0, None)


def test_agents_report_by_team_and_period(loaded: str) -> None:
    rows = run(loaded, reports.agents, reports.period("2026-01-01", "2026-01-01"), team="blue")
    assert [r["agent"] for r in rows] == ["1001", "1002"]
    # 10:00-10:30 only: the answered, abandoned and transferred calls; 1002 not yet paused back.
    early = {r["agent"]: r for r in run(loaded, reports.agents, reports.period("2026-01-01T10:00", "2026-01-01T10:30"))}
    assert (early["1001"]["offered"], early["1001"]["talk_s"]) == (3, 135.0)
    assert early["1002"]["offered"] == 1 and early["1002"]["logged_in_s"] == 1800.0
    assert early["1002"]["pause_by_reason"] == {"lunch": 300.0}
    with pytest.raises(NotFound):
        run(loaded, reports.agents, reports.period("2026-01-01", "2026-01-01"), team="green")


def test_queues_report(loaded: str) -> None:
    (sales,) = run(loaded, reports.queues, reports.period("2026-01-01", "2026-01-01"))
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["timeout"]) == (5, 3, 1, 1)
    assert sales["avg_wait_s"] == 14.0  # (12 + 5 + 25) / 3
    assert sales["avg_abandon_s"] == 30.0
    assert (sales["service_level_s"], sales["service_level"]) == (20, 0.4)  # 12 s and 5 s of 5 offered


def test_calls_report_search(loaded: str) -> None:
    p = reports.period("2026-01-01", "2026-01-01", "Europe/Paris")
    rows = run(loaded, reports.calls, p)
    assert len(rows) == 5
    assert rows[-1]["started"] == "2026-01-01 11:00:00"  # 10:00 UTC shown in Paris time
    assert [r["disposition"] for r in run(loaded, reports.calls, p, agent="1003")] == ["answered"]
    assert [r["caller"] for r in run(loaded, reports.calls, p, caller="62")] == ["0622"]
    assert len(run(loaded, reports.calls, p, disposition="abandoned")) == 1
    assert {r["caller"] for r in run(loaded, reports.calls, p, team="red")} == {"0644"}
    assert run(loaded, reports.calls, p, caller="%") == []  # a LIKE wildcard is searched literally


def test_billing_report(loaded: str) -> None:
    rows = run(loaded, reports.billing, reports.period("2026-01-01", "2026-01-31"))
    assert rows == [
        {"month": "2026-01", "agent": "1001", "name": "Agent 1001", "employment": "independent", "calls": 2,
         "minutes": "2.25", "unit": "minute", "rate": "0.5000", "total": "1.13"},  # 135 s x 0.50/min = 1.125
        {"month": "2026-01", "agent": "1002", "name": "Agent 1002", "employment": "umbrella", "calls": 1,
         "minutes": "3.33", "unit": "call", "rate": "2.0000", "total": "2.00"},
    ]


def test_billing_months_follow_the_readers_zone(loaded: str) -> None:
    p = Pbx(start_uid=1_800_000_000)
    # 2026-01-31 23:30 UTC is 2026-02-01 00:30 in Paris.
    p.answered(1_769_902_200.0, "sales", "0699", "1001", wait=2, ring=1, talk=60)
    ingest(loaded, p.out.sorted())
    utc_rows = run(loaded, reports.billing, reports.period("2026-01-01", "2026-02-28"))
    paris = run(loaded, reports.billing, reports.period("2026-01-01", "2026-02-28", "Europe/Paris"))
    assert [(r["month"], r["agent"], r["minutes"]) for r in utc_rows] == [("2026-01", "1001", "3.25"), ("2026-01", "1002", "3.33")]
    assert [(r["month"], r["agent"], r["minutes"]) for r in paris] == [
        ("2026-01", "1001", "2.25"), ("2026-01", "1002", "3.33"), ("2026-02", "1001", "1.00")]


@pytest.mark.parametrize(
    "start,end,tz",
    [("2026-13-01", "2026-01-02", "UTC"), ("2026-01-01", "yesterday", "UTC"), ("2026-01-02", "2026-01-01", "UTC"),
     ("2026-01-01", "2026-01-02", "Mars/Olympus")],
)
def test_bad_period_is_refused(start: str, end: str, tz: str) -> None:
    with pytest.raises(InvalidInput):
        reports.period(start, end, tz)


def test_queues_with_different_service_levels_and_an_unknown_queue(migrated_url: str) -> None:
    """Answered calls are counted once per distinct threshold: each queue must still get its own."""
    with db.session_scope(migrated_url) as s:
        s.add(Queue(name="fast", extension="501", wrapup_time=0, service_level=5))
        s.add(Queue(name="slow", extension="502", wrapup_time=0, service_level=60))
        s.add(Queue(name="std", extension="503", wrapup_time=0, service_level=20))
    p = Pbx()
    t0 = 1_767_261_600.0
    # wait 10 s in each queue; `ghost` is not provisioned (threshold 20 by default).
    for i, queue in enumerate(("fast", "slow", "std", "ghost")):
        p.answered(t0 + 100 * i, queue, f"06{i}", "1001", wait=10, ring=2, talk=30)
        p.answered(t0 + 100 * i + 50, queue, f"07{i}", "1001", wait=30, ring=2, talk=30)
    ingest(migrated_url, p.out.sorted())
    with db.engine_for(migrated_url).connect() as conn:
        rows = {r["queue"]: r for r in reports.queues(conn, reports.period("2026-01-01", "2026-01-01"))}
    assert sorted(rows) == ["fast", "ghost", "slow", "std"]
    assert {q: (r["service_level_s"], r["offered"], r["answered"], r["service_level"]) for q, r in rows.items()} == {
        "fast": (5, 2, 2, 0.0), "slow": (60, 2, 2, 1.0), "std": (20, 2, 2, 0.5), "ghost": (20, 2, 2, 0.5),
    }
    assert {r["avg_wait_s"] for r in rows.values()} == {20.0}


def _distinct_calls(conn, lo, hi):  # type: ignore[no-untyped-def]
    """The reference: calls per agent by COUNT(DISTINCT linkedid), as the reports counted before
    migration 0004's first-leg flags."""
    from sqlalchemy import and_, case, func, select

    from homepbx.models import CallLeg

    leg = CallLeg.__table__.c
    query = (
        select(leg.agent, func.count(func.distinct(leg.linkedid)),
               func.count(func.distinct(case((leg.talk_s > 0, leg.linkedid)))))
        .where(and_(leg.role == "agent", leg.started_at >= lo, leg.started_at < hi))
        .group_by(leg.agent)
    )
    return {agent: (offered, answered) for agent, offered, answered in conn.execute(query)}


def test_flag_counts_equal_distinct_counts_whatever_the_period(migrated_url: str) -> None:
    """Calls counted from the first-leg flags equal COUNT(DISTINCT) for any period, including
    periods that begin between two legs of one agent in one call (transferred back to itself)."""
    from homepbx.records.types import utc

    from .records_data import T0

    provision(migrated_url)
    stream, _ = day_one()
    ingest(migrated_url, stream)
    p = Pbx(start_uid=1_700_000_500.0)
    # 1001 answers, transfers the caller to 1001 again (two legs with talk), twice; 1002 too.
    p.transferred(T0 + 4000, "sales", "0666", "1001", "1001", wait=5, talk1=40, ring2=6, talk2=60)
    p.transferred(T0 + 4200, "sales", "0677", "1002", "1001", wait=5, talk1=40, ring2=6, talk2=60)
    p.transferred(T0 + 4400, "sales", "0688", "1001", "1001", wait=5, talk1=0, ring2=6, talk2=60)
    ingest(migrated_url, p.out.sorted())
    ends = [utc(T0 + 5000), utc(T0 + 86400)]
    with db.engine_for(migrated_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM call_legs WHERE first_ring = false"
                                    if conn.dialect.name == "postgresql" else
                                    "SELECT COUNT(*) FROM call_legs WHERE first_ring = 0").scalar() >= 3
        checked = 0
        for step in range(-700, 4700, 10):
            lo = utc(T0 + step)
            for hi in ends:
                p_ = reports.Period(lo, hi, timezone.utc)
                want = _distinct_calls(conn, lo, hi)
                got = {r["agent"]: (r["offered"], r["answered"]) for r in reports.agents(conn, p_)
                       if r["offered"] or r["answered"]}
                assert got == want, (step, hi)
                billed = {r["agent"]: r["calls"] for r in reports.billing(conn, p_)}
                assert billed == {a: n for a, (_, n) in want.items() if n and a in ("1001", "1002")}, (step, hi)
                checked += 1
        assert checked > 1000
