"""Supervision edge cases against a fake AMI: what reaches "Asterisk", exit codes, the audit log.

The happy paths (who hears whom) are proven on the real lab in tests/lab/test_supervision_lab.py.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from homepbx import config, supervision
from homepbx.asterisk import spy as asterisk_spy
from homepbx.features import CODES
from homepbx.pbx import SPY_MODES, SpyPlan

from .cli_helpers import Cli, assert_plain_error, db_fingerprint
from .fake_ami import Action, Connection, FakeAmi, fake_ami_in_thread
from .cli_helpers import make_cli, url_of

AGENT_CHANNEL = "PJSIP/1001-0000002a"


def point_at(cli: Cli, port: int, secret: str = "s3cret") -> None:
    """Rewrite the CLI's settings file so AMI goes to the fake server."""
    settings = config.load(cli.config_path)
    ami = dataclasses.replace(settings.ami, host="127.0.0.1", port=port, secret=secret, timeout=2.0)
    cli.config_path.write_text(config.to_toml(dataclasses.replace(settings, ami=ami)), encoding="utf-8")


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (
        ("team", "add", "sales"),
        ("team", "add", "support"),
        ("agent", "add", "1001", "--name", "Ann", "--team", "sales"),
        ("agent", "add", "1002", "--name", "Bob", "--team", "support"),
        ("agent", "add", "2001", "--name", "Full", "--role", "supervisor"),
        ("agent", "add", "2002", "--name", "Coach", "--role", "supervisor", "--modes", "listen,whisper"),
        ("supervisor", "scope", "add", "2001", "sales"),
        ("supervisor", "scope", "add", "2002", "sales"),
    ):
        assert cli(*args).exit_code == 0, args
    return cli


def channels_script(*channels: str):  # noqa: ANN201 - a FakeAmi script
    async def script(conn: Connection, action: Action) -> None:
        await conn.reply(action, "Response: Success", "EventList: start", "Message: Channels will follow")
        for name in channels:
            await conn.reply(action, "Event: CoreShowChannel", f"Channel: {name}", "ChannelStateDesc: Up",
                             "Uniqueid: 1.1", "Linkedid: 1.1", "Duration: 00:00:12")
        await conn.reply(action, "Event: CoreShowChannelsComplete", "EventList: Complete",
                         f"ListItems: {len(channels)}")
    return script


def originate_script(answer: bool = True, reason: str = "4", spy_starts: bool = True):  # noqa: ANN201
    async def script(conn: Connection, action: Action) -> None:
        await conn.reply(action, "Response: Success", "Message: Originate successfully queued")
        sup = action.get("Channel")
        await conn.reply(action, "Event: OriginateResponse", f"Response: {'Success' if answer else 'Failure'}",
                         f"Channel: {sup}-00000031", f"Reason: {reason}")
        if answer and spy_starts:
            target = action.get("Data").split(",")[0]
            await conn.send(f"Event: ChanSpyStart\r\nSpyerChannel: {sup}-00000031\r\n"
                            f"SpyeeChannel: {target}\r\n\r\n".encode())
    return script


@pytest.fixture
def ami() -> Iterator[FakeAmi]:
    with fake_ami_in_thread() as fake:
        fake.scripts["coreshowchannels"] = channels_script(AGENT_CHANNEL, "PJSIP/1002-0000002b")
        fake.scripts["originate"] = originate_script()
        yield fake


def spy_entries(cli: Cli) -> list[dict[str, object]]:
    from sqlalchemy import select

    from homepbx import db
    from homepbx.models import AuditEntry

    with db.session_scope(url_of(cli)) as s:
        return [json.loads(e.details) | {"action": e.action, "target": e.target}
                for e in s.scalars(select(AuditEntry).where(AuditEntry.action.startswith("spy.")))]


