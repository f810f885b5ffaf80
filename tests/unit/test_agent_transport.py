"""Agents encrypted by default (issue 12): transports, the clear-text policy, the certificate checks.

Every refusal exits 2 with one sentence and changes neither the database nor the config folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli_helpers import Cli, assert_plain_error, db_fingerprint, make_cli, tls_pair, url_of


def set_sip(cli: Cli, **values: object) -> None:
    """Rewrite `[sip]` settings of the site's file (TOML values)."""
    lines = cli.config_path.read_text().splitlines()
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
        key = line.split(" = ", 1)[0]
        if section == "sip" and key in values:
            value = values[key]
            lines[i] = f"{key} = " + (("true" if value else "false") if isinstance(value, bool) else json.dumps(value))
    cli.config_path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    (tmp_path / "asterisk").mkdir()
    return cli


def unchanged(cli: Cli, folder: Path, res) -> None:  # type: ignore[no-untyped-def]
    assert_plain_error(res)
    assert len([line for line in res.stderr.splitlines() if line.strip()]) == 1, res.stderr
    assert list(folder.iterdir()) == []


def test_a_legacy_phone_is_opted_into_clear_text_per_agent(cli: Cli) -> None:
    shown = json.loads(cli("agent", "add", "1001", "--name", "Desk", "--transport", "udp", "--json").stdout)
    assert (shown["transport"], shown["port"], shown["media_encryption"]) == ("udp", 5060, "none")
    assert json.loads(cli("agent", "show", "1001", "--json").stdout)["transport"] == "udp"
    assert cli("agent", "update", "1001", "--transport", "tls").exit_code == 0
    assert json.loads(cli("agent", "show", "1001", "--json").stdout)["transport"] == "tls"


def test_a_site_opted_into_clear_text_adds_clear_agents(cli: Cli) -> None:
    set_sip(cli, agent_transport="tcp")
    shown = json.loads(cli("agent", "add", "1001", "--name", "Ann", "--json").stdout)
    assert (shown["transport"], shown["media_encryption"]) == ("tcp", "none")


def test_a_site_that_forbids_clear_text_refuses_it_everywhere(cli: Cli, tmp_path: Path) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann", "--transport", "udp").exit_code == 0
    set_sip(cli, allow_clear_text=False)
    before = db_fingerprint(url_of(cli))
    for args in (("agent", "add", "1002", "--name", "Bob", "--transport", "udp"),
                 ("agent", "update", "1001", "--transport", "tcp")):
        res = cli(*args)
        assert_plain_error(res)
        assert "forbids clear-text" in res.stderr
    assert db_fingerprint(url_of(cli)) == before
    # 1001 was added before the site forbade clear text: apply names it and writes nothing.
    res = cli("apply", "--no-reload")
    unchanged(cli, tmp_path / "asterisk", res)
    assert "Agent 1001 uses clear text (udp)" in res.stderr
    # A site default of clear text contradicts the policy.
    set_sip(cli, agent_transport="udp")
    res = cli("agent", "add", "1003", "--name", "Cy")
    assert_plain_error(res)
    assert "sip.allow_clear_text is false" in res.stderr
    assert db_fingerprint(url_of(cli)) == before


def test_tls_agents_without_a_certificate_are_refused_at_apply(cli: Cli, tmp_path: Path) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann").exit_code == 0
    assert cli("agent", "add", "1002", "--name", "Bob").exit_code == 0
    set_sip(cli, tls_cert_file="", tls_key_file="")
    res = cli("apply", "--no-reload")
    unchanged(cli, tmp_path / "asterisk", res)
    assert "Agents 1001, 1002 use TLS, but sip.tls_cert_file and sip.tls_key_file are not set" in res.stderr
    # Once both are clear text, no certificate is needed.
    for ext in ("1001", "1002"):
        assert cli("agent", "update", ext, "--transport", "udp").exit_code == 0
    assert cli("apply", "--no-reload").exit_code == 0


@pytest.mark.parametrize("problem", ["missing cert", "missing key", "key of another cert", "not pem"])
def test_an_unusable_certificate_is_refused_and_nothing_is_written(cli: Cli, tmp_path: Path, problem: str) -> None:
    import subprocess

    assert cli("agent", "add", "1001", "--name", "Ann").exit_code == 0
    cert, key = tls_pair()
    if problem == "missing cert":
        set_sip(cli, tls_cert_file=str(tmp_path / "nope.crt"))
        expected = "does not exist"
    elif problem == "missing key":
        set_sip(cli, tls_key_file=str(tmp_path / "nope.key"))
        expected = "does not exist"
    elif problem == "key of another cert":
        other = tmp_path / "other.key"
        subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-out", str(other)], check=True, capture_output=True)
        set_sip(cli, tls_key_file=str(other))
        expected = "does not match the certificate"
    else:
        junk = tmp_path / "junk.crt"
        junk.write_text("not a certificate\n")
        set_sip(cli, tls_cert_file=str(junk))
        expected = "is not a PEM certificate and key"
    res = cli("apply", "--no-reload")
    unchanged(cli, tmp_path / "asterisk", res)
    assert expected in res.stderr


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("tls_method", "sslv3", "must be tlsv1_2 or tlsv1_3"),
    ("tls_ciphers", "HIGH\nfoo = bar", "OpenSSL cipher list"),
    ("agent_transport", "wss", "must be tls, udp or tcp"),
])
def test_bad_tls_settings_are_refused(cli: Cli, tmp_path: Path, key: str, value: str, expected: str) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann", "--transport", "udp").exit_code == 0
    set_sip(cli, **{key: value})
    res = cli("apply", "--no-reload")
    unchanged(cli, tmp_path / "asterisk", res)
    assert expected in res.stderr


