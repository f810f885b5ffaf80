"""The wallboard's ASGI application (Starlette): pages, the live stream, sign-in, one-click spy.

Every route but the sign-in page and the static files needs a signed-in supervisor; every
POST needs the session's CSRF token (the sign-in form a pre-session one, double-submitted in
a cookie). A spy goes through `supervision.spy`, the service behind `homepbx spy`: the same
permission rule, the same ringing of the supervisor's own softphone, the same audit entry.
What the server refuses (no session, bad token, out of scope, a mode not held) is answered
403, written to the audit log, and never reaches the PBX.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import audit, backends, supervision
from ..errors import HomepbxError, InvalidInput, NotFound
from . import scope
from .accounts import RateLimit, SessionStore, WebSession, check_sign_in, csrf_ok
from .hub import Feed, Hub

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..config import Settings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "homepbx_session"
PRE_COOKIE = "homepbx_signin"  # the sign-in form's CSRF token (double submit)
CSRF_HEADER = "x-csrf-token"
# Everything from this server only; no inline script or style (names and reasons stay text).
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


@dataclass
class WebConfig:
    """How one `homepbx web` server runs."""

    settings: Settings
    # Cookies get `Secure` (TLS here, or a TLS reverse proxy in front): set by `homepbx web`.
    secure_cookies: bool = False
    tz: str = "UTC"  # where "today" begins for the queues' figures
    ring_timeout: float = 30.0  # seconds the supervisor's softphone rings for a spy
    figures_every: float = 30.0  # seconds between refreshes of today's figures (0: never)
    keepalive: float = 15.0  # seconds between SSE comments on a quiet stream
    # Test seams: the live feed (default: the site's backend) and the database sessions.
    feed: Feed | None = None
    sessions: Callable[[], Any] | None = None
    rate_limit: RateLimit = field(default_factory=RateLimit)
    store: SessionStore = field(default_factory=SessionStore)


class _Headers:
    """Adds the security headers to every HTTP response (pure ASGI: streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope_: Scope, receive: Receive, send: Send) -> None:
        if scope_["type"] != "http":
            await self.app(scope_, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope_, receive, send_with_headers)


