"""AmiClient against a fake AMI server: one regression test per panoramisk 1.4 defect, and more."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.unit.fake_ami import Action, Connection, FakeAmi, fake_ami_in_thread, frame

import homepbx.asterisk.ami
from homepbx.asterisk.ami import (
    AmiActionError,
    AmiClient,
    AmiDisconnected,
    AmiLoginError,
    AmiTimeout,
    AmiUnavailable,
    Message,
    UnsafeHeader,
    run_actions,
)
from homepbx.config import AmiSettings
from homepbx.errors import OperationalError


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run one test scenario with a hard ceiling, so a hang fails fast instead of stalling CI."""

    async def bounded() -> Any:
        async with asyncio.timeout(4):
            return await main()

    return asyncio.run(bounded())


def client_for(ami: FakeAmi, **options: Any) -> AmiClient:
    options.setdefault("timeout", 1.0)
    return AmiClient("127.0.0.1", ami.port, "homepbx", options.pop("secret", "s3cret"), **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# -- connecting ----------------------------------------------------------------------------------


def test_connect_ping_close() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            async with client_for(ami) as client:
                assert client.connected and client.version == "9.0.0"
                response = await client.ping()
                assert response.success and response["Ping"] == "Pong"
            assert not client.connected
            assert ami.names() == ["Login", "Ping", "Logoff"]
            login = ami.actions[0]
            assert login.get("Username") == "homepbx" and login.get("Events") == "on"

    run(main)


def test_failed_login_raises() -> None:
    """panoramisk: connect() returned and `authenticated` silently stayed False."""

    async def main() -> None:
        async with FakeAmi() as ami:
            client = client_for(ami, secret="wrong")
            with pytest.raises(AmiLoginError) as info:
                await client.connect()
            assert str(info.value) == (
                f"Asterisk's manager interface at 127.0.0.1:{ami.port} refused the login for user homepbx."
            )
            assert isinstance(info.value, OperationalError) and info.value.exit_code == 1
            assert not client.connected
            with pytest.raises(AmiDisconnected):
                await client.ping()

    run(main)


def test_refused_connection_raises_unavailable() -> None:
    async def main() -> None:
        port = free_port()
        with pytest.raises(AmiUnavailable) as info:
            await AmiClient("127.0.0.1", port, "homepbx", "x", timeout=1).connect()
        assert str(info.value) == f"Asterisk's manager interface at 127.0.0.1:{port} refused the connection."

    run(main)


def test_silent_server_raises_unavailable_after_the_timeout() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            server = ami._answer

            async def silent_on_login(conn: Connection, action: Action) -> None:
                # Accepts the TCP connection, never answers the Login (a wedged Asterisk).
                if action.name != "Login":
                    await server(conn, action)

            ami._answer = silent_on_login  # type: ignore[method-assign]
            with pytest.raises(AmiUnavailable, match="did not answer the login within 0.2 s"):
                await client_for(ami, timeout=0.2).connect()

    run(main)


# -- writing ---------------------------------------------------------------------------------------


def test_crlf_in_a_value_cannot_inject_a_second_action() -> None:
    """panoramisk: 'PJSIP/1\\r\\nAction: Hangup' was written as is: a second action."""

    async def main() -> None:
        async with FakeAmi() as ami:
            async with client_for(ami) as client:
                for headers in (
                    {"Channel": "PJSIP/1\r\n\r\nAction: Hangup\r\nChannel: PJSIP/victim"},
                    {"Channel": "PJSIP/1\nAction: Hangup"},
                    {"Channel\r\nAction: Hangup\r\nX": "1"},
                    {"ActionID": "x\r\nAction: Hangup"},
                ):
                    with pytest.raises(UnsafeHeader):
                        await client.action("Originate", headers)
                with pytest.raises(UnsafeHeader):
                    await client.action("Ping\r\n\r\nAction: Hangup")
                await client.action("Originate", {"Channel": "PJSIP/1", "Application": "Playback"})
            assert ami.after_login() == ["Originate", "Logoff"]
            assert b"Hangup" not in ami.raw

    run(main)


def test_action_id_is_the_clients_own_and_unique() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            async with client_for(ami) as client:
                with pytest.raises(UnsafeHeader):
                    await client.action("Ping", {"ActionID": "mine"})
                await asyncio.gather(*(client.ping() for _ in range(5)))
            ids = [a.id for a in ami.actions]
            assert len(set(ids)) == len(ids) and "mine" not in ids

    run(main)


# -- reading ---------------------------------------------------------------------------------------


def test_utf8_character_split_across_two_tcp_writes_arrives_intact() -> None:
    """panoramisk decoded each TCP chunk alone with errors='ignore': 'café' became 'caf'."""

    async def main() -> None:
        async with FakeAmi() as ami:
            async with client_for(ami) as client:
                names: list[str] = []
                client.add_event_handler("Greeting", lambda e: names.append(e["Name"]))
                await ami.send(b"Event: Greeting\r\nName: caf\xc3")
                await asyncio.sleep(0.02)  # let the client read the first half on its own
                await ami.send(b"\xa9\r\n\r\n")
                await until(lambda: bool(names))
                assert names == ["café"]

    run(main)


def test_command_output_lines() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:

            async def command(conn: Connection, action: Action) -> None:
                if action.get("Command") == "no such command":
                    await conn.reply(
                        action,
                        "Response: Error",
                        "Message: Command output follows",
                        "Output: No such command 'no such command' (type 'core show help no such' "
                        "for other possible commands)",
                    )
                    return
                await conn.reply(
                    action,
                    "Response: Success",
                    "Message: Command output follows",
                    "Output: Asterisk 22.10.0 built by debian",
                    "Output: second line",
                )

            ami.scripts["command"] = command
            async with client_for(ami) as client:
                assert await client.command("core show version") == [
                    "Asterisk 22.10.0 built by debian",
                    "second line",
                ]
                # What Asterisk 22.10 answers for an unknown CLI command (checked on a real one).
                with pytest.raises(AmiActionError) as info:
                    await client.command("no such command")
                assert str(info.value) == (
                    "Asterisk refused the Command action: No such command 'no such command' "
                    "(type 'core show help no such' for other possible commands)."
                )

    run(main)


def test_error_response_is_returned_and_can_raise() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:

            async def refuse(conn: Connection, action: Action) -> None:
                await conn.reply(action, "Response: Error", "Message: No such channel")

            ami.scripts["hangup"] = refuse
            async with client_for(ami) as client:
                response = await client.action("Hangup", {"Channel": "PJSIP/none"})
                assert not response.success and response.text == "No such channel"
                with pytest.raises(AmiActionError, match="^Asterisk refused the Hangup action: No such channel.$"):
                    response.raise_for_error()

    run(main)


# -- timeouts ----------------------------------------------------------------------------------------


def test_per_action_timeout() -> None:
    """panoramisk had no per-action timeout: an unanswered action waited forever."""

    async def main() -> None:
        async with FakeAmi() as ami:
            ami.hold.add("originate")
            async with client_for(ami, timeout=3) as client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(AmiTimeout, match="did not answer the Originate action within 0.1 s"):
                    await client.action("Originate", {"Channel": "PJSIP/1"}, timeout=0.1)
                assert loop.time() - started < 1
                late = ami.actions[-1]
                # A late answer to the abandoned action is harmless; the connection still works.
                await ami.connections[-1].reply(late, "Response: Success", "Message: Originate successfully queued")
                assert (await client.ping()).success

    run(main)


# -- events -------------------------------------------------------------------------------------------


def test_raising_handler_neither_kills_the_connection_nor_drops_the_rest_of_the_chunk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """panoramisk: an exception in a sync handler killed the connection and lost the chunk."""

    async def main() -> None:
        async with FakeAmi() as ami:
            async with client_for(ami) as client:
                seen: list[str] = []
                async_seen: list[str] = []

                def broken(event: Message) -> None:
                    raise RuntimeError("handler bug")

                async def broken_async(event: Message) -> None:
                    raise RuntimeError("async handler bug")

                async def fine_async(event: Message) -> None:
                    async_seen.append(event["Uniqueid"])

                client.add_event_handler("Newchannel", broken)
                client.add_event_handler("*", broken_async)
                client.add_event_handler("Newchannel", lambda e: seen.append(e["Uniqueid"]))
                client.add_event_handler("*", fine_async)
                # One write: three events in the same TCP chunk.
                await ami.send(b"".join(frame("Event: Newchannel", f"Uniqueid: {i}") for i in range(3)))
                await until(lambda: len(async_seen) == 3)
                assert seen == ["0", "1", "2"] and async_seen == ["0", "1", "2"]
                assert client.connected and (await client.ping()).success
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and "handler" in r.getMessage()]
        assert len(errors) == 6  # 3 sync + 3 async failures, each logged with its traceback
        assert all(r.exc_info for r in errors)

    run(main)