def test_a_boolean_setting_must_be_a_boolean(cli: Cli) -> None:
    text = cli.config_path.read_text().replace("allow_clear_text = true", "allow_clear_text = 1")
    cli.config_path.write_text(text)
    res = cli("agent", "list")
    assert_plain_error(res)
    assert "sip.allow_clear_text must be of type bool" in res.stderr


def test_init_checks_the_certificate_before_writing_anything(tmp_path: Path, sqlite_url: str) -> None:
    cert, _ = tls_pair()
    other = tmp_path / "other.key"
    import subprocess

    subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-out", str(other)], check=True, capture_output=True)
    cli = Cli(tmp_path / "homepbx.toml")
    for extra in (["--tls-cert", str(cert)], ["--tls-cert", str(cert), "--tls-key", str(other)]):
        res = cli("init", "--database-url", sqlite_url, *extra)
        assert_plain_error(res)
        assert not cli.config_path.exists()
    res = cli("init", "--database-url", sqlite_url)
    assert res.exit_code == 0
    assert "set sip.tls_cert_file and sip.tls_key_file" in res.stderr  # what TLS needs, said once


def test_tls_agents_render_srtp_and_clear_ones_do_not(cli: Cli, tmp_path: Path) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann").exit_code == 0
    assert cli("agent", "add", "1002", "--name", "Desk", "--transport", "udp").exit_code == 0
    set_sip(cli, tls_method="tlsv1_3", tls_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20")
    assert cli("apply", "--no-reload").exit_code == 0
    pjsip = (tmp_path / "asterisk" / "pjsip.conf").read_text()
    assert "[1001](homepbx-agent-tls)" in pjsip and "[1002](homepbx-agent)" in pjsip
    tls_template = pjsip.split("[homepbx-agent-tls](!,homepbx-agent)")[1].split("\n\n")[0]
    assert "media_encryption = sdes" in tls_template and "media_encryption_optimistic = no" in tls_template
    transport = pjsip.split("[transport-tls]")[1].split("\n\n")[0]
    assert "method = tlsv1_3" in transport and "cipher = ECDHE+AESGCM:ECDHE+CHACHA20" in transport


def test_a_freeswitch_site_with_a_certificate_renders_tls_agents(tmp_path: Path, sqlite_url: str) -> None:
    cli = Cli(tmp_path / "homepbx.toml")
    cert, key = tls_pair()
    assert cli("init", "--backend", "freeswitch", "--database-url", sqlite_url,
               "--tls-cert", str(cert), "--tls-key", str(key)).exit_code == 0
    conf = tmp_path / "freeswitch"
    conf.mkdir()
    cli.config_path.write_text(cli.config_path.read_text().replace('config_dir = "/etc/freeswitch"',
                                                                   f'config_dir = "{conf}"'))
    shown = json.loads(cli("agent", "add", "5601", "--name", "Ann", "--json").stdout)
    assert (shown["transport"], shown["port"], shown["media_encryption"]) == ("tls", 5061, "srtp (sdes), mandatory")
    assert cli("agent", "add", "5602", "--name", "Desk", "--transport", "udp").exit_code == 0
    res = cli("apply", "--no-reload", "--diff")
    assert res.exit_code == 0, res.stderr
    assert "+" + cert.read_text().splitlines()[1] in res.stdout.splitlines()  # the certificate is public...
    assert "+********" in res.stdout.splitlines()
    assert key.read_text().splitlines()[1] not in res.stdout  # ...the key is masked
    sofia = (conf / "autoload_configs" / "sofia.conf.xml").read_text()
    assert '<param name="tls" value="true"/>' in sofia and f'value="{conf}/tls"' in sofia
    directory = (conf / "directory" / "homepbx.xml").read_text()
    assert directory.count("rtp_secure_media") == 2  # 5601 both ways, 5602 not at all
    agent_pem = conf / "tls" / "agent.pem"
    assert agent_pem.read_text().endswith(key.read_text() + cert.read_text())
    assert agent_pem.stat().st_mode & 0o777 == 0o640 and (conf / "tls" / "cafile.pem").stat().st_mode & 0o777 == 0o644
