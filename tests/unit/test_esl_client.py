"""EslClient against a fake event socket, and the sans-IO session on its own."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.unit.fake_esl import (
    Command,
    Connection,
    FakeEsl,
    api_response,
    core_headers,
    disconnect_notice,
    event_frame,
    fake_esl_in_thread,
    recorded_frames,
    reply,
)

import homepbx.freeswitch.esl
from homepbx.errors import InvalidInput, OperationalError
from homepbx.freeswitch.esl import (
    EslClient,
    EslCommandError,
    EslDisconnected,
    EslLoginError,
    EslSession,
    EslTimeout,
    EslUnavailable,
    Event,
    State,
    UnsafeEslValue,
    raise_for_error,
    run_commands,
)
from homepbx.freeswitch.esl.frames import FrameBuffer
from homepbx.freeswitch.esl.session import (
    AccessDenied,
    Authenticated,
    JobAccepted,
    JobDone,
    LoginRefused,
    LogLine,
    Notice,
    Reply,
    Unexpected,
)


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run one scenario with a hard ceiling, so a hang fails fast instead of stalling CI."""

    async def bounded() -> Any:
        async with asyncio.timeout(5):
            return await main()

    return asyncio.run(bounded())


def client_for(fs: FakeEsl, **options: Any) -> EslClient:
    options.setdefault("timeout", 1.0)
    options.setdefault("reconnect", False)
    return EslClient("127.0.0.1", fs.port, options.pop("password", "ClueCon"), **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def answer_event(uuid: str = "u-1", **extra: str) -> list[tuple[str, str]]:
    return core_headers("CHANNEL_ANSWER") + [("Unique-ID", uuid), ("Caller-Caller-ID-Name", "Zoé Martin"), *extra.items()]


def queue_event(action: str, n: int = 0) -> list[tuple[str, str]]:
    return core_headers("CUSTOM", "callcenter::info", sequence=n) + [("CC-Action", action), ("CC-Queue", "ventes@default")]


# -- connecting ------------------------------------------------------------------------------------


def test_connect_api_close() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs) as client:
                assert client.connected and client.where == f"127.0.0.1:{fs.port}"
                assert (await client.api("status")).startswith("UP 0 years")
            assert not client.connected
            await until(lambda: fs.count("exit") == 1)
            assert fs.lines() == ["auth ***", "event json BACKGROUND_JOB", "api status", "exit"]
            assert fs.commands[0].line == "auth ClueCon"

    run(main)


def test_refused_password_raises_login_error() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            client = client_for(fs, password="wrong")
            with pytest.raises(EslLoginError) as info:
                await client.connect()
            assert str(info.value) == f"FreeSWITCH's event socket at 127.0.0.1:{fs.port} refused the password."
            assert isinstance(info.value, OperationalError) and info.value.exit_code == 1
            assert not client.connected
            with pytest.raises(EslDisconnected):
                await client.api("status")

    run(main)


def test_acl_rejection_raises_login_error() -> None:
    async def main() -> None:
        async with FakeEsl(acl_denies=True) as fs:
            with pytest.raises(EslLoginError, match=r"^FreeSWITCH's event socket at .* refused this client's address \(ACL\)\.$"):
                await client_for(fs).connect()

    run(main)


def test_nothing_listening_gives_one_plain_sentence() -> None:
    async def main() -> None:
        port = free_port()
        with pytest.raises(EslUnavailable) as info:
            await EslClient("127.0.0.1", port, "ClueCon", timeout=1).connect()
        assert str(info.value) == f"FreeSWITCH's event socket at 127.0.0.1:{port} refused the connection."

    run(main)


def test_silent_server_raises_unavailable_after_the_timeout() -> None:
    async def main() -> None:
        async with FakeEsl(silent=True) as fs:  # accepts the TCP connection, never says auth/request
            with pytest.raises(EslUnavailable) as info:
                await client_for(fs, timeout=0.2).connect()
            assert str(info.value) == f"FreeSWITCH's event socket at 127.0.0.1:{fs.port} did not log us in within 0.2 s."

    run(main)


def test_server_closing_during_login_is_unavailable() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:

            async def hang_up(conn: Connection, command: Command) -> None:
                conn.writer.close()

            fs.scripts["event"] = hang_up
            with pytest.raises(EslUnavailable, match="closed the connection during the login"):
                await client_for(fs).connect()

    run(main)


