"""Line quality per agent leg (issue 12): the RTCP parse, the MOS estimate, the store, the report.

data/cel_quality_queue_call.csv is a real queue call on the lab's Asterisk 22 (an outside
caller, agent 4371 answering for 12 s over the loopback): the `homepbx-quality` hangup handler's
HOMEPBX_QOS line holds CHANNEL(rtcp,all) as Asterisk wrote it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from homepbx import db
from homepbx.asterisk.records.sources import (
    QOS_EVENT,
    cel_from_csv,
    from_ami,
    quality_from_rtcp,
)
from homepbx.errors import InvalidInput
from homepbx.models import CallLegQuality
from homepbx.records import reports
from homepbx.records.events import Engine
from homepbx.records.quality import mos, mos_from_r, r_factor
from homepbx.records.store import store
from homepbx.records.types import Batch, LineQuality

from .cli_helpers import Cli, assert_plain_error
from .cli_helpers import make_cli, url_of

CAPTURE = Path(__file__).parent / "data" / "cel_quality_queue_call.csv"
# Asterisk 22's CHANNEL(rtcp,all) at the end of that call.
RTCP_ALL = ("ssrc=696307544;themssrc=808777657;lp=0;rxjitter=0.000750;rxcount=596;txjitter=0.001125;txcount=600;"
            "rlp=0;rtt=0.000350;rxmes=88.084426;txmes=88.084426")


def _captured_events() -> list:
    with CAPTURE.open(encoding="utf-8", newline="") as handle:
        return [ev for ev in map(cel_from_csv, csv.reader(handle)) if ev is not None]


# -- the parse ---------------------------------------------------------------------------------------
def test_rtcp_summary_of_a_clean_call() -> None:
    q = quality_from_rtcp(RTCP_ALL)
    assert q == LineQuality(loss_from_pct=0.0, loss_to_pct=0.0, jitter_ms=1.125, rtt_ms=0.35)


def test_rtcp_loss_both_ways_in_percent() -> None:
    q = quality_from_rtcp("ssrc=1;themssrc=2;lp=30;rxjitter=0.040000;rxcount=570;txjitter=0.010000;txcount=600;"
                          "rlp=12;rtt=0.120000;rxmes=70.0;txmes=80.0")
    assert q is not None
    assert q.loss_from_pct == 5.0  # 30 lost of the 600 the phone sent (570 received)
    assert q.loss_to_pct == 2.0  # 12 of our 600
    assert q.jitter_ms == 40.0 and q.rtt_ms == 120.0


def test_rtcp_without_a_report_back_or_media() -> None:
    # A call shorter than an RTCP interval: no receiver report, so nothing known of the way out.
    short = quality_from_rtcp("ssrc=1;themssrc=2;lp=0;rxjitter=0.000500;rxcount=90;txjitter=0.000000;txcount=100;"
                              "rlp=0;rtt=0.000000;rxmes=0.0;txmes=0.0")
    assert short == LineQuality(0.0, None, 0.5, None)
    assert quality_from_rtcp("") is None  # a leg that never had media (CHANNEL(rtcp,all) empty)
    assert quality_from_rtcp("ssrc=0;lp=0;rxcount=0;txcount=0") is None


def test_rtcp_wrapped_round_trip_is_unknown() -> None:
    # Asterisk 22 on the lab's loopback, another clean call: a round trip a hair under zero
    # wrapped around 16.16 fixed point. The report came back (loss counts), the RTT is unknown.
    q = quality_from_rtcp("ssrc=292461308;themssrc=2046138972;lp=0;rxjitter=0.000750;rxcount=596;txjitter=0.001125;"
                          "txcount=600;rlp=0;rtt=65535.999755;rxmes=88.087887;txmes=88.087887")
    assert q == LineQuality(0.0, 0.0, 1.125, None)
    assert mos(q) > 4.3  # type: ignore[arg-type]


def test_the_captured_csv_line_becomes_the_legs_quality() -> None:
    qos = [ev for ev in _captured_events() if ev.event == QOS_EVENT]
    assert len(qos) == 1
    assert qos[0].agent == "4371" and qos[0].quality == quality_from_rtcp(RTCP_ALL)


def test_ami_user_defined_cel_is_the_same_fact() -> None:
    # cel.conf [manager] without show_user_defined names it USER_DEFINED: same event, same figures.
    ami = {"Event": "CEL", "EventName": "USER_DEFINED", "EventTime": "2026-12-01 17:16:36",
           "Timestamp": "1796145396.840898", "LinkedID": "homepbx-lab-1796145384.0",
           "UniqueID": "homepbx-lab-1796145384.1", "Channel": "PJSIP/4371-00000001", "Context": "homepbx-quality",
           "Exten": "qos", "Application": "CELGenUserEvent", "AppData": f"HOMEPBX_QOS,{RTCP_ALL}",
           "Extra": json.dumps({"extra": RTCP_ALL})}
    ev = from_ami(ami, None, 0.0)
    assert ev is not None and ev.event == QOS_EVENT and ev.quality == quality_from_rtcp(RTCP_ALL)
    other = from_ami({**ami, "AppData": "SOMETHING_ELSE,x"}, None, 0.0)
    assert other is not None and other.quality is None and other.event == "USER_DEFINED"


# -- the MOS -----------------------------------------------------------------------------------------
def test_mos_formula_known_points() -> None:
    assert mos_from_r(93.2) == pytest.approx(4.409, abs=0.001)  # G.711's best: R0, no impairment
    assert mos_from_r(50.0) == pytest.approx(2.575, abs=0.001)
    assert mos_from_r(80.0) == pytest.approx(4.024, abs=0.001)
    assert mos_from_r(-5.0) == 1.0 and mos_from_r(120.0) == 4.5
    # Id: 0.024 d below 177.3 ms, plus 0.11 (d - 177.3) above; Ie_eff = 95 Ppl / (Ppl + 25.1).
    assert r_factor(100.0, 0.0) == pytest.approx(93.2 - 2.4)
    assert r_factor(200.0, 0.0) == pytest.approx(93.2 - 4.8 - 0.11 * 22.7)
    assert r_factor(0.0, 5.0) == pytest.approx(93.2 - 95 * 5 / 30.1)
    assert r_factor(0.0, 5.0, bpl=4.3) < r_factor(0.0, 5.0)  # no PLC: far worse


def test_mos_of_a_clean_and_of_a_lossy_line() -> None:
    clean = mos(quality_from_rtcp(RTCP_ALL))  # type: ignore[arg-type]
    assert 4.3 < clean <= 4.41
    assert mos(LineQuality(5.0, 0.0, 40.0, 120.0)) < 3.9
    assert mos(LineQuality(0.0, 10.0, 5.0, 50.0)) < 3.6  # the worse direction counts


# -- the engine, the store, the report ---------------------------------------------------------------
def _batch(loss: float = 0.0, linkedid: str = "") -> Batch:
    engine = Engine()
    for ev in _captured_events():
        if linkedid:
            ev = replace(ev, linkedid=linkedid, uniqueid=ev.uniqueid.replace("1796145384", linkedid[-4:]))
        if loss and ev.quality is not None:
            ev = replace(ev, quality=replace(ev.quality, loss_from_pct=loss))
        engine.feed(ev)
    return engine.drain()


def test_engine_gives_the_agent_leg_its_quality() -> None:
    batch = _batch()
    (call,) = batch.calls
    (row,) = call.quality
    assert (row.agent, row.uniqueid, row.loss_from_pct, row.loss_to_pct) == ("4371", "homepbx-lab-1796145384.1", 0.0,
                                                                            0.0)
    assert row.at == datetime(2026, 12, 1, 17, 16, 36, 841772)
    assert row.mos > 4.3


def test_calls_without_quality_have_none() -> None:
    events = [ev for ev in _captured_events() if ev.quality is None]
    engine = Engine()
    for ev in events:
        engine.feed(ev)
    (call,) = engine.drain().calls
    assert call.quality == []


def _stored(url: str) -> list[tuple]:
    with db.engine_for(url).connect() as conn:
        return list(conn.execute(select(CallLegQuality.agent, CallLegQuality.loss_from_pct, CallLegQuality.mos)))


def test_store_is_idempotent(migrated_url: str) -> None:
    batch = _batch()
    engine = db.engine_for(migrated_url)
    for _ in range(2):
        with engine.begin() as conn:
            store(conn, batch)
    rows = _stored(migrated_url)
    assert len(rows) == 1 and rows[0][0] == "4371"


def _load_two_lines(url: str) -> None:
    with db.engine_for(url).begin() as conn:
        store(conn, _batch())
        store(conn, _batch(loss=8.0, linkedid="homepbx-lab-1796149999.0"))


def test_quality_report_means_worst_and_flag(migrated_url: str) -> None:
    _load_two_lines(migrated_url)
    p = reports.period("2026-12-01", "2026-12-01")
    with db.engine_for(migrated_url).connect() as conn:
        (row,) = reports.quality(conn, p)
        assert row["agent"] == "4371" and row["calls"] == 2
        assert row["loss_from_pct"] == 4.0 and row["worst_loss_from_pct"] == 8.0
        assert row["worst_mos"] < row["mos"] < 4.41
        assert row["flagged"] and row["reason"] == "loss > 3%"
        (relaxed,) = reports.quality(conn, p, max_loss_pct=5.0)
        assert not relaxed["flagged"]
        assert reports.quality(conn, p, agent="9999") == []
        assert reports.quality(conn, reports.period("2026-12-02", "2026-12-02")) == []
        count = conn.execute(select(func.count()).select_from(CallLegQuality)).scalar_one()
        assert count == 2


@pytest.mark.parametrize(("loss", "min_mos"), [(-1.0, 3.6), (100.5, 3.6), (3.0, 0.5), (3.0, 4.6)])
def test_thresholds_out_of_range_are_refused(loss: float, min_mos: float) -> None:
    with pytest.raises(InvalidInput):
        reports.quality_thresholds(loss, min_mos)


@pytest.fixture
def site(tmp_path: Path, any_db_url: str) -> Cli:
    cli = make_cli(tmp_path, any_db_url)
    _load_two_lines(url_of(cli))
    return cli


def test_report_quality_command(site: Cli) -> None:
    res = site("report", "quality", "--from", "2026-12-01", "--to", "2026-12-01", "--json")
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(res.stdout)
    assert row["agent"] == "4371" and row["flagged"] is True
    res = site("report", "quality", "--from", "2026-12-01", "--to", "2026-12-01", "--agent", "4371", "--csv")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("agent,name,calls,loss_from_pct") and len(lines) == 2
    table = site("report", "quality", "--from", "2026-12-01", "--to", "2026-12-01")
    assert table.exit_code == 0 and "4371" in table.stdout


def test_report_quality_refuses_a_bad_site_threshold(site: Cli, tmp_path: Path) -> None:
    config = site.config_path
    config.write_text(config.read_text(encoding="utf-8").replace("min_mos = 3.6", "min_mos = 7.0"),
                      encoding="utf-8")
    res = site("report", "quality", "--from", "2026-12-01", "--to", "2026-12-01")
    assert_plain_error(res, 2)
    assert "quality.min_mos" in res.stderr
