"""Agent queue-state edge cases against a fake AMI (the real behaviour is in tests/lab).

The fake keeps its own member table, so each test states what "Asterisk" holds and checks what
homepbx sent and printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .cli_helpers import Cli, assert_plain_error, db_fingerprint
from .fake_ami import Action, Connection, FakeAmi, fake_ami_in_thread
from .cli_helpers import make_cli, url_of
from .test_supervision import point_at


@dataclass
class Member:
    paused: bool = False
    reason: str = ""


@dataclass
class FakeQueues:
    """What the fake Asterisk's app_queue holds: queue -> interface -> member."""

    queues: dict[str, dict[str, Member]] = field(default_factory=dict)
    # When False, QueuePause answers Success but changes nothing (Asterisk's answer is what counts).
    honour_pause: bool = True

    async def status(self, conn: Connection, action: Action) -> None:
        wanted = action.get("Member")
        await conn.reply(action, "Response: Success", "EventList: start", "Message: Queue status will follow")
        for q, members in self.queues.items():
            await conn.reply(action, "Event: QueueParams", f"Queue: {q}", "Max: 0", "Calls: 0")
            for iface, m in members.items():
                if wanted and wanted != iface:
                    continue
                await conn.reply(action, "Event: QueueMember", f"Queue: {q}", f"Name: {iface[6:]}",
                                 f"Location: {iface}", f"StateInterface: {iface}", "Penalty: 0", "CallsTaken: 3",
                                 "InCall: 0", "Status: 1", f"Paused: {int(m.paused)}", f"PausedReason: {m.reason}")
        await conn.reply(action, "Event: QueueStatusComplete", "EventList: Complete", "ListItems: 0")

    async def add(self, conn: Connection, action: Action) -> None:
        self.queues[action.get("Queue")][action.get("Interface")] = Member()
        await conn.reply(action, "Response: Success", "Message: Added interface to queue")

    async def remove(self, conn: Connection, action: Action) -> None:
        self.queues[action.get("Queue")].pop(action.get("Interface"))
        await conn.reply(action, "Response: Success", "Message: Removed interface from queue")

    async def pause(self, conn: Connection, action: Action) -> None:
        if self.honour_pause:
            for members in self.queues.values():
                if action.get("Interface") in members:
                    members[action.get("Interface")] = Member(action.get("Paused") == "true", action.get("Reason"))
        await conn.reply(action, "Response: Success", "Message: Interface paused successfully")


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (
        ("agent", "add", "1001", "--name", "Ann"),
        ("agent", "add", "1002", "--name", "Bob"),
        ("queue", "add", "sales", "--extension", "500"),
        ("queue", "add", "support", "--extension", "501"),
        ("queue", "member", "add", "sales", "1001"),
        ("queue", "member", "add", "support", "1001"),
    ):
        assert cli(*args).exit_code == 0, args
    return cli


@pytest.fixture
def pbx() -> Iterator[tuple[FakeAmi, FakeQueues]]:
    state = FakeQueues({"sales": {}, "support": {}})
    with fake_ami_in_thread() as fake:
        fake.scripts.update(queuestatus=state.status, queueadd=state.add, queueremove=state.remove,
                            queuepause=state.pause)
        yield fake, state


def test_login_adds_to_every_member_queue_once(cli: Cli, pbx: tuple[FakeAmi, FakeQueues]) -> None:
    ami, state = pbx
    state.queues["support"]["PJSIP/1001"] = Member()  # already logged in there
    point_at(cli, ami.port)
    res = cli("agent", "login", "1001", "--json")
    assert res.exit_code == 0, res.stderr
    [add] = [a for a in ami.actions if a.name == "QueueAdd"]
    assert (add.get("Queue"), add.get("Interface"), add.get("MemberName"), add.get("StateInterface")) == (
        "sales", "PJSIP/1001", "1001", "PJSIP/1001")
    assert json.loads(res.stdout)["queues"] == "sales,support"


def test_login_to_a_queue_asterisk_lacks_changes_nothing(cli: Cli, pbx: tuple[FakeAmi, FakeQueues]) -> None:
    ami, state = pbx
    del state.queues["support"]  # provisioned but never applied
    point_at(cli, ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("agent", "login", "1001")
    assert_plain_error(res, 1)
    assert "Asterisk has no queue 'support'" in res.stderr
    assert "QueueAdd" not in ami.names()  # not even sales: all or nothing
    assert db_fingerprint(url_of(cli)) == before


def test_status_shows_asterisks_state_not_the_request(cli: Cli, pbx: tuple[FakeAmi, FakeQueues]) -> None:
    ami, state = pbx
    state.queues["sales"]["PJSIP/1001"] = Member()
    state.honour_pause = False
    point_at(cli, ami.port)
    res = cli("agent", "pause", "1001", "--reason", "lunch", "--json")
    assert res.exit_code == 0, res.stderr
    [pause] = [a for a in ami.actions if a.name == "QueuePause"]
    assert (pause.get("Interface"), pause.get("Paused"), pause.get("Reason")) == ("PJSIP/1001", "true", "lunch")
    assert json.loads(res.stdout)["state"] == "available"  # Asterisk did not pause: say so


def test_status_of_everyone_lists_logged_out_agents_and_reasons(cli: Cli, pbx: tuple[FakeAmi, FakeQueues]) -> None:
    ami, state = pbx
    state.queues["sales"]["PJSIP/1001"] = Member(True, "Pause déjeuner")
    state.queues["support"]["PJSIP/1001"] = Member()
    point_at(cli, ami.port)
    rows = {r["agent"]: r for r in json.loads(cli("agent", "status", "--json").stdout)}
    assert rows["1001"]["state"] == "partly paused" and rows["1001"]["reason"] == "Pause déjeuner"
    assert rows["1001"]["paused_in"] == "sales"
    assert rows["1002"]["state"] == "logged out"


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("pause", "1001", "--reason", "x\r\nAction: Originate"), "reason"),
        (("pause", "1001", "--reason", "a,b"), "reason"),
        (("login", "1002"), "not a member of any queue"),
        (("login", "1001", "--queue", "nope"), "No queue is named"),
        (("logout", "1999"), "No agent has extension 1999"),
    ],
)
def test_bad_input_reaches_no_pbx(cli: Cli, pbx: tuple[FakeAmi, FakeQueues], args: tuple[str, ...],
                                  mentions: str) -> None:
    ami, _ = pbx
    point_at(cli, ami.port)
    before = db_fingerprint(url_of(cli))
    res = cli("agent", *args)
    assert_plain_error(res, 2)
    assert mentions in res.stderr
    assert ami.after_login() == []
    assert db_fingerprint(url_of(cli)) == before


def test_pause_when_logged_out_is_refused(cli: Cli, pbx: tuple[FakeAmi, FakeQueues]) -> None:
    ami, _ = pbx
    point_at(cli, ami.port)
    res = cli("agent", "pause", "1001", "--reason", "break")
    assert_plain_error(res, 2)
    assert "Agent 1001 is not logged in to any queue." in res.stderr
    assert "QueuePause" not in ami.names()


def test_wrong_ami_secret(cli: Cli, pbx: tuple[FakeAmi, FakeQueues]) -> None:
    ami, _ = pbx
    point_at(cli, ami.port, secret="nope")
    res = cli("agent", "status")
    assert_plain_error(res, 1)
    assert "refused the login" in res.stderr
