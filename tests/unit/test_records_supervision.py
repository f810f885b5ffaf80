"""Supervision sessions (issue 16): a supervisor's spy is attached to the call it spied on, never a call.

The inputs are CEL lines recorded from the lab's Asterisk 22 (tests/unit/supervision_data.py),
read as the collector reads them: from the CEL CSV, as AMI `CEL` events (the same facts in AMI's
shape), and both at once (live plus a backfill). The store, the migration of the rows older
versions stored (spies as failed calls) and the reports run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from homepbx import db
from homepbx.asterisk.records.feed import AmiFeed
from homepbx.asterisk.records.sources import CEL_COLUMNS, parse_cel_line, supervision_from_cel
from homepbx.records import reports
from homepbx.records.events import Engine
from homepbx.records.spies import store_spies
from homepbx.records.store import store, store_calls
from homepbx.records.types import Batch, CelEvent, SupervisionRow, utc

from .supervision_data import AGENT, BARGE_CALL, BARGE_SPY, CALLER, CODE_CALL, CODE_SPY, LINES, SUPERVISOR
from .test_migrations import _migrate_to
from .test_records_rollup import snapshot


# -- inputs ----------------------------------------------------------------------------------------
def csv_events(lines: tuple[str, ...] | list[str] = LINES) -> list[CelEvent]:
    out = [parse_cel_line(line) for line in lines]
    assert all(out)
    return out  # type: ignore[return-value]


def ami_event(line: str) -> dict[str, str]:
    """The AMI `CEL` event Asterisk sends for the fact of one CSV line (EventTime local = UTC here)."""
    row = dict(zip(CEL_COLUMNS, next(csv.reader([line]))))
    t = float(row["eventtime"])
    return {
        "Event": "CEL", "Privilege": "call,all", "Timestamp": f"{t:.6f}", "EventName": row["eventtype"],
        "EventTime": datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "LinkedID": row["linkedid"], "UniqueID": row["uniqueid"], "Channel": row["channel"],
        "Context": row["context"], "Exten": row["exten"], "Application": row["appname"], "AppData": row["appdata"],
        "Peer": row["bridgepeer"], "Extra": row["eventextra"], "CallerIDnum": row["cid_num"],
        "CallerIDname": row["cid_name"], "CallerIDdnid": "", "AccountCode": "", "AMAFlags": "DOCUMENTATION",
    }


def run(lines: tuple[str, ...] | list[str] = LINES, source: str = "csv") -> Batch:
    """The engine's batch for the lines: from the CSV, from AMI, or each fact from AMI then the CSV."""
    engine = Engine()
    feed = AmiFeed(engine, timezone.utc)
    for line in lines:
        if source in ("ami", "both"):
            feed.feed(ami_event(line), 0.0)
        if source in ("csv", "both"):
            engine.feed(parse_cel_line(line))  # type: ignore[arg-type]
    return engine.drain()


def without_marks(lines: tuple[str, ...] = LINES) -> Batch:
    """What versions before issue 16 made of the lines: the spy channels as calls of their own."""
    engine = Engine()
    for ev in csv_events(lines):
        ev.supervision = None
        engine.feed(ev)
    return engine.drain()


def lines_of(*linkedids: str) -> list[str]:
    return [line for line in LINES if any(f',"{lid}",' in line for lid in linkedids)]


def session(batch: Batch, key: str) -> SupervisionRow:
    (found,) = [s for s in batch.supervisions if s.key == key]
    return found


