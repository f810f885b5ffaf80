"""Hourly roll-ups of the call records, so that a report over a month reads a few thousand rows.

The agents, queues and billing reports sum per agent or queue over a period. Over 1,000,000
calls the raw rows take seconds; the same sums per UTC hour (`hour` = epoch seconds // 3600)
are kept in a few tables, and a report adds the roll-ups of the whole hours inside its period
to the raw rows of the partial hours at its edges (periods start at any minute, and zones such
as Asia/Kolkata are whole hours plus 30 minutes away from UTC):

- rollup_agent_hours (hour, agent): agent legs by their start (legs, the first-leg flag sums
  rang and talked, legs with talk, talk and hold seconds), and wrap-up events by their time
  (count, and seconds: each weighed by its queue's wrap-up time when it was stored);
- rollup_wrapup_weights (hour, queue): the wrap-up time those seconds were weighed with;
- rollup_queue_hours (hour, queue): entered, answered, abandoned and timed-out queue events,
  the waits' counts and sums, and the answers within the queue's service-level `threshold`
  as it was when they were counted;
- rollup_span_hours (hour): the longest time between an agent's first and last leg in one call,
  by the hour of the first. The reports' correction for calls begun before the period (see
  reports._calls_begun_before) need only look at legs that start that soon after its start.

The reports weigh wrap-ups by the queue's current wrap-up time and count answers within its
current threshold: an hour stored under another one (or under two: -1) is counted again from
its raw rows by the report (right, only slower, until `rebuild` weighs it anew).

Kept in step with the raw rows by whoever writes or deletes them:
- the store adds a batch's newly inserted rows (`add`), one UPSERT per table per batch
  (`... ON CONFLICT DO UPDATE SET n = n + excluded.n`, SQLite >= 3.24 and PostgreSQL); a
  replayed batch inserts nothing and so adds nothing. Queue and agent events are keyed apart
  from their call: should the database skip one of them (a key already taken), the hours that
  batch touched are recounted from the raw rows instead (`Delta.recount_*`);
- `rebuild` makes them again from the raw rows, for all time or a range of hours: migration
  0006 (existing data), purge (the hours it deleted from), bench/records.py's bulk load.

Plain SQL by table name, no ORM models: migration 0006 calls `rebuild` too. Spans are only ever
raised, never lowered by a partial rebuild: a span too large only makes a report look at a few
more legs, one too small would lose calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, text

DEFAULT_SERVICE_LEVEL = 20
# The queue events the queues report counts.
ENTERED, ANSWERED, ABANDONED = "ENTERQUEUE", "CONNECT", "ABANDON"
TIMEOUTS = ("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")
# A roll-up row counted under two thresholds or wrap-up times.
MIXED = -1

_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1)

TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # table: (key columns, summed columns, "same or MIXED" columns)
    "rollup_agent_hours": (("hour", "agent"), ("legs", "rang", "talked", "talk_legs", "talk_s", "hold_s",
                                               "wrapups", "wrapup_s"), ()),
    "rollup_wrapup_weights": (("hour", "queue"), (), ("wrapup_time",)),
    "rollup_queue_hours": (("hour", "queue"), ("entered", "answered", "answer_waits", "answer_wait_s", "within",
                                               "abandoned", "abandon_waits", "abandon_wait_s", "timeouts"),
                           ("threshold",)),
    "rollup_span_hours": (("hour",), (), ()),
}
_FLOATS = {"talk_s", "hold_s", "wrapup_s", "answer_wait_s", "abandon_wait_s", "span_s"}
_TEXTS = {"agent", "queue"}


def hour_of(moment: datetime) -> int:
    """The UTC hour (epoch seconds // 3600) of a naive UTC datetime."""
    return (moment.toordinal() - _EPOCH_ORDINAL) * 24 + moment.hour


def hour_start(hour: int) -> datetime:
    return _EPOCH + timedelta(hours=hour)


def whole_hours(lo: datetime, hi: datetime) -> tuple[tuple[int, int] | None, list[tuple[datetime, datetime]]]:
    """[lo, hi) as the whole hours inside it ([h0, h1), or None) and the partial edges left over."""
    h0 = hour_of(lo)
    if hour_start(h0) < lo:
        h0 += 1
    h1 = hour_of(hi)
    if h0 >= h1:
        return None, [(lo, hi)]
    edges = []
    if lo < hour_start(h0):
        edges.append((lo, hour_start(h0)))
    if hour_start(h1) < hi:
        edges.append((hour_start(h1), hi))
    return (h0, h1), edges


def hour_ranges(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Hours as [a, b) runs of consecutive hours."""
    out: list[tuple[int, int]] = []
    for h in sorted(set(hours)):
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + 1)
        else:
            out.append((h, h + 1))
    return out


# -- what the store adds ---------------------------------------------------------------------------
class QueueConfig:
    """What the roll-ups weigh with, per queue: service-level threshold and wrap-up time."""

    def __init__(self, conn: Connection) -> None:
        self.threshold: dict[str, int] = {}
        self.wrapup_time: dict[str, int] = {}
        for name, level, wrapup in conn.exec_driver_sql("SELECT name, service_level, wrapup_time FROM queues"):
            self.threshold[name] = DEFAULT_SERVICE_LEVEL if level is None else int(level)
            self.wrapup_time[name] = int(wrapup or 0)


class Delta:
    """A batch's share of the roll-ups, summed in Python before one UPSERT per table."""

    def __init__(self) -> None:
        self.agents: dict[tuple[int, str], list[Any]] = {}
        self.weights: dict[tuple[int, str], int] = {}
        self.queues: dict[tuple[int, str], list[Any]] = {}
        self.thresholds: dict[tuple[int, str], int] = {}
        self.spans: dict[int, float] = {}
        # Hours to count again from the raw rows (an insert that skipped rows).
        self.recount_queues: set[int] = set()
        self.recount_wrapups: set[int] = set()
        self._config: QueueConfig | None = None

    def config(self, conn: Connection) -> QueueConfig:
        """The queues' thresholds and wrap-up times, read once per batch."""
        if self._config is None:
            self._config = QueueConfig(conn)
        return self._config

    def __bool__(self) -> bool:
        return bool(self.agents or self.queues or self.spans or self.recount_queues or self.recount_wrapups)

    def _agent(self, key: tuple[int, str]) -> list[Any]:
        row = self.agents.get(key)
        if row is None:
            row = self.agents[key] = [0, 0, 0, 0, 0.0, 0.0, 0, 0.0]
        return row

    def legs(self, legs: Iterable[Any]) -> None:
        """The legs (LegRow) of new calls; all legs of a call come together (for the spans)."""
        per_call: dict[tuple[str, str], list[datetime]] = {}
        for leg in legs:
            if leg.role != "agent":
                continue
            started = leg.started_at
            row = self._agent(((started.toordinal() - _EPOCH_ORDINAL) * 24 + started.hour, leg.agent))
            talk = leg.talk_s
            row[0] += 1
            if leg.first_ring:
                row[1] += 1
            if leg.first_talk:
                row[2] += 1
            if talk > 0:
                row[3] += 1
            row[4] += talk
            row[5] += leg.hold_s
            seen = per_call.get((leg.linkedid, leg.agent))
            if seen is None:
                per_call[(leg.linkedid, leg.agent)] = [started, started]
            elif started < seen[0]:
                seen[0] = started
            elif started > seen[1]:
                seen[1] = started
        spans = self.spans
        for first, last in per_call.values():
            if last > first:
                h = hour_of(first)
                span = (last - first).total_seconds()
                if span > spans.get(h, -1.0):
                    spans[h] = span

    def queue_events(self, events: Iterable[Any], config: QueueConfig) -> None:
        """Queue events (QueueEventRow), every one of them inserted."""
        queues = self.queues
        for e in events:
            kind = e.event
            if kind == ANSWERED:
                slot = 1
            elif kind == ENTERED:
                slot = 0
            elif kind == ABANDONED:
                slot = 5
            elif kind in TIMEOUTS:
                slot = 8
            else:
                continue
            at = e.at
            key = ((at.toordinal() - _EPOCH_ORDINAL) * 24 + at.hour, e.queue)
            row = queues.get(key)
            if row is None:
                row = queues[key] = [0, 0, 0, 0.0, 0, 0, 0, 0.0, 0]
                self.thresholds[key] = config.threshold.get(e.queue, DEFAULT_SERVICE_LEVEL)
            row[slot] += 1
            wait = e.wait_s
            if wait is not None:
                if slot == 1:
                    row[2] += 1
                    row[3] += wait
                    if wait <= self.thresholds[key]:
                        row[4] += 1
                elif slot == 5:
                    row[6] += 1
                    row[7] += wait

    def wrapups(self, events: Iterable[Any], config: QueueConfig) -> None:
        """Agent events (AgentEventRow), every one of them inserted; the wrap-ups count."""
        for e in events:
            if e.event != "wrapup":
                continue
            at = e.at
            hour = (at.toordinal() - _EPOCH_ORDINAL) * 24 + at.hour
            weight = config.wrapup_time.get(e.queue, 0)
            row = self._agent((hour, e.agent))
            row[6] += 1
            row[7] += weight
            if self.weights.setdefault((hour, e.queue), weight) != weight:
                self.weights[(hour, e.queue)] = MIXED


def add(conn: Connection, delta: Delta) -> None:
    """Add a batch's share to the roll-ups: at most one UPSERT per table, then the recounts. Rows
    go in key order, so two writers (two collectors on PostgreSQL) lock shared rows in the same
    order: no deadlock."""
    if delta.agents:
        _upsert(conn, "rollup_agent_hours", [(*k, *v) for k, v in sorted(delta.agents.items())])
    if delta.weights:
        _upsert(conn, "rollup_wrapup_weights", sorted(delta.weights.items()), flat=True)
    if delta.queues:
        th = delta.thresholds
        _upsert(conn, "rollup_queue_hours", [(k[0], k[1], th[k], *v) for k, v in sorted(delta.queues.items())])
    if delta.spans:
        _upsert(conn, "rollup_span_hours", sorted(delta.spans.items()), flat=True)
    for lo, hi in hour_ranges(delta.recount_queues):
        _Rebuild(conn, lo, hi).queues()
    for lo, hi in hour_ranges(delta.recount_wrapups):
        _Rebuild(conn, lo, hi).wrapups()


def _columns(table: str) -> tuple[str, ...]:
    key, summed, same = TABLES[table]
    if table == "rollup_span_hours":
        return (*key, "span_s")
    return (*key, *same, *summed)


def _update_sql(table: str) -> str:
    key, summed, same = TABLES[table]
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in summed]
    sets += [f"{c} = CASE WHEN {table}.{c} = excluded.{c} THEN {table}.{c} ELSE {MIXED} END" for c in same]
    if table == "rollup_span_hours":
        sets.append(f"span_s = CASE WHEN excluded.span_s > {table}.span_s THEN excluded.span_s ELSE {table}.span_s END")
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"


_SQL: dict[tuple[str, str, int], str] = {}
_SQLITE_ROWS = 500


def _upsert(conn: Connection, table: str, rows: Sequence[Any], flat: bool = False) -> None:
    """Add `rows` (tuples in _columns order; `flat`: (key, value) pairs of a one-column key)."""
    if flat:
        rows = [(*k, v) if isinstance(k, tuple) else (k, v) for k, v in rows]
    cols = _columns(table)
    if conn.dialect.name == "postgresql":
        sql = _SQL.get((table, "pg", 0))
        if sql is None:
            types = ["float8" if c in _FLOATS else "varchar" if c in _TEXTS else "int8" for c in cols]
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            sql = _SQL[(table, "pg", 0)] = (f"INSERT INTO {table} ({', '.join(cols)}) SELECT * FROM unnest({arrays}) "
                                            + _update_sql(table))
        with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(sql, [list(c) for c in zip(*rows)])
        return
    for i in range(0, len(rows), _SQLITE_ROWS):
        chunk = rows[i:i + _SQLITE_ROWS]
        sql = _SQL.get((table, "sqlite", len(chunk)))
        if sql is None:
            one = "(" + ", ".join("?" * len(cols)) + ")"
            sql = _SQL[(table, "sqlite", len(chunk))] = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join([one] * len(chunk))} " + _update_sql(table))
        conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row))