def test_refused_subscription_fails_the_connect() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:

            async def deny(conn: Connection, command: Command) -> None:
                await conn.send(reply("-ERR permission denied"))

            fs.scripts["event"] = deny
            with pytest.raises(EslCommandError, match="^FreeSWITCH refused the event subscription: permission denied.$"):
                await client_for(fs, events=["ALL"]).connect()

    run(main)


# -- writing -----------------------------------------------------------------------------------------


def test_newline_in_a_command_cannot_inject_a_second_one() -> None:
    """The regression: `api('status\\n\\napi shutdown')` must raise and write nothing."""

    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs) as client:
                before = len(fs.raw)
                with pytest.raises(UnsafeEslValue):
                    await client.api("status\n\napi shutdown")
                for call in (
                    lambda: client.api("status", "x\napi shutdown"),
                    lambda: client.api("status\r"),
                    lambda: client.bgapi("originate", "user/1001 &park()\n\napi shutdown"),
                    lambda: client.start_job("originate\x00", "user/1001"),
                    lambda: client.command("filter", "Unique-ID", "u-1\n\napi shutdown"),
                    lambda: client.sendmsg("u-1", {"execute-app-arg": "a\r\napi shutdown"}),
                    lambda: client.sendmsg("u-1", {"bad\nname": "x"}),
                    lambda: client.execute("u-1", "playback", "/tmp/a.wav\n\napi shutdown"),
                    lambda: client.subscribe("CHANNEL_ANSWER\n\napi shutdown"),
                ):
                    with pytest.raises(UnsafeEslValue):
                        await call()
                await client.api("status")
                await until(lambda: fs.count("api status") == 1)
                assert len(fs.raw) > before
            assert b"shutdown" not in fs.raw
            assert fs.lines()[2:] == ["api status", "exit"]

    run(main)


def test_unsafe_values_are_refused_even_when_not_connected() -> None:
    async def main() -> None:
        client = EslClient("127.0.0.1", free_port(), "ClueCon")
        with pytest.raises(UnsafeEslValue):
            await client.api("status\n\napi shutdown")
        with pytest.raises(EslDisconnected, match="^Not connected"):
            await client.api("status")

    run(main)


def test_bad_construction_options_are_refused() -> None:
    with pytest.raises(InvalidInput):
        EslClient(event_format="xml")
    with pytest.raises(UnsafeEslValue):
        EslClient(events=["CHANNEL ANSWER"])


# -- api ----------------------------------------------------------------------------------------------


def test_api_replies_reach_their_callers_in_order() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs) as client:
                results = await asyncio.gather(*(client.api("echo", f"call {i}") for i in range(20)))
                assert results == [f"call {i}\n" for i in range(20)]
                status, echo = await asyncio.gather(client.api("status"), client.api("echo", "é 😀"))
                assert status.startswith("UP ") and echo == "é 😀\n"

    run(main)


def test_api_error_output_is_text_unless_checked() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs) as client:
                assert await client.api("nosuch") == "-ERR nosuch Command not found!\n"
                with pytest.raises(EslCommandError) as info:
                    await client.api("nosuch", check=True)
                assert str(info.value) == "FreeSWITCH refused api nosuch: nosuch Command not found."
                assert await client.api("status", check=True) == (await client.api("status"))

    run(main)


def test_api_refused_by_the_acl_answers_with_a_command_reply() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:

            async def denied(conn: Connection, command: Command) -> None:
                await conn.send(reply("-ERR permission denied"))

            fs.scripts["api uuid_kill"] = denied
            async with client_for(fs) as client:
                assert await client.api("uuid_kill", "u-1") == "-ERR permission denied"
                assert (await client.api("echo", "next")) == "next\n"  # still in step

    run(main)


def test_raise_for_error() -> None:
    assert raise_for_error("+OK done\n") == "+OK done\n"
    assert raise_for_error("UP 0 years") == "UP 0 years"
    with pytest.raises(EslCommandError, match="^FreeSWITCH refused the command: USER_BUSY.$"):
        raise_for_error("-ERR USER_BUSY\n")
    with pytest.raises(EslCommandError, match=r"^FreeSWITCH refused api uuid_kill: USAGE: <uuid> \[cause\].$"):
        raise_for_error("-USAGE: <uuid> [cause]\n", "api uuid_kill")


