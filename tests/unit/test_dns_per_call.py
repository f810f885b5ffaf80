"""Issue 17: nothing makes the PBX look names up per call (rendered media binding, the lab's
resolver, the host-name warning of init/apply)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from homepbx.asterisk.render import render_files
from homepbx.asterisk.render.options import options_from
from homepbx.cli.site import hostname_warning
from homepbx.config import Settings
from homepbx.lab.chroot import Chroot
from homepbx.site import Site


def _media_lines(bind_address: str) -> list[str]:
    base = Settings()
    settings = replace(base, sip=replace(base.sip, bind_address=bind_address),
                       ami=replace(base.ami, secret="a-secret-of-the-test"))
    text = render_files(Site(agents=(), teams=(), supervisors=(), queues=()), options_from(settings))["pjsip.conf"]
    section = text.split("[homepbx-media](!)\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


@pytest.mark.parametrize(("bind", "address"), [("192.0.2.10", "192.0.2.10"), ("2001:db8::10", "2001:db8::10")])
def test_rtp_binds_the_sip_address_so_asterisk_never_looks_up_its_own(bind: str, address: str) -> None:
    assert _media_lines(bind) == ["type = endpoint", "ice_support = no", f"media_address = {address}",
                                  "bind_rtp_to_media_address = yes"]


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_on_every_address_rtp_stays_on_the_wildcard(bind: str) -> None:
    # no address to bind: the host name must resolve locally (apply warns otherwise)
    assert _media_lines(bind) == ["type = endpoint", "ice_support = no"]


def test_agents_inherit_the_media_template() -> None:
    base = Settings()
    settings = replace(base, ami=replace(base.ami, secret="a-secret-of-the-test"))
    text = render_files(Site(agents=(), teams=(), supervisors=(), queues=()), options_from(settings))["pjsip.conf"]
    assert "[homepbx-agent](!,homepbx-media)\n" in text


def test_the_lab_chroot_resolves_its_host_name_and_asks_no_outside_resolver(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    chroot = Chroot(tmp_path)
    etc = chroot.path / "etc"
    etc.mkdir(parents=True)
    (etc / "resolv.conf").write_text("nameserver 10.255.255.53\n")
    monkeypatch.setattr("homepbx.lab.chroot.socket.gethostname", lambda: "pbx-host")
    chroot.isolate_names("127.0.0.17")
    resolv = (etc / "resolv.conf").read_text()
    assert [l for l in resolv.splitlines() if l.startswith("nameserver")] == ["nameserver 127.0.0.17"]
    assert "127.0.0.17\tpbx-host" in (etc / "hosts").read_text().splitlines()


def test_a_resolv_conf_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "host-resolv.conf"
    outside.write_text("nameserver 10.255.255.53\n")
    chroot = Chroot(tmp_path / "lab")
    (chroot.path / "etc").mkdir(parents=True)
    (chroot.path / "etc/resolv.conf").symlink_to(outside)
    chroot.isolate_names("127.0.0.17")
    assert outside.read_text() == "nameserver 10.255.255.53\n"
    assert not (chroot.path / "etc/resolv.conf").is_symlink()


def test_no_warning_when_the_host_name_is_in_hosts(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n# 10.0.0.1 pbx\n192.0.2.10 pbx.example.org pbx\n")
    assert hostname_warning("pbx", hosts) is None
    assert hostname_warning("pbx.example.org", hosts) is None


def test_warning_when_hosts_gives_the_host_name_only_a_loopback_address(tmp_path: Path) -> None:
    """Debian's installer writes `127.0.1.1 <host>`: Asterisk then still asks DNS for A.ROOT-SERVERS.NET."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 pbx.example.org pbx\n::1 localhost pbx\n")
    assert hostname_warning("pbx", hosts) is not None
    hosts.write_text("127.0.1.1 pbx\n192.0.2.10 pbx\n")
    assert hostname_warning("pbx", hosts) is None


def test_no_warning_with_a_specific_bind_address(tmp_path: Path) -> None:
    # RTP bound to that address: no "our address" lookup at all (tests above: the template).
    assert hostname_warning("pbx", tmp_path / "missing", bind_address="192.0.2.10") is None
    assert hostname_warning("pbx", tmp_path / "missing", bind_address="::") is not None


def test_warning_when_the_host_name_is_not_in_hosts(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n# 10.0.0.1 pbx\n")
    warning = hostname_warning("pbx", hosts)
    assert warning is not None and "'pbx'" in warning and str(hosts) in warning
    assert "asterisk" not in warning.lower()  # neutral: the same holds for FreeSWITCH
    assert hostname_warning("pbx", tmp_path / "missing") is not None
