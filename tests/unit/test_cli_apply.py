"""`render` and `apply` through the CLI (no Asterisk: reload is exercised in the lab tests)."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from .cli_helpers import Cli, assert_plain_error
from .cli_helpers import make_cli, tls_pair


def tree_digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    (tmp_path / "asterisk").mkdir()
    # Point AMI at a closed port: these tests must never reach a real Asterisk.
    text = cli.config_path.read_text().replace("port = 5038", f"port = {free_port()}")
    cli.config_path.write_text(text)
    for args in (
        ("team", "add", "sales"),
        ("agent", "add", "1001", "--name", "Ann", "--team", "sales"),
        ("agent", "add", "2001", "--name", "Boss", "--role", "supervisor"),
        ("supervisor", "scope", "add", "2001", "sales"),
        ("queue", "add", "support", "--extension", "500"),
    ):
        assert cli(*args).exit_code == 0
    return cli


def test_render_out_writes_every_file_with_the_managed_header(site: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = site("render", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    names = {p.name for p in out.iterdir()}
    assert {"pjsip.conf", "extensions.conf", "queues.conf", "manager.conf", "features.conf", "logger.conf"} <= names
    for p in out.iterdir():
        assert "Managed by homepbx" in p.read_text().splitlines()[0]
    first = tree_digest(out)
    assert site("render", "--out", str(out)).exit_code == 0
    assert tree_digest(out) == first  # deterministic


def test_apply_dry_run_then_apply_then_nothing_to_do(site: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "asterisk"
    res = site("apply", "--dry-run", "--diff")
    assert res.exit_code == 0 and "Would write" in res.stdout and "+[1001]" in res.stdout
    assert list(conf.iterdir()) == []
    res = site("apply", "--no-reload")
    assert res.exit_code == 0 and "Wrote" in res.stdout
    written = tree_digest(conf)
    assert "pjsip.conf" in written
    res = site("apply", "--no-reload")
    assert res.exit_code == 0 and "Nothing to change" in res.stdout
    assert tree_digest(conf) == written


def test_apply_reports_unreachable_asterisk_plainly(site: Cli, tmp_path: Path) -> None:
    res = site("apply")
    assert_plain_error(res, code=1)
    assert "not reloaded" in res.stderr and "apply --reload" in res.stderr


def test_apply_refuses_foreign_files_and_writes_nothing(site: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "asterisk"
    (conf / "extensions.conf").write_text("[default]\nexten => 1,1,Hangup()\n")
    before = tree_digest(conf)
    res = site("apply", "--no-reload")
    assert_plain_error(res, code=2)
    assert "extensions.conf" in res.stderr
    assert tree_digest(conf) == before
    res = site("apply", "--no-reload", "--force")
    assert res.exit_code == 0
    assert (conf / "extensions.conf.homepbx-orig").read_text().startswith("[default]")
    assert "Managed by homepbx" in (conf / "extensions.conf").read_text()


def test_disabling_an_agent_removes_its_endpoint_on_apply(site: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "asterisk"
    site("apply", "--no-reload")
    assert "[1001]" in (conf / "pjsip.conf").read_text()
    site("agent", "disable", "1001")
    res = site("apply", "--no-reload", "--diff")
    assert res.exit_code == 0 and "-[1001]" in res.stdout
    assert "[1001]" not in (conf / "pjsip.conf").read_text()


def test_bad_input_leaves_the_config_dir_alone(site: Cli, tmp_path: Path) -> None:
    conf = tmp_path / "asterisk"
    site("apply", "--no-reload")
    before = tree_digest(conf)
    assert_plain_error(site("agent", "add", "1002", "--name", "x\n[evil]"))
    assert site("apply", "--no-reload").stdout.startswith("Nothing to change")
    assert tree_digest(conf) == before


def test_apply_creates_the_folders_asterisk_writes_records_into(site: Cli, tmp_path: Path) -> None:
    from homepbx import config

    # Point Asterisk's paths into the test's folder through `root`, as the lab does.
    text = site.config_path.read_text().replace('root = "/"', f'root = "{tmp_path / "root"}"')
    text = text.replace(f'config_dir = "{tmp_path / "asterisk"}"', 'config_dir = "/etc/asterisk"')
    site.config_path.write_text(text)
    (tmp_path / "root" / "etc" / "asterisk").mkdir(parents=True)
    (tmp_path / "root" / "var" / "log" / "asterisk").mkdir(parents=True)
    settings = config.load(site.config_path)
    # The certificate too is read where Asterisk reads it: below its root.
    for pem in (settings.sip.tls_cert_file, settings.sip.tls_key_file):
        inside = settings.host_path(pem)
        inside.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pem, inside)
    log_dir = settings.host_path(settings.asterisk.log_dir)
    rec_dir = settings.host_path(settings.asterisk.recordings_dir)
    assert not (log_dir / "cel-custom").exists() and not rec_dir.exists()
    assert site("apply", "--dry-run").exit_code == 0
    assert not (log_dir / "cel-custom").exists()  # a dry run creates nothing
    res = site("apply", "--no-reload")
    assert res.exit_code == 0, res.stderr
    assert (log_dir / "cel-custom").is_dir() and (log_dir / "cdr-custom").is_dir() and rec_dir.is_dir()


def test_a_freeswitch_site_renders_its_xml_tree_and_says_plainly_when_freeswitch_is_down(
        tmp_path: Path, sqlite_url: str) -> None:
    cfg = tmp_path / "homepbx.toml"
    cli = Cli(cfg)
    cert, key = tls_pair()  # agents use TLS + SRTP by default on FreeSWITCH too
    res = cli("init", "--backend", "freeswitch", "--database-url", sqlite_url, "--sip-domain", "pbx.example.com",
              "--tls-cert", str(cert), "--tls-key", str(key))
    assert res.exit_code == 0, res.stderr
    conf = tmp_path / "freeswitch"
    conf.mkdir()
    # Nothing listens on the event socket port: these tests never reach a real FreeSWITCH.
    cfg.write_text(cfg.read_text().replace('config_dir = "/etc/freeswitch"', f'config_dir = "{conf}"')
                   .replace("port = 8021", f"port = {free_port()}"))
    assert 'password = ""' not in cfg.read_text().split("[esl]")[1]  # init generated one
    assert cli("agent", "add", "1001", "--name", "Ann & Bob").exit_code == 0
    res = cli("apply")
    assert_plain_error(res, 1)
    assert "FreeSWITCH was not reloaded" in res.stderr and "apply --reload" in res.stderr
    # The files were written all the same (atomically), the secrets ones private.
    assert (conf / "freeswitch.xml").is_file()
    directory = conf / "directory" / "homepbx.xml"
    assert "Ann &amp; Bob" in directory.read_text()
    assert directory.stat().st_mode & 0o777 == 0o640
    assert (conf / "tls" / "agent.pem").stat().st_mode & 0o777 == 0o640  # the TLS private key
