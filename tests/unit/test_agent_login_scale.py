"""Issue 17: `agent login` reads as much from Asterisk with 400 members in the queue as with none.

`agent login` was measured at 1.5-2 s per agent once a queue had 250-400 members. What it
reads must not depend on the queue's size: every QueueStatus asks for the one member
(`Member:` filter), so Asterisk sends that agent's QueueMember events only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import Cli
from .fake_ami import Action, Connection, fake_ami_in_thread
from .test_agent_state import FakeQueues, Member
from .cli_helpers import make_cli
from .test_supervision import point_at


class CountingQueues(FakeQueues):
    """FakeQueues counting the events its QueueStatus answers carry."""

    events_sent = 0

    async def status(self, conn: Connection, action: Action) -> None:
        wanted = action.get("Member")
        self.events_sent += 2 + sum(1 for members in self.queues.values()
                                    for iface in members if not wanted or wanted == iface)
        self.events_sent += len(self.queues)
        await super().status(conn, action)


def _events_read_by_login(cli: Cli, others: int) -> tuple[int, list[str]]:
    state = CountingQueues({"sales": {f"PJSIP/{2000 + i}": Member() for i in range(others)}, "support": {}})
    with fake_ami_in_thread() as fake:
        fake.scripts.update(queuestatus=state.status, queueadd=state.add, queueremove=state.remove,
                            queuepause=state.pause)
        point_at(cli, fake.port)
        res = cli("agent", "login", "1001")
        assert res.exit_code == 0, res.stderr
        filters = [a.get("Member") for a in fake.actions if a.name == "QueueStatus"]
    return state.events_sent, filters


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (("agent", "add", "1001", "--name", "Ann"), ("queue", "add", "sales", "--extension", "500"),
                 ("queue", "add", "support", "--extension", "501"), ("queue", "member", "add", "sales", "1001"),
                 ("queue", "member", "add", "support", "1001")):
        assert cli(*args).exit_code == 0, args
    return cli


def test_login_reads_the_same_whatever_the_queue_size(cli: Cli) -> None:
    small, filters = _events_read_by_login(cli, 0)
    large, _ = _events_read_by_login(cli, 400)
    assert filters and set(filters) == {"PJSIP/1001"}  # never a full dump
    assert large == small
