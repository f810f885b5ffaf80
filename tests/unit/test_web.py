"""The wallboard server (`homepbx web`) over a real uvicorn, a fake feed and a fake AMI.

Accounts (argon2id, sign-in, rate limit, sessions), CSRF on every POST, scope filtering of
the live stream, the one-click spy (same rule and audit as `homepbx spy`; refused requests
are 403, audited, and reach no PBX), inert rendering of untrusted text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from homepbx import config, db
from homepbx.models import Agent, AuditEntry
from homepbx.pbx import AgentLive, LiveEvent, QueueLive
from homepbx.web import WebConfig, create_app
from homepbx.web.accounts import RateLimit, SessionStore, verify_password
from homepbx.web.server import in_thread

from .cli_helpers import Cli, assert_plain_error
from .fake_ami import FakeAmi, fake_ami_in_thread
from .cli_helpers import make_cli, url_of
from .test_supervision import channels_script, originate_script, point_at

PASSWORD = "correct horse battery"
AGENT_CHANNEL = "PJSIP/1001-0000002a"


class FakeFeed:
    """A `Backend.watch` stand-in: the test pushes events from its own thread."""

    def __init__(self, first: LiveEvent) -> None:
        self.first = first
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[LiveEvent] | None = None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.queue.put_nowait(self.first)

        async def events() -> AsyncIterator[LiveEvent]:
            assert self.queue is not None
            while True:
                yield await self.queue.get()

        yield events()

    def push(self, event: LiveEvent) -> None:
        assert self.loop is not None and self.queue is not None
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


def now() -> float:
    return time.time()


SNAPSHOT = LiveEvent("snapshot", 0.0, agents=(
    AgentLive("1001", "on call", 1.0, "sales-q", queues=("sales-q",), call_id="c1"),
    AgentLive("1002", "available", 1.0, queues=("support-q",)),
    AgentLive("1003", "paused", 1.0, reason="lunch", queues=("sales-q",)),
), queues=(QueueLive("sales-q", (5.0,)), QueueLive("support-q")))


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Cli:
    cli = make_cli(tmp_path, sqlite_url)
    for args in (
        ("team", "add", "sales"),
        ("team", "add", "support"),
        ("agent", "add", "1001", "--name", "Ann", "--team", "sales"),
        ("agent", "add", "1003", "--name", "Cid", "--team", "sales"),
        ("agent", "add", "1002", "--name", "Bob", "--team", "support"),
        ("agent", "add", "2001", "--name", "Full", "--role", "supervisor"),
        ("agent", "add", "2002", "--name", "Coach", "--role", "supervisor", "--modes", "listen,whisper"),
        ("supervisor", "scope", "add", "2001", "sales"),
        ("supervisor", "scope", "add", "2002", "sales"),
        ("queue", "add", "sales-q", "--extension", "601"),
        ("queue", "add", "support-q", "--extension", "602"),
        ("queue", "member", "add", "sales-q", "1001"),
        ("queue", "member", "add", "support-q", "1002"),
    ):
        assert cli(*args).exit_code == 0, args
    for ext in ("2001", "2002"):
        res = cli("supervisor", "web-password", ext, input=PASSWORD + "\n")
        assert res.exit_code == 0, res.stderr
    return cli


@dataclasses.dataclass
class Server:
    url: str
    feed: FakeFeed
    app: Any
    db_url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)

    def sign_in(self, client: httpx.Client, ext: str = "2001", password: str = PASSWORD) -> httpx.Response:
        page = client.get("/signin")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        return client.post("/signin", data={"csrf": token, "extension": ext, "password": password})

    def csrf(self, client: httpx.Client, path: str = "/") -> str:
        page = client.get(path)
        assert page.status_code == 200, page.text
        return page.text.split('<meta name="csrf" content="')[1].split('"')[0]

    def audit(self, prefix: str) -> list[AuditEntry]:
        with db.session_scope(self.db_url) as s:
            rows = s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)).all()
            s.expunge_all()
            return list(rows)


def start(cli: Cli, **options: Any) -> Iterator[Server]:
    settings = config.load(cli.config_path)
    feed = FakeFeed(SNAPSHOT)
    web = WebConfig(settings, feed=feed, figures_every=0, ring_timeout=5, keepalive=0.5, **options)
    app = create_app(web)
    with in_thread(app) as url:
        yield Server(url, feed, app, settings.database.url)


@pytest.fixture
def server(cli: Cli) -> Iterator[Server]:
    yield from start(cli)


def read_events(server: Server, client: httpx.Client, count: int, query: str = "",
                push: list[LiveEvent] | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The first `count` messages of the page's stream (pushing `push` once it is open)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", "/events" + query) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        for line in res.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if len(out) == 1:
                    for ev in push or []:
                        server.feed.push(ev)
                if len(out) >= count:
                    break
            assert time.monotonic() < deadline, out
    return out


# --- accounts -----------------------------------------------------------------------------------

def test_web_password_is_stored_as_argon2id_only(cli: Cli) -> None:
    with db.session_scope(url_of(cli)) as s:
        stored = s.scalar(select(Agent.web_password_hash).where(Agent.extension == "2001"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "x")
    assert_plain_error(cli("supervisor", "web-password", "1001", input=PASSWORD + "\n"), 2)  # an agent
    assert_plain_error(cli("supervisor", "web-password", "2001", input="short\n"), 2)
    assert_plain_error(cli("supervisor", "web-password", "2999", input=PASSWORD + "\n"), 2)


def test_sign_in_sets_a_strict_http_only_cookie_and_audits(server: Server) -> None:
    with server.client() as c:
        res = server.sign_in(c)
        assert res.status_code == 303 and res.headers["location"] == "/"
        cookie = next(v for k, v in res.headers.multi_items() if k == "set-cookie" and "homepbx_session=" in v)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        page = c.get("/")
        assert page.status_code == 200 and "Full (2001)" in page.text
        assert "content-security-policy" in page.headers
        assert "default-src 'none'" in page.headers["content-security-policy"]
    entries = server.audit("web.signin")
    assert [(e.action, e.actor, e.target) for e in entries] == [("web.signin", "2001", "2001")]


def test_cookies_are_secure_under_tls(cli: Cli) -> None:
    for server in start(cli, secure_cookies=True):
        with server.client() as c:
            page = c.get("/signin")
            assert "Secure" in page.headers["set-cookie"]
            # A client over plain HTTP does not send Secure cookies back: as TLS would, by hand.
            token = page.text.split('name="csrf" value="')[1].split('"')[0]
            res = c.post("/signin", data={"csrf": token, "extension": "2001", "password": PASSWORD},
                         headers={"Cookie": f"homepbx_signin={token}"})
            cookie = next(v for k, v in res.headers.multi_items() if k == "set-cookie" and "homepbx_session=" in v)
            assert "Secure" in cookie and "HttpOnly" in cookie


@pytest.mark.parametrize("ext,password", [("1001", PASSWORD), ("2999", PASSWORD), ("2001", "wrong password!"),
                                          ("abc", PASSWORD), ("", "")])
def test_agents_and_unknown_users_see_nothing(server: Server, ext: str, password: str) -> None:
    with server.client() as c:
        res = server.sign_in(c, ext, password)
        assert res.status_code == 401 and "Wrong extension or password" in res.text
        assert c.get("/").status_code == 303
        assert c.get("/tv").status_code == 303
        assert c.get("/events").status_code == 403
    assert [e.action for e in server.audit("web.signin")] == ["web.signin_failed"]


def test_sign_in_without_its_form_token_is_refused(server: Server) -> None:
    with server.client() as c:
        res = c.post("/signin", data={"extension": "2001", "password": PASSWORD, "csrf": "forged"})
        assert res.status_code == 403 and "homepbx_session" not in res.headers.get("set-cookie", "")
    assert [e.action for e in server.audit("web.signin")] == ["web.signin_refused"]


def test_sign_in_is_rate_limited_per_address(server: Server) -> None:
    with server.client() as c:
        for _ in range(5):
            assert server.sign_in(c, "2001", "not the password").status_code == 401
        res = server.sign_in(c)  # the right password, too late
        assert res.status_code == 429 and "homepbx_session" not in res.headers.get("set-cookie", "")
    actions = [e.action for e in server.audit("web.signin")]
    assert actions == ["web.signin_failed"] * 5 + ["web.signin_limited"]


def test_rate_limit_ages_out() -> None:
    clock = [0.0]
    limit = RateLimit(failures=2, window=60, clock=lambda: clock[0])
    limit.failed("a")
    limit.failed("a")
    assert not limit.allowed("a") and limit.allowed("b")
    clock[0] = 61
    assert limit.allowed("a")


def test_idle_sessions_expire() -> None:
    clock = [0.0]
    store = SessionStore(idle=10, clock=lambda: clock[0])
    web = store.create("2001", "127.0.0.1")
    clock[0] = 9
    assert store.get(web.token) is web
    clock[0] = 20
    assert store.get(web.token) is None and store.get("") is None


def test_signing_out_needs_the_token_and_ends_the_session(server: Server) -> None:
    with server.client() as c:
        server.sign_in(c)
        token = server.csrf(c)
        assert c.post("/signout", data={"csrf": "stale"}).status_code == 403
        assert c.get("/").status_code == 200
        old = c.cookies.get("homepbx_session")
        assert c.post("/signout", data={"csrf": token}).status_code == 303
        assert c.get("/").status_code == 303
        # The old cookie, replayed after sign-out, is worth nothing.
        c.cookies.set("homepbx_session", old)
        assert c.get("/").status_code == 303
        res = c.post("/spy", data={"agent": "1001", "mode": "listen", "csrf": token})
        assert res.status_code == 403 and res.json()["error"] == "no session"


# --- the live stream ----------------------------------------------------------------------------

def test_stream_shows_only_the_supervisors_agents_and_queues(server: Server) -> None:
    with server.client() as c:
        server.sign_in(c)
        later = [
            LiveEvent("agent", now(), "pause", agents=(AgentLive("1002", "paused", now(), reason="secret"),)),
            LiveEvent("queue", now(), "join", queues=(QueueLive("support-q", (now(),)),)),
            LiveEvent("agent", now(), "pause", agents=(AgentLive("1001", "paused", now(), reason="break"),)),
        ]
        snap, update = read_events(server, c, 2, push=later)
    assert snap["type"] == "snapshot" and snap["up"] is True
    assert [(a["agent"], a["name"], a["team"], a["state"]) for a in snap["agents"]] == [
        ("1001", "Ann", "sales", "on call"), ("1003", "Cid", "sales", "paused")]
    assert [q["queue"] for q in snap["queues"]] == ["sales-q"]
    assert snap["queues"][0]["waiting"] == 1
    # 1002 (support) and support-q never reach this page; 1001's pause does.
    assert update["type"] == "agent" and update["agent"]["agent"] == "1001" and update["agent"]["reason"] == "break"


def test_team_view_outside_the_scope_shows_nothing(server: Server) -> None:
    with server.client() as c:
        server.sign_in(c)
        (snap,) = read_events(server, c, 1, "?team=support")
        assert snap["agents"] == [] and snap["queues"] == []
        (snap,) = read_events(server, c, 1, "?team=sales")
        assert {a["agent"] for a in snap["agents"]} == {"1001", "1003"}


def test_pbx_down_is_shown(server: Server) -> None:
    with server.client() as c:
        server.sign_in(c)
        _, status = read_events(server, c, 2, push=[LiveEvent("down", now(), "Asterisk went away.")])
    assert status == {"type": "status", "up": False, "text": "Asterisk went away."}


def test_untrusted_text_stays_text(server: Server, cli: Cli) -> None:
    evil = "<img src=x onerror=alert(1)>"
    with db.session_scope(server.db_url) as s:  # past the CLI's validation, as a worst case
        s.execute(text("UPDATE agents SET display_name = :n WHERE extension IN ('2001', '1001')"), {"n": evil})
    with server.client() as c:
        server.sign_in(c)
        page = c.get("/").text
        assert evil not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
        assert evil not in c.get("/tv").text
        push = [LiveEvent("agent", now(), "pause", agents=(AgentLive("1001", "paused", now(),
                                                                      reason="</script><script>alert(1)"),))]
        snap, update = read_events(server, c, 2, push=push)
    # In the stream they are JSON strings; the page's script only ever sets textContent.
    assert snap["agents"][0]["name"] == evil and update["agent"]["reason"] == "</script><script>alert(1)"
    script = (Path(__file__).parents[2] / "homepbx/web/static/wallboard.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script


def test_no_asset_comes_from_elsewhere(server: Server) -> None:
    with server.client() as c:
        server.sign_in(c)
        pages = [c.get("/").text, c.get("/tv").text, c.get("/signin").text]
    for page in pages:
        assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")
    assert c.get  # the CSP (default-src 'none', script-src 'self') holds the browser to that


def test_tv_mode_has_no_controls(server: Server) -> None:
    with server.client() as c:
        server.sign_in(c)
        page = c.get("/tv").text
    assert 'data-tv="1"' in page and 'data-modes=""' in page and "Sign out" not in page


# --- one click ----------------------------------------------------------------------------------

@pytest.fixture
def ami(cli: Cli) -> Iterator[FakeAmi]:
    with fake_ami_in_thread() as fake:
        fake.scripts["coreshowchannels"] = channels_script(AGENT_CHANNEL)
        fake.scripts["originate"] = originate_script()
        point_at(cli, fake.port)
        yield fake


@pytest.fixture
def spy_server(cli: Cli, ami: FakeAmi) -> Iterator[Server]:
    yield from start(cli)


def spy(server: Server, c: httpx.Client, agent: str, mode: str, csrf: str | None) -> httpx.Response:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return c.post("/spy", data={"agent": agent, "mode": mode}, headers=headers)


def test_one_click_whisper_runs_the_spy_service(spy_server: Server, ami: FakeAmi) -> None:
    with spy_server.client() as c:
        spy_server.sign_in(c)
        res = spy(spy_server, c, "1001", "whisper", spy_server.csrf(c))
    assert res.status_code == 200, res.text
    assert res.json() == {"ok": True, "agent": "1001", "mode": "whisper", "call": "1.1"}
    originate = [a for a in ami.actions if a.name == "Originate"]
    assert len(originate) == 1 and originate[0].get("Channel") == "PJSIP/2001"
    assert originate[0].get("Data").startswith(AGENT_CHANNEL)
    entries = spy_server.audit("spy.")
    assert [(e.action, e.actor, e.target) for e in entries] == [("spy.whisper", "2001", "1001")]
    assert json.loads(entries[0].details)["supervisor"] == "2001"


@pytest.mark.parametrize("who,agent,mode,csrf,reason", [
    ("2001", "1002", "listen", True, "not in a team"),  # out of scope (support)
    ("2002", "1001", "barge", True, "not allowed to barge"),  # a mode not held
    ("2001", "1001", "listen", False, "csrf"),  # no token
    ("2001", "1001", "listen", "stale", "csrf"),  # a wrong one
    ("2001", "2002", "listen", True, "not in a team"),  # another supervisor
    ("2001", "9999", "listen", True, "No agent"),
    ("2001", "1001", "eavesdrop", True, "Unknown spy mode"),
])
def test_forged_spy_requests_are_refused_audited_and_reach_no_pbx(
        spy_server: Server, ami: FakeAmi, who: str, agent: str, mode: str, csrf: bool | str, reason: str) -> None:
    with spy_server.client() as c:
        spy_server.sign_in(c, who)
        token = spy_server.csrf(c) if csrf is True else (csrf or None)
        res = spy(spy_server, c, agent, mode, token)
    assert res.status_code == 403, res.text
    assert reason in res.json()["error"]
    assert ami.actions == []  # not even a login: nothing reached "Asterisk"
    assert spy_server.audit("spy.") == []
    (entry,) = spy_server.audit("web.spy")
    assert (entry.action, entry.actor, entry.target) == ("web.spy_refused", who, agent)
    details = json.loads(entry.details)
    assert details["mode"] == mode and reason in details["reason"]


def test_spy_without_a_session_is_refused_and_audited(spy_server: Server, ami: FakeAmi) -> None:
    with spy_server.client() as c:
        res = spy(spy_server, c, "1001", "listen", "anything")
    assert res.status_code == 403 and ami.actions == []
    (entry,) = spy_server.audit("web.spy")
    assert entry.actor.startswith("web:127.0.0.1") and json.loads(entry.details)["reason"] == "no session"


def test_the_stream_offers_only_the_modes_held(cli: Cli) -> None:
    for server in start(cli):
        with server.client() as c:
            server.sign_in(c, "2002")
            page = c.get("/").text
        assert 'data-modes="listen,whisper"' in page


def test_today_figures_show_every_queue(cli: Cli) -> None:
    from homepbx.web.scope import today_figures

    figures = today_figures(url_of(cli), "Europe/Paris")
    assert figures["sales-q"] == {"answered": 0, "abandoned": 0, "offered": 0, "service_level": None}
    assert set(figures) == {"sales-q", "support-q"}


def test_listen_address_is_checked() -> None:
    from homepbx.errors import InvalidInput
    from homepbx.web.server import parse_listen

    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    for bad in ("8080", "host:", "host:99999", "host:http"):
        with pytest.raises(InvalidInput):
            parse_listen(bad)


def test_web_command_refuses_a_bad_listen_address(cli: Cli) -> None:
    res = cli("web", "--listen", "nowhere")
    assert_plain_error(res, 2)
    assert "--listen" in res.stderr


def test_a_backend_without_a_live_feed_says_so(cli: Cli) -> None:
    # FreeSWITCH has no live feed yet: its backend says so in one sentence.
    settings = dataclasses.replace(config.load(cli.config_path), backend="freeswitch")
    app = create_app(WebConfig(settings, figures_every=0))
    with in_thread(app) as url:
        server = Server(url, FakeFeed(SNAPSHOT), app, settings.database.url)
        with server.client() as c:
            server.sign_in(c)
            (snap,) = read_events(server, c, 1)
    assert snap["up"] is False and snap["text"] == "The live wallboard is not available on FreeSWITCH sites yet."
    assert [a["state"] for a in snap["agents"]] == ["logged out", "logged out"]
