"""Fixtures for tests against the real lab: Asterisk 22 and baresip softphones in the chroot.

HOMEPBX_TEST_LAB_ROOT (default /var/lib/homepbx/lab-test) picks the cached chroot, built from
nothing on first use (about a minute); HOMEPBX_TEST_LAB_ADDRESS (default 127.0.0.1) the
loopback address the PBX and softphones bind, so two test runs can use 127.0.0.1 and 127.0.0.2.
HOMEPBX_TEST_FS_LAB_ROOT (default /var/lib/homepbx/freeswitch-lab) names the FreeSWITCH build
the FreeSWITCH tests run on; without one they are skipped with one line saying how to make it.
HOMEPBX_TEST_NAT_LAB_ROOT (default: the lab root + "-nat") holds the NAT tests' second Asterisk
(a copy of the lab's chroot), which listens on the host's end of the home router's WAN.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homepbx.apply import config_dir as apply_config_dir
from homepbx.config import LabSettings, Settings
from homepbx.asterisk.lab.pbx import LabPBX
from homepbx.freeswitch.lab import SIP_PORT as FS_SIP_PORT
from homepbx.freeswitch.lab import FreeswitchLab, how_to_build
from homepbx.errors import OperationalError
from homepbx.lab.chroot import Chroot
from homepbx.lab.netns import HomeNat
from homepbx.lab.softphone import PhoneConfig, Softphone
from homepbx.lab.tones import ToneWindow, detect_tones

LAB_ROOT = os.environ.get("HOMEPBX_TEST_LAB_ROOT", "/var/lib/homepbx/lab-test")
LAB_ADDRESS = os.environ.get("HOMEPBX_TEST_LAB_ADDRESS", "127.0.0.1")
# The FreeSWITCH build (never built by the tests: see homepbx.freeswitch.lab).
FS_LAB_ROOT = os.environ.get("HOMEPBX_TEST_FS_LAB_ROOT", "/var/lib/homepbx/freeswitch-lab")
NAT_LAB_ROOT = os.environ.get("HOMEPBX_TEST_NAT_LAB_ROOT", LAB_ROOT.rstrip("/") + "-nat")

# One tone per role, as the design fixes them.
CALLER_HZ = 440
AGENT_HZ = 1000
SUPERVISOR_HZ = 2000
PARTY_TONES = (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)


def _lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root"
    if not Path(LAB_ROOT, "chroot.built").exists() and shutil.which("debootstrap") is None:
        return "the lab needs debootstrap to build its chroot"
    return None


@pytest.fixture(scope="session")
def lab_settings() -> Settings:
    """Settings naming the test lab (root and address from the environment)."""
    return Settings(lab=LabSettings(root=LAB_ROOT, address=LAB_ADDRESS))


@pytest.fixture(scope="session")
def lab(lab_settings: Settings) -> Iterator[LabPBX]:
    """The lab PBX, running for the whole session; stopped at the end if this session started it."""
    reason = _lab_unavailable()
    if reason:
        # A skipped lab is no proof: fail loudly; run `make unit` for the tests without it.
        pytest.fail(f"The lab tests cannot run: {reason}.", pytrace=False)
    pbx = LabPBX(lab_settings)
    was_running = pbx.status().running
    started = time.monotonic()
    try:
        pbx.up(wait=True, timeout=120)
        print(f"\nlab up in {time.monotonic() - started:.1f} s ({pbx.root}, {pbx.address})", file=sys.stderr)
        yield pbx
    finally:
        if not was_running:
            pbx.down()


def install_config(pbx: LabPBX, files: dict[str, str], restart: bool = True) -> None:
    """Write Asterisk config files into the lab's config dir, then restart Asterisk (sub-second)."""
    config_dir = apply_config_dir(pbx.lab_settings())
    for name, text in files.items():
        (config_dir / name).write_text(text, encoding="utf-8")
    if restart:
        pbx.restart()