# -- the engine --------------------------------------------------------------------------------------
def test_the_recorded_spies_are_sessions_of_the_calls_they_spied_on() -> None:
    batch = run()
    assert sorted(c.call.linkedid for c in batch.calls) == sorted([BARGE_CALL, CODE_CALL])
    assert [c.call.disposition for c in batch.calls] == ["answered", "answered"]
    assert all(c.call.caller == CALLER for c in batch.calls)
    barge = session(batch, BARGE_SPY)
    assert (barge.linkedid, barge.supervisor, barge.agent, barge.mode, barge.switches, barge.origin) == (
        BARGE_CALL, SUPERVISOR, AGENT, "barge", (), "command")
    assert barge.spy_call == BARGE_SPY
    # From ChanSpy's APP_START to its APP_END, as Asterisk stamped them.
    assert barge.started_at == utc(1796141702.383478) and barge.ended_at == utc(1796141708.505192)
    code = session(batch, CODE_SPY)
    assert (code.linkedid, code.supervisor, code.agent, code.mode, code.origin) == (
        CODE_CALL, SUPERVISOR, AGENT, "listen", "feature code")
    # The supervisor pressed 5 a second in: whisper from then on.
    assert code.switches == ((utc(1796141729.302223), "whisper"),)
    assert code.modes == ("listen", "whisper")
    assert code.started_at == utc(1796141728.118325) and code.ended_at == utc(1796141735.380826)
    # The feature code is still audited as before.
    assert [(s.supervisor, s.agent, s.mode) for s in batch.spies] == [(SUPERVISOR, AGENT, "listen")]


def test_before_issue_16_the_spies_were_failed_calls() -> None:
    """What the migration and the store clean up: the spy channels' own calls, as reported."""
    calls = {c.call.linkedid: c.call for c in without_marks().calls}
    assert set(calls) == {BARGE_CALL, BARGE_SPY, CODE_CALL, CODE_SPY}
    spy = calls[BARGE_SPY]
    assert (spy.caller, spy.called, spy.queue, spy.agent, spy.disposition, spy.answered_at) == (
        SUPERVISOR, "s", "", "", "failed", None)
    assert (calls[CODE_SPY].called, calls[CODE_SPY].disposition) == ("*214101", "failed")


def _shape(batch: Batch) -> tuple[Any, ...]:
    return (sorted((c.call.linkedid, c.call.disposition, c.call.talk_s, len(c.legs)) for c in batch.calls),
            sorted((s.key, s.linkedid, s.mode, s.switches, s.started_at.replace(microsecond=0),
                    s.ended_at.replace(microsecond=0), s.origin) for s in batch.supervisions))


def test_live_and_backfill_make_the_same_sessions() -> None:
    assert _shape(run(source="ami")) == _shape(run())


def test_a_restart_re_reading_from_the_spied_calls_start_makes_the_same_sessions() -> None:
    """The collector dies mid-spy; the next one re-reads the files from the oldest open call's
    start (the spied call's) while the spy goes on: the sessions come out the same."""
    first = Engine()
    cut = next(i for i, line in enumerate(LINES) if '"DTMF"' in line)
    for ev in csv_events(LINES[:cut]):
        first.feed(ev)
    oldest = first.oldest_open()
    resumed = [line for line in LINES if float(next(csv.reader([line]))[0]) >= oldest - 60]
    assert _shape(run(resumed)) == _shape(run())


def test_a_session_waits_for_its_spied_call_to_finish() -> None:
    """Its call not open when it started (FreeSWITCH reports legs at their hangup; a restart
    re-reading from after the call began): the session is reported at once without its call
    (for the store to find it among the stored calls) and again with it when that call finishes
    here; a restart in between reads the spy again (the cursor stays before it)."""
    engine = Engine()
    spy = csv_events(lines_of(CODE_SPY))
    for ev in spy:
        engine.feed(ev)
    assert [(s.key, s.linkedid) for s in engine.drain().supervisions] == [(CODE_SPY, "")]
    assert engine.oldest_open() == spy[0].time
    for ev in csv_events(lines_of(CODE_CALL)):
        engine.feed(ev)
    batch = engine.drain()
    assert [c.call.linkedid for c in batch.calls] == [CODE_CALL]
    assert [(s.key, s.linkedid) for s in batch.supervisions] == [(CODE_SPY, CODE_CALL)]
    assert engine.oldest_open() is None


def test_a_spy_whose_call_was_never_seen_keeps_its_agent_for_the_store() -> None:
    batch = run(lines_of(BARGE_SPY))
    assert batch.calls == []
    barge = session(batch, BARGE_SPY)
    assert (barge.linkedid, barge.agent, barge.channel) == ("", AGENT, "PJSIP/4101-00000007")


