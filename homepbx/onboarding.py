"""Onboarding files for a home agent's softphone, written when a password is issued.

The clear SIP password exists only between `credentials.new_password()` and the end of the
command (homepbx keeps only the digest), so these files can be written only then: by
`agent add --onboarding`, `agent passwd --onboarding` and `agent onboarding` (which always
issues a new password). Into OUT/<extension>/, a folder readable only by its owner:

- `linphone.xml`: a Linphone remote-provisioning file (lpconfig XML), built with ElementTree so
  every value is escaped by the library;
- `qr.png`: a QR code of a short text block with the same settings (see `qr_payload`);
- `softphone.txt`: a plain-text sheet to read or print.

Every file is created 0600 with O_EXCL, into a private temporary folder beside the target that
is renamed into place only once the database change has committed: a refusal or a failure leaves
neither files nor a changed password behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from . import names, provisioning
from .config import Settings
from .errors import InvalidInput
from .provisioning import SoftphoneSettings

LPCONFIG_NS = "http://www.linphone.org/xsds/lpconfig.xsd"
XML_FILE = "linphone.xml"
QR_FILE = "qr.png"
SHEET_FILE = "softphone.txt"
FILE_MODE = 0o600
DIR_MODE = 0o700
# Linphone re-registers at this interval: after a home router loses its NAT mapping the agent
# is reachable again only at its next REGISTER (tests/lab/test_nat_lab.py).
REG_EXPIRES = 120

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class Account:
    """The one way the agent's softphone reaches the PBX: their transport, SRTP with TLS."""

    extension: str
    display_name: str
    username: str
    password: str
    server: str
    port: int
    transport: str
    realm: str
    srtp: bool = False

    @classmethod
    def of(cls, creds: SoftphoneSettings) -> Account:
        return cls(creds.extension, creds.display_name, creds.username, creds.password, creds.server,
                   creds.port, creds.transport, creds.realm, creds.srtp)

    @property
    def proxy_uri(self) -> str:
        return f"sip:{self.server}:{self.port};transport={self.transport}"

    @property
    def identity_uri(self) -> str:
        return f"sip:{self.username}@{self.realm}"


def linphone_xml(account: Account) -> bytes:
    """A Linphone remote-provisioning file (lpconfig.xsd): one proxy and its credentials."""
    ET.register_namespace("", LPCONFIG_NS)
    root = ET.Element(f"{{{LPCONFIG_NS}}}config")

    def section(name: str, entries: dict[str, str]) -> None:
        sec = ET.SubElement(root, f"{{{LPCONFIG_NS}}}section", name=name)
        for key, value in entries.items():
            # overwrite: provisioning replaces what the user typed before (e.g. an old password).
            entry = ET.SubElement(sec, f"{{{LPCONFIG_NS}}}entry", name=key, overwrite="true")
            entry.text = value

    # Linphone reads the transport from the proxy URI's ;transport= parameter; reg_route sends
    # every request through the PBX, as one account per agent expects.
    section("proxy_0", {
        "reg_proxy": f"<{account.proxy_uri}>",
        "reg_route": f"<{account.proxy_uri}>",
        # The display name went through names.display_name: no quote or angle bracket can
        # break the name-addr; "&" and friends are escaped by ElementTree in the file.
        "reg_identity": f'"{account.display_name}" <{account.identity_uri}>',
        "realm": account.realm,
        "reg_expires": str(REG_EXPIRES),
        "reg_sendregister": "1",
        "publish": "0",
    })
    section("auth_info_0", {
        "username": account.username,
        "userid": account.username,
        "passwd": account.password,
        "realm": account.realm,
        "domain": account.realm,
    })
    if account.srtp:
        # The PBX refuses calls without SRTP: Linphone must offer it, and never fall back.
        section("sip", {"media_encryption": "srtp", "media_encryption_mandatory": "1"})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def qr_payload(account: Account) -> str:
    """The text the QR code holds: one `key: value` line per setting.

    A text block, not a `sip:user:password@host` URI: putting the password in a SIP URI is
    deprecated (RFC 3261 section 19.1.1) and a phone that treats the URI as a number to dial
    would send it on the wire; Linphone's own QR import wants an https provisioning URL, which
    homepbx does not serve. Any phone camera shows this text, and the agent types it in.
    """
    return "\n".join([
        "SIP account",
        f"server: {account.server}",
        f"port: {account.port}",
        f"transport: {account.transport}",
        f"media encryption: {'SRTP (mandatory)' if account.srtp else 'none'}",
        f"username: {account.username}",
        f"password: {account.password}",
        f"realm: {account.realm}",
    ])


def qr_code(payload: str):  # type: ignore[no-untyped-def]  # segno.QRCode, imported lazily
    """The QR symbol for `payload`: a regular QR code (phones' cameras do not read Micro QR)."""
    import segno

    return segno.make(payload, error="m", micro=False)


