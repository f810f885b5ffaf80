"""Rendering: golden files, determinism, disabled agents, supervisor scope, scale."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import insert

from homepbx import db
from homepbx.config import AmiSettings, AsteriskSettings, Settings, SipSettings
from homepbx.errors import InvalidInput
from homepbx.models import Agent, Queue, QueueMember, Role, SupervisorScope, Team
from homepbx.asterisk.render import HEADER, MANAGED_MARKER, render_site

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = Settings(
    sip=SipSettings(bind_address="127.0.0.3", domain="homepbx"),
    ami=AmiSettings(secret="golden-secret-0123"),
)


def md5(ext: str, password: str = "pw") -> str:
    return hashlib.md5(f"{ext}:homepbx:{password}".encode()).hexdigest()


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'homepbx.db'}"
    db.upgrade(u)
    return u


def render(url: str, settings: Settings = SETTINGS) -> dict[str, str]:
    with db.session_scope(url) as s:
        return render_site(s, settings)


def small_site(url: str, reverse: bool = False) -> None:
    """3 agents + 1 supervisor in 1 team, 1 queue; `reverse` inserts the rows the other way round."""
    with db.session_scope(url) as s:
        team = Team(name="sales")
        s.add(team)
        s.flush()
        people = [
            Agent(extension="1001", display_name="Alice Martin", team_id=team.id, md5_cred=md5("1001"), realm="homepbx"),
            Agent(extension="1002", display_name="Bruno Élan", team_id=team.id, md5_cred=md5("1002"), realm="homepbx"),
            # A legacy desk phone opted into clear text; the others use the default TLS + SRTP.
            Agent(extension="1003", display_name="Chloé O'Brien", team_id=team.id, md5_cred=md5("1003"), realm="homepbx",
                  transport="udp"),
            Agent(
                extension="1900",
                display_name="Sue Visor",
                role=Role.supervisor,
                spy_modes="listen,whisper,barge",
                team_id=team.id,
                md5_cred=md5("1900"),
                realm="homepbx",
            ),
        ]
        for a in reversed(people) if reverse else people:
            s.add(a)
            s.flush()
        s.add(SupervisorScope(supervisor=people[3], team=team))
        queue = Queue(name="sales", extension="8000")
        s.add(queue)
        s.flush()
        members = [QueueMember(queue=queue, agent=a, penalty=i) for i, a in enumerate(people[:3])]
        for m in reversed(members) if reverse else members:
            s.add(m)


def test_golden_files(url: str) -> None:
    small_site(url)
    files = render(url)
    if os.environ.get("HOMEPBX_UPDATE_GOLDEN") == "1":
        for old in GOLDEN.glob("*.conf"):
            old.unlink()
        for name, text in files.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob("*.conf"))}
    assert sorted(files) == sorted(expected), "set HOMEPBX_UPDATE_GOLDEN=1 to regenerate"
    for name, text in files.items():
        assert text == expected[name], f"{name} differs from tests/unit/golden/{name}"


def test_every_file_starts_with_the_marker(url: str) -> None:
    small_site(url)
    for name, text in render(url).items():
        assert text.startswith(HEADER), name
        assert MANAGED_MARKER in text.splitlines()[0]
        assert text.endswith("\n") and "\r" not in text


def test_deterministic_whatever_the_insertion_order(tmp_path: Path) -> None:
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    for u, rev in ((a, False), (b, True)):
        db.upgrade(u)
        small_site(u, reverse=rev)
    first = render(a)
    assert render(a) == first
    assert render(b) == first


def test_disabled_agents_have_no_account_and_no_extension(url: str) -> None:
    small_site(url)
    with db.session_scope(url) as s:
        s.query(Agent).filter_by(extension="1002").one().enabled = False
    files = render(url)
    assert "1002" not in files["pjsip.conf"]
    assert "1002" not in files["extensions.conf"]
    assert "[1001](homepbx-agent-tls)" in files["pjsip.conf"]


def _contexts(text: str) -> dict[str, list[str]]:
    """Context name -> its `exten`/`include` lines (comments stripped)."""
    out: dict[str, list[str]] = {}
    current = None
    for raw in text.split("\n"):
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            current = line[1 : line.index("]")]
            out[current] = []
        elif line and current and not line.startswith("#"):
            out[current].append(line)
    return out


def _reachable_extens(text: str, context: str) -> list[str]:
    """The `exten =>` values a caller in `context` can reach, following includes."""
    ctx = _contexts(text)
    seen: set[str] = set()
    found: list[str] = []
    todo = [context]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in ctx[name]:
            key, _, value = line.partition("=>")
            if key.strip() == "include":
                todo.append(value.strip())
            elif key.strip() == "exten":
                found.append(value.strip())
    return found


def _reachable_codes(text: str, context: str) -> set[str]:
    """Extensions starting with * that a caller in `context` can dial, following includes."""
    return {v.split(",", 1)[0] for v in _reachable_extens(text, context) if v.startswith("*")}


def _spy_codes(text: str, context: str) -> set[str]:
    """The supervisor spy codes (*21/*22/*23 + extension) reachable from `context`."""
    return {c for c in _reachable_codes(text, context) if c[:3] in ("*21", "*22", "*23")}


def test_supervisor_scope_and_modes_enforced_in_the_dialplan(url: str) -> None:
    with db.session_scope(url) as s:
        sales, support, empty = Team(name="sales"), Team(name="support"), Team(name="empty")
        s.add_all([sales, support, empty])
        s.flush()
        for ext, team in (("1001", sales), ("1002", sales), ("2001", support)):
            s.add(Agent(extension=ext, display_name=f"A {ext}", team=team, md5_cred=md5(ext), realm="homepbx"))
        s.add(Agent(extension="1003", display_name="Off", team=sales, md5_cred=md5("1003"), realm="homepbx", enabled=False))
        coach = Agent(extension="1900", display_name="Coach", role=Role.supervisor, spy_modes="listen,whisper",
                      md5_cred=md5("1900"), realm="homepbx")
        boss = Agent(extension="1901", display_name="Boss", role=Role.supervisor, spy_modes="barge",
                     md5_cred=md5("1901"), realm="homepbx")
        s.add_all([coach, boss])
        s.flush()
        s.add_all([SupervisorScope(supervisor=coach, team=sales), SupervisorScope(supervisor=coach, team=empty),
                   SupervisorScope(supervisor=boss, team=support)])
    files = render(url)
    ext = files["extensions.conf"]
    assert _spy_codes(ext, "homepbx-sup-1900") == {"*211001", "*211002", "*221001", "*221002"}
    assert _spy_codes(ext, "homepbx-sup-1901") == {"*232001"}
    assert _spy_codes(ext, "homepbx-agents") == set()
    assert _reachable_codes(ext, "homepbx-inbound") == set()
    # A TLS supervisor enters through the TLS gate, which sends them on to their own context.
    assert "[1900](homepbx-agent-tls)\nset_var = HOMEPBX_CONTEXT=homepbx-sup-1900\n" in files["pjsip.conf"]
    # The spy prefix ends with "-": spying on 1001 never reaches 10010.
    assert "ChanSpy(PJSIP/1001-,qE)" in ext and "ChanSpy(PJSIP/1001-,qEw)" in ext
    # Every included context exists (Asterisk warns about missing ones).
    ctx = _contexts(ext)
    for lines in ctx.values():
        for line in lines:
            if line.startswith("include"):
                assert line.partition("=>")[2].strip() in ctx


def test_nat_and_tls_options(url: str) -> None:
    small_site(url)
    settings = Settings(
        sip=SipSettings(public_address="203.0.113.7", local_net=("192.168.1.0/24", "10.0.0.0/8"),
                        tls_cert_file="/etc/asterisk/keys/a.crt", tls_key_file="/etc/asterisk/keys/a.key"),
        ami=AmiSettings(secret="golden-secret-0123"),
    )
    pjsip = render(url, settings)["pjsip.conf"]
    assert pjsip.count("external_media_address = 203.0.113.7") == 3
    assert pjsip.count("local_net = 10.0.0.0/8") == 3
    assert "[transport-tls]" in pjsip and "method = tlsv1_2" in pjsip
    assert "external_media_address" not in render(url)["pjsip.conf"]
    assert "[transport-tls]" not in render(url)["pjsip.conf"]


@pytest.mark.parametrize(
    "sip,asterisk,ami",
    [
        ({"bind_address": "0.0.0.0;x"}, {}, {}),
        ({"public_address": "a b"}, {}, {}),
        ({"local_net": ("10.0.0.0/8\n[x]",)}, {}, {}),
        ({"tls_cert_file": "/a.crt"}, {}, {}),
        ({}, {"recordings_dir": "/var/spool/a,b"}, {}),
        ({}, {}, {"secret": "short"}),
        ({}, {}, {"secret": "with;comment"}),
        ({}, {}, {"username": "x\ny"}),
    ],
)
def test_bad_settings_are_refused(url: str, sip: dict, asterisk: dict, ami: dict) -> None:
    ami = {"secret": "golden-secret-0123", **ami}
    with pytest.raises(InvalidInput):
        render(url, Settings(sip=SipSettings(**sip), asterisk=AsteriskSettings(**asterisk), ami=AmiSettings(**ami)))


def test_bad_rows_are_refused(url: str) -> None:
    # A row that skipped validation must not reach the dialplan.
    with db.session_scope(url) as s:
        s.add(Agent(extension="10,1", display_name="x", md5_cred=md5("1"), realm="homepbx"))
    with pytest.raises(InvalidInput):
        render(url)


def test_line_break_in_a_display_name_is_refused_by_finalize(url: str) -> None:
    with db.session_scope(url) as s:
        s.add(Agent(extension="1001", display_name="Eve\n[evil]", md5_cred=md5("1001"), realm="homepbx"))
    with pytest.raises(ValueError, match="line break"):
        render(url)


def test_queue_and_agent_extension_clash_is_refused(url: str) -> None:
    with db.session_scope(url) as s:
        s.add(Agent(extension="8000", display_name="x", md5_cred=md5("8000"), realm="homepbx"))
        s.add(Queue(name="sales", extension="8000"))
    with pytest.raises(InvalidInput, match="8000"):
        render(url)


def build_large_site(url: str, agents: int = 10_000, queues: int = 200, teams: int = 100) -> None:
    """Bulk rows: `agents` accounts (1 in 50 a supervisor over 2 teams) in `teams`, `queues` queues."""
    with db.session_scope(url) as s:
        s.execute(insert(Team), [{"id": t + 1, "name": f"team{t:03d}"} for t in range(teams)])
        rows = []
        for i in range(agents):
            sup = i % 50 == 0
            rows.append({
                "id": i + 1, "extension": str(100000 + i), "display_name": f"Agent Number {i}",
                "team_id": i % teams + 1, "role": Role.supervisor if sup else Role.agent,
                "spy_modes": "listen,whisper,barge" if sup else "", "md5_cred": md5(str(100000 + i)),
                "realm": "homepbx", "enabled": i % 97 != 0,
            })
        s.execute(insert(Agent), rows)
        s.execute(insert(SupervisorScope), [
            {"supervisor_id": r["id"], "team_id": (r["team_id"] + k) % teams + 1}
            for r in rows if r["role"] == Role.supervisor for k in range(2)
        ])
        s.execute(insert(Queue), [{"id": q + 1, "name": f"queue{q:03d}", "extension": str(8000 + q)} for q in range(queues)])
        s.execute(insert(QueueMember), [
            {"queue_id": i % queues + 1, "agent_id": i + 1, "penalty": i % 3} for i in range(agents)
        ])


def test_ten_thousand_agents_render(url: str) -> None:
    # How fast is bench/render.py's question: a timed assertion here would flake on a loaded machine.
    build_large_site(url)
    files = render(url)
    assert files["pjsip.conf"].count("(homepbx-agent-tls)\n") == 10_000 - len(range(0, 10_000, 97))