def test_digits_switch_modes_only_with_the_switch_option_and_each_counts() -> None:
    code = lines_of(CODE_CALL, CODE_SPY)
    no_switch = [line.replace("qEd", "qE") for line in code]
    assert session(run(no_switch), CODE_SPY).switches == ()
    # 5 then 6 within the same second: whisper, then barge (two facts, not one seen twice).
    i = next(i for i, line in enumerate(code) if '"DTMF"' in line)
    six = code[i].replace('"1796141729.302223"', '"1796141729.802223"').replace('""5""', '""6""')
    twice = code[:i + 1] + [six] + code[i + 1:]
    for source in ("csv", "both"):
        got = session(run(twice, source), CODE_SPY)
        assert [m for _, m in got.switches] == ["whisper", "barge"], source
        assert got.modes == ("listen", "whisper", "barge")
    # The same digit again changes nothing.
    assert [m for _, m in session(run(code[:i + 1] + [code[i]] + code[i + 1:]), CODE_SPY).switches] == ["whisper"]


def test_only_homepbx_chanspy_is_a_supervision() -> None:
    start = next(ev for ev in csv_events() if ev.event == "APP_START" and ev.appname == "ChanSpy")
    assert supervision_from_cel(start) is not None
    assert supervision_from_cel(replace(start, context="from-somewhere")) is None
    assert supervision_from_cel(replace(start, appname="Dial", appdata="PJSIP/4101,30")) is None
    assert supervision_from_cel(replace(start, channel="Local/4901@x-00000001;1")) is None


def test_a_spy_channel_in_a_call_of_others_leaves_that_call_a_call() -> None:
    """Should a spy channel ever share its linkedid with other channels, they stay a call."""
    spy_lines = f',"{BARGE_SPY}","{BARGE_SPY}",'
    merged = [line.replace(spy_lines, f',"{BARGE_CALL}","{BARGE_SPY}",') for line in lines_of(BARGE_CALL, BARGE_SPY)
              if not (f',"{BARGE_CALL}",' in line and '"LINKEDID_END"' in line)]
    batch = run(merged)
    (call,) = batch.calls
    assert (call.call.linkedid, call.call.disposition, call.call.caller) == (BARGE_CALL, "answered", CALLER)
    assert all(not leg.channel.startswith("PJSIP/4901-") for leg in call.legs)
    barge = session(batch, BARGE_SPY)
    # Attached to that call; its id is no spy's own call (the store must keep the call).
    assert (barge.mode, barge.linkedid, barge.spy_call) == ("barge", BARGE_CALL, "")


# -- the store -------------------------------------------------------------------------------------
def _rows(url: str, sql: str) -> list[Any]:
    with db.engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _store(url: str, batch: Batch) -> Any:
    with db.engine_for(url).begin() as conn:
        return store(conn, batch)


def test_sessions_are_stored_once_attached_to_their_call(migrated_url: str) -> None:
    batch = run()
    assert _store(migrated_url, batch).supervisions == 2
    assert _store(migrated_url, run(source="both")).supervisions == 0  # live + backfill again: nothing new
    rows = _rows(migrated_url, "SELECT key, linkedid, supervisor, agent, mode, modes, switches, origin "
                               "FROM call_supervisions ORDER BY started_at")
    assert rows == [
        (BARGE_SPY, BARGE_CALL, SUPERVISOR, AGENT, "barge", "barge", "[]", "command"),
        (CODE_SPY, CODE_CALL, SUPERVISOR, AGENT, "listen", "listen,whisper",
         json.dumps([["2026-12-01T16:15:29.302223", "whisper"]]), "feature code"),
    ]
    assert _rows(migrated_url, "SELECT count(*) FROM call_records") == [(2,)]


def test_each_fact_from_both_sources_stores_what_one_source_does(migrated_url: str) -> None:
    """Every fact twice (AMI, then the CSV): what is stored is the same, and the spies' events
    seen again after their call finished (alone, they look like a failed call) are no call."""
    _store(migrated_url, run(source="both"))
    assert sorted(_rows(migrated_url, "SELECT linkedid, disposition FROM call_records")) == sorted(
        [(BARGE_CALL, "answered"), (CODE_CALL, "answered")])
    assert sorted(_rows(migrated_url, "SELECT key, linkedid FROM call_supervisions")) == sorted(
        [(BARGE_SPY, BARGE_CALL), (CODE_SPY, CODE_CALL)])