def qr_png(payload: str) -> bytes:
    """`payload` as a black-on-white PNG with the 4-module quiet zone scanners need."""
    import io

    buffer = io.BytesIO()
    qr_code(payload).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def sheet(account: Account) -> str:
    """A plain-text sheet for the agent: what to install and what to type."""
    transport = account.transport.upper()
    lines = [
        f"Softphone settings for {account.display_name} (extension {account.extension})",
        "",
        "Install Linphone (linphone.org: Android, iOS, Windows, macOS, Linux) and load",
        f"{XML_FILE} as its remote configuration, or scan {QR_FILE} with your phone's camera",
        "and type the settings below into any SIP softphone.",
        "",
        f"  Server:     {account.server}",
        f"  Port:       {account.port}",
        f"  Transport:  {transport}",
        f"  Media encryption: {'SRTP (SDES), mandatory' if account.srtp else 'none'}",
        f"  Username:   {account.username}",
        f"  Password:   {account.password}",
        f"  Realm:      {account.realm}",
        "",
        "This password is not stored anywhere else: keep this sheet private, and ask for a new",
        "password (homepbx agent onboarding) if it is lost.",
    ]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, data: bytes) -> None:
    # Mode at creation and O_EXCL: the password is never readable by others, even briefly,
    # and nothing that already exists is overwritten.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_files(folder: Path, creds: SoftphoneSettings) -> None:
    """Write the three onboarding files into `folder` (which must exist and be private)."""
    account = Account.of(creds)
    _write_private(folder / XML_FILE, linphone_xml(account))
    _write_private(folder / QR_FILE, qr_png(qr_payload(account)))
    _write_private(folder / SHEET_FILE, sheet(account).encode("utf-8"))


def _target(out_dir: Path, extension: str) -> Path:
    """OUT/<extension>, refused when it exists or OUT does not."""
    target = out_dir / names.extension(extension)
    if not out_dir.is_dir():
        raise InvalidInput(f"The folder {out_dir} does not exist.", field="onboarding")
    if target.exists() or target.is_symlink():
        raise InvalidInput(f"The onboarding folder {target} already exists: choose another folder.", field="onboarding")
    return target


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A private temporary folder beside `target`, renamed to `target` if the block succeeds."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, DIR_MODE)  # mkdtemp makes it 0700 already; say so rather than rely on it
        yield tmp
        # rename(2) would replace an empty folder created meanwhile: look once more.
        if target.exists() or target.is_symlink():
            raise InvalidInput(f"The onboarding folder {target} already exists: choose another folder.", field="onboarding")
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def issue(
    session: SessionFactory,
    out_dir: Path,
    extension: str,
    change: Callable[[Session], SoftphoneSettings],
) -> tuple[SoftphoneSettings, Path]:
    """Run `change` (which issues a password) in one transaction and write its onboarding files.

    OUT/<extension> is checked before the database is touched; the files are written before the
    commit and moved into place after it, so either both happen or neither does (short of the
    rename itself failing after the commit, which is then reported and the password is lost).
    """
    target = _target(out_dir, extension)
    # The session closes (commits) before _staged renames: files appear only for a committed password.
    with _staged(target) as tmp, session() as s:
        creds = change(s)
        write_files(tmp, creds)
    return creds, target


def add_agent(session: SessionFactory, settings: Settings, spec: provisioning.AgentSpec,
              out_dir: Path) -> tuple[SoftphoneSettings, Path]:
    """`provisioning.add_agents` for one agent, plus its onboarding files in OUT/<extension>."""
    return issue(session, out_dir, spec.extension, lambda s: provisioning.add_agents(s, settings, [spec])[0])


def rotate(session: SessionFactory, settings: Settings, extension: str,
           out_dir: Path) -> tuple[SoftphoneSettings, Path]:
    """A new password for the agent (as `agent passwd`) and its onboarding files in OUT/<extension>.

    Onboarding always issues a new password: the current one is not stored, only its digest.
    """
    return issue(session, out_dir, extension, lambda s: provisioning.rotate_password(s, settings, extension))


def add_agents(session: SessionFactory, settings: Settings, specs: Sequence[provisioning.AgentSpec],
               labels: Sequence[str], out_dir: Path,
               progress: Callable[[int], None] | None = None) -> tuple[list[SoftphoneSettings], list[Path]]:
    """`provisioning.add_agents` (all or nothing) plus each agent's onboarding files in OUT/<extension>.

    Every OUT/<extension> is checked before the database is touched; the folders are written
    into one private staging folder before the commit and moved into place after it.
    """
    targets = [_target(out_dir, spec.extension) for spec in specs]
    stage = Path(tempfile.mkdtemp(prefix=".import.", suffix=".tmp", dir=out_dir))
    try:
        with session() as s:
            creds = provisioning.add_agents(s, settings, specs, labels, progress=progress)
            for c in creds:
                folder = stage / c.extension
                folder.mkdir(mode=DIR_MODE)
                write_files(folder, c)
        for target in targets:
            os.rename(stage / target.name, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return creds, targets
