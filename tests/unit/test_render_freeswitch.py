"""FreeSWITCH rendering: golden files, determinism, well-formed XML, settings checks, reloads."""

from __future__ import annotations

import hashlib
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from homepbx import db
from homepbx.config import EslSettings, FreeswitchSettings, Settings, SipSettings
from homepbx.errors import InvalidInput
from homepbx.freeswitch.config_target import (
    CONFIG,
    SECRET_FILES,
    redact,
    reload_commands,
)
from homepbx.freeswitch.render import HEADER, MANAGED_MARKER, render_site
from homepbx.freeswitch.render.options import TLS_CHAIN, TLS_KEY_AND_CERT
from homepbx.models import (
    Agent,
    Queue,
    QueueMember,
    Role,
    Strategy,
    SupervisorScope,
    Team,
)

from .cli_helpers import tls_pair

GOLDEN = Path(__file__).parent / "golden" / "freeswitch"
# A fresh pair per test process: the golden files hold only the XML, which names the folder
# sofia reads the TLS files from, not their content.
CERT, KEY = tls_pair()
SETTINGS = Settings(
    backend="freeswitch",
    sip=SipSettings(bind_address="127.0.0.3", domain="homepbx", tls_cert_file=str(CERT), tls_key_file=str(KEY)),
    esl=EslSettings(password="golden-esl-0123"),
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
    """3 agents (one named with & and '), 1 supervisor scoped to "sales", a second team, 2 queues."""
    with db.session_scope(url) as s:
        sales, support = Team(name="sales"), Team(name="support")
        s.add_all([sales, support])
        s.flush()
        # 1002 on TLS + SRTP (the default), the others opted into clear text: both renderings appear.
        people = [
            Agent(extension="1001", display_name="Tom & Jerry's", team_id=sales.id, md5_cred=md5("1001"), realm="homepbx",
                  transport="udp"),
            Agent(extension="1002", display_name="Bruno Élan", team_id=sales.id, md5_cred=md5("1002"), realm="homepbx",
                  transport="tls"),
            Agent(extension="1003", display_name="Chloé O'Brien", team_id=support.id, md5_cred=md5("1003"), realm="homepbx",
                  transport="udp"),
            Agent(extension="1900", display_name="Sue Visor", role=Role.supervisor, spy_modes="listen,whisper",
                  team_id=sales.id, md5_cred=md5("1900"), realm="homepbx", transport="udp"),
        ]
        for a in reversed(people) if reverse else people:
            s.add(a)
            s.flush()
        s.add(SupervisorScope(supervisor=people[3], team=sales))
        queues = [Queue(name="sales", extension="8000", strategy=Strategy.ringall, record=True),
                  Queue(name="support", extension="8001", strategy=Strategy.leastrecent, max_wait=120)]
        for q in reversed(queues) if reverse else queues:
            s.add(q)
            s.flush()
        members = [QueueMember(queue=queues[0], agent=people[0], penalty=0),
                   QueueMember(queue=queues[0], agent=people[1], penalty=1),
                   QueueMember(queue=queues[1], agent=people[2], penalty=0),
                   QueueMember(queue=queues[1], agent=people[0], penalty=0)]
        for m in reversed(members) if reverse else members:
            s.add(m)


def xml_files(files: dict[str, str]) -> dict[str, str]:
    """The XML files of a rendering (without sofia's PEM files)."""
    return {name: text for name, text in files.items() if name.endswith(".xml")}


def test_golden_files(url: str) -> None:
    small_site(url)
    files = xml_files(render(url))
    assert set(render(url)) - set(files) == {TLS_KEY_AND_CERT, TLS_CHAIN}
    if os.environ.get("HOMEPBX_UPDATE_GOLDEN") == "1":
        for old in GOLDEN.rglob("*.xml"):
            old.unlink()
        for name, text in files.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text, encoding="utf-8")
    expected = {p.relative_to(GOLDEN).as_posix(): p.read_text(encoding="utf-8") for p in sorted(GOLDEN.rglob("*.xml"))}
    assert sorted(files) == sorted(expected), "set HOMEPBX_UPDATE_GOLDEN=1 to regenerate"
    for name, text in files.items():
        assert text == expected[name], f"{name} differs from tests/unit/golden/freeswitch/{name}"


