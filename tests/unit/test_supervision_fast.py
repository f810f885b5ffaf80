"""The spy command's fast path: a bare DB-API connection, no SQLAlchemy import, the same rule.

`homepbx spy` must reach Asterisk within 0.5 s of starting. On a plain SQLite or PostgreSQL URL
it checks the permission and writes the audit entry through sqlite3/psycopg; otherwise, or on a
driver error, through a SQLAlchemy session.
Both run the same SQL and the same Python (supervision.authorize_with), checked here on both
backends.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from homepbx import config, db, supervision
from homepbx.asterisk import spy as asterisk_spy
from homepbx.cli.common import AppContext, PlainConnection, PlainSqlite
from homepbx.errors import HomepbxError, InvalidInput, NotFound, OperationalError

from .cli_helpers import Cli, assert_plain_error
from .fake_ami import FakeAmi
from .cli_helpers import make_cli, url_of
from .test_supervision import AGENT_CHANNEL, ami, cli, point_at, spy_entries  # noqa: F401 - fixtures

PROVISION = (
    ("team", "add", "sales"),
    ("team", "add", "support"),
    ("agent", "add", "1001", "--name", "Ann", "--team", "sales"),
    ("agent", "add", "1002", "--name", "Bob", "--team", "support"),
    ("agent", "add", "1003", "--name", "Nobody's"),
    ("agent", "add", "2001", "--name", "Full", "--role", "supervisor"),
    ("agent", "add", "2002", "--name", "Coach", "--role", "supervisor", "--modes", "listen,whisper"),
    ("agent", "add", "2003", "--name", "Gone", "--role", "supervisor"),
    ("supervisor", "scope", "add", "2001", "sales"),
    ("supervisor", "scope", "add", "2002", "sales"),
    ("supervisor", "scope", "add", "2003", "sales"),
    ("agent", "disable", "2003"),
)

# (supervisor, agent, mode) -> the ChanSpy options the plan gets on Asterisk, or the refusal (type, message).
CASES: list[tuple[tuple[str, str, str], str | tuple[type[Exception], str]]] = [
    (("2001", "1001", "whisper"), "qEuwd"),
    (("2001", "1001", "barge"), "qEuBd"),
    (("2002", "1001", "listen"), "qEu"),
    (("2002", "1001", "WHISPER"), "qEuw"),
    (("2002", "1001", "barge"), (InvalidInput, "Supervisor 2002 is not allowed to barge.")),
    (("2001", "1002", "listen"), (InvalidInput, "Agent 1002 is not in a team supervisor 2001 may supervise.")),
    (("2001", "1003", "listen"), (InvalidInput, "Agent 1003 is not in a team supervisor 2001 may supervise.")),
    (("2003", "1001", "listen"), (InvalidInput, "Supervisor 2003 is disabled.")),
    (("1002", "1001", "listen"), (InvalidInput, "Extension 1002 is not a supervisor.")),
    (("2999", "1001", "listen"), (NotFound, "No agent has extension 2999.")),
    (("2001", "1999", "listen"), (NotFound, "No agent has extension 1999.")),
    (("2001", "2001", "listen"), (InvalidInput, "A supervisor cannot spy on their own calls.")),
    (("2001", "1001", "shout"), (InvalidInput, "Unknown spy mode 'shout': use listen, whisper or barge.")),
]


def outcome(authorize: Callable[[str, str, str], supervision.SpyPlan], case: tuple[str, str, str]) -> object:
    try:
        return asterisk_spy.chanspy_options(authorize(*case))
    except HomepbxError as exc:
        return (type(exc), str(exc))


@pytest.fixture
def site(tmp_path: Path, any_db_url: str) -> Cli:
    cli = make_cli(tmp_path, any_db_url)
    for args in PROVISION:
        assert cli(*args).exit_code == 0, args
    return cli


def plain(cli: Cli) -> PlainConnection:
    conn = AppContext(str(cli.config_path)).plain_connection()
    assert conn is not None
    return conn


def test_the_rule_decides_the_same_through_a_session_and_the_bare_driver(site: Cli) -> None:
    url = url_of(site)
    with db.session_scope(url) as session:
        got = [outcome(lambda s, a, m: supervision.authorize(session, s, a, m), case) for case, _ in CASES]
    assert got == [want for _, want in CASES]
    # ... and through the bare driver connection the CLI uses.
    conn = plain(site)
    try:
        got = [outcome(lambda s, a, m: supervision.authorize_with(conn, s, a, m), case) for case, _ in CASES]
    finally:
        conn.close()
    assert got == [want for _, want in CASES]


def test_audit_entries_read_the_same_whichever_way_they_were_written(site: Cli) -> None:
    from sqlalchemy import select, text

    from homepbx.models import AuditEntry

    url = url_of(site)
    result = supervision.SpyResult(supervision.SpyPlan("2001", "1001", "whisper", mode_switch=True), "1.1",
                                   detail={"agent_channel": AGENT_CHANNEL, "supervisor_channel": "PJSIP/2001-00000031"})
    with db.session_scope(url) as session:
        supervision.record(session, result)
    conn = plain(site)
    try:
        supervision.record_with(conn, result)
        conn.commit()
    finally:
        conn.close()
    with db.session_scope(url) as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "spy.whisper")))
        assert len(entries) == 2
        for e in entries:
            assert e.target == "1001" and e.actor
            assert json.loads(e.details) == {"agent": "1001", "agent_channel": AGENT_CHANNEL, "mode": "whisper",
                                             "supervisor": "2001", "supervisor_channel": "PJSIP/2001-00000031"}
        # Every audit time, whoever wrote it, in one sortable form.
        assert entries[0].at.tzinfo is None
        if url.startswith("sqlite"):
            raw = session.execute(text("SELECT at FROM audit_log")).scalars().all()
            assert raw and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", r) for r in raw), raw


def test_plain_sqlite_only_for_a_plain_existing_file(tmp_path: Path) -> None:
    def ctx(url: str) -> AppContext:
        app = AppContext(None)
        app._settings = dataclasses.replace(config.Settings(), database=config.DatabaseSettings(url=url))
        return app

    missing = tmp_path / "missing.db"
    assert ctx(f"sqlite:///{missing}").plain_connection() is None
    assert not missing.exists()  # looking did not create it
    sqlite3.connect(tmp_path / "x.db").close()
    conn = ctx(f"sqlite:///{tmp_path / 'x.db'}").plain_connection()
    assert isinstance(conn, PlainSqlite)
    conn.close()
    for url in ("sqlite://", f"sqlite:///{tmp_path / 'x.db'}?timeout=1", "postgresql+psycopg2://u@h/db",
                "postgresql+psycopg://u@127.0.0.1:1/db?sslmode=require"):
        assert ctx(url).plain_connection() is None, url
    # A server that does not answer is said once, not retried through SQLAlchemy.
    with pytest.raises(OperationalError, match="Cannot reach the database"):
        ctx("postgresql://nobody@127.0.0.1:1/nothing").plain_connection()


def test_spy_command_imports_no_sqlalchemy(site: Cli, ami: FakeAmi) -> None:  # noqa: F811
    """On SQLite and PostgreSQL: the check and the audit entry go through the bare driver."""
    cli = site
    point_at(cli, ami.port)
    code = (
        "import sys\n"
        "from homepbx.cli import main\n"
        "try:\n"
        f"    main(['--config', {str(cli.config_path)!r}, 'spy', 'whisper', '1001', '--supervisor', '2001'])\n"
        "finally:\n"
        "    print('loaded:', sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'homepbx.models',"
        " 'homepbx.provisioning', 'homepbx.db', 'alembic')) and sys.modules[m] is not None), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "loaded: []"
    [entry] = spy_entries(cli)
    assert entry["action"] == "spy.whisper" and entry["supervisor"] == "2001" and entry["agent"] == "1001"
    assert entry["agent_channel"] == AGENT_CHANNEL


def test_a_database_without_the_schema_falls_back_to_the_plain_error(cli: Cli, ami: FakeAmi,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    point_at(cli, ami.port)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # exists, so the fast path opens it, and finds no tables
    settings = config.load(cli.config_path)
    settings = dataclasses.replace(settings, database=dataclasses.replace(settings.database, url=f"sqlite:///{empty}"))
    cli.config_path.write_text(config.to_toml(settings), encoding="utf-8")
    res = cli("spy", "listen", "1001", "--supervisor", "2001")
    assert_plain_error(res, 1)
    assert "not initialised" in res.stderr
    assert ami.after_login() == []


def test_a_locked_audit_write_still_records_the_spy(cli: Cli, ami: FakeAmi,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """If the bare connection cannot write the audit entry, the session path must."""
    point_at(cli, ami.port)
    real = supervision.record_with

    def failing(query: object, result: supervision.SpyResult, actor: str | None = None) -> None:
        if isinstance(query, PlainSqlite):
            raise sqlite3.OperationalError("database is locked")
        real(query, result, actor)  # type: ignore[arg-type]

    monkeypatch.setattr(supervision, "record_with", failing)
    res = cli("spy", "barge", "1001", "--supervisor", "2001")
    assert res.exit_code == 0, res.stderr
    [entry] = spy_entries(cli)
    assert entry["action"] == "spy.barge"


def test_an_out_of_date_schema_takes_the_session_path_and_says_so(tmp_path, monkeypatch) -> None:
    """The fast path checks the schema revision too: an old database is refused, nothing reaches AMI."""
    import sqlite3

    from homepbx import db as database

    from .cli_helpers import Cli, assert_plain_error

    url = f"sqlite:///{tmp_path / 'old.db'}"
    database.upgrade(url)
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("UPDATE alembic_version SET version_num = '0001'")
    con.commit()
    con.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[ami]\nport = 9\n')
    res = Cli(cfg)("spy", "whisper", "1001", "--supervisor", "2001")
    assert_plain_error(res, code=1)
    assert "out of date" in res.stderr