def test_events_with_an_in_flight_action_id_also_reach_event_handlers() -> None:
    """panoramisk gave OriginateResponse (same ActionID as the Originate) to the action only."""

    async def main() -> None:
        async with FakeAmi() as ami:

            async def originate(conn: Connection, action: Action) -> None:
                await conn.send(
                    frame(
                        "Event: OriginateResponse",
                        f"ActionID: {action.id}",
                        "Response: Success",
                        "Channel: PJSIP/sup-00000001",
                    )
                )
                await conn.reply(action, "Response: Success", "Message: Originate successfully queued")
                await conn.send(frame("Event: OriginateResponse", f"ActionID: {action.id}", "Response: Success"))

            ami.scripts["originate"] = originate
            async with client_for(ami) as client:
                got: list[Message] = []
                client.add_event_handler("OriginateResponse", got.append)
                response = await client.action("Originate", {"Channel": "PJSIP/sup", "Async": "true"})
                assert response.success and response.text == "Originate successfully queued"
                await until(lambda: len(got) == 2)
                assert {e.action_id for e in got} == {ami.actions[-1].id}

    run(main)


def test_list_action_collects_its_events_which_also_reach_handlers() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:

            async def channels(conn: Connection, action: Action) -> None:
                await conn.reply(action, "Response: Success", "EventList: start", "Message: Channels will follow")
                await conn.send(frame("Event: Newchannel", "Uniqueid: 99"))  # unrelated, interleaved
                for i in range(2):
                    await conn.send(frame("Event: CoreShowChannel", f"ActionID: {action.id}", f"Channel: PJSIP/a-{i}"))
                await conn.send(
                    frame(
                        "Event: CoreShowChannelsComplete",
                        f"ActionID: {action.id}",
                        "EventList: Complete",
                        "ListItems: 2",
                    )
                )

            ami.scripts["coreshowchannels"] = channels
            async with client_for(ami) as client:
                seen: list[str] = []
                client.add_event_handler("*", lambda e: seen.append(e.name))
                response = await client.action("CoreShowChannels")
                assert [e["Channel"] for e in response.events] == ["PJSIP/a-0", "PJSIP/a-1"]
                assert response.complete is not None and response.complete["ListItems"] == "2"
                assert seen[-4:] == ["Newchannel", "CoreShowChannel", "CoreShowChannel", "CoreShowChannelsComplete"]

    run(main)


