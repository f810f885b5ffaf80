"""Deploy ansible/site.yml onto a booted Debian sid server and check what a sysadmin relies on.

One deployment per module (fixture `deployed`): the first run converges, the second changes
nothing; inside, Asterisk, the collector and the purge timer run, nftables and fail2ban are
loaded; from the host (outside the container's network namespace, over a veth pair) a baresip
softphone registers over TLS with an account made by the deployed homepbx, calls another one,
and the call is in the deployed PostgreSQL; a scanner's failed registrations get its address
banned, and the ban lifts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from . import target as tgt

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
BIN = Path(sys.executable).parent
LAB_ROOT = Path(os.environ.get("HOMEPBX_TEST_LAB_ROOT", "/var/lib/homepbx/lab-test"))
SIP_DOMAIN = "pbx.homepbx.test"
TLS_PORT = 5061
BANTIME = 20  # seconds: long enough to see the ban, short enough to see it lift
MAXRETRY = 3
ARTIFACTS = tgt.CACHE / "artifacts"  # logs of the last run (outside the checkout)


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the deploy test needs root"
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"the deploy test needs {tool} (apt-get install systemd-container debootstrap)"
    if not (BIN / "ansible-playbook").exists():
        return "the deploy test needs the deploy extra: pip install -e '.[deploy]'"
    return None


def ansible(args: list[str], inventory: Path, extra_env: dict[str, str] | None = None,
            timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{BIN}:{os.environ.get('PATH', '')}", **(extra_env or {})}
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(ANSIBLE_DIR / "site.yml"), *args],
                          cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counters of the one target host."""
    match = re.search(r"^target\s*:\s*(.*)$", output, re.M)
    assert match, output[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


@dataclass
class Deployment:
    target: tgt.Target
    workdir: Path
    inventory: Path
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def homepbx(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.target.run(["/opt/homepbx/.venv/bin/homepbx", *args])


def _wheels(workdir: Path, root: Path) -> tuple[Path, Path]:
    """homepbx's wheel from this checkout, and its dependencies for the target's Python."""
    dist, house = workdir / "dist", workdir / "wheelhouse"
    subprocess.run([str(BIN / "pip"), "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO)], check=True,
                   capture_output=True, text=True)
    wheel = next(dist.glob("homepbx-*.whl"))
    version = subprocess.run(["chroot", str(root), "python3", "-c",
                              "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([str(BIN / "pip"), "download", "-q", "-d", str(house), "--only-binary=:all:",
                    "--python-version", version, "--implementation", "cp", "--abi", f"cp{version}", "--abi", "abi3",
                    "--abi", "none", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                    "--platform", "manylinux2014_x86_64", "--platform", "any", f"{wheel}[postgres]"],
                   check=True, capture_output=True, text=True)
    (house / wheel.name).unlink(missing_ok=True)
    return wheel, house


def _inventory(workdir: Path, pid: int, wheel: Path, house: Path) -> Path:
    host_vars = {
        "ansible_connection": "community.docker.nsenter",
        "ansible_nsenter_pid": pid,
        "ansible_python_interpreter": "/usr/bin/python3",
        "homepbx_wheel": str(wheel),
        "homepbx_wheelhouse": str(house),
        "homepbx_sip_domain": SIP_DOMAIN,
        "homepbx_sip_public_address": tgt.TARGET_ADDRESS,
        "homepbx_sip_bind_address": tgt.TARGET_ADDRESS,
        "homepbx_ami_secret": secrets.token_hex(16),
        "homepbx_retention": "2y",
        "database_engine": "postgresql",
        "database_password": secrets.token_hex(16),
        "security_fail2ban_maxretry": MAXRETRY,
        "security_fail2ban_bantime": str(BANTIME),
        "security_fail2ban_findtime": "10m",
    }
    inventory = {"all": {"children": {"homepbx_pbx": {"hosts": {"target": host_vars}},
                                      "homepbx_database": {"hosts": {"target": None}}}}}
    path = workdir / "inventory.yml"
    path.write_text(json.dumps(inventory, indent=1), encoding="utf-8")  # JSON is YAML
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    reason = _unavailable()
    if reason:
        # A skipped proof is no proof: say what is missing and fail.
        pytest.fail(f"The deploy test cannot run: {reason}", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workdir = tgt.CACHE / "run"
    workdir.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "target.log"
    log.write_text("", encoding="utf-8")
    built = tgt.ensure_cache(log)
    wheel, house = _wheels(workdir, tgt.CACHE / "root")
    target = tgt.Target(workdir, log)
    try:
        target.boot()
        deployment = Deployment(target, workdir, _inventory(workdir, target.pid, wheel, house))
        for number in (1, 2):
            started = time.monotonic()
            run = ansible(["--diff"] if number == 2 else [], deployment.inventory)
            deployment.seconds.append(time.monotonic() - started)
            (ARTIFACTS / f"run{number}.log").write_text(run.stdout + run.stderr, encoding="utf-8")
            deployment.runs.append(run)
            assert run.returncode == 0, f"run {number} failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
        print(f"\ndeploy: cache built in {built:.0f} s, boot {target.timings}, "
              f"runs {[round(s) for s in deployment.seconds]} s, recaps {[recap(r.stdout) for r in deployment.runs]}")
        yield deployment
    finally:
        for unit in ("asterisk", "homepbx-collect", "fail2ban"):
            if target.pid:
                out = target.run(["journalctl", "-b", "-u", unit, "--no-pager", "-n", "200"], check=False)
                (ARTIFACTS / f"journal-{unit}.log").write_text(out.stdout, encoding="utf-8")
        target.stop()


def test_first_run_converges_second_changes_nothing(deployed: Deployment) -> None:
    first, second = (recap(run.stdout) for run in deployed.runs)
    assert first["changed"] > 0 and first["failed"] == 0
    assert second["changed"] == 0, deployed.runs[1].stdout[-6000:]
    assert second["failed"] == 0 and second["unreachable"] == 0


def test_services_running_inside(deployed: Deployment) -> None:
    run = deployed.target.run
    for unit in ("asterisk", "homepbx-collect.service", "homepbx-purge.timer", "nftables", "fail2ban", "postgresql"):
        assert run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active", unit
    ruleset = run(["nft", "list", "ruleset"]).stdout
    assert "table inet homepbx" in ruleset and f"tcp dport {TLS_PORT} accept" in ruleset
    assert "5038" not in ruleset and "udp dport 5060" not in ruleset  # AMI closed; plain SIP off by default
    assert "homepbx-asterisk" in run(["fail2ban-client", "status"]).stdout
    settings = run(["stat", "-c", "%U:%G %a", "/etc/homepbx/homepbx.toml"]).stdout.strip()
    assert settings == "root:homepbx 640"
    assert run(["stat", "-c", "%U:%G %a", "/etc/asterisk"]).stdout.strip() == "asterisk:asterisk 750"
    # The collector's backfill follows renamed files: rotation must rename, never copy and truncate.
    rotation = run(["cat", "/etc/logrotate.d/asterisk"]).stdout
    directives = {line.split()[0] for line in rotation.splitlines() if line.strip() and not line.startswith("#")}
    assert "copytruncate" not in directives and {"create", "delaycompress"} <= directives and "queue_log" in rotation
    run(["logrotate", "--debug", "/etc/logrotate.d/asterisk"])


class _Phone:
    """A baresip softphone in the lab chroot, on the host's side of the veth, registered over TLS
    with mandatory SRTP, as `agent add` tells an agent by default."""

    def __init__(self, name: str, username: str, password: str, tone: int) -> None:
        from homepbx.lab.chroot import Chroot
        from homepbx.lab.softphone import PhoneConfig, Softphone

        class _Remote(Softphone):  # the PBX is at another address than the one the phone binds
            def _account_line(self) -> str:
                line = super()._account_line()
                return line.replace(f"@{tgt.HOST_ADDRESS}:", f"@{tgt.TARGET_ADDRESS}:", 1)

        chroot = Chroot(LAB_ROOT)
        chroot.ensure()
        self.phone = _Remote(chroot, PhoneConfig(name=name, username=username, password=password,
                                                 address=tgt.HOST_ADDRESS, tone_hz=tone, transport="tls",
                                                 sip_port=TLS_PORT, srtp=True))


def test_tls_softphones_register_call_and_the_call_is_recorded(deployed: Deployment) -> None:
    passwords = {}
    for ext, name in (("1001", "Agent One"), ("1002", "Agent Two")):
        out = deployed.homepbx("agent", "add", ext, "--name", name, "--json").stdout
        passwords[ext] = json.loads(out)["password"]
    deployed.homepbx("apply")
    caller = _Phone("deploy-1001", "1001", passwords["1001"], 440).phone
    callee = _Phone("deploy-1002", "1002", passwords["1002"], 1000).phone
    try:
        caller.start()
        callee.start()
        caller.wait_registered(15)
        callee.wait_registered(15)
        started = datetime.now(timezone.utc)
        caller.dial(f"sip:1002@{tgt.TARGET_ADDRESS}:{TLS_PORT};transport=tls")
        caller.wait_event("CALL_ESTABLISHED", 15)
        callee.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(3)
        caller.hangup()
        callee.wait_event("CALL_CLOSED", 10)
    finally:
        caller.stop()
        callee.stop()
    day = started.date().isoformat()
    tomorrow = (started + timedelta(days=1)).date().isoformat()
    deadline = time.monotonic() + 30
    while True:
        rows = json.loads(deployed.homepbx("report", "calls", "--from", day, "--to", tomorrow, "--json").stdout)
        calls = rows if isinstance(rows, list) else rows.get("calls", [])
        if calls or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert calls, "the collector stored no call record"
    assert any("1002" in json.dumps(call) and "1001" in json.dumps(call) for call in calls), calls


def _failed_register(source: str, user: str) -> None:
    """One REGISTER over TLS for `user` with a wrong password, answered by Asterisk's challenge."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((tgt.TARGET_ADDRESS, TLS_PORT), timeout=5, source_address=(source, 0))
    with context.wrap_socket(raw) as sock:
        port = sock.getsockname()[1]
        call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]

        def request(cseq: int, auth: str = "") -> str:
            lines = [f"REGISTER sip:{tgt.TARGET_ADDRESS} SIP/2.0",
                     f"Via: SIP/2.0/TLS {source}:{port};branch=z9hG4bK{uuid.uuid4().hex};rport",
                     "Max-Forwards: 70", f"From: <sip:{user}@{tgt.TARGET_ADDRESS}>;tag={tag}",
                     f"To: <sip:{user}@{tgt.TARGET_ADDRESS}>", f"Call-ID: {call_id}", f"CSeq: {cseq} REGISTER",
                     f"Contact: <sip:{user}@{source}:{port};transport=tls>", "Expires: 60"]
            if auth:
                lines.append(auth)
            sock.sendall(("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode())
            return sock.recv(65536).decode(errors="replace")

        answer = request(1)
        match = re.search(r'realm="([^"]+)".*?nonce="([^"]+)"', answer, re.S) or \
            re.search(r'nonce="([^"]+)".*?realm="([^"]+)"', answer, re.S)
        if not match:
            return
        realm, nonce = (match.group(1), match.group(2)) if "realm" in answer.split("nonce")[0] else \
            (match.group(2), match.group(1))
        ha1 = hashlib.md5(f"{user}:{realm}:wrong-password".encode()).hexdigest()
        ha2 = hashlib.md5(f"REGISTER:sip:{tgt.TARGET_ADDRESS}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        request(2, f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                   f'uri="sip:{tgt.TARGET_ADDRESS}", response="{response}", algorithm=MD5')


def _reachable(source: str) -> bool:
    try:
        socket.create_connection((tgt.TARGET_ADDRESS, TLS_PORT), timeout=2, source_address=(source, 0)).close()
        return True
    except OSError:
        return False


def test_failed_registrations_get_banned_and_the_ban_lifts(deployed: Deployment) -> None:
    scanner = tgt.OTHER_ADDRESS
    assert _reachable(scanner)
    for attempt in range(MAXRETRY + 2):
        try:
            _failed_register(scanner, "9999" if attempt % 2 else "1001")
        except OSError:
            break  # already banned
        time.sleep(0.3)
    deadline = time.monotonic() + 15
    while _reachable(scanner):
        assert time.monotonic() < deadline, deployed.target.run(["fail2ban-client", "status", "homepbx-asterisk"]).stdout
        time.sleep(0.5)
    status = deployed.target.run(["fail2ban-client", "status", "homepbx-asterisk"]).stdout
    assert scanner in status, status
    assert _reachable(tgt.HOST_ADDRESS), "the ban must hit the scanner only"
    deadline = time.monotonic() + BANTIME + 30
    while not _reachable(scanner):
        assert time.monotonic() < deadline, "the ban did not lift"
        time.sleep(1)
