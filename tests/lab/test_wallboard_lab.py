"""The wallboard in real headless Chromium (Debian's), on the real lab Asterisk and softphones.

A supervisor signs in; a queue call appears with the agent "on call" within a second of the
agent answering; one click on Whisper rings the supervisor's softphone and only the agent
hears the 2000 Hz tone; a pause dialled from the agent's softphone shows its reason; an
out-of-scope agent is not shown and a forged spy request for them is refused; the board
comes back by itself after Asterisk restarts; the TV mode is saved as a screenshot
(tests/lab/artifacts/wallboard-tv.png). Extensions 48xx/4908, queue wbq (548), teams wb-*
belong to this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from homepbx import db
from homepbx.features import CODES
from homepbx.lab.softphone import Softphone
from homepbx.models import AuditEntry
from homepbx.web import WebConfig, create_app
from homepbx.web.server import in_thread

from .conftest import AGENT_HZ, CALLER_HZ, SUPERVISOR_HZ, ToneHelper
from .site import LabSite

import playwright.sync_api as playwright_api  # noqa: E402 - the test extra installs it

AGENT = "4801"
OUT_OF_SCOPE = "4802"
SUPERVISOR = "4908"
OUTSIDE = "wb-outside"
QUEUE, QUEUE_EXT = "wbq", "548"
PASSWORD = "wallboard-lab-password"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def wb_site(site: LabSite) -> LabSite:
    for team in ("wb-a", "wb-b"):
        site.ensure_team(team)
    site.add_agent(AGENT, "Agent Wallboard", "--team", "wb-a")
    site.add_agent(OUT_OF_SCOPE, "Agent Elsewhere", "--team", "wb-b")
    site.add_agent(SUPERVISOR, "Wall Supervisor", "--role", "supervisor")
    site.run("supervisor", "scope", "add", SUPERVISOR, "wb-a")
    res = site.cli("supervisor", "web-password", SUPERVISOR, input=PASSWORD + "\n")
    assert res.exit_code == 0, res.stderr
    site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--wrapup", "3")
    site.run("queue", "member", "add", QUEUE, AGENT)
    site.run("queue", "member", "add", QUEUE, OUT_OF_SCOPE)
    site.add_outside_caller(OUTSIDE, "wb-outside-secret-1")
    site.apply()
    return site


@pytest.fixture(scope="module")
def board_url(wb_site: LabSite) -> Iterator[str]:
    """`homepbx web`'s application on the lab site (the real feed: one AMI connection)."""
    app = create_app(WebConfig(wb_site.settings, figures_every=5, ring_timeout=15))
    with in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: object, board_url: str) -> Iterator[object]:
    context = browser.new_context(base_url=board_url, viewport={"width": 1600, "height": 900})  # type: ignore[attr-defined]
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith(board_url) else None)
    page = context.new_page()
    page.goto("/signin")
    page.fill("input[name=extension]", SUPERVISOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#agents tbody tr")
    try:
        yield page
    finally:
        context.close()
        assert outside == [], f"the page loaded assets from elsewhere: {outside}"


def row(agent: str) -> str:
    return f'#agents tr[data-agent="{agent}"]'


def state_of(page: object, agent: str) -> str:
    return page.text_content(f"{row(agent)} .state")  # type: ignore[attr-defined]


def feature(phone: Softphone, code: str) -> None:
    phone.dial(code)
    phone.wait_event("CALL_ESTABLISHED", 10)
    phone.wait_event("CALL_CLOSED", 10)


def audit(site: LabSite, prefix: str) -> list[AuditEntry]:
    with db.session_scope(site.settings.database.url) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)).all()
        s.expunge_all()
        return list(rows)


