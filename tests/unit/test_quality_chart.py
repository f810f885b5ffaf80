"""`homepbx report quality --chart` (issue 12): a PNG of each agent's MOS and loss over time.

Two agents over three days, stored as the collector stores them: 1001 on a clean line, 1002 on a
lossy one. Each day has a morning leg (09:00 UTC) and a late one (23:30 UTC, already the next day
in Paris), so the days of the chart follow the reader's zone, not UTC's.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from homepbx import db
from homepbx.records import quality_chart, reports
from homepbx.records.quality import mos
from homepbx.records.store import store
from homepbx.records.types import Batch, CallRow, FinishedCall, LineQuality, QualityRow

from .cli_helpers import Cli, assert_plain_error

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DAYS = [datetime(2026, 12, d) for d in (1, 2, 3)]
MORNING, LATE = timedelta(hours=9), timedelta(hours=23, minutes=30)
# Per agent, the points (period, MOS, loss %) in order: what QualityChart.series holds.
Series = dict[str, list[tuple[str, float, float]]]


def _line(agent: str, day: int, late: bool) -> LineQuality:
    """Each agent's line on day 0..2, morning or late; 1001 clean, 1002 losing several percent.
    1001's late leg of the last day had no receiver report (loss to unknown)."""
    if agent == "1001":
        return LineQuality(0.1 * day + (0.2 if late else 0.0), None if (late and day == 2) else 0.6 - 0.05 * day,
                           2.0 + day, 40.0 + 10 * late)
    return LineQuality(4.0 + day + (2.0 if late else 0.0), 1.5 + 0.5 * day, 20.0 + 5 * day, 150.0 + 30 * late)


def _seed(url: str) -> list[QualityRow]:
    rows = []
    for agent in ("1001", "1002"):
        for i, day in enumerate(DAYS):
            for late in (False, True):
                q = _line(agent, i, late)
                at = day + (LATE if late else MORNING)
                rows.append(QualityRow(f"q-{agent}-{i}-{int(late)}", f"q-{agent}-{i}-{int(late)}.1", agent, at,
                                       q.loss_from_pct, q.loss_to_pct, q.jitter_ms, q.rtt_ms, mos(q)))
    calls = [
        FinishedCall(CallRow(r.linkedid, r.at - timedelta(minutes=3), r.at - timedelta(minutes=2), r.at, "0611", "",
                             "sales", "sales", r.agent, r.agent, "answered", "caller", 5.0, 3.0, 120.0, 0.0, 0, "",
                             True), [], [], [], [], [r])
        for r in rows
    ]
    with db.engine_for(url).begin() as conn:
        store(conn, Batch(calls=calls))
    return rows


def _expected(rows: list[QualityRow], bucket: Any) -> Series:
    """What the chart must show, from the seeded legs: per agent and bucket, the mean MOS and the
    worse of the two mean losses (a leg without a loss-to figure does not count in that mean)."""
    groups: dict[tuple[str, str], list[QualityRow]] = {}
    for r in rows:
        groups.setdefault((r.agent, bucket(r.at)), []).append(r)
    out: Series = {}
    for (agent, label), legs in sorted(groups.items()):
        loss_to = [r.loss_to_pct for r in legs if r.loss_to_pct is not None]
        worse = max(fmean(r.loss_from_pct for r in legs), fmean(loss_to) if loss_to else 0.0)
        out.setdefault(agent, []).append((label, round(fmean(r.mos for r in legs), 2), round(worse, 2)))
    return out


def _assert_series(got: Series, want: Series) -> None:
    assert list(got) == list(want)
    for agent in want:
        assert [p for p, _, _ in got[agent]] == [p for p, _, _ in want[agent]], agent
        for (period, m, loss), (_, want_m, want_loss) in zip(got[agent], want[agent]):
            assert m == pytest.approx(want_m, abs=0.01), (agent, period)
            assert loss == pytest.approx(want_loss, abs=0.01), (agent, period)


@pytest.fixture
def seeded(site_cli: Cli, any_db_url: str) -> tuple[Cli, list[QualityRow]]:
    return site_cli, _seed(any_db_url)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[quality_chart.QualityChart]:
    """The charts the CLI drew during the test, as plot() returned them."""
    charts: list[quality_chart.QualityChart] = []
    real = quality_chart.plot

    def spy(*args: Any, **kwargs: Any) -> quality_chart.QualityChart:
        charts.append(real(*args, **kwargs))
        return charts[-1]

    monkeypatch.setattr(quality_chart, "plot", spy)
    return charts


def _png_pixels(path: Path) -> Any:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)