# -- timeouts ------------------------------------------------------------------------------------------


def test_per_command_timeout_and_a_late_answer_goes_to_its_own_slot() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold.add("api sleep")  # FreeSWITCH busy with a slow api: later commands wait too
            async with client_for(fs, timeout=3) as client:
                with pytest.raises(EslTimeout) as info:
                    await client.api("sleep", "5000", timeout=0.1)
                assert str(info.value) == (
                    f"FreeSWITCH's event socket at 127.0.0.1:{fs.port} did not answer api sleep within 0.1 s."
                )
                pending = asyncio.create_task(client.api("echo", "mine"))
                await fs.wait_for("api sleep")
                fs.release()  # the late answer to "sleep" arrives first...
                assert await pending == "mine\n"  # ...and is not taken for the echo's

    run(main)


def test_bgapi_timeout_leaves_the_late_result_to_the_handlers() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold_jobs.add("originate")
            async with client_for(fs) as client:
                jobs: list[Event] = []
                client.add_event_handler("BACKGROUND_JOB", jobs.append)
                with pytest.raises(EslTimeout, match=r"^Background job .* \(bgapi originate\) .* did not end within 0.1 s.$"):
                    await client.bgapi("originate", "user/1001 &park()", timeout=0.1)
                command = await fs.wait_for("bgapi originate")
                await fs.finish_job(fs.last, command, "+OK late\n")
                await until(lambda: len(jobs) == 1)
                assert jobs[0].body == "+OK late\n" and jobs[0].job_uuid == command.get("Job-UUID")
                assert await client.api("echo", "fine") == "fine\n"

    run(main)


# -- background jobs --------------------------------------------------------------------------------------


def test_bgapi_results_are_matched_by_job_uuid() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold_jobs.add("originate")
            async with client_for(fs) as client:
                first = asyncio.create_task(client.bgapi("originate", "user/1001 &park()"))
                second = asyncio.create_task(client.bgapi("originate", "user/1002 &park()"))
                await fs.wait_for("bgapi originate", 2)
                a, b = [c for c in fs.commands if c.line.startswith("bgapi")]
                assert a.get("Job-UUID") and b.get("Job-UUID") and a.get("Job-UUID") != b.get("Job-UUID")
                await asyncio.sleep(0.02)  # both accepted before either ends
                await fs.finish_job(fs.last, b, "+OK second\n")  # the jobs end in reverse order
                await fs.finish_job(fs.last, a, "-ERR USER_BUSY\n")
                assert await second == "+OK second\n"
                assert await first == "-ERR USER_BUSY\n"
                with pytest.raises(EslCommandError, match="^FreeSWITCH refused bgapi nosuch: nosuch Command not found.$"):
                    await client.bgapi("nosuch", check=True)

    run(main)


def test_start_job_knows_the_job_uuid_before_the_result() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold_jobs.add("originate")
            async with client_for(fs) as client:
                job = await client.start_job("originate", "{origination_caller_id_name='Zoé'}user/1001 &park()")
                command = await fs.wait_for("bgapi originate")
                assert job.uuid == command.get("Job-UUID") and len(job.uuid) == 36
                assert not job.done() and job.label == "bgapi originate"
                await fs.finish_job(fs.last, command, "+OK 6f1c\n")
                assert await job == "+OK 6f1c\n"
                event = await job.event()
                assert event["Job-Command"] == "originate" and event["Job-Command-Arg"].endswith("&park()")

    run(main)


def test_bgapi_refused_by_freeswitch_raises() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:

            async def denied(conn: Connection, command: Command) -> None:
                await conn.send(reply("-ERR permission denied"))

            fs.scripts["bgapi originate"] = denied
            async with client_for(fs) as client:
                with pytest.raises(EslCommandError, match="^FreeSWITCH refused bgapi originate: permission denied.$"):
                    await client.bgapi("originate", "user/1001 &park()")
                assert await client.api("echo", "ok") == "ok\n"

    run(main)


