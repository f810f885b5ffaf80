"""Run the real CLI entry point in-process, as a user would, and capture what it prints."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from homepbx.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Cli:
    """`cli("agent", "add", ...)` runs `homepbx --config <tmp> agent add ...` through `main()`."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        code = 0
        with runner.isolation(input=input) as (out, err, _):
            try:
                main(["--config", str(self.config_path), *args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        return Result(code, stdout, stderr)


def db_fingerprint(url: str) -> str:
    """A digest of every row of every table: equal before and after means nothing changed."""
    from sqlalchemy import MetaData, select

    from homepbx import db

    engine = db.engine_for(url)
    meta = MetaData()
    meta.reflect(engine)
    h = hashlib.sha256()
    with engine.connect() as conn:
        for name in sorted(meta.tables):
            table = meta.tables[name]
            rows = conn.execute(select(table).order_by(*table.primary_key.columns or table.columns)).all()
            h.update(name.encode() + repr(sorted(map(repr, rows))).encode())
    return h.hexdigest()


def assert_plain_error(res: Result, code: int = 2) -> None:
    """Exit code as expected, one plain sentence on stderr, no traceback."""
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error:") and lines[0].endswith("."), lines[0]


@functools.cache
def tls_pair() -> tuple[Path, Path]:
    """A self-signed certificate and its key for pbx.example.com, made once per test process."""
    folder = Path(tempfile.mkdtemp(prefix="homepbx-test-tls-"))
    cert, key = folder / "pbx.crt", folder / "pbx.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "30", "-subj", "/CN=pbx.example.com", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def make_cli(tmp_path: Path, url: str) -> Cli:
    """`homepbx init` a site in `tmp_path` (database `url`, Asterisk files in tmp_path/asterisk,
    a TLS certificate so agents' default TLS + SRTP renders); the CLI bound to its settings."""
    cfg = tmp_path / "homepbx.toml"
    cli = Cli(cfg)
    cert, key = tls_pair()
    res = cli("init", "--database-url", url, "--sip-domain", "pbx.example.com",
              "--asterisk-config-dir", str(tmp_path / "asterisk"), "--tls-cert", str(cert), "--tls-key", str(key))
    assert res.exit_code == 0, res.stderr
    return cli


def url_of(cli: Cli) -> str:
    """The database URL of the site `cli` runs on."""
    from homepbx import config

    return config.load(cli.config_path).database.url