def create_app(config: WebConfig) -> Starlette:
    """The wallboard application for one site."""
    settings = config.settings
    hub = Hub()
    # Autoescape on for every template: names and reasons are text, never markup.
    templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                                       autoescape=True))
    store, limit = config.store, config.rate_limit

    if config.sessions is not None:
        sessions = config.sessions
    else:
        from .. import db

        def sessions() -> AbstractContextManager[Session]:
            return db.transaction(settings.database.url)

    def feed() -> Any:
        return backends.backend(settings).watch(settings, scope.wrapup_times(sessions))

    async def refresh_figures() -> None:
        while True:
            try:
                hub.set_figures(await asyncio.to_thread(scope.today_figures, settings.database.url, config.tz))
            except Exception:  # noqa: BLE001 - figures are a nicety; the live board goes on
                log.exception("Could not read today's queue figures")
            await asyncio.sleep(config.figures_every)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(hub.run(config.feed or feed))]
        if config.figures_every > 0:
            tasks.append(asyncio.create_task(refresh_figures()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for sub in list(hub.subscribers):
                sub.close()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- helpers ---------------------------------------------------------------------------------
    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def current(request: Request) -> WebSession | None:
        return store.get(request.cookies.get(COOKIE))

    def record(action: str, target: str, actor: str, **details: Any) -> None:
        with sessions() as s:
            audit.record(s, action, target, actor=actor, **details)

    def set_cookie(response: Response, name: str, value: str, path: str = "/") -> None:
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=config.secure_cookies, path=path)

    async def refuse(request: Request, web: WebSession | None, what: str, reason: str, **details: Any) -> JSONResponse:
        actor = web.supervisor if web else f"web:{address(request)}"
        await asyncio.to_thread(record, f"web.{what}_refused", str(details.get("agent", ""))[:128], actor,
                                reason=reason, address=address(request), **details)
        return JSONResponse({"ok": False, "error": reason}, status_code=403)

    async def load_view(web: WebSession, team: str | None) -> scope.View | None:
        return await asyncio.to_thread(scope.load, sessions, web.supervisor, team)

    # -- sign in and out -------------------------------------------------------------------------
    async def signin_page(request: Request, error: str = "", status: int = 200) -> Response:
        import secrets

        token = secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, "signin.html", {"csrf": token, "error": error},
                                              status_code=status)
        set_cookie(response, PRE_COOKIE, token, path="/signin")
        return response

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            if current(request) is not None:
                return RedirectResponse("/", status_code=303)
            return await signin_page(request)
        form = await request.form()
        addr = address(request)
        extension = str(form.get("extension") or "")[:16]
        if not csrf_ok(request.cookies.get(PRE_COOKIE), str(form.get("csrf") or "")):
            await asyncio.to_thread(record, "web.signin_refused", extension, f"web:{addr}", reason="csrf",
                                    address=addr)
            return await signin_page(request, "The form expired: please try again.", 403)
        if not limit.allowed(addr):
            await asyncio.to_thread(record, "web.signin_limited", extension, f"web:{addr}", address=addr)
            return await signin_page(request, "Too many failed attempts: wait a few minutes.", 429)
        who = await asyncio.to_thread(check_sign_in, sessions, extension, str(form.get("password") or ""))
        if who is None:
            limit.failed(addr)
            await asyncio.to_thread(record, "web.signin_failed", extension, f"web:{addr}", address=addr)
            return await signin_page(request, "Wrong extension or password.", 401)
        limit.succeeded(addr)
        web = store.create(who, addr)
        await asyncio.to_thread(record, "web.signin", who, who, address=addr)
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, COOKIE, web.token)
        response.delete_cookie(PRE_COOKIE, path="/signin")
        return response

    async def signout(request: Request) -> Response:
        web = current(request)
        form = await request.form()
        if web is None or not csrf_ok(web.csrf, str(form.get("csrf") or "")):
            return await refuse(request, web, "signout", "no session" if web is None else "csrf")
        store.drop(web.token)
        hub.close_session(web.token)
        await asyncio.to_thread(record, "web.signout", web.supervisor, web.supervisor, address=address(request))
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # -- pages -----------------------------------------------------------------------------------
    async def board(request: Request, tv: bool) -> Response:
        web = current(request)
        if web is None:
            return RedirectResponse("/signin", status_code=303)
        team = request.query_params.get("team") or None
        view = await load_view(web, team)
        if view is None:
            store.drop(web.token)
            return RedirectResponse("/signin", status_code=303)
        return templates.TemplateResponse(request, "wallboard.html", {
            "view": view, "csrf": web.csrf, "tv": tv, "team": team or "",
            "modes": view.modes if not tv else (),
        })

    async def wallboard(request: Request) -> Response:
        return await board(request, tv=False)

    async def tv(request: Request) -> Response:
        return await board(request, tv=True)

    async def events(request: Request) -> Response:
        web = current(request)
        if web is None:
            return PlainTextResponse("Sign in first.", status_code=403)
        view = await load_view(web, request.query_params.get("team") or None)
        if view is None:
            return PlainTextResponse("Sign in first.", status_code=403)
        sub = hub.subscribe(view, web.token)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while True:
                    message = await hub.next(sub, config.keepalive)
                    if message is None or store.get(web.token) is None:
                        return
                    yield message or ": keepalive\n\n"
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    # -- one click -------------------------------------------------------------------------------
    async def spy(request: Request) -> Response:
        web = current(request)
        form = await request.form()
        agent = str(form.get("agent") or "")[:16]
        mode = str(form.get("mode") or "")[:16]
        given = request.headers.get(CSRF_HEADER) or str(form.get("csrf") or "")
        if web is None:
            return await refuse(request, None, "spy", "no session", agent=agent, mode=mode)
        if not csrf_ok(web.csrf, given):
            return await refuse(request, web, "spy", "csrf", agent=agent, mode=mode)
        sup = web.supervisor

        def check() -> None:
            # THE rule, before anything reaches the PBX (supervision.spy checks it again itself).
            with sessions() as s:
                supervision.authorize(s, sup, agent, mode)

        try:
            await asyncio.to_thread(check)
        except (InvalidInput, NotFound) as exc:
            return await refuse(request, web, "spy", str(exc), agent=agent, mode=mode)

        def run() -> supervision.SpyResult:
            return supervision.spy(settings, sup, agent, mode, config.ring_timeout,
                                   connect=lambda: None, session=sessions, actor=sup)

        try:
            result = await asyncio.to_thread(run)
        except (InvalidInput, NotFound) as exc:  # e.g. the call ended meanwhile
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=409)
        except HomepbxError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=502)
        plan = result.plan
        return JSONResponse({"ok": True, "agent": plan.agent, "mode": plan.mode, "call": result.call_id})

    routes = [
        Route("/", wallboard),
        Route("/tv", tv),
        Route("/events", events),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/spy", spy, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.config = config
    app.add_middleware(_Headers)
    return app