def test_background_job_event_overtaking_its_reply() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:

            async def event_first(conn: Connection, command: Command) -> None:
                job = command.get("Job-UUID")
                await fs.finish_job(conn, command, "+OK fast\n")
                await conn.send(reply(f"+OK Job-UUID: {job}", f"Job-UUID: {job}"))

            fs.scripts["bgapi version"] = event_first
            async with client_for(fs) as client:
                assert await client.bgapi("version") == "+OK fast\n"

    run(main)


# -- events -------------------------------------------------------------------------------------------------


def test_events_reach_handlers_by_name_subclass_and_wildcard() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs, events=["CHANNEL_ANSWER", "callcenter::info"]) as client:
                assert fs.lines()[1] == "event json BACKGROUND_JOB CHANNEL_ANSWER CUSTOM callcenter::info"
                answers: list[Event] = []
                queue: list[str] = []
                everything: list[str] = []
                client.add_event_handler("channel_answer", answers.append)
                handler = client.add_event_handler("CALLCENTER::INFO", lambda e: queue.append(e["CC-Action"]))
                client.add_event_handler("*", lambda e: everything.append(e.name))
                await fs.last.event(answer_event("u-7"))
                await fs.last.event(queue_event("member-queue-start"))
                await until(lambda: len(everything) == 2)
                assert answers[0].unique_id == "u-7" and answers[0]["Caller-Caller-ID-Name"] == "Zoé Martin"
                assert queue == ["member-queue-start"] and everything == ["CHANNEL_ANSWER", "CUSTOM"]
                client.remove_event_handler("callcenter::info", handler)
                client.remove_event_handler("callcenter::info", handler)  # idempotent
                await fs.last.event(queue_event("member-queue-end"))
                await until(lambda: len(everything) == 3)
                assert queue == ["member-queue-start"]

    run(main)


@pytest.mark.parametrize("event_format", ["plain", "json"])
def test_both_event_formats_give_the_same_event(event_format: str) -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs, event_format=event_format) as client:
                got: list[Event] = []
                client.add_event_handler("CUSTOM", got.append)  # every custom event...
                client.add_event_handler("callcenter::info", got.append)  # ...and this subclass
                client.add_event_handler("sofia::register", got.append)
                await fs.last.event(queue_event("agent-offering") + [("CC-Member-CID-Name", "Ελένη 😀: a=b%")], "body\n")
                await until(lambda: len(got) == 2)
                assert fs.last.fmt == event_format and got[0] is got[1]
                assert got[0]["CC-Member-CID-Name"] == "Ελένη 😀: a=b%" and got[0].body == "body\n"

    run(main)


@pytest.mark.parametrize("name", ["recorded_fs1.10.12.plain.esl", "recorded_fs1.10.12.json.esl"])
def test_a_recorded_freeswitch_session_replayed_to_the_client(name: str) -> None:
    """The bytes a real FreeSWITCH 1.10.12 sent, through a socket, to EslClient's handlers."""
    frames = recorded_frames(name)
    fmt = "json" if ".json." in name else "plain"
    first_response = next(f.raw for f in frames if f.content_type == "api/response")
    job = next(f.raw for f in frames if f.event_name == "BACKGROUND_JOB")
    recorded_job_uuid = re.search(rb'Job-UUID(?:: |":")([0-9a-f-]{36})', job).group(1)  # type: ignore[union-attr]
    events = [f for f in frames if f.is_event and f.event_name != "BACKGROUND_JOB"]
    stream = b"".join(f.raw for f in events)

    async def answer_status(conn: Connection, command: Command) -> None:
        await conn.send(first_response)

    async def answer_originate(conn: Connection, command: Command) -> None:
        ours = command.get("Job-UUID").encode()
        assert len(ours) == len(recorded_job_uuid)  # so the recorded Content-Length still holds
        await conn.send(reply(f"+OK Job-UUID: {ours.decode()}", f"Job-UUID: {ours.decode()}"))
        await conn.send(job.replace(recorded_job_uuid, ours))

    async def main() -> None:
        async with FakeEsl() as fs:
            fs.scripts["api status"] = answer_status
            fs.scripts["bgapi originate"] = answer_originate
            async with client_for(fs, event_format=fmt) as client:
                assert fs.last.fmt == fmt
                status = await client.api("status")
                assert status == first_response.split(b"\n\n", 1)[1].decode()
                output = await client.bgapi("originate", "user/1999@127.0.0.19 &park")
                assert output == "-ERR SUBSCRIBER_ABSENT\n"

                got: list[Event] = []
                hangups: list[Event] = []
                custom: list[Event] = []
                client.add_event_handler("*", got.append)
                client.add_event_handler("CHANNEL_HANGUP_COMPLETE", hangups.append)
                client.add_event_handler("CUSTOM", custom.append)
                size = 7919  # reads that cut frames, headers and UTF-8 characters anywhere
                for i in range(0, len(stream), size):
                    await fs.send(stream[i : i + size])
                await until(lambda: len(got) == len(events))
                assert [e.name for e in got] == [f.event_name for f in events]
                assert got == [f.event() for f in FrameBuffer().feed(stream)]
                assert len(hangups) == sum(f.event_name == "CHANNEL_HANGUP_COMPLETE" for f in events) > 0
                assert len(custom) == sum(f.event_name == "CUSTOM" for f in events)
                actions = [e["CC-Action"] for e in custom if e.subclass == "callcenter::info"]
                assert actions[:4] == ["member-queue-start", "members-count", "agent-state-change", "agent-offering"]
                assert client.connected

    run(main)


