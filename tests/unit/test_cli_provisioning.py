"""Every provisioning verb of the CLI, through the real entry point, on a real database."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from homepbx import credentials, db
from homepbx.models import Agent, AuditEntry

from .cli_helpers import Cli, assert_plain_error, db_fingerprint, make_cli, url_of


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    return make_cli(tmp_path, sqlite_url)


@pytest.fixture
def cli_any(tmp_path: Path, any_db_url: str) -> Cli:
    """The CLI on SQLite and on PostgreSQL."""
    return make_cli(tmp_path, any_db_url)


def test_init_writes_private_settings_with_a_secret_and_creates_the_schema(tmp_path: Path, sqlite_url: str) -> None:
    cli = make_cli(tmp_path, sqlite_url)
    mode = stat.S_IMODE(cli.config_path.stat().st_mode)
    assert mode == 0o600
    text = cli.config_path.read_text()
    assert 'secret = "' in text and 'secret = ""' not in text
    assert db.current_revision(sqlite_url) == db.head_revision()
    # A second init keeps the file (and its secret) and is fine.
    assert cli("init").exit_code == 0
    assert cli.config_path.read_text() == text
    assert_plain_error(cli("init", "--sip-domain", "other.example.com"))


def test_db_upgrade_and_status(cli: Cli) -> None:
    res = cli("db", "upgrade")
    assert res.exit_code == 0 and db.head_revision() in res.stdout
    res = cli("db", "status")
    assert res.exit_code == 0 and "run `homepbx db upgrade`" not in res.stdout


def test_commands_refuse_an_uninitialised_database(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/none.db"\n')
    res = Cli(cfg)("agent", "list")
    assert_plain_error(res, code=1)
    assert "homepbx init" in res.stderr


def test_agent_add_shows_credentials_once_and_stores_only_the_digest(cli_any: Cli) -> None:
    cli = cli_any
    assert cli("team", "add", "sales").exit_code == 0
    res = cli("agent", "add", "1001", "--name", "Clémence Dupré", "--team", "sales", "--email", "c@example.com", "--json")
    assert res.exit_code == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["username"] == "1001" and shown["server"] == "pbx.example.com"
    # Encrypted by default: TLS on its port, SRTP required.
    assert (shown["transport"], shown["port"], shown["media_encryption"]) == ("tls", 5061, "srtp (sdes), mandatory")
    password = shown["password"]
    assert len(password) >= 16
    with db.session_scope(url_of(cli)) as s:
        agent = s.scalar(select(Agent).where(Agent.extension == "1001"))
        assert agent.display_name == "Clémence Dupré"
        assert agent.md5_cred == credentials.md5_cred("1001", "pbx.example.com", password)
        assert agent.realm == "pbx.example.com"
        assert password not in repr([getattr(agent, c.key) for c in Agent.__table__.columns])
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert "agent.add" in actions
    # The password appears in no later output.
    listing = cli("agent", "show", "1001", "--json")
    assert password not in listing.stdout
    assert json.loads(listing.stdout)["team"] == "sales"


def test_agent_list_show_filters_and_json(cli: Cli) -> None:
    cli("team", "add", "sales")
    cli("team", "add", "support")
    cli("agent", "add", "1001", "--name", "O'Brien", "--team", "sales")
    cli("agent", "add", "1002", "--name", "Zoë", "--team", "support")
    cli("agent", "add", "2001", "--name", "Boss", "--role", "supervisor", "--modes", "listen,whisper")
    rows = json.loads(cli("agent", "list", "--json").stdout)
    assert [r["extension"] for r in rows] == ["1001", "1002", "2001"]
    assert json.loads(cli("agent", "list", "--team", "sales", "--json").stdout)[0]["display_name"] == "O'Brien"
    sups = json.loads(cli("agent", "list", "--role", "supervisor", "--json").stdout)
    assert [(r["extension"], r["spy_modes"]) for r in sups] == [("2001", "listen,whisper")]
    human = cli("agent", "list")
    assert human.exit_code == 0 and "O'Brien" in human.stdout and "Zoë" in human.stdout


def test_disable_enable_remove_passwd_update(cli: Cli) -> None:
    cli("team", "add", "sales")
    first = json.loads(cli("agent", "add", "1001", "--name", "Ann", "--json").stdout)["password"]
    assert cli("agent", "disable", "1001").exit_code == 0
    assert json.loads(cli("agent", "show", "1001", "--json").stdout)["enabled"] is False
    assert cli("agent", "enable", "1001").exit_code == 0
    assert json.loads(cli("agent", "show", "1001", "--json").stdout)["enabled"] is True
    second = json.loads(cli("agent", "passwd", "1001", "--json").stdout)["password"]
    assert second != first
    with db.session_scope(url_of(cli)) as s:
        assert s.scalar(select(Agent.md5_cred)) == credentials.md5_cred("1001", "pbx.example.com", second)
    res = cli("agent", "update", "1001", "--name", "Ann-Marie", "--team", "sales", "--employment", "independent",
              "--rate", "0.45", "--unit", "minute")
    assert res.exit_code == 0, res.stderr
    shown = json.loads(cli("agent", "show", "1001", "--json").stdout)
    assert (shown["display_name"], shown["team"], shown["employment"], shown["billing_rate"]) == (
        "Ann-Marie", "sales", "independent", "0.4500")
    assert cli("agent", "remove", "1001", "--yes").exit_code == 0
    assert json.loads(cli("agent", "list", "--json").stdout) == []


def test_teams(cli: Cli) -> None:
    assert cli("team", "add", "sales", "--description", "Campagne énergie").exit_code == 0
    cli("agent", "add", "1001", "--name", "Ann", "--team", "sales")
    rows = json.loads(cli("team", "list", "--json").stdout)
    assert rows == [{"name": "sales", "description": "Campagne énergie", "agents": 1, "outbound": "none",
                     "premium": False, "caller_id": ""}]
    assert_plain_error(cli("team", "remove", "sales"))  # still has an agent
    cli("agent", "remove", "1001", "--yes")
    assert cli("team", "remove", "sales").exit_code == 0
    assert json.loads(cli("team", "list", "--json").stdout) == []


def test_queues_and_members(cli_any: Cli) -> None:
    cli = cli_any
    cli("agent", "add", "1001", "--name", "Ann")
    cli("agent", "add", "1002", "--name", "Bob")
    res = cli("queue", "add", "support", "--extension", "500", "--strategy", "ringall", "--service-level", "30", "--record")
    assert res.exit_code == 0, res.stderr
    assert cli("queue", "member", "add", "support", "1001", "1002", "--penalty", "2").exit_code == 0
    members = json.loads(cli("queue", "member", "list", "support", "--json").stdout)
    assert [(m["extension"], m["penalty"]) for m in members] == [("1001", 2), ("1002", 2)]
    q = json.loads(cli("queue", "list", "--json").stdout)[0]
    assert (q["name"], q["extension"], q["strategy"], q["service_level"], q["record"], q["members"]) == (
        "support", "500", "ringall", 30, True, 2)
    assert cli("queue", "member", "remove", "support", "1002").exit_code == 0
    assert [m["extension"] for m in json.loads(cli("queue", "member", "list", "support", "--json").stdout)] == ["1001"]
    assert json.loads(cli("agent", "show", "1001", "--json").stdout)["queues"] == "support(penalty 2)"
    assert cli("queue", "remove", "support").exit_code == 0
    assert json.loads(cli("queue", "list", "--json").stdout) == []


def test_supervisor_scopes(cli: Cli) -> None:
    cli("team", "add", "sales")
    cli("team", "add", "support")
    cli("agent", "add", "2001", "--name", "Boss", "--role", "supervisor")
    cli("agent", "add", "1001", "--name", "Ann")
    assert cli("supervisor", "scope", "add", "2001", "sales").exit_code == 0
    assert cli("supervisor", "scope", "add", "2001", "support").exit_code == 0
    rows = json.loads(cli("supervisor", "scope", "list", "--json").stdout)
    assert [(r["supervisor"], r["team"]) for r in rows] == [("2001", "sales"), ("2001", "support")]
    assert cli("supervisor", "scope", "remove", "2001", "sales").exit_code == 0
    assert [r["team"] for r in json.loads(cli("supervisor", "scope", "list", "2001", "--json").stdout)] == ["support"]
    assert_plain_error(cli("supervisor", "scope", "add", "1001", "sales"))  # not a supervisor
    assert_plain_error(cli("supervisor", "scope", "remove", "2001", "sales"))  # no such scope


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("extension,display_name,email,team,employment,billing_rate\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_import_adds_all_and_writes_private_credentials(cli_any: Cli, tmp_path: Path) -> None:
    cli = cli_any
    cli("team", "add", "sales")
    src = _write_csv(tmp_path / "agents.csv", [
        f"{3000 + i},Agent {i},a{i}@example.com,sales,independent,0.30" for i in range(25)
    ] + ["3100,Clémence Dupré,,sales,employee,0"])
    out = tmp_path / "creds.csv"
    res = cli("agent", "import", str(src), "--credentials", str(out))
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = out.read_text().splitlines()
    assert lines[0].startswith("extension,display_name,username,password")
    assert len(lines) == 27
    rows = {r["extension"]: r for r in json.loads(cli("agent", "list", "--json").stdout)}
    assert len(rows) == 26
    assert rows["3100"]["display_name"] == "Clémence Dupré"
    assert rows["3007"]["employment"] == "independent"
    # Each password in the file is the one Asterisk will check.
    with db.session_scope(url_of(cli)) as s:
        digests = dict(s.execute(select(Agent.extension, Agent.md5_cred)).all())
    for line in lines[1:]:
        ext, _name, user, password, *_ = line.split(",")
        assert digests[ext] == credentials.md5_cred(user, "pbx.example.com", password)


@pytest.mark.parametrize("rows, named", [
    # The bad record itself spans three file lines (it ends on line 4).
    (['3001,"Ann\nMarie\nCurie; x",,sales,employee,0', "3002,Bob,,sales,employee,0"], "Row 2"),
    # A good record spanning two lines (its name's trailing newline is trimmed) before the bad one.
    (['3001,"Ann\n",,sales,employee,0', "3003,Eve; evil,,sales,employee,0"], "Row 3"),
])
def test_import_names_the_csv_record_not_the_file_line(cli_any: Cli, tmp_path: Path, rows: list[str],
                                                       named: str) -> None:
    """Errors name the record as a spreadsheet numbers it (header = row 1), not the file line (issue 16)."""
    cli = cli_any
    cli("team", "add", "sales")
    src = _write_csv(tmp_path / "agents.csv", rows)
    res = cli("agent", "import", str(src), "--credentials", str(tmp_path / "creds.csv"))
    assert_plain_error(res)
    assert named in res.stderr and "Row 4" not in res.stderr, res.stderr


def test_import_with_one_bad_row_changes_nothing_and_names_the_row(cli_any: Cli, tmp_path: Path) -> None:
    cli = cli_any
    cli("team", "add", "sales")
    before = db_fingerprint(url_of(cli))
    src = _write_csv(tmp_path / "agents.csv", [
        "3001,Ann,,sales,employee,0",
        "3002,Bob,,sales,employee,0",
        "3003,Eve; evil,,sales,employee,0",
    ])
    out = tmp_path / "creds.csv"
    res = cli("agent", "import", str(src), "--credentials", str(out))
    assert_plain_error(res)
    assert "Row 4" in res.stderr and "display name" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".creds.csv*"))
    assert db_fingerprint(url_of(cli)) == before


@pytest.mark.parametrize("transport,port,srtp", [("tls", 5061, True), ("udp", 5060, False), ("tcp", 5070, False)])
def test_credentials_follow_the_agents_transport(transport: str, port: int, srtp: bool) -> None:
    from homepbx.config import Settings, SipSettings
    from homepbx.models import Agent
    from homepbx.provisioning import softphone_settings

    sip = SipSettings(domain="pbx.example.com", tcp_port=5070)
    agent = Agent(extension="1001", display_name="Ann", transport=transport)
    creds = softphone_settings(Settings(sip=sip), agent, "pw")
    assert (creds.transport, creds.port, creds.srtp) == (transport, port, srtp)
