"""`homepbx lab ...` and `homepbx quickstart` through the real CLI, on the test lab."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from homepbx import config
from homepbx.config import LabSettings, Settings
from homepbx.asterisk.lab.pbx import LabPBX
from homepbx.lab.softphone import Softphone

from ..unit.cli_helpers import Cli, assert_plain_error
from .conftest import AGENT_HZ, LAB_ADDRESS, LAB_ROOT


@pytest.fixture
def lab_cli(lab: LabPBX, tmp_path: Path) -> Cli:
    """The CLI with settings naming the test lab (its root and address)."""
    path = tmp_path / "lab.toml"
    path.write_text(config.to_toml(Settings(lab=LabSettings(root=LAB_ROOT, address=LAB_ADDRESS))))
    return Cli(path)


def test_status_up_logs(lab_cli: Cli, lab: LabPBX) -> None:
    pid = lab.status().pid
    status = json.loads(lab_cli("lab", "status", "--json").stdout)
    assert status["built"] and status["running"] and status["pid"] == pid
    assert status["version"].startswith("Asterisk 22")
    res = lab_cli("lab", "up")
    assert res.exit_code == 0, res.stderr
    assert f"runs on {LAB_ADDRESS}" in res.stdout and "HOMEPBX_CONFIG=" in res.stdout
    assert lab.status().pid == pid  # idempotent: the same Asterisk
    logs = lab_cli("lab", "logs", "-n", "5")
    assert logs.exit_code == 0 and 0 < len(logs.stdout.strip().splitlines()) <= 5
    human = lab_cli("lab", "status")
    assert "running   yes" in human.stdout


def test_down_then_up(lab_cli: Cli, lab: LabPBX) -> None:
    assert lab_cli("lab", "down").exit_code == 0
    assert not lab.status().running
    listening = subprocess.run(["ss", "-lntuH"], capture_output=True, text=True, check=True).stdout
    assert f"{LAB_ADDRESS}:5038 " not in listening and f"{LAB_ADDRESS}:5060 " not in listening
    assert lab_cli("lab", "down").exit_code == 0  # twice is fine
    res = lab_cli("lab", "up")
    assert res.exit_code == 0, res.stderr
    assert lab.status().running


def test_shell_needs_a_terminal(lab_cli: Cli) -> None:
    assert_plain_error(lab_cli("lab", "shell"), code=1)


def test_lab_needs_root_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from homepbx.lab import chroot as chroot_module

    cfg = tmp_path / "lab.toml"
    cfg.write_text(config.to_toml(Settings(lab=LabSettings(root=str(tmp_path / "lab"), address=LAB_ADDRESS))))
    monkeypatch.setattr(chroot_module.os, "geteuid", lambda: 1000)
    for args in (("lab", "up"), ("lab", "down"), ("quickstart",)):
        res = Cli(cfg)(*args)
        assert_plain_error(res, code=1)
        assert res.stderr.strip() == "Error: The lab needs root: run it with sudo."
    assert not (tmp_path / "lab").exists()  # nothing was built or written


def test_quickstart_prints_settings_that_register(lab_cli: Cli, lab: LabPBX,
                                                  softphone: Callable[..., Softphone]) -> None:
    res = lab_cli("quickstart")
    assert res.exit_code == 0, res.stderr
    blocks = re.findall(r"username\s+(\d+)\npassword\s+(\S+)", res.stdout)
    assert [u for u, _ in blocks] == ["1001", "1002", "2001"]
    assert re.search(rf"^server\s+{re.escape(LAB_ADDRESS)}$", res.stdout, re.M), res.stdout
    # Encrypted by default, and the printed settings say so.
    assert len(re.findall(r"^transport\s+tls$", res.stdout, re.M)) == 3, res.stdout
    assert len(re.findall(r"^port\s+5061$", res.stdout, re.M)) == 3, res.stdout
    assert "self-signed" in res.stdout
    passwords = dict(blocks)
    for ext in ("1001", "2001"):
        phone = softphone(f"qs-{ext}", username=ext, password=passwords[ext], tone_hz=AGENT_HZ, transport="tls",
                          sip_port=5061, srtp=True, ca_file=lab.tls_cert_file)
        phone.wait_registered(15)
    assert "support has 0 calls" in lab.rx("queue show support")
    # Run again: the same site, new passwords shown, the old ones refused after apply.
    again = lab_cli("quickstart")
    assert again.exit_code == 0
    renewed = dict(re.findall(r"username\s+(\d+)\npassword\s+(\S+)", again.stdout))
    assert renewed["1001"] != passwords["1001"]
