"""Spies started from a supervisor's softphone feature code reach the audit log through the collector.

The inputs are shaped as Asterisk 22 writes them: AMI `CEL` events (cel.conf [manager]) and
lines of cel-custom/homepbx-cel.csv in sources.CEL_COLUMNS order, as a feature code
(`homepbx-sup-<ext>` context, the dialled code as exten, ChanSpy on the `PJSIP/<agent>-`
prefix) and as the CLI's Originate (ChanSpy on the agent's full channel, no dialled code) run them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from homepbx import db, supervision
from homepbx.config import AsteriskSettings, DatabaseSettings, Settings
from homepbx.models import AuditEntry
from homepbx.asterisk.records.collector import CEL_FILE, Collector
from homepbx.asterisk.records.feed import AmiFeed
from homepbx.records.events import Engine
from homepbx.asterisk.records.sources import CEL_COLUMNS, cel_from_ami, parse_cel_line, spy_from_cel
from homepbx.records.store import store
from homepbx.records.types import utc
from homepbx.pbx import SpyPlan, SpyResult

T0 = 1_795_815_171.250613  # 2026-11-27 21:32:51 UTC


def ami_cel(t: float, event: str, channel: str, uniqueid: str, context: str, exten: str,
            app: str = "", appdata: str = "", linkedid: str | None = None) -> dict[str, str]:
    """An AMI CEL event as Asterisk 22 sends it (EventTime local = UTC here, Timestamp epoch)."""
    local = datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "Event": "CEL", "Privilege": "call,all", "Timestamp": f"{t:.6f}", "EventName": event, "AccountCode": "",
        "CallerIDnum": channel.split("/")[1].split("-")[0], "CallerIDname": "", "CallerIDani": "",
        "CallerIDrdnis": "", "CallerIDdnid": "", "Exten": exten, "Context": context, "Channel": channel,
        "Application": app, "AppData": appdata, "EventTime": local, "AMAFlags": "DOCUMENTATION",
        "UniqueID": uniqueid, "LinkedID": linkedid or uniqueid, "Userfield": "", "Peer": "", "PeerAccount": "",
        "Extra": "",
    }


def csv_line(ev: dict[str, str]) -> str:
    """The homepbx-cel.csv line Asterisk writes for the same event (CSV_QUOTE: every field quoted)."""
    values = {
        "eventtime": ev["Timestamp"], "eventtype": ev["EventName"], "linkedid": ev["LinkedID"],
        "uniqueid": ev["UniqueID"], "channel": ev["Channel"], "context": ev["Context"], "exten": ev["Exten"],
        "appname": ev["Application"], "appdata": ev["AppData"], "bridgepeer": ev["Peer"], "userdeftype": "",
        "eventextra": ev["Extra"], "accountcode": "", "cid_num": ev["CallerIDnum"], "cid_name": "",
    }
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow([values[c] for c in CEL_COLUMNS])
    return buf.getvalue()


def spy_channel_events(t: float, supervisor: str, seq: int, context: str, exten: str, appdata: str) -> list[dict[str, str]]:
    """The supervisor channel's life around one ChanSpy: start, answer, the app, hang up."""
    channel = f"PJSIP/{supervisor}-{seq:08x}"
    uid = f"{int(T0)}.{seq}"
    def ev(dt: float, name: str, app: str = "", data: str = "") -> dict[str, str]:
        return ami_cel(t + dt, name, channel, uid, context, exten, app, data)
    return [
        ev(0.0, "CHAN_START"),
        ev(0.01, "ANSWER", "ChanSpy", appdata),
        ev(0.02, "APP_START", "ChanSpy", appdata),
        ev(20.0, "APP_END", "ChanSpy", appdata),
        ev(20.01, "HANGUP"),
        ev(20.02, "CHAN_END"),
        ev(20.03, "LINKEDID_END"),
    ]


def feature_code(t: float, supervisor: str, agent: str, code: str, options: str, seq: int = 16) -> list[dict[str, str]]:
    return spy_channel_events(t, supervisor, seq, f"homepbx-sup-{supervisor}", f"{code}{agent}",
                              f"PJSIP/{agent}-,{options}")


