"""Onboarding files: written only when a password is issued, private, escaped, all or nothing."""

from __future__ import annotations

import json
import stat
import struct
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from homepbx import credentials, onboarding
from homepbx.provisioning import SoftphoneSettings

from .cli_helpers import Cli, assert_plain_error, db_fingerprint
from .cli_helpers import make_cli, url_of

NS = {"lp": onboarding.LPCONFIG_NS}


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    return make_cli(tmp_path, sqlite_url)


def entries(xml: bytes, section: str) -> dict[str, str]:
    root = ET.fromstring(xml)
    assert root.tag == f"{{{onboarding.LPCONFIG_NS}}}config"
    sec = root.find(f"lp:section[@name='{section}']", NS)
    assert sec is not None, section
    return {e.get("name"): e.text or "" for e in sec.findall("lp:entry", NS)}  # type: ignore[misc]


def sections(xml: bytes) -> set[str]:
    return {sec.get("name", "") for sec in ET.fromstring(xml).findall("lp:section", NS)}


def png_modules(data: bytes, scale: int = 8, border: int = 4) -> list[list[int]]:
    """The dark (1) / light (0) modules of a 1-bit greyscale PNG as segno writes it."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour = header[:4]
    assert (depth, colour) == (1, 0)
    raw = zlib.decompress(idat)
    stride = (width + 7) // 8
    pixels, prev = [], bytes(stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG row filter (one byte per "pixel" at depth 1)
            a, b, c = row[i - 1] if i else 0, prev[i], prev[i - 1] if i else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c]
            row[i] = (row[i] + pred[kind]) & 0xFF
        prev = bytes(row)
        pixels.append([(row[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    size = width // scale - 2 * border
    # Black is 0 in greyscale; a module is dark when its centre pixel is black.
    return [[1 - pixels[(border + r) * scale + scale // 2][(border + c) * scale + scale // 2] for c in range(size)]
            for r in range(size)]


def creds(transport: str = "udp") -> SoftphoneSettings:
    port, srtp = (5061, True) if transport == "tls" else (5060, False)
    return SoftphoneSettings("1001", "Tom & Jerry's", "1001", "pw&<x>", "pbx.example.com", port, transport, srtp,
                             "pbx.example.com")


def test_a_tls_account_says_tls_its_port_and_mandatory_srtp_everywhere() -> None:
    clear = onboarding.Account.of(creds())
    assert (clear.transport, clear.port, clear.srtp) == ("udp", 5060, False)
    assert "sip" not in sections(onboarding.linphone_xml(clear))  # no media encryption asked
    tls = onboarding.Account.of(creds("tls"))
    assert (tls.transport, tls.port, tls.srtp) == ("tls", 5061, True)
    xml = onboarding.linphone_xml(tls)
    assert entries(xml, "proxy_0")["reg_proxy"] == "<sip:pbx.example.com:5061;transport=tls>"
    assert entries(xml, "sip") == {"media_encryption": "srtp", "media_encryption_mandatory": "1"}
    payload = onboarding.qr_payload(tls)
    assert "transport: tls" in payload and "port: 5061" in payload and "media encryption: SRTP (mandatory)" in payload
    assert "Media encryption: SRTP (SDES), mandatory" in onboarding.sheet(tls)


def test_values_are_escaped_by_the_xml_library() -> None:
    xml = onboarding.linphone_xml(onboarding.Account.of(creds()))
    assert b"&amp;" in xml and b"pw&<x>" not in xml
    assert entries(xml, "auth_info_0")["passwd"] == "pw&<x>"
    assert entries(xml, "proxy_0")["reg_identity"] == '"Tom & Jerry\'s" <sip:1001@pbx.example.com>'


def test_the_png_holds_the_qr_code_of_the_payload() -> None:
    payload = onboarding.qr_payload(onboarding.Account.of(creds()))
    assert payload.splitlines() == ["SIP account", "server: pbx.example.com", "port: 5060", "transport: udp",
                                    "media encryption: none", "username: 1001", "password: pw&<x>",
                                    "realm: pbx.example.com"]
    # segno cannot decode: compare the PNG's modules with the library's own matrix of the payload.
    matrix = [[1 if v else 0 for v in row] for row in onboarding.qr_code(payload).matrix]
    assert png_modules(onboarding.qr_png(payload)) == matrix
    assert onboarding.qr_code(payload).designator.endswith("-M")


def check_folder(folder: Path, password: str, display_name: str) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["linphone.xml", "qr.png", "softphone.txt"]
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    xml = (folder / "linphone.xml").read_bytes()
    proxy, auth = entries(xml, "proxy_0"), entries(xml, "auth_info_0")
    assert proxy["reg_proxy"] == "<sip:pbx.example.com:5061;transport=tls>"
    assert entries(xml, "sip") == {"media_encryption": "srtp", "media_encryption_mandatory": "1"}
    assert proxy["reg_identity"] == f'"{display_name}" <sip:1001@pbx.example.com>'
    assert proxy["realm"] == auth["realm"] == "pbx.example.com"
    assert (auth["username"], auth["passwd"]) == ("1001", password)
    payload = "\n".join(["SIP account", "server: pbx.example.com", "port: 5061", "transport: tls",
                         "media encryption: SRTP (mandatory)", "username: 1001", f"password: {password}",
                         "realm: pbx.example.com"])
    matrix = [[1 if v else 0 for v in row] for row in onboarding.qr_code(payload).matrix]
    assert png_modules((folder / "qr.png").read_bytes()) == matrix
    text = (folder / "softphone.txt").read_text()
    for line in ("Server:     pbx.example.com", "Port:       5061", "Transport:  TLS", "Username:   1001",
                 f"Password:   {password}", "Realm:      pbx.example.com", "Linphone"):
        assert line in text
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


def stored_cred(cli: Cli) -> str:
    from sqlalchemy import select

    from homepbx import db
    from homepbx.models import Agent

    with db.transaction(url_of(cli)) as s:
        return s.scalar(select(Agent.md5_cred).where(Agent.extension == "1001")) or ""


def test_agent_add_writes_private_files_holding_the_password_it_shows(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    res = cli("agent", "add", "1001", "--name", "Tom & Jerry's", "--onboarding", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    password = json.loads(res.stdout)["password"]
    assert stored_cred(cli) == credentials.md5_cred("1001", "pbx.example.com", password)
    check_folder(out / "1001", password, "Tom & Jerry's")


def test_a_display_name_with_xml_syntax_is_refused_and_nothing_is_written(cli: Cli, tmp_path: Path) -> None:
    before = db_fingerprint(url_of(cli))
    assert_plain_error(cli("agent", "add", "1001", "--name", "Tom <b>", "--onboarding", str(tmp_path)))
    assert db_fingerprint(url_of(cli)) == before
    assert not (tmp_path / "1001").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".1001")]


def test_passwd_and_onboarding_rotate_the_password_into_the_files(cli: Cli, tmp_path: Path) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann").exit_code == 0
    old = stored_cred(cli)
    res = cli("agent", "passwd", "1001", "--onboarding", str(tmp_path / "a"))
    assert_plain_error(res)  # the folder does not exist
    assert stored_cred(cli) == old
    (tmp_path / "a").mkdir()
    res = cli("agent", "passwd", "1001", "--onboarding", str(tmp_path / "a"), "--json")
    assert res.exit_code == 0, res.stderr
    password = json.loads(res.stdout)["password"]
    check_folder(tmp_path / "a" / "1001", password, "Ann")
    assert stored_cred(cli) not in (old, "")

    (tmp_path / "b").mkdir()
    res = cli("agent", "onboarding", "1001", "--out", str(tmp_path / "b"))
    assert res.exit_code == 0, res.stderr
    assert "b/1001" in res.stderr and "not stored" in res.stderr
    password = next(line.split()[-1] for line in res.stdout.splitlines() if line.startswith("password"))
    check_folder(tmp_path / "b" / "1001", password, "Ann")
    assert stored_cred(cli) == credentials.md5_cred("1001", "pbx.example.com", password)


def test_an_existing_folder_is_refused_before_the_password_changes(cli: Cli, tmp_path: Path) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann").exit_code == 0
    (tmp_path / "1001").mkdir()
    (tmp_path / "1001" / "linphone.xml").write_text("mine")
    before = db_fingerprint(url_of(cli))
    for args in (["agent", "onboarding", "1001", "--out", str(tmp_path)],
                 ["agent", "passwd", "1001", "--onboarding", str(tmp_path)],
                 ["agent", "add", "1001", "--name", "Bob", "--onboarding", str(tmp_path)]):
        res = cli(*args)
        assert_plain_error(res)
        assert "already exists" in res.stderr
        assert db_fingerprint(url_of(cli)) == before  # no audit entry, same digest: not rotated
    assert (tmp_path / "1001" / "linphone.xml").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "1001").iterdir()) == ["linphone.xml"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".1001")]


def test_an_unknown_agent_leaves_no_folder(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert_plain_error(cli("agent", "onboarding", "1001", "--out", str(out)))
    assert list(out.iterdir()) == []


def test_a_failure_while_writing_rolls_the_password_back(cli: Cli, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("agent", "add", "1001", "--name", "Ann").exit_code == 0
    before = db_fingerprint(url_of(cli))

    def broken(payload: str) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onboarding, "qr_png", broken)
    res = cli("agent", "onboarding", "1001", "--out", str(tmp_path))
    assert res.exit_code == 1 and "No space left" in res.stderr
    assert db_fingerprint(url_of(cli)) == before
    assert not (tmp_path / "1001").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".1001")]


def test_import_writes_each_agents_onboarding_folder_with_the_password_in_the_credentials(
        cli: Cli, tmp_path: Path) -> None:
    import csv

    src = tmp_path / "agents.csv"
    src.write_text("extension,display_name,transport\n1001,Ann,\n1002,Desk phone,udp\n")
    out = tmp_path / "out"
    out.mkdir()
    res = cli("agent", "import", str(src), "--credentials", str(tmp_path / "creds.csv"), "--onboarding", str(out))
    assert res.exit_code == 0, res.stderr
    rows = {r["extension"]: r for r in csv.DictReader((tmp_path / "creds.csv").open())}
    assert (rows["1001"]["transport"], rows["1001"]["srtp"]) == ("tls", "True")
    assert (rows["1002"]["transport"], rows["1002"]["srtp"]) == ("udp", "False")
    assert sorted(p.name for p in out.iterdir()) == ["1001", "1002"]  # and no staging folder left
    for ext, uri in (("1001", "<sip:pbx.example.com:5061;transport=tls>"),
                     ("1002", "<sip:pbx.example.com:5060;transport=udp>")):
        folder = out / ext
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in folder.iterdir())
        xml = (folder / "linphone.xml").read_bytes()
        assert entries(xml, "auth_info_0")["passwd"] == rows[ext]["password"]
        assert entries(xml, "proxy_0")["reg_proxy"] == uri


def test_import_refuses_an_existing_onboarding_folder_before_adding_anyone(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "agents.csv"
    src.write_text("extension,display_name\n1001,Ann\n1002,Bob\n")
    out = tmp_path / "out"
    (out / "1002").mkdir(parents=True)
    before = db_fingerprint(url_of(cli))
    res = cli("agent", "import", str(src), "--credentials", str(tmp_path / "creds.csv"), "--onboarding", str(out))
    assert_plain_error(res)
    assert "1002 already exists" in res.stderr
    assert db_fingerprint(url_of(cli)) == before
    assert sorted(p.name for p in out.iterdir()) == ["1002"]
    assert not (tmp_path / "creds.csv").exists()