@pytest.fixture
def lab_config(lab: LabPBX) -> Callable[..., None]:
    """install_config bound to the lab: lab_config({"pjsip.conf": "..."})."""
    return lambda files, restart=True: install_config(lab, files, restart)


def _phones(chroot: Chroot, address: str, **defaults: object) -> Iterator[Callable[..., Softphone]]:
    phones: list[Softphone] = []

    def make(name: str, **options: object) -> Softphone:
        options.setdefault("username", name)
        options.setdefault("password", f"secret-{name}")
        options.setdefault("address", address)
        for key, value in defaults.items():
            options.setdefault(key, value)
        phone = Softphone(chroot, PhoneConfig(name=name, **options))  # type: ignore[arg-type]
        phones.append(phone)  # before start(): a half-started phone must be stopped too
        phone.start()
        return phone

    try:
        yield make
    finally:
        for phone in phones:
            try:
                phone.stop()
            except Exception as exc:  # noqa: BLE001 - teardown must reach every phone
                print(f"could not stop softphone {phone.config.name}: {exc}", file=sys.stderr)


@pytest.fixture
def softphone(lab: LabPBX) -> Iterator[Callable[..., Softphone]]:
    """A factory of started softphones; every one is stopped at teardown, pass or fail.

    softphone("alice", tone_hz=440, password="...", transport="udp", auto_answer=True, ...)
    """
    yield from _phones(lab.chroot, lab.address)


@pytest.fixture(scope="session")
def fs_lab() -> Iterator[FreeswitchLab]:
    """The FreeSWITCH lab (a build made once from source), running for the session's FreeSWITCH
    tests; skipped with the one sentence saying how to build it when there is no build."""
    lab = FreeswitchLab(Settings(lab=LabSettings(freeswitch_root=FS_LAB_ROOT, address=LAB_ADDRESS)))
    if os.geteuid() != 0:
        pytest.fail("The FreeSWITCH lab tests cannot run: the lab needs root.", pytrace=False)
    if not lab.is_built():
        pytest.skip(how_to_build(lab.root))
    # The folders `homepbx apply` writes into: the first test may apply before FreeSWITCH starts.
    lab.ensure_built()
    was_running = lab.status().running
    try:
        yield lab
    finally:
        if not was_running:
            lab.down()


@pytest.fixture(scope="session")
def fs_site(fs_lab: FreeswitchLab, tmp_path_factory: pytest.TempPathFactory) -> "LabSite":
    """A homepbx site (database + settings) on the lab FreeSWITCH, shared by the session."""
    from .site import LabSite

    return LabSite(fs_lab, tmp_path_factory.mktemp("fs-lab-site"))


@pytest.fixture
def fs_softphone(fs_lab: FreeswitchLab) -> Iterator[Callable[..., Softphone]]:
    """The `softphone` factory for the FreeSWITCH lab (its chroot's baresip, its SIP port)."""
    yield from _phones(fs_lab.chroot, fs_lab.address, sip_port=FS_SIP_PORT)


def assert_call_refused(caller: Softphone, callee: Softphone, code: str) -> None:
    """`caller`'s call (placed, now closed) was refused with SIP `code`: never answered, and
    `callee` never rang."""
    seen = [e.get("type") for e in caller.events]
    assert "CALL_ESTABLISHED" not in seen, seen
    assert not [e for e in callee.events if e.get("type") == "CALL_INCOMING"]
    closed = next(e for e in caller.events if e.get("type") == "CALL_CLOSED")
    assert code in str(closed.get("param", "")), closed


@dataclass
class ToneHelper:
    """Which party tones a softphone heard, skipping the first window (call set-up)."""

    freqs: tuple[int, ...] = PARTY_TONES

    def heard(self, phone: Softphone | Path, min_windows: int = 2, skip: int = 1) -> set[float]:
        path = phone.recording_path if isinstance(phone, Softphone) else phone
        windows = self.windows(path)[skip:]
        counts: dict[float, int] = {}
        for window in windows:
            for f in window.present:
                counts[f] = counts.get(f, 0) + 1
        return {f for f, n in counts.items() if n >= min_windows}

    def windows(self, phone: Softphone | Path) -> list[ToneWindow]:
        path = phone.recording_path if isinstance(phone, Softphone) else phone
        if not Path(path).exists():
            raise AssertionError(f"{path} was never written: the softphone heard nothing")
        return detect_tones(path, self.freqs)