def cli_originate(t: float, supervisor: str, agent_channel: str, options: str, seq: int = 17) -> list[dict[str, str]]:
    # Originate(Channel PJSIP/<sup>, Application ChanSpy): the endpoint's context, exten "s".
    return spy_channel_events(t, supervisor, seq, f"homepbx-sup-{supervisor}", "s", f"{agent_channel},{options}")


def app_start(events: list[dict[str, str]]) -> dict[str, str]:
    return next(e for e in events if e["EventName"] == "APP_START")


# -- recognising the feature-code spy -----------------------------------------------------------
@pytest.mark.parametrize("code,options,mode,switchable", [
    ("*21", "qE", "listen", False), ("*22", "qEw", "whisper", False), ("*23", "qEB", "barge", False),
    ("*21", "qEd", "listen", True), ("*22", "qEwd", "whisper", True), ("*23", "qEBd", "barge", True),
])
def test_feature_code_chanspy_is_a_spy_from_ami_and_from_the_csv(code: str, options: str, mode: str,
                                                                  switchable: bool) -> None:
    start = app_start(feature_code(T0, "4907", "4701", code, options))
    live = spy_from_cel(cel_from_ami(start, timezone.utc, 0.0))
    filed = spy_from_cel(parse_cel_line(csv_line(start)))  # type: ignore[arg-type]
    assert live is not None and filed is not None
    for spy in (live, filed):
        assert (spy.supervisor, spy.agent, spy.mode, spy.switchable) == ("4907", "4701", mode, switchable)
        assert spy.supervisor_channel == "PJSIP/4907-00000010"
        assert spy.context == "homepbx-sup-4907" and spy.exten == f"{code}4701"
        assert spy.key == start["UniqueID"]
    assert int((live.at - filed.at).total_seconds()) == 0 and live.at.replace(microsecond=0) == utc(int(T0))


def test_the_clis_originated_chanspy_is_not_a_feature_code_spy() -> None:
    start = app_start(cli_originate(T0, "4907", "PJSIP/4701-0000000a", "qEud"))
    assert spy_from_cel(cel_from_ami(start, timezone.utc, 0.0)) is None
    assert spy_from_cel(parse_cel_line(csv_line(start))) is None  # type: ignore[arg-type]
    # Even with no exten at all (an Originate leaves it empty on some channel drivers).
    assert spy_from_cel(cel_from_ami(dict(start, Exten=""), timezone.utc, 0.0)) is None


@pytest.mark.parametrize("change", [
    {"EventName": "APP_END"},                                 # only the start is a spy action
    {"Application": "Dial"},                                  # not ChanSpy
    {"AppData": "PJSIP/4702-,qEw"},                           # the code names another agent
    {"AppData": "PJSIP/4701-0000000a,qEw"},                   # a full channel: not the dialplan's
    {"Context": "from-somewhere-else"},                       # not a homepbx dialplan
    {"Exten": "4701"},                                        # not a spy code
    {"Context": "homepbx-spy-t47-listen"},                    # context and code disagree on the mode
    {"Channel": "Local/4907@homepbx-sup-4907-00000001;2"},   # not a supervisor's softphone
])
def test_other_app_starts_are_not_feature_code_spies(change: dict[str, str]) -> None:
    start = dict(app_start(feature_code(T0, "4907", "4701", "*22", "qEw")), **change)
    assert spy_from_cel(cel_from_ami(start, timezone.utc, 0.0)) is None


def test_the_mode_may_also_come_from_a_spy_context_name() -> None:
    for context in ("homepbx-spy-t47-whisper", "homepbx-spy-t47-switch"):
        start = dict(app_start(feature_code(T0, "4907", "4701", "*22", "qEw")), Context=context)
        spy = spy_from_cel(cel_from_ami(start, timezone.utc, 0.0))
        assert spy is not None and spy.mode == "whisper"


# -- written to the audit log once ---------------------------------------------------------------
def spy_entries(url: str) -> list[AuditEntry]:
    with db.session_scope(url) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("spy.%")).order_by(AuditEntry.id)))


