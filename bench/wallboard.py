"""The wallboard under load: AMI event -> browser update latency, and the server's CPU per 1,000 events.

The real `homepbx web` runs as a subprocess (its CLI, its one AMI connection, the Asterisk
tracker, the hub, uvicorn), against a fake Asterisk manager interface in this process that
answers the snapshot (500 agents in 5 queues) and then sends `QueueMemberPause` events at a
steady rate, each with a unique reason. Twenty clients, each signed in as the supervisor of
all 500 agents, hold the live stream (server-sent events) open like twenty browsers; each
reason's latency is the time from the event's last byte written to the AMI socket to its
arrival on a client's stream (one CLOCK_MONOTONIC for both, both in this process). The
server's CPU is read from /proc for the event phase only.

    .venv/bin/python bench/wallboard.py [--agents 500] [--clients 20] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1"
SUPERVISOR = "9000"
QUEUES = [f"q{i}" for i in range(5)]


def agent_ext(i: int) -> str:
    return str(10000 + i)


def make_site(workdir: Path, agents: int, ami_port: int) -> Path:
    """A site database (500 agents in one team, one supervisor) and a settings file for `homepbx web`."""
    from homepbx import config, db
    from homepbx.config import AmiSettings, DatabaseSettings, Settings
    from homepbx.models import Agent, Queue, QueueMember, Role, SupervisorScope, Team
    from homepbx.web.accounts import hash_password

    url = f"sqlite:///{workdir / 'bench.db'}"
    db.upgrade(url)
    with db.session_scope(url) as s:
        team = Team(name="bench")
        s.add(team)
        queues = [Queue(name=q, extension=str(700 + i)) for i, q in enumerate(QUEUES)]
        s.add_all(queues)
        sup = Agent(extension=SUPERVISOR, display_name="Bench Supervisor", role=Role.supervisor, md5_cred="0" * 32,
                    realm="homepbx", spy_modes="listen,whisper,barge", web_password_hash=hash_password(PASSWORD))
        s.add(sup)
        s.flush()
        s.add(SupervisorScope(supervisor_id=sup.id, team_id=team.id))
        for i in range(agents):
            a = Agent(extension=agent_ext(i), display_name=f"Agent {i}", team_id=team.id, md5_cred="0" * 32,
                      realm="homepbx")
            s.add(a)
            s.flush()
            s.add(QueueMember(queue_id=queues[i % len(queues)].id, agent_id=a.id))
    settings = Settings(database=DatabaseSettings(url=url),
                        ami=AmiSettings(host="127.0.0.1", port=ami_port, secret="bench", timeout=5.0))
    path = workdir / "homepbx.toml"
    path.write_text(config.to_toml(replace(settings)), encoding="utf-8")
    path.chmod(0o600)
    return path


class FakeAsterisk:
    """Just enough AMI: login, QueueStatus (every agent a member), CoreShowChannels, Ping."""

    def __init__(self, agents: int) -> None:
        self.agents = agents
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.snapshotted = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buffer = b""
        while True:
            try:
                data = await reader.read(65536)
            except (asyncio.CancelledError, ConnectionError):
                return
            if not data:
                return
            buffer += data
            *frames, buffer = buffer.split(b"\r\n\r\n")
            for raw in frames:
                headers = dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)
                await self.answer(writer, headers)

    async def answer(self, writer: asyncio.StreamWriter, h: dict[str, str]) -> None:
        name, aid = h.get("Action", "").lower(), h.get("ActionID", "")

        def frame(*lines: str) -> bytes:
            return ("\r\n".join([*lines, f"ActionID: {aid}"]) + "\r\n\r\n").encode()

        if name == "login":
            writer.write(frame("Response: Success", "Message: Authentication accepted"))
            self.writer = writer
            self.connected.set()
        elif name == "queuestatus":
            out = [frame("Response: Success", "EventList: start")]
            out += [frame("Event: QueueParams", f"Queue: {q}") for q in QUEUES]
            out += [frame("Event: QueueMember", f"Queue: {QUEUES[i % len(QUEUES)]}",
                          f"Location: PJSIP/{agent_ext(i)}", "Paused: 0") for i in range(self.agents)]
            out.append(frame("Event: QueueStatusComplete", "EventList: Complete"))
            writer.write(b"".join(out))
        elif name == "coreshowchannels":
            writer.write(frame("Response: Success", "EventList: start")
                         + frame("Event: CoreShowChannelsComplete", "EventList: Complete", "ListItems: 0"))
            self.snapshotted.set()
        else:
            writer.write(frame("Response: Success", "Ping: Pong"))
        await writer.drain()


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    res = await client.post("/signin", data={"csrf": token, "extension": SUPERVISOR, "password": PASSWORD})
    assert res.status_code == 303, res.text


async def main(args: argparse.Namespace) -> dict[str, object]:
    fake = FakeAsterisk(args.agents)
    ami = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    ami_port = ami.sockets[0].getsockname()[1]
    web_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="homepbx-bench-wallboard-"))
    cfg = make_site(workdir, args.agents, ami_port)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "homepbx", "--config", str(cfg), "web",
                               "--listen", f"127.0.0.1:{web_port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(workdir / "server.log", "wb"))
    sent: dict[str, float] = {}
    got: list[float] = []
    ready = 0
    all_ready = asyncio.Event()
    base = f"http://127.0.0.1:{web_port}"
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with httpx.AsyncClient(base_url=base) as c:
                        await c.get("/signin")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            await fake.snapshotted.wait()

        async def client() -> None:
            nonlocal ready
            async with httpx.AsyncClient(base_url=base, timeout=None) as c:
                await sign_in(c)
                async with c.stream("GET", "/events") as res:
                    first = True
                    async for line in res.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        if first:
                            first = False
                            snap = json.loads(line[6:])
                            assert len(snap["agents"]) == args.agents, len(snap["agents"])
                            ready += 1
                            if ready == args.clients:
                                all_ready.set()
                            continue
                        now = time.monotonic()
                        # Cheap: find the reason without parsing every message fully.
                        mark = line.find('"reason":"b')
                        if mark >= 0:
                            key = line[mark + 10:line.index('"', mark + 10)]
                            t = sent.get(key)
                            if t is not None:
                                got.append(now - t)

        tasks = [asyncio.create_task(client()) for _ in range(args.clients)]
        async with asyncio.timeout(60):
            await all_ready.wait()
        assert fake.writer is not None
        total = int(args.rate * args.seconds)
        cpu0, t0 = proc_cpu(server.pid), time.monotonic()
        interval = 1.0 / args.rate
        for seq in range(total):
            i = seq % args.agents
            key = f"b{seq}"
            # Pause with a new reason each time: every event is a change every client sees.
            fake.writer.write((f"Event: QueueMemberPause\r\nQueue: {QUEUES[i % len(QUEUES)]}\r\n"
                               f"Interface: PJSIP/{agent_ext(i)}\r\nPaused: 1\r\nPausedReason: {key}\r\n\r\n").encode())
            sent[key] = time.monotonic()
            await fake.writer.drain()
            delay = t0 + (seq + 1) * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        expected = total * args.clients
        # Until all arrived, or nothing more for 3 s (a client too slow is resynchronised with a
        # snapshot instead of its backlog: those updates are counted as not delivered).
        last, quiet = -1, time.monotonic()
        while len(got) < expected and time.monotonic() - quiet < 3.0:
            if len(got) != last:
                last, quiet = len(got), time.monotonic()
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        cpu = proc_cpu(server.pid) - cpu0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.terminate()
        server.wait(10)
        ami.close()
    q = statistics.quantiles(got, n=100)
    return {
        "agents": args.agents, "clients": args.clients, "events": total, "rate_per_s": args.rate,
        "updates_delivered": f"{len(got)} of {total * args.clients}", "elapsed_s": round(elapsed, 2),
        "latency_p50_ms": round(statistics.median(got) * 1000, 1),
        "latency_p95_ms": round(q[94] * 1000, 1),
        "latency_max_ms": round(max(got) * 1000, 1),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_ms_per_1000_events": round(cpu / total * 1000 * 1000, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0, help="AMI events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    result = asyncio.run(main(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:32} {value}")
    print(f"target p95 <= 1000 ms: {'met' if result['latency_p95_ms'] <= 1000 else 'MISSED'}")