@pytest.fixture
def tones() -> ToneHelper:
    """Tone detection on what softphones heard (see homepbx.lab.tones)."""
    return ToneHelper()



@pytest.fixture(scope="session")
def site(lab: LabPBX, tmp_path_factory: pytest.TempPathFactory) -> "LabSite":
    """A homepbx site (database + settings) on the lab PBX, shared by the whole session."""
    from .site import LabSite

    return LabSite(lab, tmp_path_factory.mktemp("lab-site"))


@pytest.fixture(scope="module")
def pg_site(lab: LabPBX, tmp_path_factory: pytest.TempPathFactory) -> Iterator["LabSite"]:
    """A second site on the same lab PBX, its database on PostgreSQL (127.0.0.1:5432): for the
    modules that prove the same behaviour on both databases. Dropped afterwards."""
    from ..conftest import fresh_pg_database
    from .site import LabSite

    with fresh_pg_database("homepbx_lab") as url:
        yield LabSite(lab, tmp_path_factory.mktemp("lab-pg-site"), database_url=url)


# -- the NAT lab: an agent behind a home router (test_nat_lab.py, test_quality_netem_lab.py) --------

@pytest.fixture(scope="session")
def home_nat() -> Iterator[HomeNat]:
    """A home LAN (192.168.77.0/24) behind a masquerading router, in network namespaces
    (homepbx.lab.netns); removed at the end, pass or fail."""
    nat = HomeNat()
    try:
        nat.up()
    except OperationalError as exc:
        pytest.fail(f"The NAT lab tests cannot run: {exc}", pytrace=False)
    try:
        yield nat
    finally:
        nat.down()


@pytest.fixture(scope="session")
def nat_lab(home_nat: HomeNat) -> Iterator[LabPBX]:
    """A second lab Asterisk, on the host's WAN address (198.51.100.1), for the NAT tests.

    Its chroot is a copy of the session lab's when that one is built (seconds), else built.
    The session lab binds only its loopback address, so both run side by side.
    """
    pbx = LabPBX(Settings(lab=LabSettings(root=NAT_LAB_ROOT, address=home_nat.host_address)))
    if not pbx.is_built():
        source = LabPBX(Settings(lab=LabSettings(root=LAB_ROOT, address=LAB_ADDRESS)))
        if source.is_built():
            pbx.copy_built(source)
    # An Asterisk left by a crashed run lost its address with the namespaces: start afresh.
    pbx.down()
    try:
        pbx.up(wait=True, timeout=180)
        yield pbx
    finally:
        pbx.down()


@pytest.fixture(scope="session")
def nat_site(nat_lab: LabPBX, tmp_path_factory: pytest.TempPathFactory) -> "LabSite":
    """A homepbx site (database + settings) on the NAT lab's Asterisk."""
    from .site import LabSite

    return LabSite(nat_lab, tmp_path_factory.mktemp("nat-site"))


@pytest.fixture
def nat_softphone(nat_lab: LabPBX) -> Iterator[Callable[..., Softphone]]:
    """The `softphone` factory for the NAT lab; behind_nat's options put a phone in the home."""
    yield from _phones(nat_lab.chroot, nat_lab.address)


@pytest.fixture(scope="session")
def behind_nat(home_nat: HomeNat) -> dict[str, str]:
    """PhoneConfig options for a softphone in the home LAN: SIP and RTP through the router,
    its control socket on the management veth."""
    return {"netns": home_nat.home, "bind_address": home_nat.home_address, "ctrl_address": home_nat.mgmt_address}
