"""The collector's backfill from Asterisk's files: crashes and restarts lose nothing, add nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from homepbx import db
from homepbx.config import AsteriskSettings, DatabaseSettings, Settings
from homepbx.models import AgentEvent, CallRecord
from homepbx.asterisk.records.collector import CEL_FILE, QUEUE_LOG_FILE, Collector

from .records_data import day_one


def settings_for(tmp_path: Path, url: str) -> Settings:
    return replace(Settings(), database=DatabaseSettings(url=url),
                   asterisk=AsteriskSettings(root=str(tmp_path), log_dir="/var/log/asterisk"))


def files(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "var/log/asterisk"
    (base / "cel-custom").mkdir(parents=True, exist_ok=True)
    return base / CEL_FILE, base / QUEUE_LOG_FILE


def append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(lines)


def stored(url: str) -> tuple[list[tuple[str, str, float]], int]:
    with db.engine_for(url).connect() as conn:
        calls = conn.execute(select(CallRecord.linkedid, CallRecord.disposition, CallRecord.talk_s)
                             .order_by(CallRecord.linkedid)).all()
        events = conn.execute(select(func.count()).select_from(AgentEvent)).scalar_one()
    return [tuple(c) for c in calls], events


def day_one_stored_once(collector: Collector, url: str, ids: dict[str, str]) -> tuple[list[tuple[str, str, float]], int]:
    """`collector` reads the files: then every call of day one is stored once (the timed-out one
    as such), with its 8 agent events, and no call is left open. Returns what is stored."""
    collector.catch_up()
    calls, events = stored(url)
    assert sorted(c[0] for c in calls) == sorted(ids.values())
    assert {c[0]: c[1] for c in calls}[ids["timeout"]] == "timeout"
    assert events == 8
    assert collector.engine.open_calls == 0
    return calls, events


def lines_read_by_a_new_start(settings: Settings, url: str) -> tuple[int, int]:
    """(CEL lines, queue_log lines) a collector started now would read from the files."""
    with db.engine_for(url).begin() as conn:
        read = Collector(settings).backfill.read(conn)
    return read.cel_lines, read.queue_lines


def test_crash_mid_batch_then_restart_stores_every_call_once(tmp_path: Path, migrated_url: str) -> None:
    stream, ids = day_one()
    cel, qlog = files(tmp_path)
    settings = settings_for(tmp_path, migrated_url)
    # Asterisk wrote the first 40% of the day, the last CEL line only half-way (no newline yet).
    n_cel, n_q = len(stream.cel_lines) * 2 // 5, len(stream.queue_log) * 2 // 5
    append(cel, stream.cel_lines[:n_cel])
    append(qlog, stream.queue_log[:n_q])
    half = stream.cel_lines[n_cel]
    append(cel, [half[: len(half) // 2]])
    first = Collector(settings)
    first.catch_up()
    partial, _ = stored(migrated_url)
    assert 0 < len(partial) < len(ids)
    assert first.engine.open_calls > 0

    # kill -9: the engine's memory is gone. Asterisk finishes the line and writes the rest.
    append(cel, [half[len(half) // 2:]] + stream.cel_lines[n_cel + 1:])
    append(qlog, stream.queue_log[n_q:])
    calls, events = day_one_stored_once(Collector(settings), migrated_url, ids)

    # A third start reads nothing new and stores nothing.
    third = Collector(settings)
    third.catch_up()
    assert stored(migrated_url) == (calls, events)
    assert third.totals.calls == 0


def test_cursor_skips_what_was_fully_stored(tmp_path: Path, migrated_url: str) -> None:
    stream, _ = day_one()
    cel, qlog = files(tmp_path)
    append(cel, stream.cel_lines)
    append(qlog, stream.queue_log)
    settings = settings_for(tmp_path, migrated_url)
    Collector(settings).catch_up()
    assert lines_read_by_a_new_start(settings, migrated_url) == (0, 0)


def test_rotated_file_is_read_from_its_start(tmp_path: Path, migrated_url: str) -> None:
    stream, ids = day_one()
    cel, qlog = files(tmp_path)
    settings = settings_for(tmp_path, migrated_url)
    append(cel, stream.cel_lines[:10])
    Collector(settings).catch_up()
    # logrotate: the old file moves away, Asterisk starts a new one.
    cel.rename(cel.with_suffix(".csv.1"))
    append(cel, stream.cel_lines)
    append(qlog, stream.queue_log)
    Collector(settings).catch_up()
    assert len(stored(migrated_url)[0]) == len(ids)


def test_lines_written_before_a_rotation_the_collector_did_not_see_are_read_from_the_old_file(
    tmp_path: Path, migrated_url: str
) -> None:
    """The collector is stopped; Asterisk writes on, logrotate renames both files (twice, for the
    CEL CSV: .1 then .2), Asterisk writes the rest into new files. Every call is stored once,
    the calls open across the rotation included, and a further start reads nothing."""
    stream, ids = day_one()
    cel, qlog = files(tmp_path)
    settings = settings_for(tmp_path, migrated_url)
    cel_cut = [len(stream.cel_lines) * k // 10 for k in (4, 7)]
    q_cut = [len(stream.queue_log) * k // 10 for k in (4, 7)]
    append(cel, stream.cel_lines[:cel_cut[0]])
    append(qlog, stream.queue_log[:q_cut[0]])
    Collector(settings).catch_up()
    first, _ = stored(migrated_url)
    assert 0 < len(first) < len(ids)

    append(cel, stream.cel_lines[cel_cut[0]:cel_cut[1]])  # never read before the rotation
    append(qlog, stream.queue_log[q_cut[0]:q_cut[1]])
    qlog.rename(qlog.with_name("queue_log.1"))
    cel.rename(cel.with_name(cel.name + ".1"))
    cel.with_name(cel.name + ".1").rename(cel.with_name(cel.name + ".2"))
    append(cel, stream.cel_lines[cel_cut[1]:])
    append(qlog, stream.queue_log[q_cut[1]:])

    day_one_stored_once(Collector(settings), migrated_url, ids)

    assert lines_read_by_a_new_start(settings, migrated_url) == (0, 0)


def test_a_rotated_file_that_is_gone_does_not_stop_the_new_one_being_read(tmp_path: Path, migrated_url: str) -> None:
    stream, ids = day_one()
    cel, qlog = files(tmp_path)
    settings = settings_for(tmp_path, migrated_url)
    append(cel, stream.cel_lines[:10])
    Collector(settings).catch_up()
    cel.unlink()  # rotated and compressed (a new inode) or deleted
    append(cel, stream.cel_lines)
    append(qlog, stream.queue_log)
    Collector(settings).catch_up()
    assert len(stored(migrated_url)[0]) == len(ids)
