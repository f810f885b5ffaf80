"""The lab end to end, with hand-written stand-ins for the files homepbx's renderer will write."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from homepbx.apply import config_dir as apply_config_dir
from homepbx.config import LabSettings, Settings
from homepbx.errors import OperationalError
from homepbx.lab import chroot as chroot_module
from homepbx.asterisk.lab.pbx import LabPBX
from homepbx.lab.softphone import Softphone

from .conftest import AGENT_HZ, CALLER_HZ, LAB_ADDRESS, ToneHelper

USERS = ("alice", "bob", "carol")


# Lets `homepbx apply` overwrite the stand-ins later, as it overwrites its own files.
STANDIN_HEADER = "; managed by homepbx: lab smoke-test stand-in\n"


def standin_config(pbx: LabPBX) -> dict[str, str]:
    """Minimal pjsip/extensions/manager/logger files: what the renderer will do properly."""
    s = pbx.lab_settings()
    a = s.sip
    pjsip = [
        f"[udp]\ntype=transport\nprotocol=udp\nbind={a.bind_address}:{a.udp_port}\n",
        f"[tcp]\ntype=transport\nprotocol=tcp\nbind={a.bind_address}:{a.tcp_port}\n",
        f"[tls]\ntype=transport\nprotocol=tls\nbind={a.bind_address}:{a.tls_port}\n"
        f"cert_file={a.tls_cert_file}\npriv_key_file={a.tls_key_file}\nmethod=tlsv1_2\n",
    ]
    for user in USERS:
        # carol is the TLS + SRTP agent
        encryption = "sdes" if user == "carol" else "no"
        pjsip.append(
            f"[{user}]\ntype=endpoint\ncontext=lab\ndisallow=all\nallow=ulaw\nauth={user}\naors={user}\n"
            f"direct_media=no\nrtp_symmetric=yes\nforce_rport=yes\nrewrite_contact=yes\n"
            f"media_encryption={encryption}\n"
            f"[{user}]\ntype=auth\nauth_type=userpass\nusername={user}\npassword=secret-{user}\nrealm={a.domain}\n"
            f"[{user}]\ntype=aor\nmax_contacts=1\nremove_existing=yes\n"
        )
    files = {
        "pjsip.conf": "\n".join(pjsip),
        "extensions.conf": "[lab]\n" + "".join(f"exten => {u},1,Dial(PJSIP/{u},30)\n" for u in USERS),
        "manager.conf": (
            f"[general]\nenabled=yes\nport={s.ami.port}\nbindaddr={s.ami.host}\n\n"
            f"[{s.ami.username}]\nsecret={s.ami.secret}\nread=call,agent\nwrite=originate\n"
            # a client reaching 127.0.0.X comes from 127.0.0.1 unless it binds its source
            "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.0/255.0.0.0\n"
        ),
        "logger.conf": "[general]\n[logfiles]\nmessages.log => notice,warning,error,security\n",
        "queues.conf": "[general]\n",
    }
    return {name: STANDIN_HEADER + text for name, text in files.items()}


@pytest.fixture(scope="module")
def standin_lab(lab: LabPBX) -> LabPBX:
    config_dir = apply_config_dir(lab.lab_settings())
    for name, text in standin_config(lab).items():
        (config_dir / name).write_text(text, encoding="utf-8")
    lab.restart()
    return lab


def _call(caller: Softphone, callee: Softphone, seconds: float = 4.0) -> None:
    caller.dial(callee.config.username)
    caller.wait_event("CALL_ESTABLISHED", 15)
    callee.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(seconds)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    callee.wait_event("CALL_CLOSED", 10)


def test_lab_runs_asterisk_22_on_the_lab_address_only(standin_lab: LabPBX) -> None:
    status = standin_lab.status()
    assert status.built and status.running and status.pid
    assert status.version and status.version.startswith("Asterisk 22")
    transports = standin_lab.rx("pjsip show transports")
    for port in ("5060", "5061"):
        assert f"{LAB_ADDRESS}:{port}" in transports
    assert "0.0.0.0:506" not in transports
    for module in ("chan_pjsip.so", "app_queue.so", "app_chanspy.so", "app_mixmonitor.so", "res_srtp.so"):
        assert module in standin_lab.rx(f"module show like {module}"), module


def test_up_is_idempotent(standin_lab: LabPBX) -> None:
    pid = standin_lab.status().pid
    started = time.monotonic()
    assert standin_lab.up().pid == pid
    assert time.monotonic() - started < 5


def test_ami_accepts_the_generated_secret(standin_lab: LabPBX) -> None:
    s = standin_lab.lab_settings()
    with socket.create_connection((s.ami.host, s.ami.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"Asterisk Call Manager")
        sock.sendall(f"Action: Login\r\nUsername: {s.ami.username}\r\nSecret: {s.ami.secret}\r\n\r\n".encode())
        reply = b"".join(iter(reader.readline, b"\r\n"))
    assert b"Response: Success" in reply


def test_two_softphones_hear_each_other(standin_lab: LabPBX, softphone: Callable[..., Softphone],
                                        tones: ToneHelper) -> None:
    alice = softphone("alice", tone_hz=CALLER_HZ)
    bob = softphone("bob", tone_hz=AGENT_HZ)
    alice.wait_registered()
    bob.wait_registered()
    _call(alice, bob)
    assert tones.heard(alice) == {AGENT_HZ}
    assert tones.heard(bob) == {CALLER_HZ}


def test_manual_answer_and_dtmf(standin_lab: LabPBX, softphone: Callable[..., Softphone]) -> None:
    alice = softphone("alice", tone_hz=CALLER_HZ)
    bob = softphone("bob", tone_hz=AGENT_HZ, auto_answer=False)
    alice.wait_registered()
    bob.wait_registered()
    alice.dial("bob")
    bob.wait_event("CALL_INCOMING", 10)
    bob.answer()
    alice.wait_event("CALL_ESTABLISHED", 10)
    bob.wait_event("CALL_ESTABLISHED", 10)
    alice.send_dtmf("42")
    digits = [bob.wait_event("CALL_DTMF_START", 5)["param"] for _ in range(2)]
    assert digits == ["4", "2"]
    bob.hangup()
    alice.wait_event("CALL_CLOSED", 10)


def test_tls_agent_with_srtp(standin_lab: LabPBX, softphone: Callable[..., Softphone], tones: ToneHelper) -> None:
    s = standin_lab.lab_settings()
    alice = softphone("alice", tone_hz=CALLER_HZ)
    carol = softphone("carol", tone_hz=AGENT_HZ, transport="tls", sip_port=s.sip.tls_port, srtp=True,
                      ca_file=s.sip.tls_cert_file)
    alice.wait_registered()
    carol.wait_registered()
    # only TLS reaches port 5061, and srtp-mand fails the call unless SDES was negotiated
    assert "carol/sip:" in standin_lab.rx("pjsip show contacts")
    _call(alice, carol)
    assert tones.heard(alice) == {AGENT_HZ}
    assert tones.heard(carol) == {CALLER_HZ}


def test_wrong_password_is_refused(standin_lab: LabPBX, softphone: Callable[..., Softphone]) -> None:
    mallory = softphone("bob", password="not-the-password")
    with pytest.raises(OperationalError, match="REGISTER_FAIL"):
        mallory.wait_registered()


def test_logs_and_rx_errors(standin_lab: LabPBX) -> None:
    assert standin_lab.logs(20).strip()
    with pytest.raises(OperationalError, match="no command"):
        standin_lab.rx("no such command at all")


def test_lab_needs_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(chroot_module.os, "geteuid", lambda: 1000)
    pbx = LabPBX(Settings(lab=LabSettings(root=str(tmp_path))))
    with pytest.raises(OperationalError, match=r"^The lab needs root: run it with sudo\.$"):
        pbx.up()