def test_a_character_split_across_two_tcp_writes_arrives_intact() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs, events=["CHANNEL_ANSWER"]) as client:
                names: list[str] = []
                client.add_event_handler("CHANNEL_ANSWER", lambda e: names.append(e["Caller-Caller-ID-Name"]))
                data = event_frame(answer_event(), fmt="json")
                cut = data.index("é".encode()) + 1
                await fs.send(data[:cut])
                await asyncio.sleep(0.02)  # let the client read the first half on its own
                await fs.send(data[cut:])
                await until(lambda: bool(names))
                assert names == ["Zoé Martin"]

    run(main)


def test_raising_handlers_neither_kill_the_connection_nor_lose_events(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs) as client:
                seen: list[str] = []
                async_seen: list[str] = []

                def broken(event: Event) -> None:
                    raise RuntimeError("handler bug")

                async def broken_async(event: Event) -> None:
                    raise RuntimeError("async handler bug")

                async def fine_async(event: Event) -> None:
                    await asyncio.sleep(0)
                    async_seen.append(event["Unique-ID"])

                client.add_event_handler("CHANNEL_ANSWER", broken)
                client.add_event_handler("*", broken_async)
                client.add_event_handler("CHANNEL_ANSWER", lambda e: seen.append(e["Unique-ID"]))
                client.add_event_handler("*", fine_async)
                # One write: three events in the same TCP chunk.
                await fs.send(b"".join(event_frame(answer_event(f"u-{i}")) for i in range(3)))
                await until(lambda: len(async_seen) == 3)
                assert seen == ["u-0", "u-1", "u-2"] and async_seen == ["u-0", "u-1", "u-2"]
                assert client.connected and await client.api("echo", "alive") == "alive\n"
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and "handler" in r.getMessage()]
        assert len(errors) == 6  # 3 sync and 3 async failures, each logged with its traceback
        assert all(r.exc_info for r in errors)

    run(main)


def test_subscribe_adds_events_now_and_for_later_logins() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs, reconnect=True, reconnect_delay=(0.01, 0.05)) as client:
                await client.subscribe("CHANNEL_HANGUP_COMPLETE", "callcenter::info")
                assert fs.lines()[-1] == "event json CHANNEL_HANGUP_COMPLETE CUSTOM callcenter::info"
                await fs.drop()
                await fs.wait_for("event json", 3)
                assert fs.lines()[-1] == "event json BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE CUSTOM callcenter::info"

                async def deny(conn: Connection, command: Command) -> None:
                    await conn.send(reply("-ERR permission denied"))

                fs.scripts["event"] = deny
                with pytest.raises(EslCommandError):
                    await client.subscribe("ALL")
                assert "ALL" not in client._subscriptions  # a refused name must not break re-logins

    run(main)


