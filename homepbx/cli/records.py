"""`homepbx collect`, `homepbx report ...`, `homepbx purge`."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from .common import AppContext, emit, pass_app

_COLUMNS = {
    "agents": ["agent", "name", "team", "offered", "answered", "talk_s", "hold_s", "wrapup_s", "aht_s",
               "logged_in_s", "pause_s", "pause_by_reason", "occupancy", "coached", "listened"],
    "queues": ["queue", "offered", "answered", "abandoned", "timeout", "avg_wait_s", "avg_abandon_s",
               "service_level_s", "service_level"],
    "calls": ["started", "caller", "direction", "number", "trunk", "queue", "agent", "last_agent", "disposition",
              "wait_s", "talk_s", "hold_s", "hangup_side", "transfers", "recording", "linkedid", "supervised"],
    "billing": ["month", "agent", "name", "employment", "calls", "minutes", "unit", "rate", "total"],
    "numbers": ["number", "offered", "answered", "abandoned", "closed"],
    "supervisors": ["supervisor", "name", "sessions", "calls", "minutes", "listen", "whisper", "barge"],
    "quality": ["agent", "name", "calls", "loss_from_pct", "worst_loss_from_pct", "loss_to_pct", "worst_loss_to_pct",
                "jitter_ms", "worst_jitter_ms", "rtt_ms", "worst_rtt_ms", "mos", "worst_mos", "flagged", "reason"],
}

# A terminal shows fewer columns; --csv and --json carry them all.
_TABLE_COLUMNS = {
    "agents": ["agent", "offered", "answered", "talk_s", "aht_s", "pause_s", "occupancy", "coached", "listened"],
    "queues": ["queue", "offered", "answered", "abandoned", "timeout", "avg_wait_s", "service_level"],
    "calls": ["started", "caller", "direction", "number", "queue", "agent", "disposition", "wait_s", "talk_s",
              "supervised"],
    "billing": ["month", "agent", "name", "calls", "minutes", "rate", "total"],
    "numbers": ["number", "offered", "answered", "abandoned", "closed"],
    "supervisors": ["supervisor", "name", "sessions", "calls", "minutes", "listen", "whisper", "barge"],
    "quality": ["agent", "calls", "loss_from_pct", "loss_to_pct", "jitter_ms", "rtt_ms", "mos", "worst_mos",
                "reason"],
}


@click.command()
@pass_app
def collect(app: AppContext) -> None:
    """Collect call records and agent events from the site's PBX until SIGTERM.

    Reads what the PBX wrote to its record files while the collector was away (Asterisk: CEL and
    queue_log), then follows its live events (AMI). Logs are JSON lines on stderr. Safe to restart
    or run after a crash: nothing is stored twice.
    """
    from .. import backends

    totals = backends.backend(app.settings).collect(app.settings)
    click.echo(f"Stopped: {totals.calls} calls and {totals.agent_events} agent events stored.", err=True)


def _flat(value: Any) -> Any:
    if isinstance(value, dict):
        return " ".join(f"{k}:{v}" for k, v in value.items())
    return value


def _output(rows: Sequence[dict[str, Any]], name: str, as_json: bool, as_csv: bool, title: str) -> None:
    columns = _COLUMNS[name]
    if as_csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _flat(row.get(c)) for c in columns])
        click.echo(buf.getvalue(), nl=False)
        return
    if as_json:
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str))
        return
    emit([{k: _flat(v) for k, v in row.items() if k in columns} for row in rows], _TABLE_COLUMNS[name], False,
         title=title)


def _period_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)
    fn = click.option("--csv", "as_csv", is_flag=True, help="Print CSV (for a spreadsheet or an invoice).")(fn)
    fn = click.option("--tz", "tz", default="UTC", show_default=True,
                      help="Time zone for dates, days and months (e.g. Europe/Paris).")(fn)
    fn = click.option("--to", "end", required=True, help="Last day (YYYY-MM-DD, included) or a time.")(fn)
    fn = click.option("--from", "start", required=True, help="First day (YYYY-MM-DD) or a time (2026-01-31T08:00).")(fn)
    return fn


def _run(app: AppContext, name: str, start: str, end: str, tz: str, as_json: bool, as_csv: bool,
         fn: Callable[..., list[dict[str, Any]]], **kwargs: Any) -> list[dict[str, Any]]:
    from ..errors import InvalidInput
    from ..records import reports

    if as_json and as_csv:
        raise InvalidInput("Choose one of --json and --csv.")
    p = reports.period(start, end, tz)
    with app.session() as session:
        rows = fn(session.connection(), p, **kwargs)
    _output(rows, name, as_json, as_csv, f"{name} {start} .. {end} ({tz})")
    return rows


@click.group()
def report() -> None:
    """Reports: agents, queues, calls, billing, supervisors.

    \b
    offered (agent)  calls in which the agent's phone rang
    answered         calls in which the agent talked with the caller
    talk             time bridged with the caller, hold included
    AHT              (talk + wrap-up) / answered; wrap-up = the queue's wrapuptime per queue call
    occupancy        (talk + wrap-up) / (logged-in time - pause time)
    service level    calls answered within the queue's threshold / calls offered
    billing          independent and umbrella agents: own talk time per month;
                     per minute: rate x minutes (to the second); per call: rate x answered calls
    coached          calls on which a supervisor whispered or barged in (at any moment)
    listened         calls a supervisor listened to (at any moment); a call may be both
    supervised       (calls) each supervision session: its modes in order, its supervisor
    quality          (per agent leg, RTCP at hang-up) loss_from: the agent's packets lost on
                     the way in; loss_to: ours the agent's phone reported lost; jitter, round
                     trip; MOS estimated by the E-model (G.711 with PLC); flagged when mean
                     loss or MOS fails the site's [quality] max_loss_pct / min_mos
    """


@report.command("agents")
@_period_options
@click.option("--team", default=None, help="Only this team's agents.")
@pass_app
def report_agents(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool, team: str | None) -> None:
    """Per agent: offered, answered, talk, hold, AHT, pause time by reason, occupancy, calls coached/listened to."""
    from ..records import reports

    _run(app, "agents", start, end, tz, as_json, as_csv, reports.agents, team=team)


@report.command("queues")
@_period_options
@pass_app
def report_queues(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool) -> None:
    """Per queue: offered, answered, abandoned, timed out, average wait, service level."""
    from ..records import reports

    _run(app, "queues", start, end, tz, as_json, as_csv, reports.queues)


@report.command("calls")
@_period_options
@click.option("--team", default=None, help="Only calls answered by this team's agents.")
@click.option("--caller", default=None, help="Caller number contains this.")
@click.option("--agent", default=None, help="Answered (or transferred to) this extension.")
@click.option("--queue", default=None, help="Entered this queue.")
@click.option("--disposition", type=click.Choice(["answered", "abandoned", "timeout", "no_agents", "no_answer",
                                                  "busy", "failed"]), default=None)
@click.option("--supervised", is_flag=True, help="Only calls a supervisor listened to, whispered or barged in on.")
@click.option("--number", default=None, help="Only calls to or from this public number (any format).")
@click.option("--direction", default=None, help="inbound, outbound or internal.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@pass_app
def report_calls(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool, team: str | None,
                 caller: str | None, agent: str | None, queue: str | None, disposition: str | None, supervised: bool,
                 number: str | None, direction: str | None, limit: int) -> None:
    """The calls of the period, newest first, with their direction, number and trunk and how each was supervised."""
    from .. import names
    from ..errors import InvalidInput
    from ..records import reports

    if direction is not None and direction not in ("inbound", "outbound", "internal"):
        raise InvalidInput(f"The direction must be inbound, outbound or internal, got {direction!r}.",
                           field="direction")
    if number is not None:
        number = names.phone_number(number, app.settings.carrier.region)
    _run(app, "calls", start, end, tz, as_json, as_csv, reports.calls, team=team, caller=caller, agent=agent,
         queue=queue, disposition=disposition, supervised=supervised, limit=limit, number=number,
         direction=direction)


@report.command("numbers")
@_period_options
@pass_app
def report_numbers(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool) -> None:
    """Per public number: inbound calls offered, answered, abandoned, and closed (no queue, no agent)."""
    from ..records import reports

    _run(app, "numbers", start, end, tz, as_json, as_csv, reports.numbers)


@report.command("billing")
@_period_options
@click.option("--team", default=None, help="Only this team's agents.")
@pass_app
def report_billing(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool, team: str | None) -> None:
    """Per independent/umbrella agent and month: billable minutes and calls, rate, total."""
    from ..records import reports

    _run(app, "billing", start, end, tz, as_json, as_csv, reports.billing, team=team)


@report.command("supervisors")
@_period_options
@pass_app
def report_supervisors(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool) -> None:
    """Per supervisor: supervision sessions begun in the period, calls supervised, minutes, sessions per mode."""
    from ..records import reports

    _run(app, "supervisors", start, end, tz, as_json, as_csv, reports.supervisors)


@click.command()
@click.option("--older-than", "older_than", required=True, help="90d, 26w, 2y, or a date (YYYY-MM-DD, UTC).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def purge(app: AppContext, older_than: str, yes: bool) -> None:
    """Delete call records, agent events and recordings (files too) older than a cutoff.

    The deletion is written to the audit log.
    """
    from ..records import purge as retention

    before = retention.cutoff(older_than)
    if not yes:
        click.confirm(f"Delete every call record, agent event and recording from before {before:%Y-%m-%d %H:%M} UTC?",
                      abort=True)
    with app.session() as session:
        done = retention.purge(session, before)
    removed, failed = retention.remove_files(app.settings, done.files)
    click.echo(f"Deleted {done.calls} call records, {done.agent_events} agent events and {done.recordings} "
               f"recordings ({removed} files).")
    for failure in failed:
        click.echo(f"Could not delete {failure}.", err=True)
    if failed:
        sys.exit(1)


@report.command("quality")
@_period_options
@click.option("--agent", default=None, help="Only this agent (extension).")
@click.option("--chart", "chart", default=None, type=click.Path(path_type=Path), metavar="FILE.png",
              help="Also draw each agent's MOS and loss per day (per hour for one day) into this PNG file.")
@pass_app
def report_quality(app: AppContext, start: str, end: str, tz: str, as_json: bool, as_csv: bool,
                   agent: str | None, chart: Path | None) -> None:
    """Per agent: line quality of their calls (loss both ways, jitter, round trip, estimated MOS), mean and
    worst, flagging the lines that fail the site's [quality] thresholds (default loss > 3 % or MOS < 3.6).

    With --chart FILE.png, also a chart of each agent's MOS and loss over the period, thresholds dashed,
    failing agents marked (needs the homepbx[chart] extra); nothing is written when no call was measured.
    """
    from ..records import reports

    if chart is not None:
        from ..records import quality_chart

        quality_chart.check(chart)
    limits = app.settings.quality
    rows = _run(app, "quality", start, end, tz, as_json, as_csv, reports.quality, agent=agent,
                max_loss_pct=limits.max_loss_pct, min_mos=limits.min_mos)
    if chart is None:
        return
    p = reports.period(start, end, tz)
    with app.session() as session:
        series = reports.quality_series(session.connection(), p, agent)
    drawn = quality_chart.plot(chart, series, rows, step=reports.quality_step(p), min_mos=limits.min_mos,
                               max_loss_pct=limits.max_loss_pct, title=f"Line quality {start} .. {end} ({tz})")
    if drawn.series:
        click.echo(f"Chart written to {chart}.", err=True)
    else:
        click.echo("No calls with line quality in that period; no chart written.", err=True)