def test_a_re_read_of_a_spys_tail_is_no_call(migrated_url: str) -> None:
    """The files' tail re-read (the periodic re-read, a restart) from after a spy's start: its
    last events alone make an unanswered call the store must not write."""
    _store(migrated_url, run())
    tail = [line for line in lines_of(BARGE_SPY) if '"APP_START"' not in line and '"CHAN_START"' not in line]
    again = run(tail)
    assert [c.call.disposition for c in again.calls] == ["failed"] and not again.supervisions
    assert _store(migrated_url, again).calls == 0
    assert _rows(migrated_url, "SELECT count(*) FROM call_records WHERE disposition = 'failed'") == [(0,)]


def test_a_session_stored_before_its_call_is_found_attached_later(migrated_url: str) -> None:
    """A restart that re-read the files only from the spy's start: the engine could not tell the
    spied call, the store finds it among the stored legs (by channel, or by agent and time);
    a session stored with no call is given one by the next report of it."""
    calls = Batch([c for c in run().calls])
    _store(migrated_url, calls)
    alone = run(lines_of(BARGE_SPY, CODE_SPY))
    assert {s.linkedid for s in alone.supervisions} == {""}
    _store(migrated_url, alone)
    assert sorted(_rows(migrated_url, "SELECT key, linkedid FROM call_supervisions")) == sorted(
        [(BARGE_SPY, BARGE_CALL), (CODE_SPY, CODE_CALL)])


def test_an_unattached_session_is_attached_by_a_later_report(migrated_url: str) -> None:
    alone = run(lines_of(CODE_SPY))
    _store(migrated_url, alone)
    assert _rows(migrated_url, "SELECT linkedid FROM call_supervisions") == [("",)]
    assert _store(migrated_url, run()).supervisions == 2  # one new, one attached
    assert _rows(migrated_url, "SELECT key, linkedid FROM call_supervisions WHERE key = '%s'" % CODE_SPY) == [
        (CODE_SPY, CODE_CALL)]


def test_storing_a_session_removes_its_spy_stored_as_a_call(migrated_url: str) -> None:
    """A full backfill over a database an older version filled: the failed calls go, the
    roll-ups are what the remaining rows give."""
    _store(migrated_url, without_marks())
    assert len(_rows(migrated_url, "SELECT linkedid FROM call_records")) == 4
    _store(migrated_url, run())
    assert sorted(_rows(migrated_url, "SELECT linkedid FROM call_records")) == sorted([(BARGE_CALL,), (CODE_CALL,)])
    assert _rows(migrated_url, "SELECT count(*) FROM call_legs WHERE channel LIKE 'PJSIP/4901-%'") == [(0,)]
    kept = snapshot(migrated_url)
    from homepbx.records import rollup

    with db.engine_for(migrated_url).begin() as conn:
        rollup.rebuild(conn)
    assert snapshot(migrated_url) == kept


