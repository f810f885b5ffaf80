"""Bad input: exit 2, one plain sentence naming the field, and nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import Cli, assert_plain_error, db_fingerprint
from .cli_helpers import make_cli, url_of


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (
        ("team", "add", "sales"),
        ("agent", "add", "1001", "--name", "Ann", "--team", "sales"),
        ("agent", "add", "2001", "--name", "Boss", "--role", "supervisor"),
        ("queue", "add", "support", "--extension", "500"),
    ):
        assert cli(*args).exit_code == 0
    return cli


BAD = [
    (("agent", "add", "12a4", "--name", "X"), "extension"),
    (("agent", "add", "1", "--name", "X"), "extension"),
    (("agent", "add", "1001", "--name", "Dup"), "already in use"),
    (("agent", "add", "500", "--name", "Queue clash"), "already in use"),
    (("agent", "add", "1002", "--name", "Eve\nexten => _X.,1,System(rm)"), "display name"),
    (("agent", "add", "1002", "--name", "[evil]"), "display name"),
    (("agent", "add", "1002", "--name", "a;comment"), "display name"),
    (("agent", "add", "1002", "--name", "a,b"), "display name"),
    (("agent", "add", "1002", "--name", "a|b"), "display name"),
    (("agent", "add", "1002", "--name", "a)b"), "display name"),
    (("agent", "add", "1002", "--name", "${SHELL(id)}"), "display name"),
    (("agent", "add", "1002", "--name", "$[1+1]"), "display name"),
    (("agent", "add", "1002", "--name", "bell\x07"), "display name"),
    (("agent", "add", "1002", "--name", "rtl\u202eevil"), "display name"),
    (("agent", "add", "1002", "--name", '"quoted"'), "display name"),
    (("agent", "add", "1002", "--name", ""), "display name"),
    (("agent", "add", "1002", "--name", "X" * 65), "display name"),
    (("agent", "add", "1002", "--name", "X", "--email", "not-an-email"), "email"),
    (("agent", "add", "1002", "--name", "X", "--team", "nosuch"), "team"),
    (("agent", "add", "1002", "--name", "X", "--rate", "-1"), "billing rate"),
    (("agent", "add", "1002", "--name", "X", "--rate", "abc"), "billing rate"),
    (("agent", "add", "1002", "--name", "X", "--modes", "listen"), "spy modes"),
    (("agent", "add", "1002", "--name", "X", "--role", "supervisor", "--modes", "listen,snoop"), "spy mode"),
    (("agent", "show", "9999"), "extension"),
    (("agent", "disable", "9999"), "extension"),
    (("agent", "enable", "x"), "extension"),
    (("agent", "remove", "9999", "--yes"), "extension"),
    (("agent", "passwd", "9999"), "extension"),
    (("agent", "update", "1001", "--name", "ok", "--team", "nosuch"), "team"),
    (("team", "add", "Sales Team"), "team"),
    (("team", "add", "sales"), "already exists"),
    (("team", "remove", "nosuch"), "team"),
    (("queue", "add", "Support!", "--extension", "501"), "queue"),
    (("queue", "add", "billing", "--extension", "1001"), "already in use"),
    (("queue", "add", "billing", "--extension", "50x"), "queue extension"),
    (("queue", "add", "billing", "--extension", "501", "--ring-timeout", "0"), "ring timeout"),
    (("queue", "add", "support", "--extension", "501"), "already exists"),
    (("queue", "remove", "nosuch"), "queue"),
    (("queue", "member", "add", "support", "1001", "9999"), "extension"),
    (("queue", "member", "add", "nosuch", "1001"), "queue"),
    (("queue", "member", "add", "support", "1001", "--penalty", "-3"), "penalty"),
    (("queue", "member", "remove", "support", "1001"), "not a member"),
    (("supervisor", "scope", "add", "2001", "nosuch"), "team"),
    (("supervisor", "scope", "add", "1001", "sales"), "not a supervisor"),
]


@pytest.mark.parametrize("args,mentions", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_exits_2_with_one_sentence_and_changes_nothing(site: Cli, args: tuple[str, ...], mentions: str) -> None:
    before = db_fingerprint(url_of(site))
    res = site(*args)
    assert_plain_error(res, code=2)
    assert mentions in res.stderr
    assert db_fingerprint(url_of(site)) == before


def test_unknown_command_and_option_are_usage_errors(site: Cli) -> None:
    assert site("agent", "frobnicate").exit_code == 2
    assert site("agent", "add", "1003").exit_code == 2  # --name is required
    assert site("nosuch").exit_code == 2


def test_broken_settings_file_is_a_plain_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[database\nurl=")
    res = Cli(cfg)("agent", "list")
    assert_plain_error(res, code=2)
    cfg.write_text("[nosuch]\n")
    assert_plain_error(Cli(cfg)("agent", "list"), code=2)
    assert_plain_error(Cli(tmp_path / "missing.toml")("agent", "list"), code=2)


def test_unwritable_settings_path_is_a_plain_error(tmp_path: Path, sqlite_url: str) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("")
    res = Cli(target / "homepbx.toml")("init", "--database-url", sqlite_url)
    assert_plain_error(res, code=1)