def test_chart_per_day_shows_the_seeded_figures_and_flags_the_lossy_line(
        seeded: tuple[Cli, list[QualityRow]], drawn: list[quality_chart.QualityChart], tmp_path: Path) -> None:
    cli, rows = seeded
    out = tmp_path / "charts" / "quality.png"
    out.parent.mkdir()
    out.write_bytes(b"an older chart")  # replaced, not appended to
    res = cli("report", "quality", "--from", "2026-12-01", "--to", "2026-12-03", "--json", "--chart", str(out))
    assert res.exit_code == 0, res.stderr
    report = {r["agent"]: r for r in json.loads(res.stdout)}  # stdout stays the report, for scripts
    assert report["1002"]["flagged"] and not report["1001"]["flagged"]
    assert f"Chart written to {out}." in res.stderr

    (chart,) = drawn
    assert chart.step == "day"
    _assert_series(chart.series, _expected(rows, lambda at: at.date().isoformat()))
    assert chart.flagged == ("1002",)

    pixels = _png_pixels(out)
    assert pixels.shape[:2] == (500, 800)  # 8 x 5 inches at 100 dpi
    assert pixels.std() > 0.05  # lines and text, not a blank canvas
    red = abs(pixels[..., :3] - [0xC0 / 255, 0x39 / 255, 0x2B / 255]).max(axis=-1) < 0.08
    assert red.sum() > 200  # the dashed thresholds and the failing agent's legend entry
    assert sorted(p.name for p in out.parent.iterdir()) == ["quality.png"]  # no temp file left


def test_chart_days_follow_the_readers_zone(seeded: tuple[Cli, list[QualityRow]],
                                            drawn: list[quality_chart.QualityChart], tmp_path: Path) -> None:
    cli, rows = seeded
    out = tmp_path / "paris.png"
    res = cli("report", "quality", "--from", "2026-12-01", "--to", "2026-12-04", "--tz", "Europe/Paris",
              "--agent", "1001", "--chart", str(out))
    assert res.exit_code == 0, res.stderr
    paris = reports.zone("Europe/Paris")

    def local_day(at: datetime) -> str:
        return at.replace(tzinfo=timezone.utc).astimezone(paris).date().isoformat()

    want = _expected([r for r in rows if r.agent == "1001"], local_day)
    _assert_series(drawn[0].series, want)
    assert [p for p, _, _ in drawn[0].series["1001"]] == ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]
    assert drawn[0].flagged == ()
    assert _png_pixels(out).shape[:2] == (500, 800)


def test_chart_of_one_day_is_per_hour(seeded: tuple[Cli, list[QualityRow]],
                                      drawn: list[quality_chart.QualityChart], tmp_path: Path) -> None:
    cli, rows = seeded
    out = tmp_path / "day.png"
    res = cli("report", "quality", "--from", "2026-12-02", "--to", "2026-12-02", "--chart", str(out))
    assert res.exit_code == 0, res.stderr
    (chart,) = drawn
    assert chart.step == "hour"
    one_day = [r for r in rows if r.at.date() == DAYS[1].date()]
    _assert_series(chart.series, _expected(one_day, lambda at: at.strftime("%Y-%m-%dT%H:00")))
    assert [p for p, _, _ in chart.series["1002"]] == ["2026-12-02T09:00", "2026-12-02T23:00"]
    assert chart.flagged == ("1002",)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_empty_period_writes_no_chart(seeded: tuple[Cli, list[QualityRow]], tmp_path: Path) -> None:
    cli, _ = seeded
    out = tmp_path / "empty.png"
    res = cli("report", "quality", "--from", "2027-01-01", "--to", "2027-01-31", "--chart", str(out))
    assert res.exit_code == 0, res.stderr
    assert "No calls with line quality in that period; no chart written." in res.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["missing/quality.png", "quality.txt", "quality", "folder.png"])
def test_bad_chart_paths_are_refused_before_anything(seeded: tuple[Cli, list[QualityRow]], tmp_path: Path,
                                                     name: str) -> None:
    cli, _ = seeded
    (tmp_path / "folder.png").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    res = cli("report", "quality", "--from", "2026-12-01", "--to", "2026-12-03", "--chart", str(tmp_path / name))
    assert_plain_error(res, 2)
    assert res.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "missing").exists()


def test_without_matplotlib_it_says_what_to_install(seeded: tuple[Cli, list[QualityRow]], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cli, _ = seeded
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    out = tmp_path / "quality.png"
    res = cli("report", "quality", "--from", "2026-12-01", "--to", "2026-12-03", "--chart", str(out))
    assert_plain_error(res, 1)
    assert "homepbx[chart]" in res.stderr
    assert not out.exists()
