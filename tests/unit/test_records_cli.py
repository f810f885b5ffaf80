"""`homepbx report ...` and `homepbx purge` through the real entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from homepbx import db
from homepbx.models import AuditEntry, CallRecord, Recording

from .cli_helpers import Cli
from .records_data import day_one
from .cli_helpers import make_cli, url_of
from .test_records_reports import ingest, provision


@pytest.fixture
def site(tmp_path: Path, any_db_url: str) -> Cli:
    cli = make_cli(tmp_path, any_db_url)
    url = url_of(cli)
    provision(url)
    ingest(url, day_one()[0])
    return cli


def test_queues_report_as_csv(site: Cli) -> None:
    res = site("report", "queues", "--from", "2026-01-01", "--to", "2026-01-01", "--csv")
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["queue"], r["offered"], r["answered"], r["abandoned"], r["service_level"]) for r in rows] == [
        ("sales", "5", "3", "1", "0.4")]


def test_billing_report_as_json_and_table(site: Cli) -> None:
    res = site("report", "billing", "--from", "2026-01-01", "--to", "2026-01-31", "--tz", "Europe/Paris", "--json")
    assert res.exit_code == 0, res.stderr
    assert [(r["agent"], r["minutes"], r["total"]) for r in json.loads(res.stdout)] == [("1001", "2.25", "1.13"),
                                                                                     ("1002", "3.33", "2.00")]
    team = site("report", "agents", "--from", "2026-01-01", "--to", "2026-01-01", "--team", "blue", "--json")
    assert team.exit_code == 0, team.stderr
    assert [r["agent"] for r in json.loads(team.stdout)] == ["1001", "1002"]
    table = site("report", "calls", "--from", "2026-01-01", "--to", "2026-01-01", "--disposition", "abandoned")
    assert table.exit_code == 0 and "0622" in table.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (("report", "agents", "--from", "2026-02-30", "--to", "2026-03-01"), "--from"),
        (("report", "calls", "--from", "2026-01-01", "--to", "2026-01-02", "--tz", "Europe/Nowhere"), "time zone"),
        (("report", "billing", "--from", "2026-01-01", "--to", "2026-01-02", "--team", "green"), "team"),
        (("report", "queues", "--from", "2026-01-02", "--to", "2026-01-01"), "after"),
        (("purge", "--older-than", "soon", "--yes"), "--older-than"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(site: Cli, args: tuple[str, ...], needle: str) -> None:
    res = site(*args)
    assert res.exit_code == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_purge_deletes_old_records_and_files_and_is_audited(site: Cli, tmp_path: Path) -> None:
    url = url_of(site)
    # The recording as Asterisk sees it lives under asterisk.root on this host.
    root = tmp_path / "root"
    site.config_path.write_text(site.config_path.read_text().replace('root = "/"', f'root = "{root}"'))
    wav = root / "var/spool/asterisk/monitor/homepbx/a.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"RIFF")
    res = site("purge", "--older-than", "2026-01-01", "--yes")
    assert res.exit_code == 0, res.stderr
    assert "Deleted 0 call records" in res.stdout and wav.exists()
    res = site("purge", "--older-than", "2026-01-02", "--yes")
    assert res.exit_code == 0, res.stderr
    assert "Deleted 5 call records" in res.stdout and "(1 files)" in res.stdout
    assert not wav.exists()
    with db.engine_for(url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(CallRecord)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(Recording)).scalar_one() == 0
        actions = conn.execute(select(AuditEntry.action, AuditEntry.details).where(AuditEntry.action == "records.purge")).all()
    assert len(actions) == 2 and json.loads(actions[1][1])["calls"] == 5


def test_db_rebuild_rollups_makes_them_from_the_raw_rows_again(site: Cli) -> None:
    from sqlalchemy import text

    before = site("report", "queues", "--from", "2026-01-01", "--to", "2026-01-01", "--json")
    url = url_of(site)
    with db.engine_for(url).begin() as conn:  # roll-ups gone wrong (say, a row written by hand)
        conn.execute(text("UPDATE rollup_queue_hours SET entered = entered + 7"))
    assert site("report", "queues", "--from", "2026-01-01", "--to", "2026-01-01", "--json").stdout != before.stdout
    res = site("db", "rebuild-rollups")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("Roll-ups rebuilt in ")
    assert site("report", "queues", "--from", "2026-01-01", "--to", "2026-01-01", "--json").stdout == before.stdout
