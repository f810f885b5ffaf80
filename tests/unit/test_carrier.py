"""The carrier side (issue 11): trunks, numbers, opening hours, outbound policies, overflow.

CLI behaviour (secrets never printed, bad input exit 2 with nothing written), the rendered
PJSIP objects and dialplan, the schedule's evaluation across daylight-saving changes, and the
numbering plan's classes.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from homepbx import config, db, dialing, hours
from homepbx.asterisk.render import render_site
from homepbx.credentials import md5_cred

from .cli_helpers import Cli, assert_plain_error, db_fingerprint
from .cli_helpers import make_cli, url_of

SECRET = "S3cret-carrier"


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (
        ("team", "add", "sales"),
        ("team", "add", "support"),
        ("agent", "add", "1001", "--name", "Ann", "--team", "sales"),
        ("agent", "add", "1002", "--name", "Bob", "--team", "support"),
        ("queue", "add", "accueil", "--extension", "500"),
        ("queue", "add", "overflow", "--extension", "501"),
        ("hours", "add", "office", "--weekly", "mon-fri 09:00-12:30,13:30-18:00", "--weekly", "sat 09:00-12:00",
         "--tz", "Europe/Paris", "--closed", "2026-12-24"),
        ("trunk", "add", "ipcarrier", "--host", "192.0.2.10", "--match", "192.0.2.10,198.51.100.0/24",
         "--caller-id", "01 40 00 00 00", "--max-channels", "10"),
        ("number", "add", "01 40 00 00 01", "--trunk", "ipcarrier", "--queue", "accueil", "--hours", "office",
         "--closed-queue", "overflow"),
        ("team", "outbound", "sales", "--policy", "national", "--caller-id", "+33140000002"),
        ("queue", "overflow", "accueil", "--to", "queue", "--target", "overflow"),
    ):
        res = cli(*args)
        assert res.exit_code == 0, (args, res.stderr)
    res = cli("trunk", "add", "regcarrier", "--host", "sip.carrier.example", "--username", "acme",
              "--realm", "carrier.test", input=SECRET + "\n")
    assert res.exit_code == 0, res.stderr
    return cli


def _render(cli: Cli) -> dict[str, str]:
    settings = config.load(cli.config_path)
    with db.session_scope(settings.database.url) as s:
        return render_site(s, settings)


def test_secret_is_kept_as_a_digest_and_never_printed(site: Cli) -> None:
    listing = site("trunk", "list", "--json").stdout + site("trunk", "show", "regcarrier", "--json").stdout
    digest = md5_cred("acme", "carrier.test", SECRET)
    assert SECRET not in listing and digest not in listing
    shown = json.loads(site("trunk", "show", "regcarrier", "--json").stdout)
    assert shown["mode"] == "register" and shown["realm"] == "carrier.test" and "md5_cred" not in shown
    pjsip = _render(site)["pjsip.conf"]
    assert f"md5_cred = {digest}" in pjsip and SECRET not in pjsip
    # The audit log never holds it either.
    from sqlalchemy import text

    with db.engine_for(url_of(site)).connect() as conn:
        details = " ".join(r[0] for r in conn.execute(text("SELECT details FROM audit_log")))
    assert SECRET not in details and digest not in details


def test_secret_from_a_file_and_never_from_argv(site: Cli, tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("other-secret\n")
    assert site("trunk", "update", "regcarrier", "--secret-file", str(f)).exit_code == 0
    assert md5_cred("acme", "carrier.test", "other-secret") in _render(site)["pjsip.conf"]
    res = site("trunk", "add", "x", "--host", "h.example", "--username", "u", "--secret", "oops")
    assert res.exit_code == 2  # no such option: a secret is never an argument


def test_rendered_trunks_numbers_hours_and_outbound(site: Cli) -> None:
    files = _render(site)
    pjsip, ext = files["pjsip.conf"], files["extensions.conf"]
    assert "[trunk-ipcarrier](homepbx-media)\ncontext = homepbx-from-trunk-ipcarrier" in pjsip
    assert "type = identify\nendpoint = trunk-ipcarrier\nmatch = 192.0.2.10/32\nmatch = 198.51.100.0/24" in pjsip
    assert "server_uri = sip:sip.carrier.example:5060\nclient_uri = sip:acme@sip.carrier.example:5060" in pjsip
    assert "line = yes\nendpoint = trunk-regcarrier" in pjsip
    # Every form the carrier may send the number in reaches the E.164 entry.
    for form in ("+33140000001", "33140000001", "0140000001"):
        assert f"exten => {form},1,Goto(homepbx-numbers,+33140000001,1)" in ext
    assert "exten => +33140000001,1,Set(GROUP(homepbx-trunk)=ipcarrier)" in ext
    assert "ExecIf($[${GROUP_COUNT(ipcarrier@homepbx-trunk)} > 10]?Hangup(34))" in ext
    assert " same => n,Gosub(homepbx-hours-office,s,1)" in ext
    assert " same => n(closed),Goto(homepbx-queues,501,1)" in ext
    # Hours in the schedule's zone, end minute excluded; holidays and the closure by date.
    assert "GotoIfTime(09:00-12:29,mon-fri,*,*,Europe/Paris?open)" in ext
    assert "GotoIfTime(13:30-17:59,mon-fri,*,*,Europe/Paris?open)" in ext
    assert "GotoIfTime(09:00-11:59,sat,*,*,Europe/Paris?open)" in ext
    assert "exten => 20261224,1,Return(closed)" in ext  # one-off closure
    assert "exten => 20261225,1,Return(closed)" in ext  # Christmas (holidays library, FR)
    assert "${STRFTIME(${EPOCH},Europe/Paris,%Y%m%d)}" in ext
    # Outbound: sales may call national numbers only, with its caller id.
    assert "exten => sales-national,1,Return()" in ext
    assert "sales-mobile" not in ext and "support-national" not in ext
    assert "exten => sales,1,Return(+33140000002)" in ext
    assert "exten => 1001,1,Return(sales)" in ext
    assert "Log(SECURITY,homepbx outbound refused: agent ${agent} number ${ARG2}" in ext
    assert "exten => 112,1,Gosub(homepbx-outbound-go,s,1(emergency,${EXTEN},${EXTEN}))" in ext
    assert "Dial(PJSIP/${EXTEN}@trunk-ipcarrier,60)" in ext
    # The queue overflows to another queue; its queues.conf lets callers in only with agents.
    assert " same => n,Goto(homepbx-queues,501,1)" in ext
    accueil = files["queues.conf"].split("[accueil]")[1].split("\n[")[0]
    assert "joinempty = unavailable,invalid" in accueil


def test_render_is_deterministic(site: Cli) -> None:
    assert _render(site) == _render(site)


BAD = [
    (("trunk", "add", "bad", "--host", "bad host!", "--match", "192.0.2.1"), "host"),
    (("trunk", "add", "Bad", "--host", "h.example", "--match", "192.0.2.1"), "trunk"),
    (("trunk", "add", "nomatch", "--host", "h.example"), "match"),
    (("trunk", "add", "badnet", "--host", "h.example", "--match", "300.1.1.1"), "match"),
    (("trunk", "add", "badcodec", "--host", "h.example", "--match", "192.0.2.1", "--codecs", "mp3"), "codec"),
    (("trunk", "add", "user;x", "--host", "h.example", "--username", "a;b"), "trunk"),
    (("number", "add", "12", "--trunk", "ipcarrier", "--queue", "accueil"), "number"),
    (("number", "add", "not a number", "--trunk", "ipcarrier", "--queue", "accueil"), "number"),
    (("number", "add", "0140000009", "--trunk", "ipcarrier", "--queue", "nosuchqueue"), "queue"),
    (("number", "add", "0140000009", "--trunk", "nosuch", "--queue", "accueil"), "trunk"),
    (("number", "add", "0140000009", "--trunk", "ipcarrier", "--queue", "accueil", "--closed-message", "a;b"),
     "closed message"),
    (("hours", "add", "h2", "--weekly", "mon-fri 09:00-12:00,11:00-13:00"), "overlaps"),
    (("hours", "add", "h2", "--weekly", "mon-xyz 09:00-12:00"), "schedule"),
    (("hours", "add", "h2", "--weekly", "mon 25:00-26:00"), "schedule"),
    (("hours", "add", "h2", "--weekly", "mon 09:00-18:00", "--tz", "Mars/Olympus"), "time zone"),
    (("hours", "add", "h2", "--weekly", "mon 09:00-18:00", "--holidays", "XX"), "holidays"),
    (("team", "outbound", "sales", "--policy", "galactic"), "policy"),
    (("team", "outbound", "sales", "--caller-id", "abc"), "caller id"),
    (("queue", "overflow", "accueil", "--to", "queue", "--target", "nosuch"), "overflow queue"),
    (("trunk", "remove", "ipcarrier"), "number"),
    (("hours", "remove", "office"), "number"),
]


@pytest.mark.parametrize(("args", "mentions"), BAD)
def test_bad_input_exits_2_names_the_field_and_writes_nothing(site: Cli, args: tuple[str, ...], mentions: str) -> None:
    before = db_fingerprint(url_of(site))
    res = site(*args, input="")
    assert_plain_error(res, 2)
    assert mentions.lower() in res.stderr.lower(), res.stderr
    assert db_fingerprint(url_of(site)) == before


def test_a_registering_trunk_without_secret_is_refused(site: Cli) -> None:
    before = db_fingerprint(url_of(site))
    res = site("trunk", "add", "nosecret", "--host", "h.example", "--username", "u", input="")
    assert_plain_error(res, 2)
    assert "secret" in res.stderr
    assert db_fingerprint(url_of(site)) == before


def test_numbers_are_normalised_and_listed(site: Cli) -> None:
    rows = json.loads(site("number", "list", "--json").stdout)
    assert rows == [{"number": "+33140000001", "trunk": "ipcarrier", "route": "queue", "target": "accueil",
                     "hours": "office", "closed_message": "ss-noservice", "closed_queue": "overflow", "label": ""}]
    assert site("number", "update", "+33 1 40 00 00 01", "--agent", "1001").exit_code == 0
    assert json.loads(site("number", "list", "--json").stdout)[0]["route"] == "agent"
    assert " same => n,Dial(PJSIP/1001,30,trb(homepbx-quality^s^1))" in _render(site)["extensions.conf"]
    assert site("number", "remove", "0140000001").exit_code == 0
    assert json.loads(site("number", "list", "--json").stdout) == []


# --- opening hours ---------------------------------------------------------------------------------

RULES = hours.parse_weekly("mon-fri 09:00-12:30,13:30-18:00")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(("at", "expected"), [
    # 2026-03-27 (Friday) is before the spring change: Paris = UTC+1.
    (_utc(2026, 3, 27, 7, 59), False), (_utc(2026, 3, 27, 8, 0), True), (_utc(2026, 3, 27, 16, 59), True),
    (_utc(2026, 3, 27, 17, 0), False),
    # 2026-03-30 (Monday) is after it: Paris = UTC+2, the same local hours two UTC hours earlier.
    (_utc(2026, 3, 30, 6, 59), False), (_utc(2026, 3, 30, 7, 0), True), (_utc(2026, 3, 30, 15, 59), True),
    (_utc(2026, 3, 30, 16, 0), False), (_utc(2026, 3, 30, 10, 29), True), (_utc(2026, 3, 30, 10, 30), False),
    # Autumn change (2026-10-25): back to UTC+1 on Monday 26th.
    (_utc(2026, 10, 23, 7, 0), True), (_utc(2026, 10, 26, 7, 0), False), (_utc(2026, 10, 26, 8, 0), True),
    # Weekend.
    (_utc(2026, 3, 28, 10, 0), False),
])
def test_schedule_follows_the_zone_across_daylight_saving(at: datetime, expected: bool) -> None:
    assert hours.is_open(RULES, "Europe/Paris", frozenset(), at) is expected


def test_holidays_and_closures_close_the_day() -> None:
    closed = hours.closed_dates("FR", "2026-06-15", (2026,))
    assert date(2026, 5, 1) in closed and date(2026, 7, 14) in closed and date(2026, 6, 15) in closed
    assert not hours.is_open(RULES, "Europe/Paris", frozenset(closed), _utc(2026, 7, 14, 9, 0))
    assert not hours.is_open(RULES, "Europe/Paris", frozenset(closed), _utc(2026, 6, 15, 9, 0))
    assert hours.is_open(RULES, "Europe/Paris", frozenset(closed), _utc(2026, 6, 16, 9, 0))


def test_schedule_canonical_form() -> None:
    rules = hours.parse_weekly("mon 09:00-18:00; tue-fri 09:00-18:00;sat 10:00-12:00")
    assert hours.canonical(rules) == "mon-fri 09:00-18:00; sat 10:00-12:00"


# --- the numbering plan --------------------------------------------------------------------------------

@pytest.mark.parametrize(("digits", "klass", "sent"), [
    ("0140000000", "national", "+33140000000"), ("0912345678", "national", "+33912345678"),
    ("0612345678", "mobile", "+33612345678"), ("0712345678", "mobile", "+33712345678"),
    ("0800123456", "national", "+33800123456"), ("0892123456", "premium", "+33892123456"),
    ("3949", "premium", "3949"), ("118712", "premium", "118712"),
    ("+33140000000", "national", "+33140000000"), ("0033612345678", "mobile", "+33612345678"),
    ("+4915112345678", "international", "+4915112345678"), ("004915112345678", "international", "+4915112345678"),
    ("112", "emergency", "112"), ("15", "emergency", "15"), ("17", "emergency", "17"), ("18", "emergency", "18"),
])
def test_french_numbering_plan(digits: str, klass: str, sent: str) -> None:
    p = dialing.classify("FR", digits)
    assert p is not None and p.klass == klass and p.prefix + digits[p.strip:] == sent


def test_policies_include_the_classes_before_them() -> None:
    assert dialing.allowed("none", False) == frozenset()
    assert dialing.allowed("national", False) == {"national"}
    assert dialing.allowed("mobile", True) == {"national", "mobile", "premium"}
    assert "premium" not in dialing.allowed("international", False)


def test_emergency_numbers_are_reserved_extensions(site: Cli) -> None:
    for n in ("15", "17", "18", "112"):
        assert_plain_error(site("agent", "add", n, "--name", "X"), 2)


# --- call records: direction, number, trunk ------------------------------------------------------------

def _cel(t: float, event: str, uid: str, context: str, exten: str, app: str = "") -> "CelEvent":
    from homepbx.records.types import CelEvent

    return CelEvent(time=t, event=event, linkedid="L.1", uniqueid=uid, channel=f"PJSIP/{uid}", exten=exten,
                    appname=app, context=context)


def test_direction_number_and_trunk_from_the_contexts() -> None:
    from homepbx.records.direction import Direction

    inbound = Direction()
    for ev in (_cel(1, "CHAN_START", "L.1", "homepbx-from-trunk-acme", "0140000001"),
               _cel(2, "ANSWER", "L.1", "homepbx-numbers", "+33140000001"),
               _cel(3, "APP_START", "L.1", "homepbx-queues", "500", "Queue")):
        inbound.see(ev)
    assert inbound.values() == ("inbound", "+33140000001", "acme")

    # An outbound call's trunk leg starts in the trunk's context too: the first channel decides.
    outbound = Direction()
    for ev in (_cel(1, "CHAN_START", "L.1", "homepbx-agents", "0145678901"),
               _cel(2, "APP_START", "L.1", "homepbx-to-trunk-acme", "+33145678901", "Dial"),
               _cel(3, "CHAN_START", "L.2", "homepbx-from-trunk-acme", "s")):
        outbound.see(ev)
    assert outbound.values() == ("outbound", "+33145678901", "acme")

    internal = Direction()
    internal.see(_cel(1, "CHAN_START", "L.1", "homepbx-agents", "1002"))
    assert internal.values() == ("internal", "", "")


def test_engine_stores_direction_number_and_trunk() -> None:
    from homepbx.records.events import Engine

    engine = Engine()
    for ev in (_cel(100, "CHAN_START", "L.1", "homepbx-from-trunk-acme", "0140000001"),
               _cel(101, "ANSWER", "L.1", "homepbx-numbers", "+33140000001"),
               _cel(105, "HANGUP", "L.1", "homepbx-numbers", "+33140000001"),
               _cel(105, "CHAN_END", "L.1", "homepbx-numbers", "+33140000001"),
               _cel(105, "LINKEDID_END", "L.1", "homepbx-numbers", "+33140000001")):
        engine.feed(ev)
    [done] = engine.drain().calls
    assert (done.call.direction, done.call.number, done.call.trunk) == ("inbound", "+33140000001", "acme")


def test_diffs_mask_digest_credentials_and_secrets() -> None:
    from homepbx.asterisk.config_target import redact

    text = "md5_cred = 0123456789abcdef0123456789abcdef\nsecret = s\npassword = p\nusername = acme\n"
    assert redact("pjsip.conf", text) == "md5_cred = ********\nsecret = ********\npassword = ********\nusername = acme\n"