def test_sendmsg_and_execute() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            async with client_for(fs) as client:
                assert await client.execute("u-1", "playback", "/var/sounds/é.wav", event_lock=True) == "+OK"
                command = fs.commands[-1]
                assert command.line == "sendmsg u-1" and command.headers == [
                    ("call-command", "execute"), ("execute-app-name", "playback"),
                    ("execute-app-arg", "/var/sounds/é.wav"), ("event-lock", "true")]
                await client.sendmsg("u-1", {"call-command": "hangup", "hangup-cause": "NORMAL_CLEARING"})
                assert fs.commands[-1].get("hangup-cause") == "NORMAL_CLEARING"
                await client.sendmsg("u-1", ((k, v) for k, v in [("call-command", "unhold")]))  # a generator
                assert fs.commands[-1].headers == [("call-command", "unhold")]
                await client.sendmsg("u-1", [("call-command", "execute"), ("execute-app-name", "speak")], "line 1\nline 2")
                assert fs.commands[-1].body == b"line 1\nline 2"
                assert await client.command("filter", "Unique-ID", "u-1") == "+OK"
                with pytest.raises(EslCommandError, match="^FreeSWITCH refused the nosuch command: command not found.$"):
                    await client.command("nosuch")

    run(main)


# -- disconnects and reconnects -------------------------------------------------------------------------


def test_reconnect_resubscribes_and_never_resends_what_was_in_flight() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold_jobs.add("originate")
            client = client_for(fs, reconnect=True, reconnect_delay=(0.01, 0.05), events=["CHANNEL_ANSWER"])
            resynced = asyncio.Event()
            calls: list[EslClient] = []

            async def resync(c: EslClient) -> None:
                calls.append(c)
                await c.api("status")  # the callback may use the connection
                resynced.set()

            client.on_reconnect(resync)
            await client.connect()
            originate = asyncio.create_task(client.bgapi("originate", "user/1001 &park()", timeout=3))
            await fs.wait_for("bgapi originate")
            await until(lambda: client._protocol is not None and client._protocol.session.waiting == 0)
            fs.hold.add("api uuid_transfer")
            transfer = asyncio.create_task(client.api("uuid_transfer", "u-1 3001"))
            await fs.wait_for("api uuid_transfer")
            await fs.drop()
            with pytest.raises(EslDisconnected, match=r"before background job .* \(bgapi originate\) reported its result; the job may have run"):
                await originate
            with pytest.raises(EslDisconnected, match="while api uuid_transfer was waiting for its answer; it was not re-sent"):
                await transfer
            await asyncio.wait_for(resynced.wait(), 2)
            assert calls == [client]
            assert await client.api("echo", "back") == "back\n"
            await client.close()
            assert fs.count("auth") == 2
            assert fs.lines().count("event json BACKGROUND_JOB CHANNEL_ANSWER") == 2
            assert fs.count("bgapi originate") == 1 and fs.count("api uuid_transfer") == 1

    run(main)


def test_disconnect_notice_then_close_reconnects() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            client = client_for(fs, reconnect=True, reconnect_delay=(0.01, 0.05))
            reconnected = asyncio.Event()
            client.on_reconnect(lambda c: reconnected.set())
            async with client:
                await fs.send(disconnect_notice())  # FreeSWITCH shutting down
                await fs.drop()
                await asyncio.wait_for(reconnected.wait(), 2)
                assert client.connected and await client.api("echo", "x") == "x\n"

    run(main)


def test_protocol_error_closes_the_connection_and_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            client = client_for(fs, reconnect=True, reconnect_delay=(0.01, 0.05))
            reconnected = asyncio.Event()
            client.on_reconnect(lambda c: reconnected.set())
            async with client:
                await fs.send(b"Content-Type: api/response\nContent-Length: banana\n\n")
                await asyncio.wait_for(reconnected.wait(), 2)
        assert any("invalid Content-Length" in r.getMessage() for r in caplog.records)

    run(main)


def test_keepalive_detects_a_silent_peer_and_reconnects() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold.add("api uptime")  # the peer is there but answers nothing (NAT state lost...)
            client = client_for(fs, timeout=0.1, reconnect=True, reconnect_delay=(0.01, 0.05), keepalive_interval=0.02)
            reconnected = asyncio.Event()
            client.on_reconnect(lambda c: reconnected.set())
            async with client:
                await asyncio.wait_for(reconnected.wait(), 2)
            assert fs.count("auth") >= 2 and fs.count("api uptime s") >= 1

    run(main)