def settings_for(tmp_path: Path, url: str) -> Settings:
    return replace(Settings(), database=DatabaseSettings(url=url),
                   asterisk=AsteriskSettings(root=str(tmp_path), log_dir="/var/log/asterisk"))


def write_cel_file(tmp_path: Path, events: list[dict[str, str]]) -> None:
    path = tmp_path / "var/log/asterisk" / CEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(csv_line(e) for e in events)


def feed_live(url: str, events: list[dict[str, Any]]) -> int:
    engine = Engine()
    feed_ami = AmiFeed(engine, timezone.utc).feed
    for ev in events:
        feed_ami(ev, float(ev["Timestamp"]))
    with db.engine_for(url).begin() as conn:
        return store(conn, engine.drain()).spies


def test_feature_code_spy_is_audited_once_across_live_backfill_and_restarts(tmp_path: Path,
                                                                           migrated_url: str) -> None:
    events = feature_code(T0, "4907", "4701", "*22", "qEwd")
    # Live: the entry appears at APP_START, before the supervisor hangs up.
    assert feed_live(migrated_url, events[:3]) == 1
    assert feed_live(migrated_url, events) == 0
    # The same events from the CSV (a backfill), then a restart reading the file from the start.
    write_cel_file(tmp_path, events)
    settings = settings_for(tmp_path, migrated_url)
    Collector(settings).catch_up()
    with db.engine_for(migrated_url).begin() as conn:  # forget the cursor: a re-read from scratch
        conn.exec_driver_sql("DELETE FROM record_sources")
    Collector(settings).catch_up()
    [entry] = spy_entries(migrated_url)
    assert (entry.actor, entry.action, entry.target) == ("4907", "spy.whisper", "4701")
    assert abs((entry.at - utc(T0 + 0.02)).total_seconds()) < 1
    details = json.loads(entry.details)
    assert details["source"] == "feature code"
    assert (details["supervisor"], details["agent"], details["mode"]) == ("4907", "4701", "whisper")
    assert details["supervisor_channel"] == "PJSIP/4907-00000010"
    assert details["switchable"] is True and details["key"] == events[0]["UniqueID"]
    # The CLI's entry has the same shape: every key it writes is there too.
    cli_keys = {"supervisor", "agent", "mode", "agent_channel", "supervisor_channel"}
    assert cli_keys <= set(details)


def test_backfill_first_then_live_is_one_entry_too(tmp_path: Path, migrated_url: str) -> None:
    events = feature_code(T0, "4907", "4701", "*23", "qEB")
    write_cel_file(tmp_path, events)
    Collector(settings_for(tmp_path, migrated_url)).catch_up()
    assert feed_live(migrated_url, events) == 0
    assert [(e.actor, e.action, e.target) for e in spy_entries(migrated_url)] == [("4907", "spy.barge", "4701")]


def test_two_spies_by_one_supervisor_are_two_entries(migrated_url: str) -> None:
    first = feature_code(T0, "4907", "4701", "*21", "qE", seq=16)
    second = feature_code(T0 + 60, "4907", "4701", "*21", "qE", seq=18)
    assert feed_live(migrated_url, first + second) == 2
    assert feed_live(migrated_url, first + second) == 0
    assert [e.action for e in spy_entries(migrated_url)] == ["spy.listen", "spy.listen"]


def test_cli_spy_is_not_audited_again_by_the_collector(tmp_path: Path, migrated_url: str) -> None:
    # The CLI writes its entry (supervision.record_with), and Asterisk reports its ChanSpy too.
    plan = SpyPlan("4907", "4701", "whisper")
    result = SpyResult(plan, "1767261600.10", 0.3, {"agent_channel": "PJSIP/4701-0000000a",
                                                    "supervisor_channel": "PJSIP/4907-00000011"})
    with db.session_scope(migrated_url) as s:
        supervision.record(s, result)
    events = cli_originate(T0, "4907", "PJSIP/4701-0000000a", "qEud")
    assert feed_live(migrated_url, events) == 0
    write_cel_file(tmp_path, events)
    Collector(settings_for(tmp_path, migrated_url)).catch_up()
    [entry] = spy_entries(migrated_url)
    assert entry.action == "spy.whisper" and entry.target == "4701"
    assert "source" not in json.loads(entry.details)