def test_live_call_whisper_pause_scope_and_tv(wb_site: LabSite, page: object, softphone: Callable[..., Softphone],
                                             tones: ToneHelper, lab: object) -> None:
    site = wb_site
    agent = site.start_phone(softphone, AGENT, AGENT_HZ)
    sup = site.start_phone(softphone, SUPERVISOR, SUPERVISOR_HZ)
    caller = site.start_phone(softphone, OUTSIDE, CALLER_HZ)

    # Only the supervisor's team: the agent of wb-b is not on the page at all.
    assert page.locator(row(AGENT)).count() == 1  # type: ignore[attr-defined]
    assert page.locator(row(OUT_OF_SCOPE)).count() == 0  # type: ignore[attr-defined]
    assert page.text_content(f"{row(AGENT)} .name") == "Agent Wallboard"  # type: ignore[attr-defined]
    assert page.locator(f'#queues tr[data-queue="{QUEUE}"]').count() == 1  # type: ignore[attr-defined]

    feature(agent, CODES.login)
    page.wait_for_selector(f"{row(AGENT)}.s-available", timeout=3000)  # type: ignore[attr-defined]

    # A real queue call: on the board within a second of the agent answering.
    caller.dial(QUEUE_EXT)
    agent.wait_event("CALL_ESTABLISHED", 20)
    answered = time.monotonic()
    page.wait_for_selector(f"{row(AGENT)}.s-on-call", timeout=1000)  # type: ignore[attr-defined]
    shown_after = time.monotonic() - answered
    print(f"\nwallboard: agent on call shown {shown_after * 1000:.0f} ms after the softphone's answer")
    assert shown_after <= 1.0
    assert page.text_content(f"{row(AGENT)} .queue") == QUEUE  # type: ignore[attr-defined]

    # One click: whisper. The supervisor's softphone rings (auto-answer); only the agent hears it.
    page.click(f'{row(AGENT)} button[data-mode="whisper"]')  # type: ignore[attr-defined]
    sup.wait_event("CALL_ESTABLISHED", 15)
    page.wait_for_selector("#notice:has-text('whispering')", timeout=10000)  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wallboard-call.png"), full_page=True)  # type: ignore[attr-defined]
    time.sleep(6.0)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    agent.wait_event("CALL_CLOSED", 10)
    sup.wait_event("CALL_CLOSED", 10)
    assert SUPERVISOR_HZ in tones.heard(agent)
    assert SUPERVISOR_HZ not in tones.heard(caller)
    entries = audit(site, "spy.")
    assert [(e.action, e.target, json.loads(e.details)["supervisor"]) for e in entries][-1:] == [
        ("spy.whisper", AGENT, SUPERVISOR)]

    # Wrap-up (3 s), then available again.
    page.wait_for_selector(f"{row(AGENT)}.s-wrap-up", timeout=3000)  # type: ignore[attr-defined]
    page.wait_for_selector(f"{row(AGENT)}.s-available", timeout=6000)  # type: ignore[attr-defined]

    # A pause dialled from the agent's softphone shows its reason.
    digit = next(d for d, r in CODES.pause_reasons.items() if r == "lunch")
    feature(agent, CODES.pause + digit)
    page.wait_for_selector(f"{row(AGENT)}.s-paused", timeout=3000)  # type: ignore[attr-defined]
    assert page.text_content(f"{row(AGENT)} .reason") == "lunch"  # type: ignore[attr-defined]

    # A forged request for the out-of-scope agent, from the signed-in page with its own token.
    before = len(sup.events)
    answer = page.evaluate("""async (agent) => {
        const csrf = document.querySelector('meta[name="csrf"]').content;
        const res = await fetch('/spy', {method: 'POST', headers: {'X-CSRF-Token': csrf},
                                         body: new URLSearchParams({agent: agent, mode: 'listen'})});
        return [res.status, await res.json()];
    }""", OUT_OF_SCOPE)  # type: ignore[attr-defined]
    assert answer[0] == 403 and "not in a team" in answer[1]["error"]
    time.sleep(2.0)
    assert not [e for e in sup.events[before:] if e.get("type") == "CALL_INCOMING"], "the supervisor was rung"
    refused = audit(site, "web.spy_refused")
    assert refused and (refused[-1].actor, refused[-1].target) == (SUPERVISOR, OUT_OF_SCOPE)

    # Asterisk restarts: the board says so, then comes back by itself with the same state.
    lab.restart()  # type: ignore[attr-defined]
    page.wait_for_selector("#status", state="hidden", timeout=20000)  # type: ignore[attr-defined]
    page.wait_for_selector(f"{row(AGENT)}.s-paused", timeout=10000)  # type: ignore[attr-defined]

    # TV mode: large type, no controls; saved for people to look at.
    page.goto("/tv")  # type: ignore[attr-defined]
    page.wait_for_selector(f"{row(AGENT)}.s-paused", timeout=5000)  # type: ignore[attr-defined]
    assert page.locator("button").count() == 0  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wallboard-tv.png"), full_page=True)  # type: ignore[attr-defined]
    page.goto("/")  # type: ignore[attr-defined]
    page.wait_for_selector(f"{row(AGENT)}.s-paused", timeout=5000)  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)  # type: ignore[attr-defined]

    feature(agent, CODES.logout)
    page.wait_for_selector(f"{row(AGENT)}.s-logged-out", timeout=3000)  # type: ignore[attr-defined]
