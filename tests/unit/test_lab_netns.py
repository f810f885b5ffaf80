"""The NAT lab's pieces that need no root: its refusals, and a namespaced softphone's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from homepbx.errors import OperationalError
from homepbx.lab import netns
from homepbx.lab.chroot import Chroot
from homepbx.lab.softphone import PhoneConfig, Softphone


def test_refuses_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(OperationalError, match=r"^The NAT lab needs root: run it with sudo\.$"):
        netns.HomeNat().up()


def test_refuses_naming_the_missing_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda tool: None if tool in ("nft", "conntrack") else f"/usr/sbin/{tool}")
    with pytest.raises(OperationalError) as refused:
        netns.HomeNat().up()
    assert str(refused.value) == ("The NAT lab needs nftables, conntrack: run scripts/install-system-packages "
                                  "(or apt-get install nftables conntrack).")


def test_down_without_up_touches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(netns, "_run", lambda argv, **kw: ran.append(argv))
    netns.HomeNat().down()
    assert ran == []


def test_a_namespaced_phone_binds_its_home_address_and_listens_for_control_on_another(tmp_path: Path) -> None:
    config = PhoneConfig(name="4651", username="4651", password="pw", address="198.51.100.1",
                         netns="hpx-home", bind_address="192.168.77.2", ctrl_address="10.250.77.2")
    phone = Softphone(Chroot(tmp_path), config)
    phone.sip_listen_port, phone.ctrl_port = 40000, 40100
    lines = dict(line.split("\t", 1) for line in phone._config_text().splitlines() if "\t" in line)
    assert lines["net_interface"] == "192.168.77.2"
    assert lines["sip_listen"] == "192.168.77.2:40000"
    assert lines["ctrl_tcp_listen"] == "10.250.77.2:40100"
    # the PBX stays the account's server
    assert phone._account_line().startswith("<sip:4651@198.51.100.1:5060>")
    assert netns.in_ns("hpx-home", ["chroot", "/x", "baresip"]) == [
        "ip", "netns", "exec", "hpx-home", "chroot", "/x", "baresip"]


def test_a_plain_phone_binds_the_pbx_address_as_before(tmp_path: Path) -> None:
    phone = Softphone(Chroot(tmp_path), PhoneConfig(name="a", username="a", password="pw", address="127.0.0.5"))
    phone.sip_listen_port, phone.ctrl_port = 40000, 40100
    text = phone._config_text()
    assert "net_interface\t127.0.0.5\n" in text and "ctrl_tcp_listen\t127.0.0.5:40100\n" in text