@pytest.mark.parametrize(
    ("supervisor", "mode", "options"),
    [("2001", "whisper", "qEuwd"), ("2001", "listen", "qEud"), ("2001", "barge", "qEuBd"),
     ("2002", "whisper", "qEuw"), ("2002", "listen", "qEu")],
)
def test_spy_originates_chanspy_on_the_agents_exact_channel(cli: Cli, ami: FakeAmi, supervisor: str, mode: str,
                                                            options: str) -> None:
    point_at(cli, ami.port)
    res = cli("spy", mode, "1001", "--supervisor", supervisor)
    assert res.exit_code == 0, res.stderr
    [originate] = [a for a in ami.actions if a.name == "Originate"]
    assert originate.get("Channel") == f"PJSIP/{supervisor}"
    assert originate.get("Application") == "ChanSpy"
    # `d` (DTMF mode switching) only for the supervisor holding all three modes.
    assert originate.get("Data") == f"{AGENT_CHANNEL},{options}"
    assert originate.get("Async") == "true"
    [entry] = spy_entries(cli)
    assert entry["action"] == f"spy.{mode}" and entry["supervisor"] == supervisor and entry["agent"] == "1001"
    assert entry["agent_channel"] == AGENT_CHANNEL


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("whisper", "1002", "--supervisor", "2001"), "not in a team supervisor 2001 may supervise"),
        (("barge", "1001", "--supervisor", "2002"), "not allowed to barge"),
        (("listen", "1001", "--supervisor", "1002"), "not a supervisor"),
        (("listen", "1001", "--supervisor", "2999"), "No agent has extension 2999"),
        (("listen", "1999", "--supervisor", "2001"), "No agent has extension 1999"),
        (("listen", "10x1", "--supervisor", "2001"), "extension"),
        (("listen", "2001", "--supervisor", "2001"), "own calls"),
    ],
)
def test_refused_requests_reach_no_pbx_and_change_nothing(cli: Cli, ami: FakeAmi, args: tuple[str, ...],
                                                          mentions: str) -> None:
    point_at(cli, ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("spy", *args)
    assert_plain_error(res, 2)
    assert mentions in res.stderr
    assert ami.after_login() == []
    assert db_fingerprint(url_of(cli)) == before


def test_agent_not_on_a_call(cli: Cli, ami: FakeAmi) -> None:
    ami.scripts["coreshowchannels"] = channels_script("PJSIP/10010-00000001")  # 10010 is not 1001
    point_at(cli, ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("spy", "listen", "1001", "--supervisor", "2001")
    assert_plain_error(res, 2)
    assert "Agent 1001 is not on a call." in res.stderr
    assert "Originate" not in ami.names()
    assert db_fingerprint(url_of(cli)) == before


def test_supervisor_not_answering_is_an_operational_error(cli: Cli, ami: FakeAmi) -> None:
    ami.scripts["originate"] = originate_script(answer=False, reason="3")
    point_at(cli, ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("spy", "whisper", "1001", "--supervisor", "2001")
    assert_plain_error(res, 1)
    assert "Supervisor 2001's softphone rang without an answer." in res.stderr
    assert db_fingerprint(url_of(cli)) == before


def test_spy_that_never_starts_hangs_up_the_supervisor(cli: Cli, ami: FakeAmi,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asterisk_spy, "SPY_START_TIMEOUT", 0.3)
    ami.scripts["originate"] = originate_script(spy_starts=False)
    point_at(cli, ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("spy", "listen", "1001", "--supervisor", "2001")
    assert_plain_error(res, 1)
    assert "did not start" in res.stderr
    [hangup] = [a for a in ami.actions if a.name == "Hangup"]
    assert hangup.get("Channel") == "PJSIP/2001-00000031"
    assert db_fingerprint(url_of(cli)) == before


def test_wrong_ami_credentials(cli: Cli, ami: FakeAmi) -> None:
    point_at(cli, ami.port, secret="wrong")
    before = db_fingerprint(url_of(cli))
    res = cli("spy", "listen", "1001", "--supervisor", "2001")
    assert_plain_error(res, 1)
    assert "refused the login" in res.stderr
    assert db_fingerprint(url_of(cli)) == before


def test_asterisk_down(cli: Cli) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    point_at(cli, port)
    before = db_fingerprint(url_of(cli))
    res = cli("spy", "listen", "1001", "--supervisor", "2001")
    assert_plain_error(res, 1)
    assert "refused the connection" in res.stderr
    assert db_fingerprint(url_of(cli)) == before


def test_chanspy_options_never_switch_for_partial_modes() -> None:
    def options(mode: str, held: tuple[str, ...]) -> str:
        return asterisk_spy.chanspy_options(SpyPlan("2001", "1001", mode, supervision.may_switch(held)))

    assert options("listen", ("listen",)) == "qEu"
    assert options("whisper", ("listen", "whisper")) == "qEuw"
    assert options("barge", ("listen", "whisper", "barge")) == "qEuBd"


def test_the_codes_follow_the_modes_and_chanspys_fixed_switch_digits() -> None:
    assert tuple(CODES.spy) == SPY_MODES == supervision.MODES
    # ChanSpy's `d` switches on 4, 5 and 6 whatever we say: the documented digits must be those.
    assert dict(CODES.mode_switch) == {"listen": "4", "whisper": "5", "barge": "6"}
    assert [CODES.spy_mode(CODES.spy[m]) for m in SPY_MODES] == list(SPY_MODES)
    assert CODES.spy_mode("*41") is None


def test_json_output_names_the_call_and_the_switching(cli: Cli, ami: FakeAmi) -> None:
    point_at(cli, ami.port)
    res = cli("spy", "listen", "1001", "--supervisor", "2002", "--json")
    assert res.exit_code == 0, res.stderr
    shown = json.loads(res.stdout)
    assert (shown["supervisor"], shown["agent"], shown["mode"]) == ("2002", "1001", "listen")
    assert shown["call_id"] == "1.1"  # the agent's call's linkedid, as its call record will carry
    assert shown["agent_channel"] == AGENT_CHANNEL
    assert shown["mode_switching"] is False