# -- the migration of old rows ---------------------------------------------------------------------
def test_0010_moves_the_spies_stored_as_calls_to_sessions(any_db_url: str) -> None:
    """Rows as versions before issue 16 left them: the spies as failed calls, and their audit
    entries (the collector's for the feature code, the CLI's for its Originate)."""
    _migrate_to(any_db_url, "0009")
    old = without_marks()
    barge_start = utc(1796141702.383478)
    with db.engine_for(any_db_url).begin() as conn:
        store_calls(conn, [c.call for c in old.calls], old)
        store_spies(conn, old.spies)
        # A plain failed call of the same supervisor (no spy): it stays.
        conn.execute(text(
            "INSERT INTO call_records (linkedid, started_at, ended_at, caller, caller_name, called, queue, agent, "
            "last_agent, disposition, hangup_side, wait_s, ring_s, talk_s, hold_s, transfers, recording, complete) "
            "VALUES ('other.1', :t, :t, '4901', '', '4102', '', '', '', 'failed', 'system', 0, 0, 0, 0, 0, '', true)"
        ).bindparams(t=barge_start))
        details = {"agent_channel": "PJSIP/4101-00000007", "supervisor_channel": "PJSIP/4901-00000008",
                   "supervisor": SUPERVISOR, "agent": AGENT, "mode": "barge"}
        conn.execute(text("INSERT INTO audit_log (at, actor, action, target, details) "
                          "VALUES (:at, 'root', 'spy.barge', :agent, :details)").bindparams(
            at=barge_start + timedelta(seconds=0.2), agent=AGENT, details=json.dumps(details, sort_keys=True)))
    before = snapshot(any_db_url)
    db.upgrade(any_db_url)
    assert sorted(_rows(any_db_url, "SELECT linkedid FROM call_records")) == sorted(
        [(BARGE_CALL,), (CODE_CALL,), ("other.1",)])
    assert _rows(any_db_url, "SELECT count(*) FROM call_legs WHERE linkedid IN ('%s', '%s')" % (BARGE_SPY, CODE_SPY)) \
        == [(0,)]
    rows = _rows(any_db_url, "SELECT key, linkedid, supervisor, agent, mode, modes, origin, spy_call "
                             "FROM call_supervisions ORDER BY started_at")
    assert rows == [
        (BARGE_SPY, BARGE_CALL, SUPERVISOR, AGENT, "barge", "barge", "command", BARGE_SPY),
        (CODE_SPY, CODE_CALL, SUPERVISOR, AGENT, "listen", "listen", "feature code", CODE_SPY),
    ]
    # The spies had no share in the roll-ups (a lone caller leg): rebuilt, they are as before.
    assert snapshot(any_db_url) == before
    # Collecting the same files again now adds the mode switch nowhere (the key is taken) and
    # no call: the database is what a fresh collection gives, but for the switches never stored.
    _store(any_db_url, run(source="both"))
    assert len(_rows(any_db_url, "SELECT key FROM call_supervisions")) == 2
    assert len(_rows(any_db_url, "SELECT linkedid FROM call_records")) == 3


# -- the reports -------------------------------------------------------------------------------------
def _period() -> reports.Period:
    return reports.period("2026-12-01", "2026-12-01", "UTC")


def test_reports_show_supervision(migrated_url: str) -> None:
    batch = run()
    # A third, unsupervised call: the same call without its spy.
    plain = without_marks(tuple(lines_of(CODE_CALL)))
    for c in plain.calls:
        c.call = replace(c.call, linkedid="plain.1")
        c.legs = [replace(leg, linkedid="plain.1", uniqueid=leg.uniqueid + "p") for leg in c.legs]
        c.queue_events = []
    _store(migrated_url, batch)
    _store(migrated_url, Batch(plain.calls))
    p = _period()
    with db.engine_for(migrated_url).connect() as conn:
        calls = {r["linkedid"]: r for r in reports.calls(conn, p)}
        supervised = reports.calls(conn, p, supervised=True)
        agents = {r["agent"]: r for r in reports.agents(conn, p)}
        sups = reports.supervisors(conn, p)
    assert set(calls) == {BARGE_CALL, CODE_CALL, "plain.1"}
    assert calls[BARGE_CALL]["supervised"] == f"barge {SUPERVISOR}"
    assert calls[CODE_CALL]["supervised"] == f"listen>whisper {SUPERVISOR}"
    assert calls["plain.1"]["supervised"] == "" and calls["plain.1"]["supervisions"] == []
    (detail,) = calls[CODE_CALL]["supervisions"]
    assert (detail["supervisor"], detail["modes"], detail["origin"], detail["seconds"]) == (
        SUPERVISOR, ["listen", "whisper"], "feature code", 7.3)
    assert sorted(r["linkedid"] for r in supervised) == sorted([BARGE_CALL, CODE_CALL])
    # Both calls coached (whisper at one moment, barge at the other), one listened to.
    assert (agents[AGENT]["answered"], agents[AGENT]["coached"], agents[AGENT]["listened"]) == (3, 2, 1)
    assert sups == [{"supervisor": SUPERVISOR, "name": "", "sessions": 2, "calls": 2, "minutes": 0.2,
                     "listen": 1, "whisper": 1, "barge": 1}]