# -- rebuilding from the raw rows -----------------------------------------------------------------
def _hour_sql(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM date_trunc('hour', {column})) / 3600 AS INTEGER)"
    # Whole seconds first: strftime rounds xx:59:59.9995 up to the next hour.
    return f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) / 3600)"


def _seconds_between_sql(dialect: str, a: str, b: str) -> str:
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({b}) - ({a}))"

    # Whole seconds and fractions apart: julianday() is off by microseconds.
    def secs(x: str) -> str:
        return f"CAST(strftime('%s', substr({x}, 1, 19)) AS INTEGER)"

    return f"(({secs(b)} - {secs(a)}) + (CAST(substr({b}, 20) AS REAL) - CAST(substr({a}, 20) AS REAL)))"


def _n(cond: str) -> str:
    return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"


class _Rebuild:
    """The roll-ups of hours [lo, hi) (None: unbounded) made again from the raw rows, part by part."""

    def __init__(self, conn: Connection, lo: int | None, hi: int | None) -> None:
        self.conn, self.d = conn, conn.dialect.name
        self.params: dict[str, datetime] = {}
        self.where: list[str] = []
        self.hours = ""
        if lo is not None:
            self.params["lo"] = hour_start(lo)
            self.where.append("{col} >= :lo")
            self.hours += f" AND hour >= {int(lo)}"
        if hi is not None:
            self.params["hi"] = hour_start(hi)
            self.where.append("{col} < :hi")
            self.hours += f" AND hour < {int(hi)}"

    def rng(self, col: str) -> str:
        return "".join(f" AND {w.format(col=col)}" for w in self.where)

    def run(self, sql: str) -> Any:
        stmt = text(sql)
        if self.params:
            stmt = stmt.bindparams(*(bindparam(k, type_=DateTime) for k in self.params))
        return self.conn.execute(stmt, self.params)

    def _wrapup_sql(self) -> str:
        return (f"SELECT {_hour_sql(self.d, 'e.at')} AS hour, e.agent AS agent, e.queue AS queue, COUNT(*) AS n, "
                "COALESCE(MAX(q.wrapup_time), 0) AS weight FROM agent_events e LEFT JOIN queues q ON q.name = e.queue "
                f"WHERE e.event = 'wrapup'{self.rng('e.at')} GROUP BY 1, 2, 3")

    def agents(self) -> None:
        self.conn.exec_driver_sql(f"DELETE FROM rollup_agent_hours WHERE 1 = 1{self.hours}")
        legs = (f"SELECT {_hour_sql(self.d, 'started_at')} AS hour, agent, COUNT(*) AS legs, "
                f"{_n('first_ring')} AS rang, {_n('first_talk')} AS talked, {_n('talk_s > 0')} AS talk_legs, "
                "SUM(talk_s) AS talk_s, SUM(hold_s) AS hold_s, 0 AS wrapups, 0.0 AS wrapup_s "
                f"FROM call_legs WHERE role = 'agent'{self.rng('started_at')} GROUP BY 1, 2")
        wraps = (f"SELECT hour, agent, 0, 0, 0, 0, 0.0, 0.0, SUM(n), SUM(n * weight) FROM ({self._wrapup_sql()}) w "
                 "GROUP BY hour, agent")
        self.run("INSERT INTO rollup_agent_hours (hour, agent, legs, rang, talked, talk_legs, talk_s, hold_s, wrapups, "
                 "wrapup_s) SELECT hour, agent, SUM(legs), SUM(rang), SUM(talked), SUM(talk_legs), SUM(talk_s), "
                 f"SUM(hold_s), SUM(wrapups), SUM(wrapup_s) FROM ({legs} UNION ALL {wraps}) a GROUP BY hour, agent")
        self.weights()

    def weights(self) -> None:
        self.conn.exec_driver_sql(f"DELETE FROM rollup_wrapup_weights WHERE 1 = 1{self.hours}")
        self.run("INSERT INTO rollup_wrapup_weights (hour, queue, wrapup_time) "
                 f"SELECT hour, queue, MAX(weight) FROM ({self._wrapup_sql()}) w GROUP BY hour, queue")

    def wrapups(self) -> None:
        """The wrap-up columns of the agent hours (and their weights) only."""
        self.conn.exec_driver_sql(f"UPDATE rollup_agent_hours SET wrapups = 0, wrapup_s = 0 WHERE 1 = 1{self.hours}")
        rows = [(hour, agent, 0, 0, 0, 0, 0.0, 0.0, int(n), float(s)) for hour, agent, n, s in self.run(
            f"SELECT hour, agent, SUM(n), SUM(n * weight) FROM ({self._wrapup_sql()}) w GROUP BY hour, agent")]
        if rows:
            _upsert(self.conn, "rollup_agent_hours", rows)
        self.weights()

    def queues(self) -> None:
        self.conn.exec_driver_sql(f"DELETE FROM rollup_queue_hours WHERE 1 = 1{self.hours}")
        level = f"COALESCE(q.service_level, {DEFAULT_SERVICE_LEVEL})"
        kinds = ", ".join(f"'{k}'" for k in (ENTERED, ANSWERED, ABANDONED, *TIMEOUTS))
        timeouts = ", ".join(f"'{k}'" for k in TIMEOUTS)
        a, b = f"e.event = '{ANSWERED}'", f"e.event = '{ABANDONED}'"
        self.run(
            "INSERT INTO rollup_queue_hours (hour, queue, threshold, entered, answered, answer_waits, answer_wait_s, "
            "within, abandoned, abandon_waits, abandon_wait_s, timeouts) "
            f"SELECT {_hour_sql(self.d, 'e.at')}, e.queue, {level}, {_n(f'e.event = {ENTERED!r}')}, {_n(a)}, "
            f"{_n(f'{a} AND e.wait_s IS NOT NULL')}, COALESCE(SUM(CASE WHEN {a} THEN e.wait_s END), 0), "
            f"{_n(f'{a} AND e.wait_s <= {level}')}, {_n(b)}, {_n(f'{b} AND e.wait_s IS NOT NULL')}, "
            f"COALESCE(SUM(CASE WHEN {b} THEN e.wait_s END), 0), {_n(f'e.event IN ({timeouts})')} "
            "FROM queue_events e LEFT JOIN queues q ON q.name = e.queue "
            f"WHERE e.event IN ({kinds}){self.rng('e.at')} GROUP BY 1, 2, 3"
        )

    def spans(self) -> None:
        """Raised from the calls with a repeated agent leg in the range (the partial index)."""
        d = self.d
        first = "MIN(l.started_at)"
        rows = [(int(hour), float(span)) for hour, span in self.run(
            f"SELECT {_hour_sql(d, 's.first')}, MAX(s.span_s) FROM ("
            f"SELECT {first} AS first, {_seconds_between_sql(d, first, 'MAX(l.started_at)')} AS span_s "
            "FROM call_legs l WHERE l.role = 'agent' AND l.linkedid IN ("
            "SELECT r.linkedid FROM call_legs r WHERE r.role = 'agent' "
            f"AND r.first_ring = {'false' if d == 'postgresql' else '0'}{self.rng('r.started_at')}) "
            "GROUP BY l.linkedid, l.agent HAVING COUNT(*) > 1) s GROUP BY 1")]
        if rows:
            _upsert(self.conn, "rollup_span_hours", rows)


