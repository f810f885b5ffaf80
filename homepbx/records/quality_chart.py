"""`homepbx report quality --chart`: each agent's line quality over time, as a small PNG.

Plain data in (the rows of homepbx.records.reports.quality_series and .quality), a file out:
the MOS per agent on top, the worse loss either way below, one line per agent in the same colour
on both, the site's thresholds dashed, and the agents the report flags marked in the legend.
matplotlib (the `chart` extra) is imported only here and only when a chart is asked for; it
draws with its Agg canvas, never a window.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..apply import PUBLIC_MODE, write_atomic
from ..errors import InvalidInput, OperationalError

# 8 x 5 inches at 100 dpi: 800 x 500 pixels, readable in a mail or a ticket.
SIZE_IN = (8.0, 5.0)
DPI = 100
FLAG_COLOUR = "#c0392b"


class ChartUnavailable(OperationalError):
    """matplotlib is not installed."""


@dataclass(frozen=True)
class QualityChart:
    """What the chart shows: per agent, its points (period, mean MOS, loss %) in order, and the
    agents whose line fails the thresholds over the whole period. No series: no file written."""

    step: str
    series: dict[str, list[tuple[str, float, float]]]
    flagged: tuple[str, ...]


def check(path: Path) -> None:
    """Refuse a chart path before any work: it must end in .png, in a folder that exists, and be
    no folder itself; and matplotlib must be there (else exit 1: install homepbx[chart])."""
    if path.suffix.lower() != ".png":
        raise InvalidInput(f"The chart file must end in .png, got {str(path)!r}.", field="chart")
    if not path.parent.is_dir():
        raise InvalidInput(f"The folder {str(path.parent)!r} for the chart does not exist.", field="chart")
    if path.is_dir():
        raise InvalidInput(f"{str(path)!r} is a folder, not a chart file.", field="chart")
    _matplotlib()


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ChartUnavailable("Charts need matplotlib: install homepbx[chart] "
                               "(pip install 'homepbx[chart]').") from None
    return matplotlib


def series_of(rows: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, float, float]]]:
    """quality_series rows grouped per agent (sorted), each agent's points in period order."""
    out: dict[str, list[tuple[str, float, float]]] = {}
    for row in sorted(rows, key=lambda r: (r["agent"], r["period"])):
        out.setdefault(row["agent"], []).append((row["period"], float(row["mos"]), float(row["loss_pct"])))
    return out


def plot(path: Path, series_rows: Sequence[dict[str, Any]], summary_rows: Sequence[dict[str, Any]], *,
         step: str, min_mos: float, max_loss_pct: float, title: str = "") -> QualityChart:
    """Draw the chart and replace `path` with it atomically; with no point to draw, write nothing.

    `series_rows`: reports.quality_series (agent, period, mos, loss_pct); `summary_rows`:
    reports.quality over the same period and thresholds (its `flagged` marks the agents).
    """
    series = series_of(series_rows)
    flagged = tuple(sorted(r["agent"] for r in summary_rows if r.get("flagged") and r["agent"] in series))
    chart = QualityChart(step, series, flagged)
    if not series:
        return chart
    names = {r["agent"]: r.get("name", "") for r in summary_rows}
    write_atomic(path, _png(chart, names, min_mos, max_loss_pct, title), PUBLIC_MODE)
    return chart


def _png(chart: QualityChart, names: dict[str, str], min_mos: float, max_loss_pct: float, title: str) -> bytes:
    _matplotlib()
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A Figure on its own Agg canvas: no pyplot, so no global backend or open-figure state.
    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    for agent, points in chart.series.items():
        when = [datetime.fromisoformat(period) for period, _, _ in points]
        label = f"{agent} {names.get(agent, '')}".strip()
        if agent in chart.flagged:
            label += " (fails)"
        (line,) = top.plot(when, [m for _, m, _ in points], marker="o", markersize=3, label=label)
        bottom.plot(when, [loss for _, _, loss in points], marker="o", markersize=3, color=line.get_color())
    top.axhline(min_mos, linestyle="--", color=FLAG_COLOUR, linewidth=1)
    bottom.axhline(max_loss_pct, linestyle="--", color=FLAG_COLOUR, linewidth=1)
    top.set_ylabel("MOS")
    top.set_ylim(1.0, 4.5)
    bottom.set_ylabel("loss %")
    bottom.set_ylim(bottom=0.0)
    bottom.set_xlabel("hour" if chart.step == "hour" else "day")
    locator = dates.AutoDateLocator(minticks=2, maxticks=8)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(dates.DateFormatter("%H:%M" if chart.step == "hour" else "%Y-%m-%d"))
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    legend = top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                        title=f"MOS < {min_mos:g} or loss > {max_loss_pct:g}% fails", title_fontsize="x-small")
    for agent, text in zip(chart.series, legend.get_texts()):
        if agent in chart.flagged:
            text.set_color(FLAG_COLOUR)
            text.set_fontweight("bold")
    if title:
        fig.suptitle(title, fontsize="medium")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