def test_report_commands_show_supervision(tmp_path: Any, any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from .cli_helpers import make_cli, url_of

    monkeypatch.setenv("COLUMNS", "300")  # the terminal table: one line per call
    cli = make_cli(tmp_path, any_db_url)
    _store(url_of(cli), run())
    period = ("--from", "2026-12-01", "--to", "2026-12-01")
    res = cli("report", "calls", *period, "--supervised", "--csv")
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(res.stdout.splitlines()))
    assert sorted((r["linkedid"], r["supervised"]) for r in rows) == sorted(
        [(BARGE_CALL, "barge 4901"), (CODE_CALL, "listen>whisper 4901")])
    assert cli("report", "calls", *period, "--disposition", "failed", "--json").stdout.strip() == "[]"
    agents = cli("report", "agents", *period, "--json")
    assert agents.exit_code == 0, agents.stderr
    assert [(r["agent"], r["answered"], r["coached"], r["listened"]) for r in json.loads(agents.stdout)] == [
        (AGENT, 2, 2, 1)]
    table = cli("report", "calls", *period)
    # The terminal table shows the column too.
    assert table.exit_code == 0 and "supervised" in table.stdout, table.stdout
    assert "barge 4901" in table.stdout and "listen>whisper 4901" in table.stdout, table.stdout
    sups = cli("report", "supervisors", *period, "--json")
    assert sups.exit_code == 0, sups.stderr
    assert [(r["supervisor"], r["sessions"], r["calls"]) for r in json.loads(sups.stdout)] == [(SUPERVISOR, 2, 2)]
    assert "4901" in cli("report", "supervisors", *period).stdout


# -- FreeSWITCH: eavesdrop legs --------------------------------------------------------------------
FS_DATA = Path(__file__).resolve().parents[1] / "data" / "freeswitch" / "supervision"
FS_BARGE_CALL, FS_BARGE_SPY = "d6bf0968-5fe9-45bb-bf82-857a3c6f0c59", "da4abd03-ef91-4034-a8ad-68f0fc463696"
FS_CODE_CALL, FS_CODE_SPY = "e2fc2e72-05e4-4ff9-bae9-b02fe076bfd1", "8cce660b-35e3-44f9-b9b9-890581382d13"


def _fs_batch(spy_first: bool) -> Batch:
    """The recorded CDRs through the FreeSWITCH adapter: in start order (a backfill), or each
    spy leg first with its spied leg unknown (what a spy that ends before its call gives live
    when the collector started after that call)."""
    from homepbx.freeswitch.records.legs import CallIds, end_event, leg_events, leg_from_cdr, spy_mark

    legs = sorted((leg_from_cdr(json.loads(p.read_text())) for p in FS_DATA.glob("*.cdr.json")),
                  key=lambda g: g.start)  # type: ignore[union-attr]
    # Which legs make one call (known once all are seen), to end each call after its last leg.
    grouping = CallIds()
    group = {g.uuid: grouping.assign(g.uuid, g.member_of, g.originator) for g in legs}  # type: ignore[union-attr]
    if spy_first:
        legs.sort(key=lambda g: g.spy is None)  # type: ignore[union-attr]
    engine, calls = Engine(), CallIds()
    left = {c: sum(1 for v in group.values() if v == c) for c in set(group.values())}
    ends: dict[str, float] = {}
    for leg in legs:
        assert leg is not None
        call = calls.assign(leg.uuid, leg.member_of, leg.originator)
        for item in leg_events(leg, call, spy_mark(leg, calls) if leg.spy else None):
            engine.feed(item)
        g = group[leg.uuid]
        left[g] -= 1
        ends[g] = max(ends.get(g, 0.0), leg.hangup)
        if not left[g]:
            engine.feed_cel(end_event(call, ends[g]))
    return engine.drain()