def test_handlers_can_be_removed_and_names_are_case_insensitive() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            async with client_for(ami) as client:
                seen: list[str] = []
                handler = client.add_event_handler("hangup", lambda e: seen.append(e["N"]))
                await ami.send(frame("Event: Hangup", "N: 1"))
                await until(lambda: seen == ["1"])
                client.remove_event_handler("HANGUP", handler)
                client.remove_event_handler("HANGUP", handler)  # idempotent
                await ami.send(frame("Event: Hangup", "N: 2"))
                await client.ping()
                assert seen == ["1"]

    run(main)


def test_batch_handlers_get_each_reads_events_in_order_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A batch handler (the records collector's) gets every event of a read in one list, in
    arrival order, after their own handlers, and never a response; one raising harms nothing."""

    async def main() -> None:
        async with FakeAmi() as ami, client_for(ami) as client:
            order: list[str] = []
            batches: list[list[Message]] = []

            def broken(events: list[Message]) -> None:
                raise RuntimeError("batch handler bug")

            client.add_event_handler("Newchannel", lambda e: order.append("own " + e["Uniqueid"]))
            client.add_batch_handler(broken)
            client.add_batch_handler(lambda events: (batches.append(events), order.append("batch")))
            # One write: three events in the same TCP read.
            await ami.send(b"".join(frame("Event: Newchannel", f"Uniqueid: {i}") for i in range(3)))
            await until(lambda: sum(map(len, batches)) == 3)
            assert (await client.ping()).success  # its response reaches no batch handler
            await ami.send(frame("Event: Hangup", "Uniqueid: 3"))
            await until(lambda: sum(map(len, batches)) == 4)
            assert [e["Uniqueid"] for b in batches for e in b] == ["0", "1", "2", "3"]
            assert all(b and all(e.name for e in b) for b in batches)
            first = len(batches[0])  # the events of the first read, usually all three
            assert order[: first + 1] == [f"own {i}" for i in range(first)] + ["batch"]
            reads = len(batches)
            client.remove_batch_handler(broken)
            client.remove_batch_handler(broken)  # idempotent
            await ami.send(frame("Event: Hangup", "Uniqueid: 4"))
            await until(lambda: sum(map(len, batches)) == 5)
            assert client.connected
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and "handler" in r.getMessage()]
        assert len(errors) == reads and all(r.exc_info for r in errors)  # one a read before its removal

    run(main)


def test_a_handler_added_after_its_event_was_seen_gets_the_next_one() -> None:
    """The handlers per event name are cached: adding or removing one must reach the cache."""

    async def main() -> None:
        async with FakeAmi() as ami, client_for(ami) as client:
            seen: list[str] = []
            everything: list[str] = []
            await ami.send(frame("Event: Hangup", "N: 1"))
            await client.ping()
            client.add_event_handler("HANGUP", lambda e: seen.append(e["N"]))
            wildcard = client.add_event_handler("*", lambda e: everything.append(e["N"]))
            await ami.send(frame("Event: Hangup", "N: 2"))
            await until(lambda: seen == ["2"] and everything == ["2"])
            client.remove_event_handler("*", wildcard)
            await ami.send(frame("Event: Hangup", "N: 3"))
            await until(lambda: seen == ["2", "3"])
            assert everything == ["2"]

    run(main)


def test_large_writes_are_read_in_bounded_reads() -> None:
    """The socket is read READ_SIZE bytes at a time (cache-sized reads; see client.READ_SIZE),
    and frames cut across reads arrive whole."""

    async def main() -> None:
        async with FakeAmi() as ami, client_for(ami) as client:
            sizes: list[int] = []
            client.add_batch_handler(lambda events: sizes.append(len(events)))
            count = 4 * homepbx.asterisk.ami.client.READ_SIZE // 40
            await ami.send(b"".join(frame("Event: Newchannel", f"Uniqueid: {i:016d}") for i in range(count)))
            await until(lambda: sum(sizes) == count)
            assert len(sizes) >= 4

    run(main)


# -- reconnecting --------------------------------------------------------------------------------------


def test_no_replay_of_an_in_flight_originate_after_reconnect() -> None:
    """panoramisk re-sent actions still in flight after a reconnect: a second call placed."""

    async def main() -> None:
        async with FakeAmi() as ami:
            ami.hold.add("originate")
            client = client_for(ami, reconnect=True, reconnect_delay=(0.01, 0.05))
            resynced = asyncio.Event()
            calls: list[AmiClient] = []

            async def resync(c: AmiClient) -> None:
                calls.append(c)
                await c.action("CoreShowChannels")  # the callback may use the connection
                resynced.set()

            client.on_reconnect(resync)
            await client.connect()
            originate = asyncio.create_task(client.action("Originate", {"Channel": "PJSIP/sup"}))
            await ami.wait_for("Originate")
            await ami.drop()
            with pytest.raises(AmiDisconnected, match="Originate action .* it was not re-sent"):
                await originate
            await asyncio.wait_for(resynced.wait(), 2)
            assert calls == [client]
            assert (await client.ping()).success
            await client.close()
            assert ami.names().count("Login") == 2
            assert ami.names().count("Originate") == 1

    run(main)


def test_safe_read_only_action_in_flight_is_retried_after_reconnect() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            seen = 0

            async def status(conn: Connection, action: Action) -> None:
                nonlocal seen
                seen += 1
                if seen > 1:  # unanswered on the first connection
                    await conn.reply(action, "Response: Success", "Message: Queue summary")

            ami.scripts["queuesummary"] = status
            async with client_for(ami, reconnect=True, reconnect_delay=(0.01, 0.05)) as client:
                task = asyncio.create_task(client.action("QueueSummary"))
                await ami.wait_for("QueueSummary")
                await ami.drop()
                response = await task
                assert response.success and response.text == "Queue summary"
            assert ami.names().count("QueueSummary") == 2

    run(main)


def test_keepalive_ping_detects_a_silent_peer_and_reconnects() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            ami.hold.add("ping")  # the peer is there but answers nothing (NAT state lost...)
            client = client_for(ami, timeout=0.1, reconnect=True, reconnect_delay=(0.01, 0.05), ping_interval=0.02)
            reconnected = asyncio.Event()
            client.on_reconnect(lambda c: reconnected.set())
            async with client:
                await asyncio.wait_for(reconnected.wait(), 2)
            assert ami.names().count("Login") >= 2

    run(main)


def test_without_reconnect_a_drop_fails_actions_and_later_calls() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            ami.hold.add("ping")
            async with client_for(ami) as client:
                task = asyncio.create_task(client.ping())
                await ami.wait_for("Ping")
                await ami.drop()
                with pytest.raises(AmiDisconnected):
                    await task
                with pytest.raises(AmiDisconnected, match="^Not connected"):
                    await client.ping()

    run(main)


def test_close_fails_waiting_actions() -> None:
    async def main() -> None:
        async with FakeAmi() as ami:
            ami.hold.add("originate")
            client = client_for(ami)
            await client.connect()
            task = asyncio.create_task(client.action("Originate", {"Channel": "PJSIP/1"}))
            await ami.wait_for("Originate")
            await client.close()
            with pytest.raises(AmiDisconnected):
                await task
            with pytest.raises(AmiDisconnected):
                await client.ping()
            await client.close()  # idempotent

    run(main)


# -- isolation ---------------------------------------------------------------------------------------


def _module_state() -> dict[str, dict[str, Any]]:
    state = {}
    for name, module in sorted(sys.modules.items()):
        if name == "homepbx.asterisk.ami" or name.startswith("homepbx.asterisk.ami."):
            state[name] = {
                key: (id(value), repr(value) if isinstance(value, (dict, list, set, int, str)) else None)
                for key, value in vars(module).items()
            }
    return state


def test_no_module_globals_leak_between_clients() -> None:
    """panoramisk.testing set a module global; our state lives in the client instances."""
    before = _module_state()
    assert "homepbx.asterisk.ami.client" in before and "homepbx.asterisk.ami.frames" in before

    async def main() -> None:
        async with FakeAmi() as ami:
            a, b = client_for(ami), client_for(ami)
            seen_a: list[str] = []
            a.add_event_handler("*", lambda e: seen_a.append(e.name))
            async with a, b:
                await b.ping()
                await a.ping()
                await ami.connections[-1].send(frame("Event: OnlyForB"))
                await b.ping()
                assert "OnlyForB" not in seen_a
        prefixes = {action.id.rsplit("-", 1)[0] for action in ami.actions}
        assert len(prefixes) == 2  # each client numbers its own actions

    run(main)
    run(main)
    assert _module_state() == before
    assert homepbx.asterisk.ami.__all__  # the package itself stays importable and unchanged


# -- the synchronous helper ------------------------------------------------------------------------


def test_run_actions_connects_runs_and_closes() -> None:
    with fake_ami_in_thread() as ami:
        settings = AmiSettings(host="127.0.0.1", port=ami.port, username="homepbx", secret="s3cret", timeout=1.0)

        async def work(client: AmiClient) -> str:
            return (await client.ping())["Ping"]

        assert run_actions(settings, work) == "Pong"
        deadline = time.monotonic() + 2  # the server runs in another thread: let it catch up
        while len(ami.names()) < 3 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert ami.names() == ["Login", "Ping", "Logoff"]
        assert ami.actions[0].get("Events") == "off"

        bad = AmiSettings(host="127.0.0.1", port=ami.port, username="homepbx", secret="nope", timeout=1.0)
        with pytest.raises(AmiLoginError):
            run_actions(bad, work)