def test_tree_and_includes(url: str) -> None:
    small_site(url)
    files = render(url)
    root = ET.fromstring(files["freeswitch.xml"])
    included = [e.get("data") for e in root.iter("X-PRE-PROCESS") if e.get("cmd") == "include"]
    # Every other file is included exactly once, by name (no globs).
    assert sorted(included) == sorted(n for n in xml_files(files) if n != "freeswitch.xml")
    modules = [e.get("module") for e in ET.fromstring(files["autoload_configs/modules.conf.xml"]).iter("load")]
    assert "mod_callcenter" in modules and "mod_sofia" in modules and len(modules) == 13
    # Nothing loaded without a configuration of ours: it would log an error at every start.
    assert not {"mod_conference", "mod_db"} & set(modules)


def test_every_file_is_well_formed_and_marked(url: str) -> None:
    small_site(url)
    for name, text in xml_files(render(url)).items():
        assert text.startswith(HEADER), name
        assert MANAGED_MARKER in text.splitlines()[0]
        assert text.endswith("\n") and "\r" not in text
        ET.fromstring(text)  # raises on malformed XML
        for line in text.splitlines():
            # FreeSWITCH's pre-processor drops such lines (and any with <include> or <?) whole.
            if "x-pre-process" in line.lower():
                assert line.lstrip().startswith("<X-PRE-PROCESS "), (name, line)
            assert "<?" not in line
            if "<include>" in line or "</include>" in line:
                assert line.strip() in ("<include>", "</include>"), (name, line)


def test_display_names_are_escaped(url: str) -> None:
    small_site(url)
    directory = render(url)["directory/homepbx.xml"]
    assert 'value="Tom &amp; Jerry&#39;s"' in directory
    names = {v.get("value") for v in ET.fromstring(directory).iter("variable") if v.get("name") == "effective_caller_id_name"}
    assert names == {"Tom & Jerry's", "Bruno Élan", "Chloé O'Brien", "Sue Visor"}


def test_no_clear_password_and_a1_hashes(url: str) -> None:
    small_site(url)
    directory = ET.fromstring(render(url)["directory/homepbx.xml"])
    users = {u.get("id"): u for u in directory.iter("user")}
    assert sorted(users) == ["1001", "1002", "1003", "1900"]
    for ext, user in users.items():
        params = {p.get("name"): p.get("value") for p in user.iter("param")}
        assert params.pop("a1-hash") == md5(ext) and "password" not in params
        context = {v.get("name"): v.get("value") for v in user.iter("variable")}["user_context"]
        assert context == ("homepbx-sup-1900" if ext == "1900" else "homepbx-agents")


def test_deterministic_whatever_the_insertion_order(tmp_path: Path) -> None:
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    for u, rev in ((a, False), (b, True)):
        db.upgrade(u)
        small_site(u, reverse=rev)
    first = render(a)
    assert render(a) == first
    assert render(b) == first


def test_callcenter_queues_agents_tiers(url: str) -> None:
    small_site(url)
    cc = ET.fromstring(render(url)["autoload_configs/callcenter.conf.xml"])
    queues = {q.get("name"): {p.get("name"): p.get("value") for p in q.iter("param")} for q in cc.iter("queue")}
    assert queues["sales@homepbx"]["strategy"] == "ring-all"
    assert queues["support@homepbx"]["strategy"] == "longest-idle-agent"
    assert queues["support@homepbx"]["max-wait-time"] == "120"
    assert queues["sales@homepbx"]["record-template"].endswith("/${uuid}.wav")
    assert "record-template" not in queues["support@homepbx"]
    agents = {a.get("name"): a.attrib for a in cc.iter("agent")}
    assert sorted(agents) == ["1001@homepbx", "1002@homepbx", "1003@homepbx"]
    assert all("status" not in a for a in agents.values()), "status must survive reloads"
    assert agents["1001@homepbx"]["contact"] == "[leg_timeout=15]user/1001@homepbx"
    tiers = [(t.get("queue"), t.get("agent"), t.get("level"), t.get("position")) for t in cc.iter("tier")]
    assert tiers == [
        ("sales@homepbx", "1001@homepbx", "1", "1"),
        ("sales@homepbx", "1002@homepbx", "2", "1"),
        ("support@homepbx", "1001@homepbx", "1", "1"),
        ("support@homepbx", "1003@homepbx", "1", "2"),
    ]