def rebuild(conn: Connection, from_hour: int | None = None, to_hour: int | None = None) -> None:
    """Make the roll-ups of hours [from_hour, to_hour) (None: unbounded) again from the raw rows,
    with the queues' current service levels and wrap-up times. Spans are only raised, but for
    a rebuild of all time (see the module's notes)."""
    if conn.dialect.name == "postgresql":
        # A store committing meanwhile (the collector runs during a purge) would add its share to
        # hours being made again from rows the rebuild may not see, or collide with its inserts:
        # whichever comes second waits for the other (reports still read). SQLite's one writer
        # at a time gives the same.
        conn.exec_driver_sql(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
    if from_hour is None and to_hour is None:
        conn.exec_driver_sql("DELETE FROM rollup_span_hours")
    work = _Rebuild(conn, from_hour, to_hour)
    work.agents()
    work.queues()
    work.spans()


# -- what the reports read -------------------------------------------------------------------------
def agent_sums(conn: Connection, h0: int, h1: int, agents: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    """(agent, legs, rang, talked, talk_legs, talk_s, hold_s, wrapups, wrapup_s) over hours [h0, h1)."""
    sql = ("SELECT agent, SUM(legs), SUM(rang), SUM(talked), SUM(talk_legs), SUM(talk_s), SUM(hold_s), SUM(wrapups), "
           "SUM(wrapup_s) FROM rollup_agent_hours WHERE hour >= :h0 AND hour < :h1")
    params: dict[str, Any] = {"h0": h0, "h1": h1}
    stmt = text(sql + (" AND agent IN :agents" if agents is not None else "") + " GROUP BY agent")
    if agents is not None:
        stmt = stmt.bindparams(bindparam("agents", expanding=True))
        params["agents"] = list(agents)
    return list(conn.execute(stmt, params))


def reweighed_hours(conn: Connection, h0: int, h1: int) -> list[int]:
    """The hours of [h0, h1) whose wrap-ups were weighed with another wrap-up time than their
    queue has now (or with two)."""
    return [h for h, in conn.execute(text(
        "SELECT DISTINCT w.hour FROM rollup_wrapup_weights w LEFT JOIN queues q ON q.name = w.queue "
        "WHERE w.hour >= :h0 AND w.hour < :h1 AND w.wrapup_time <> COALESCE(q.wrapup_time, 0) ORDER BY w.hour"),
        {"h0": h0, "h1": h1})]


def stored_wrapup_seconds(conn: Connection, hours: list[tuple[int, int]]) -> dict[str, float]:
    """Per agent, the wrap-up seconds the roll-ups hold for these [a, b) runs of hours."""
    out: dict[str, float] = {}
    for a, b in hours:
        for agent, s in conn.execute(text(
            "SELECT agent, SUM(wrapup_s) FROM rollup_agent_hours WHERE hour >= :a AND hour < :b GROUP BY agent"),
            {"a": a, "b": b}):
            out[agent] = out.get(agent, 0.0) + float(s or 0)
    return out


def queue_sums(conn: Connection, h0: int, h1: int) -> list[tuple[Any, ...]]:
    """(queue, threshold, entered, answered, answer_waits, answer_wait_s, within, abandoned,
    abandon_waits, abandon_wait_s, timeouts) over hours [h0, h1), per queue and threshold."""
    return list(conn.execute(text(
        "SELECT queue, threshold, SUM(entered), SUM(answered), SUM(answer_waits), SUM(answer_wait_s), SUM(within), "
        "SUM(abandoned), SUM(abandon_waits), SUM(abandon_wait_s), SUM(timeouts) "
        "FROM rollup_queue_hours WHERE hour >= :h0 AND hour < :h1 GROUP BY queue, threshold"), {"h0": h0, "h1": h1}))


def longest_span(conn: Connection, before: datetime) -> float | None:
    """The longest first-to-last-leg time of an agent in a call whose first leg began in the hour
    of `before` or earlier; None when there is none (no such call has two legs of one agent)."""
    value = conn.execute(text("SELECT MAX(span_s) FROM rollup_span_hours WHERE hour <= :h"),
                         {"h": hour_of(before)}).scalar()
    return None if value is None else float(value)


__all__ = ["Delta", "QueueConfig", "add", "agent_sums", "hour_of", "hour_ranges", "hour_start", "longest_span",
           "queue_sums", "rebuild", "reweighed_hours", "stored_wrapup_seconds", "whole_hours"]