def test_without_reconnect_a_drop_fails_commands_and_later_calls() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold.add("api status")
            async with client_for(fs, reconnect=False) as client:
                task = asyncio.create_task(client.api("status"))
                await fs.wait_for("api status")
                await fs.drop()
                with pytest.raises(EslDisconnected, match="it was not re-sent"):
                    await task
                with pytest.raises(EslDisconnected, match="^Not connected"):
                    await client.api("status")

    run(main)


def test_close_fails_waiting_commands_and_is_idempotent() -> None:
    async def main() -> None:
        async with FakeEsl() as fs:
            fs.hold.add("api sleep")
            client = client_for(fs)
            await client.connect()
            task = asyncio.create_task(client.api("sleep", "100"))
            await fs.wait_for("api sleep")
            await client.close()
            with pytest.raises(EslDisconnected, match="was closed"):
                await task
            with pytest.raises(EslDisconnected):
                await client.api("status")
            await client.close()  # idempotent
            with pytest.raises(EslDisconnected):
                await client.connect()

    run(main)


# -- isolation --------------------------------------------------------------------------------------------


def _module_state() -> dict[str, dict[str, Any]]:
    state = {}
    for name, module in sorted(sys.modules.items()):
        if name.startswith("homepbx.freeswitch.esl"):
            state[name] = {
                key: (id(value), repr(value) if isinstance(value, (dict, list, set, int, str)) else None)
                for key, value in vars(module).items()
            }
    return state


def test_no_module_globals_change_and_clients_share_nothing() -> None:
    before = _module_state()
    assert "homepbx.freeswitch.esl.client" in before and "homepbx.freeswitch.esl.frames" in before

    async def main() -> None:
        async with FakeEsl() as fs:
            a, b = client_for(fs), client_for(fs)
            seen_a: list[str] = []
            a.add_event_handler("*", seen_a.append)
            async with a, b:
                await b.api("status")
                await a.api("status")
                await fs.last.event(answer_event("only-for-b"))
                await b.api("status")
                assert seen_a == []

    run(main)
    run(main)
    assert _module_state() == before
    assert homepbx.freeswitch.esl.__all__


# -- the synchronous helper ---------------------------------------------------------------------------------


@dataclass
class Settings:
    host: str
    port: int
    password: str
    timeout: float = 1.0


def test_run_commands_connects_runs_and_closes() -> None:
    with fake_esl_in_thread() as fs:

        async def work(client: EslClient) -> str:
            return await client.api("echo", "hello")

        assert run_commands(Settings("127.0.0.1", fs.port, "ClueCon"), work) == "hello\n"
        deadline = time.monotonic() + 2  # the server runs in another thread: let it catch up
        while len(fs.lines()) < 4 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert fs.lines() == ["auth ***", "event json BACKGROUND_JOB", "api echo hello", "exit"]
        with pytest.raises(EslLoginError):
            run_commands(Settings("127.0.0.1", fs.port, "nope"), work)


# -- the session on its own (no network) ----------------------------------------------------------------------