def _contexts(files: dict[str, str]) -> dict[str, list[ET.Element]]:
    root = ET.fromstring(files["dialplan/homepbx.xml"])
    return {c.get("name", ""): list(c.iter("extension")) for c in root.iter("context")}


def _numbers(extensions: list[ET.Element]) -> set[str]:
    out = set()
    for e in extensions:
        first = e.find("condition")
        assert first is not None
        if first.get("field") == "destination_number":
            out.add(first.get("expression", ""))
    return out


def test_supervisor_scope_and_modes(url: str) -> None:
    small_site(url)
    ctx = _contexts(render(url))
    assert sorted(ctx) == ["homepbx-agents", "homepbx-inbound", "homepbx-sup-1900"]
    # Sales agents only (1003 is in support), listen and whisper only (no barge).
    spy = {x for x in _numbers(ctx["homepbx-sup-1900"]) if x.startswith("^\\*2")}
    assert spy == {"^\\*211001$", "^\\*211002$", "^\\*221001$", "^\\*221002$"}
    for ext in ctx["homepbx-sup-1900"]:
        sets = dict(a.get("data", "").split("=", 1) for a in ext.iter("action") if a.get("application") == "set")
        if not sets:
            continue
        # A supervisor without every mode never gets DTMF mode switching.
        assert sets["eavesdrop_enable_dtmf"] == "false"
        assert sets["eavesdrop_require_group"].startswith("homepbx-agent-10")
        whisper = ext.get("name", "").startswith("spy-whisper")
        assert sets["eavesdrop_whisper_bleg"] == ("true" if whisper else "false")
        assert sets["eavesdrop_whisper_aleg"] == "false"
    # Agents and outside callers have no spy codes at all.
    assert not any(x.startswith("^\\*2") for x in _numbers(ctx["homepbx-agents"]))
    assert _numbers(ctx["homepbx-inbound"]) == {"^8000$", "^8001$"}


