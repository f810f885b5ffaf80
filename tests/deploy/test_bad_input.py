"""Bad variables stop the playbook in its first play, before anything changes, with one message
naming the variable. Runs against a local host: nothing past the checks may run."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

from .test_deploy import ansible, recap

BIN = Path(sys.executable).parent

CASES = {
    "homepbx_sip_domain": ("pbx example!com", "homepbx_sip_domain must be a DNS name"),
    "pbx_rtp_range": ("20000-10000", "pbx_rtp_range must be START-END"),
    "homepbx_retention": ("two years", "homepbx_retention must be like 90d"),
    "pbx_tls_cert_src": ("/nonexistent/cert.pem", "pbx_tls_cert_src: no such file on the controller"),
}


@pytest.mark.parametrize("variable", sorted(CASES))
def test_bad_variable_fails_first_with_its_name(variable: str, tmp_path: Path) -> None:
    if not (BIN / "ansible-playbook").exists():
        # A skipped proof is no proof: `make install` installs the deploy extra.
        pytest.fail("The deploy tests need the deploy extra: pip install -e '.[deploy]'.", pytrace=False)
    wheel = tmp_path / "homepbx-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    key = tmp_path / "key.pem"
    key.write_text("x")
    good = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "homepbx_wheel": str(wheel), "homepbx_sip_domain": "pbx.example.com",
        "homepbx_ami_secret": secrets.token_hex(16), "database_password": secrets.token_hex(16),
    }
    value, message = CASES[variable]
    bad = {**good, variable: value}
    if variable == "pbx_tls_cert_src":
        bad["pbx_tls_key_src"] = str(key)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {
        "homepbx_pbx": {"hosts": {"target": bad}}, "homepbx_database": {"hosts": {"target": None}}}}}))
    run = ansible([], inventory, timeout=120)
    assert run.returncode != 0
    assert message in run.stdout, run.stdout[-3000:]
    counts = recap(run.stdout)
    assert counts["failed"] == 1 and counts["changed"] == 0
    # It stopped in the checking play: no role's real work started.
    assert "PLAY [Database]" not in run.stdout and "Install" not in run.stdout