def logged_in(password: str = "pw") -> EslSession:
    session = EslSession(password)
    assert session.receive_data(b"Content-Type: auth/request\n\n") == []
    assert session.data_to_send() == f"auth {password}\n\n".encode()
    assert session.receive_data(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n") == [Authenticated()]
    assert session.state is State.READY
    return session


def test_session_login_refused_and_rejected() -> None:
    session = EslSession("pw")
    with pytest.raises(EslDisconnected):
        session.api("status")  # not before the login; nothing queued
    assert session.data_to_send() == b""
    session.receive_data(b"Content-Type: auth/request\n\n")
    assert session.state is State.AUTHENTICATING
    assert session.receive_data(reply("-ERR invalid") + disconnect_notice()) == [
        LoginRefused("-ERR invalid"), Notice(session_frame(disconnect_notice()))]
    assert session.state is State.CLOSED

    rude = EslSession("pw")
    [denied] = rude.receive_data(b"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n")
    assert denied == AccessDenied("Access Denied, go away.") and rude.state is State.CLOSED


def session_frame(data: bytes) -> Any:
    from homepbx.freeswitch.esl.frames import FrameBuffer

    [frame] = FrameBuffer().feed(data)
    return frame


def test_session_pairs_replies_in_order_and_keeps_abandoned_slots() -> None:
    session = logged_in()
    first = session.api("sleep", "5")
    second = session.command("filter", "Unique-ID", "u-1")
    third = session.api("status")
    assert session.data_to_send() == b"api sleep 5\n\nfilter Unique-ID u-1\n\napi status\n\n"
    # The caller of `first` gave up long ago: its answer still lands on its slot.
    out = session.receive_data(api_response("+OK slept\n") + reply("+OK filter added.") + api_response("UP\n"))
    assert [(o.request, o.text) for o in out] == [(first, "+OK slept\n"), (second, "+OK filter added."), (third, "UP\n")]
    assert session.waiting == 0
    [stray] = session.receive_data(reply("+OK"))
    assert isinstance(stray, Unexpected) and "no command waits" in stray.reason


def test_session_background_jobs() -> None:
    session = logged_in()
    job = session.bgapi("originate", "user/1001 &park()", job_uuid="job-1")
    refused = session.bgapi("originate", "user/1002 &park()", job_uuid="job-2")
    assert session.data_to_send().count(b"Job-UUID: job-") == 2 and session.jobs == 2
    with pytest.raises(Exception, match="already running"):
        session.bgapi("status", job_uuid="job-1")
    out = session.receive_data(reply("+OK Job-UUID: job-1", "Job-UUID: job-1") + reply("-ERR permission denied"))
    assert out[0] == JobAccepted(job, "job-1")
    assert isinstance(out[1], Reply) and out[1].request is refused and out[1].text == "-ERR permission denied"
    assert session.jobs == 1
    done_headers = core_headers("BACKGROUND_JOB") + [("Job-UUID", "job-1"), ("Job-Command", "originate")]
    other_headers = core_headers("BACKGROUND_JOB") + [("Job-UUID", "not-ours")]
    out = session.receive_data(event_frame(other_headers, "x\n") + event_frame(done_headers, "+OK u\n", "plain"))
    assert [type(o) for o in out] == [Event, JobDone, Event]  # every event still goes to the handlers
    assert out[1].request is job and out[1].result == "+OK u\n" and out[1].event is out[2]
    assert session.jobs == 0


def test_session_job_event_before_its_reply_and_forgotten_jobs() -> None:
    session = logged_in()
    job = session.bgapi("version", job_uuid="j-fast")
    headers = core_headers("BACKGROUND_JOB") + [("Job-UUID", "j-fast")]
    out = session.receive_data(event_frame(headers, "+OK\n") + reply("+OK Job-UUID: j-fast", "Job-UUID: j-fast"))
    assert [type(o) for o in out] == [JobDone, Event]  # no JobAccepted after the result
    assert out[0].request is job
    slow = session.bgapi("originate", "x", job_uuid="j-slow")
    session.forget_job("j-slow")
    session.receive_data(reply("+OK Job-UUID: j-slow"))
    out = session.receive_data(event_frame(core_headers("BACKGROUND_JOB") + [("Job-UUID", "j-slow")], "+OK\n"))
    assert [type(o) for o in out] == [Event] and slow.job_uuid == "j-slow"


def test_session_connection_lost_returns_everything_still_waiting() -> None:
    session = logged_in()
    api = session.api("status")
    job = session.bgapi("originate", "x", job_uuid="j-1")
    session.receive_data(api_response("UP\n") + reply("+OK Job-UUID: j-1"))
    waiting = session.api("uuid_kill", "u-1")
    assert session.connection_lost() == [waiting, job]
    assert api not in session.connection_lost() and session.state is State.CLOSED


def test_session_log_lines_notices_and_unreadable_events() -> None:
    session = logged_in()
    log_frame = b"Content-Type: log/data\nContent-Length: 6\nLog-Level: 6\n\nhello\n"
    linger = b"Content-Type: text/disconnect-notice\nContent-Disposition: linger\nContent-Length: 0\n\n"
    bad = b"Content-Length: 5\nContent-Type: text/event-json\n\n{oops"
    out = session.receive_data(log_frame + linger + bad + b"Content-Type: text/mystery\n\n")
    assert isinstance(out[0], LogLine) and out[0].frame.body == "hello\n"
    assert isinstance(out[1], Notice) and out[1].linger and session.state is State.READY
    assert isinstance(out[2], Unexpected) and "not valid JSON" in out[2].reason
    assert isinstance(out[3], Unexpected) and "text/mystery" in out[3].reason
    session.receive_data(disconnect_notice())
    assert session.state is State.CLOSED