def test_disabled_agents_are_gone(url: str) -> None:
    small_site(url)
    with db.session_scope(url) as s:
        s.query(Agent).filter_by(extension="1002").one().enabled = False
    files = render(url)
    for name in ("directory/homepbx.xml", "dialplan/homepbx.xml", "autoload_configs/callcenter.conf.xml"):
        assert "1002" not in files[name], name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"esl": EslSettings(host="0.0.0.0", password="golden-esl-0123")}, "esl.host"),
        ({"esl": EslSettings(host="192.168.1.2", password="golden-esl-0123")}, "esl.host"),
        ({"esl": EslSettings(password="")}, "esl.password"),
        ({"esl": EslSettings(password="ClueCon")}, "esl.password"),
        ({"esl": EslSettings(password='bad"quote-0123')}, "esl.password"),
        ({"esl": EslSettings(password="with space-0123")}, "esl.password"),
        ({"esl": EslSettings(password="$${x}-0123456")}, "esl.password"),
        ({"sip": SipSettings(domain="bad domain")}, "sip.domain"),
        ({"sip": SipSettings(bind_address="example.org")}, "sip.bind_address"),
        ({"sip": SipSettings(tcp_port=5070)}, "sip.tcp_port"),
        ({"sip": SipSettings(public_address="a\"b")}, "sip.public_address"),
        ({"sip": SipSettings(local_net=("x",))}, "sip.local_net"),
        ({"sip": SipSettings(rtp_timeout=-1)}, "sip.rtp_timeout"),
        ({"freeswitch": FreeswitchSettings(log_dir="relative")}, "freeswitch.log_dir"),
        ({"freeswitch": FreeswitchSettings(recordings_dir="/a/../b")}, "freeswitch.recordings_dir"),
    ],
)
def test_bad_settings_are_refused(url: str, change: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        render(url, replace(SETTINGS, **change))
    assert err.value.field == field


def test_realm_must_be_the_domain(url: str) -> None:
    small_site(url)
    with pytest.raises(InvalidInput) as err:
        render(url, replace(SETTINGS, sip=SipSettings(domain="other.example")))
    assert err.value.field == "sip.domain"


def test_wildcard_bind_uses_freeswitch_local_ip(url: str) -> None:
    files = render(url, replace(SETTINGS, sip=SipSettings(bind_address="0.0.0.0", public_address="203.0.113.7")))
    assert 'data="homepbx_sip_ip=$${local_ip_v4}"' in files["vars.xml"]
    for name, text in files.items():
        assert "stun:" not in text, name
        for directive in ET.fromstring(text).iter("X-PRE-PROCESS"):
            assert directive.get("cmd") in ("include", "set"), (name, directive.attrib)
    sofia = {p.get("name"): p.get("value") for p in ET.fromstring(files["autoload_configs/sofia.conf.xml"]).iter("param")}
    assert sofia["ext-rtp-ip"] == sofia["ext-sip-ip"] == "203.0.113.7"
    assert sofia["auth-calls"] == "true" and sofia["challenge-realm"] == "homepbx"


def test_file_policy_and_redact(url: str, tmp_path: Path) -> None:
    small_site(url)
    settings = replace(SETTINGS, freeswitch=FreeswitchSettings(root=str(tmp_path), config_dir="/etc/freeswitch"))
    policy = CONFIG.file_policy(settings)
    assert policy.config_dir == tmp_path / "etc/freeswitch"
    assert policy.secret_files == SECRET_FILES
    assert tmp_path / "var/log/freeswitch/json_cdr" in policy.runtime_dirs
    files = render(url)
    assert SECRET_FILES <= set(files)
    key_body = KEY.read_text().splitlines()[1]
    for name, text in files.items():
        masked = policy.redact(name, text)
        assert "golden-esl-0123" not in masked
        assert md5("1001") not in masked
        assert key_body not in masked
    # Files without secrets hold neither value.
    for name in set(files) - SECRET_FILES:
        assert "golden-esl-0123" not in files[name] and md5("1001") not in files[name], name
        assert key_body not in files[name], name
    assert redact("x", '<param name="password" value="s3cret"/>') == '<param name="password" value="********"/>'


def test_reload_commands(url: str) -> None:
    assert reload_commands([]) == []
    assert reload_commands(["dialplan/homepbx.xml", "directory/homepbx.xml"]) == ["reloadxml"]
    assert reload_commands(["autoload_configs/sofia.conf.xml"]) == ["reloadxml", "sofia profile homepbx rescan"]
    with pytest.raises(ValueError):
        reload_commands(["autoload_configs/callcenter.conf.xml"])

    small_site(url)
    name = "autoload_configs/callcenter.conf.xml"
    before = render(url)[name]
    with db.session_scope(url) as s:
        s.query(Agent).filter_by(extension="1002").one().enabled = False
        q = s.query(Queue).filter_by(name="support").one()
        q.max_wait = 60
        s.add(Queue(name="vip", extension="8002"))
    after = render(url)[name]
    assert reload_commands([name], {name: before}, {name: after}) == [
        "reloadxml",
        "callcenter_config queue load vip@homepbx",
        "callcenter_config queue reload support@homepbx",
        "callcenter_config tier del sales@homepbx 1002@homepbx",
        "callcenter_config agent del 1002@homepbx",
    ]
    # A new file: everything is loaded.
    fresh = reload_commands([name], {name: None}, {name: before})
    assert "callcenter_config agent reload 1001@homepbx" in fresh
    assert "callcenter_config tier reload support@homepbx 1003@homepbx" in fresh


def _params(text: str) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in ET.fromstring(text).iter("param")}


def _user(directory: str, ext: str) -> ET.Element:
    found = [u for u in ET.fromstring(directory).iter("user") if u.get("id") == ext]
    assert len(found) == 1, ext
    return found[0]