@pytest.mark.parametrize("spy_first", [False, True])
def test_freeswitch_eavesdrop_legs_are_sessions_of_the_calls_they_spied_on(migrated_url: str, spy_first: bool) -> None:
    batch = _fs_batch(spy_first)
    assert sorted((c.call.linkedid, c.call.disposition) for c in batch.calls) == sorted(
        [(FS_BARGE_CALL, "answered"), (FS_CODE_CALL, "answered")])
    assert {s.key for s in batch.supervisions} == {FS_BARGE_SPY, FS_CODE_SPY}
    assert all(s.started_at < s.ended_at for s in batch.supervisions)
    _store(migrated_url, batch)
    # The spy code's session: its call finished first (the spy stayed on for the agent's next
    # call), so the store found it among the stored calls by the agent's leg then.
    assert sorted(_rows(migrated_url, "SELECT key, linkedid, supervisor, agent, mode, origin FROM call_supervisions")) \
        == sorted([(FS_BARGE_SPY, FS_BARGE_CALL, "5791", "5701", "barge", "command"),
                   (FS_CODE_SPY, FS_CODE_CALL, "5791", "5701", "listen", "feature code")])
    assert sorted(_rows(migrated_url, "SELECT linkedid FROM call_records")) == sorted([(FS_BARGE_CALL,), (FS_CODE_CALL,)])


def test_purge_forgets_the_sessions_with_the_calls(migrated_url: str) -> None:
    from homepbx.records import purge

    _store(migrated_url, run())
    with db.session_scope(migrated_url) as session:
        done = purge.purge(session, utc(1796141720.0))  # between the two calls
    assert done.calls == 1
    assert _rows(migrated_url, "SELECT key FROM call_supervisions") == [(CODE_SPY,)]


def test_0010_moves_freeswitch_cli_spies_stored_as_calls(any_db_url: str) -> None:
    """FreeSWITCH's CLI spy is audited with both legs' uuids; the spy's leg is its own call."""
    from homepbx.freeswitch.records.legs import CallIds, end_event, leg_events, leg_from_cdr

    _migrate_to(any_db_url, "0009")
    legs = sorted((leg_from_cdr(json.loads(p.read_text())) for p in FS_DATA.glob("*.cdr.json")),
                  key=lambda g: g.start)  # type: ignore[union-attr]
    engine, calls, ends = Engine(), CallIds(), {}
    for leg in legs:
        assert leg is not None
        call = calls.assign(leg.uuid, leg.member_of, leg.originator)
        for item in leg_events(leg, call):  # no spy mark: as before issue 16
            engine.feed(item)
        ends[call] = max(ends.get(call, 0.0), leg.hangup)
    for call, at in ends.items():
        engine.feed_cel(end_event(call, at))
    old = engine.drain()
    assert {c.call.linkedid for c in old.calls} >= {FS_BARGE_SPY, FS_CODE_SPY}
    (spy,) = [g for g in legs if g is not None and g.uuid == FS_BARGE_SPY]
    assert spy.spy is not None
    details = {"agent_uuid": spy.spy.channel, "supervisor_uuid": FS_BARGE_SPY, "supervisor": "5791",
               "agent": "5701", "mode": "barge"}
    with db.engine_for(any_db_url).begin() as conn:
        store_calls(conn, [c.call for c in old.calls], old)
        conn.execute(text("INSERT INTO audit_log (at, actor, action, target, details) "
                          "VALUES (:at, 'root', 'spy.barge', '5701', :details)").bindparams(
            at=utc((spy.answer or spy.start) + 0.1), details=json.dumps(details, sort_keys=True)))
    db.upgrade(any_db_url)
    assert _rows(any_db_url, "SELECT key, linkedid, mode, origin FROM call_supervisions") == [
        (FS_BARGE_SPY, FS_BARGE_CALL, "barge", "command")]
    # The spy code's call had no audit entry (FreeSWITCH's collector wrote none): left as it was.
    assert sorted(_rows(any_db_url, "SELECT linkedid FROM call_records")) == sorted(
        [(FS_BARGE_CALL,), (FS_CODE_CALL,), (FS_CODE_SPY,)])