def test_a_certificate_makes_sofia_listen_for_tls(url: str) -> None:
    sofia = _params(render(url)["autoload_configs/sofia.conf.xml"])
    assert sofia["tls"] == "true" and sofia["tls-bind-params"] == "transport=tls"
    assert sofia["tls-sip-port"] == "5061" and sofia["tls-cert-dir"] == "/etc/freeswitch/tls"
    # sip.tls_method tlsv1_2 (the default): sofia-sip has no switch for TLS 1.3, only for the older ones.
    assert sofia["tls-version"] == "tlsv1.2" and "tls-ciphers" not in sofia
    assert sofia["tls-verify-policy"] == "none"
    strict = replace(SETTINGS, sip=replace(SETTINGS.sip, tls_method="tlsv1_3", tls_ciphers="ECDHE+AESGCM", tls_port=5071))
    sofia = _params(render(url, strict)["autoload_configs/sofia.conf.xml"])
    assert (sofia["tls-version"], sofia["tls-ciphers"], sofia["tls-sip-port"]) == ("tlsv1.3", "ECDHE+AESGCM", "5071")


def test_sofia_reads_the_key_and_certificate_homepbx_writes_beside_the_xml(url: str) -> None:
    files = render(url)
    cert, key = CERT.read_text(), KEY.read_text()
    agent, chain = files[TLS_KEY_AND_CERT], files[TLS_CHAIN]
    assert MANAGED_MARKER in agent.splitlines()[0] and MANAGED_MARKER in chain.splitlines()[0]
    assert agent.endswith(key + cert) and chain.endswith(cert) and key not in chain
    assert TLS_KEY_AND_CERT in SECRET_FILES and TLS_CHAIN not in SECRET_FILES
    masked = redact(TLS_KEY_AND_CERT, agent)
    assert key.splitlines()[0] + "\n********\n" + key.splitlines()[-1] in masked and cert in masked
    # What sofia-sip does with agent.pem: load the certificate and the key from the same file.
    import ssl

    with tempfile.NamedTemporaryFile("w", suffix=".pem") as out:
        out.write(agent)
        out.flush()
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(out.name)


def test_tls_agents_get_mandatory_srtp_both_ways_and_clear_ones_none(url: str) -> None:
    small_site(url)
    directory = render(url)["directory/homepbx.xml"]
    tls = _user(directory, "1002")
    params = {p.get("name"): p.get("value") for p in tls.iter("param")}
    variables = {v.get("name"): v.get("value") for v in tls.iter("variable")}
    # Calls to the account (user/1002@homepbx: bridge, callcenter, spy) and calls from it.
    assert params["dial-var-rtp_secure_media_outbound"] == "mandatory:AES_CM_128_HMAC_SHA1_80"
    assert variables["rtp_secure_media_inbound"] == "mandatory:AES_CM_128_HMAC_SHA1_80"
    for ext in ("1001", "1003", "1900"):
        clear = _user(directory, ext)
        names = {e.get("name") for e in clear.iter() if e.get("name")}
        assert not {n for n in names if "secure_media" in n}, ext


def test_tls_agents_without_a_certificate_are_refused_not_rendered_in_clear(url: str) -> None:
    small_site(url)
    clear = replace(SETTINGS, sip=replace(SETTINGS.sip, tls_cert_file="", tls_key_file=""))
    with pytest.raises(InvalidInput) as err:
        render(url, clear)
    assert err.value.field == "sip.tls_cert_file" and "1002" in str(err.value)
    with db.session_scope(url) as s:
        s.query(Agent).filter_by(extension="1002").one().transport = "udp"
    files = render(url, clear)
    assert _params(files["autoload_configs/sofia.conf.xml"])["tls"] == "false"
    assert TLS_KEY_AND_CERT not in files and "secure_media" not in files["directory/homepbx.xml"]


def test_the_tls_port_must_differ_from_the_udp_port(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        render(url, replace(SETTINGS, sip=replace(SETTINGS.sip, tls_port=5060)))
    assert err.value.field == "sip.tls_port"
