"""No accepted value can change the structure of a rendered file.

The rendered pjsip.conf and extensions.conf are parsed as Asterisk's config parser reads them
(lines split on "\\n", `;` comments, `[section](template)`, `key = value` / `key => value`,
`#include` directives) and compared with the structure expected from the rows alone.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from homepbx import names
from homepbx.config import AmiSettings, Settings
from homepbx.errors import InvalidInput
from homepbx.asterisk.render import render_files
from homepbx.asterisk.render.environment import finalize
from homepbx.asterisk.render.options import options_from
from homepbx.site import SPY_MODES, AgentView, QueueView, Site, SupervisorView, TeamView

OPTIONS = options_from(Settings(ami=AmiSettings(secret="property-secret")))


@dataclass
class Section:
    name: str
    template: str | None
    lines: list[tuple[str, str]]


def parse(text: str) -> tuple[list[Section], list[str]]:
    """Sections (with their key/value lines) and directives, as Asterisk would read them."""
    assert "\r" not in text and ";--" not in text, "no CR, no block comments"
    sections: list[Section] = []
    directives: list[str] = []
    for raw in text.split("\n"):
        line = raw.split(";", 1)[0].strip()  # values never hold `\;`, checked below
        if not line:
            continue
        if line.startswith("#"):
            directives.append(line)
        elif line.startswith("["):
            close = line.index("]")
            rest = line[close + 1 :]
            assert rest == "" or (rest.startswith("(") and rest.endswith(")")), line
            sections.append(Section(line[1:close], rest[1:-1] if rest else None, []))
        else:
            key, sep, value = line.partition("=")
            assert sep, f"not an option line: {line!r}"
            sections[-1].lines.append((key.strip(), value.removeprefix(">").strip()))
    assert "\\;" not in text
    return sections, directives


def md5(ext: str) -> str:
    return hashlib.md5(ext.encode()).hexdigest()


def _accepted(validator):  # type: ignore[no-untyped-def]
    def check(value: str) -> bool:
        try:
            validator(value)
        except InvalidInput:
            return False
        return True

    return check


# Biased towards config and dialplan syntax, plus any Unicode.
_nasty = st.sampled_from(list("=#$%{}'&*:!?@~`^/ \t.-_+") + ["\u2028", "\x85", "\u200e", "\ufeff", "=>", "#include", "${", "$["])
display_names = (
    st.lists(st.one_of(_nasty, st.characters(codec="utf-8"), st.sampled_from(string.ascii_letters)), min_size=1, max_size=30)
    .map("".join)
    .filter(_accepted(names.display_name))
    .map(names.display_name)
)
slugs = st.from_regex(r"[a-z][a-z0-9_-]{0,39}", fullmatch=True)
exts = st.from_regex(r"[0-9]{2,10}", fullmatch=True).filter(_accepted(names.extension))


@st.composite
def sites(draw) -> Site:  # type: ignore[no-untyped-def]
    team_names = draw(st.lists(slugs, min_size=1, max_size=3, unique=True))
    all_exts = draw(st.lists(exts, min_size=2, max_size=8, unique=True))
    queue_exts, agent_exts = all_exts[:1], all_exts[1:]
    agents = []
    for i, ext in enumerate(sorted(agent_exts)):
        agents.append(AgentView(
            extension=ext, display_name=draw(display_names), md5_cred=md5(ext), realm="homepbx",
            is_supervisor=i == 0, team=draw(st.sampled_from(team_names)),
            transport=draw(st.sampled_from(("tls", "udp", "tcp"))),
        ))
    teams = tuple(
        TeamView(t, tuple(a.extension for a in agents if a.team == t and not a.is_supervisor)) for t in sorted(team_names)
    )
    modes = tuple(m for m in SPY_MODES if draw(st.booleans()))
    sup = SupervisorView(agents[0].extension, modes, tuple(sorted(draw(st.sets(st.sampled_from(team_names))))))
    queue = QueueView(draw(slugs), queue_exts[0], "rrmemory", 15, 300, 10, 20, draw(st.booleans()), ())
    return Site(agents=tuple(agents), teams=teams, supervisors=(sup,), queues=(queue,))


def expected_pjsip(site: Site) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    out: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for a in site.agents:
        own = f"homepbx-sup-{a.extension}" if a.is_supervisor else "homepbx-agents"
        if a.transport == "tls":
            endpoint = [("set_var", f"HOMEPBX_CONTEXT={own}"), ("set_var", f"TRANSFER_CONTEXT={own}")]
        else:
            endpoint = [("context", own)] if a.is_supervisor else []
        endpoint += [("auth", a.extension), ("aors", a.extension), ("callerid", f'"{a.display_name}" <{a.extension}>')]
        out.append((a.extension, "homepbx-agent-tls" if a.transport == "tls" else "homepbx-agent", endpoint))
        out.append((a.extension, "homepbx-auth", [("username", a.extension), ("realm", a.realm), ("md5_cred", a.md5_cred)]))
        out.append((a.extension, "homepbx-aor", []))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(sites())
def test_names_cannot_change_the_structure(site: Site) -> None:
    files = render_files(site, OPTIONS)

    sections, directives = parse(files["pjsip.conf"])
    # "!" or "!,parent" marks a template section; anything else is one agent's section.
    per_agent = [(s.name, s.template, s.lines) for s in sections
                 if s.template is not None and not s.template.startswith("!") and not s.name.startswith("trunk-")]
    assert per_agent == expected_pjsip(site)
    assert directives == ["#tryinclude pjsip_local.conf"]

    # The dialplan does not depend on display names at all...
    renamed = Site(
        agents=tuple(AgentView(a.extension, "X", a.md5_cred, a.realm, a.is_supervisor, a.team) for a in site.agents),
        teams=site.teams, supervisors=site.supervisors, queues=site.queues,
    )
    assert render_files(renamed, OPTIONS)["extensions.conf"] == files["extensions.conf"]

    # ...and every dialplan line is exactly one application with the expected arguments.
    sections, directives = parse(files["extensions.conf"])
    names_seen = [s.name for s in sections]
    assert len(names_seen) == len(set(names_seen))
    for s in sections[1:]:
        if s.name.startswith(CARRIER_CONTEXTS):
            continue  # test_carrier_values_cannot_change_the_structure
        for key, value in s.lines:
            assert key in ("exten", "same", "include"), key
            if key == "include":
                assert value in names_seen
                continue
            if key == "exten":
                ext, prio, app = value.split(",", 2)
            else:
                prio, app = value.split(",", 1)
            assert prio in ("1", "n") or (s.name == "homepbx-queues" and prio in ("n(queue)", "n(done)")), prio
            # Fixed nested options (pre-dial handler, MixMonitor id): compared whole.
            if app.startswith("Dial("):
                assert app == f"Dial(PJSIP/{ext},30,tb(homepbx-quality^s^1))", app
                continue
            if app.startswith("Queue("):
                assert app == f"Queue({site.queues[0].name},tb(homepbx-quality^s^1),,,300)", app
                continue
            if app.startswith("MixMonitor("):
                assert app == f"MixMonitor({OPTIONS.recordings_dir}/${{UNIQUEID}}.wav,bi(HOMEPBX_MIXMON))", app
                continue
            if s.name == "homepbx-quality":
                # Fixed text, no site value reaches it (the agent legs' hangup handler): compared whole.
                assert app in ("Set(CHANNEL(hangup_handler_push)=homepbx-quality,qos,1)", "Return()",
                               "CELGenUserEvent(HOMEPBX_QOS,${CHANNEL(rtcp,all)})"), app
                continue
            if s.name.startswith("homepbx-agent-") or s.name in ("homepbx-queues", "homepbx-agents",
                                                                   "homepbx-tls-only"):
                # The agent feature codes use fixed dialplan functions (${CHANNEL(endpoint)}...);
                # what remains once they are taken out must be one application as usual.
                app = _strip_dialplan_expressions(app)
            assert app.endswith(")") and app.count("(") == 1 and app.count(")") == 1, app
            args = app[app.index("(") + 1 : -1]
            if app.startswith("ChanSpy("):
                target, opts = args.split(",")
                # `d` (DTMF mode switching) only where a supervisor holds every mode.
                assert opts.endswith("d") == s.name.endswith("-switch"), (s.name, opts)
                mode_digit = {"qE": "1", "qEw": "2", "qEB": "3"}[opts.removesuffix("d")]
                assert ext == "*2" + mode_digit + target[len("PJSIP/") : -1]
    spy_contexts = {s.name for s in sections if s.name.startswith("homepbx-spy-")}
    expected_spy = {f"homepbx-spy-{t.name}-{m}" for t in site.teams if t.agents for m in (*SPY_MODES, "switch")}
    assert spy_contexts == expected_spy
    [sup_ctx] = [s for s in sections if s.name.startswith("homepbx-sup-")]
    sup = site.supervisors[0]
    with_agents = {t.name for t in site.teams if t.agents}
    modes = ("switch",) if sup.modes == SPY_MODES else sup.modes
    assert [v for _, v in sup_ctx.lines] == ["homepbx-supervisors"] + [
        f"homepbx-spy-{t}-{m}" for t in sup.teams if t in with_agents for m in modes
    ]


# The carrier side's contexts (dialplans/asterisk/carrier.j2), checked on their own below.
CARRIER_CONTEXTS = ("homepbx-from-trunk-", "homepbx-numbers", "homepbx-hours-", "homepbx-closed-", "homepbx-outbound",
                    "homepbx-team-cid", "homepbx-agent-team", "homepbx-to-trunk-")


def _strip_dialplan_expressions(app: str) -> str:
    """Remove ${VAR}, $[...] and ${FUNC(args)} (innermost first) from a dialplan line."""
    previous = None
    while previous != app:
        previous = app
        app = re.sub(r"\$\{[A-Z_]+\}", "", app)
        app = re.sub(r"\$\[[^\[\]()]*\]", "", app)
        app = re.sub(r"\$\{[A-Z_]+\([^(){}]*\)\}", "", app)
    return app


@given(st.text(max_size=20))
def test_finalize_fast_path_agrees_with_conf_safe(text: str) -> None:
    try:
        expected: str | None = names.conf_safe(text)
    except ValueError:
        expected = None
    try:
        got: str | None = finalize(text)
    except ValueError:
        got = None
    assert got == expected


@given(st.text(min_size=1, max_size=10))
def test_a_value_with_a_line_break_never_renders(text: str) -> None:
    assume("\n" in text or "\r" in text or any(ord(c) < 32 for c in text))
    bad = AgentView("1001", text, md5("1001"), "homepbx", False, None)
    site = Site(agents=(bad,), teams=(), supervisors=(), queues=())
    try:
        files = render_files(site, OPTIONS)
    except ValueError:
        return
    raise AssertionError(f"rendered a control character: {files['pjsip.conf']!r}")


# --- the carrier side (issue 11): trunk names, hosts, usernames, realms, sounds, numbers ------------

from homepbx.site import NumberView, ScheduleView, TrunkView  # noqa: E402

_conf_nasty = st.sampled_from(list(";,|()[]=#$%{}'\"&*:!?@~`^/\\ \t\n\r.-_+<>") + ["\u2028", "${", "$[", "=>"])


def _text_for(validator, base: str):  # type: ignore[no-untyped-def]
    """A valid-looking value with config or dialplan syntax mixed in, kept only where `validator`
    accepts it (as it returns it): the validator, not the strategy, decides what reaches a file."""
    return (st.tuples(st.from_regex(base, fullmatch=True), st.lists(_conf_nasty, max_size=3).map("".join),
                      st.from_regex(base, fullmatch=True), st.booleans())
            .map(lambda p: p[0] + p[1] + p[2] if p[3] else p[0])
            .filter(_accepted(validator)).map(validator))


trunk_names = _text_for(names.trunk_name, r"[a-z][a-z0-9_-]{0,10}")
hosts = _text_for(lambda v: names.hostname(v, "host"), r"[a-z0-9][a-z0-9.-]{0,15}[a-z0-9]")
users = _text_for(names.sip_user, r"[A-Za-z0-9][A-Za-z0-9._~+-]{0,10}")
sounds = _text_for(names.sound, r"/?[a-z0-9_-]{1,8}(/[a-z0-9_-]{1,8}){0,2}")
proxies = _text_for(lambda v: names.host_port(v, "outbound proxy"), r"[a-z0-9]{1,10}(:[0-9]{1,5})?")
e164s = st.from_regex(r"\+331[0-9]{8}", fullmatch=True)


@st.composite
def carrier_sites(draw) -> Site:  # type: ignore[no-untyped-def]
    base = draw(sites())
    tnames = draw(st.lists(trunk_names, min_size=1, max_size=3, unique=True))
    trunks = tuple(sorted((
        TrunkView(name=n, mode=draw(st.sampled_from(["register", "ip"])), host=draw(hosts), port=5060,
                  transport="udp", username=draw(users), realm=draw(hosts), md5_cred=md5(n),
                  match=("192.0.2.1/32",), outbound_proxy=draw(st.one_of(st.just(""), proxies)),
                  codecs=("alaw",), max_channels=draw(st.integers(0, 5)), caller_id=draw(e164s), outbound=True)
        for n in tnames), key=lambda t: t.name))
    sched = ScheduleView("office", "Europe/Paris", (("mon-fri", ((540, 750), (810, 1080))),), ("20261225",))
    numbers = tuple(sorted({e: NumberView(
        e164=e, forms=(e, e[1:], "0" + e[3:]), trunk=draw(st.sampled_from(tnames)),
        route=draw(st.sampled_from(["queue", "closed"])), target=base.queues[0].extension,
        schedule=draw(st.sampled_from(["", "office"])), closed_sound=draw(sounds), closed_queue="",
    ) for e in draw(st.lists(e164s, min_size=1, max_size=4, unique=True))}.values(), key=lambda n: n.e164))
    return Site(agents=base.agents, teams=base.teams, supervisors=base.supervisors, queues=base.queues,
                trunks=trunks, schedules=(sched,), numbers=numbers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(carrier_sites())
def test_carrier_values_cannot_change_the_structure(site: Site) -> None:
    files = render_files(site, OPTIONS)
    # The one escaped `;` we write: the loose-routing parameter of an outbound proxy.
    pjsip = files["pjsip.conf"]
    proxies_rendered = sum((2 if t.mode == "register" else 1) for t in site.trunks if t.outbound_proxy)
    assert pjsip.count("\\;") == pjsip.count("\\;lr\n") == proxies_rendered
    sections, directives = parse(pjsip.replace("\\;lr\n", "\n"))
    assert directives == ["#tryinclude pjsip_local.conf"]
    trunk_sections = [s for s in sections if s.name.startswith("trunk-")]
    expected_names = []
    for t in site.trunks:
        expected_names += [f"trunk-{t.name}"] * (5 if t.mode == "register" else 3)
    assert [s.name for s in trunk_sections] == expected_names
    by_trunk = {t.name: t for t in site.trunks}
    for s in trunk_sections:
        t = by_trunk[s.name.removeprefix("trunk-")]
        values = dict(s.lines)
        if s.template == "homepbx-media":  # the endpoint
            assert values["context"] == f"homepbx-from-trunk-{t.name}"
            if t.outbound_proxy:
                assert values["outbound_proxy"] == f"sip:{t.outbound_proxy}"
        elif values.get("type") == "auth":
            assert values == {"type": "auth", "auth_type": "md5", "username": t.username, "realm": t.realm,
                              "md5_cred": t.md5_cred}
        elif values.get("type") == "registration":
            assert values["client_uri"] == f"sip:{t.username}@{t.host}:5060"
            assert values["endpoint"] == f"trunk-{t.name}"
        elif values.get("type") == "aor":
            assert values["contact"] == f"sip:{t.host}:5060"
        else:
            assert values["type"] == "identify" and values["endpoint"] == f"trunk-{t.name}"

    sections, _ = parse(files["extensions.conf"])
    names_seen = [s.name for s in sections]
    assert len(names_seen) == len(set(names_seen))
    expected_ctx = {f"homepbx-from-trunk-{t.name}" for t in site.trunks} | {f"homepbx-to-trunk-{t.name}" for t in site.trunks}
    assert expected_ctx <= set(names_seen)
    assert {n for n in names_seen if n.startswith(("homepbx-from-trunk-", "homepbx-to-trunk-"))} == expected_ctx
    ctx = {s.name: s for s in sections}
    for t in site.trunks:
        lines = ctx[f"homepbx-from-trunk-{t.name}"].lines
        gotos = [v for k, v in lines if k == "exten" and not v.startswith("i,")]
        assert gotos == [f"{f},1,Goto(homepbx-numbers,{n.e164},1)" for n in site.numbers if n.trunk == t.name
                         for f in n.forms]
    numbers = ctx["homepbx-numbers"].lines
    plays = [v for k, v in numbers if v.startswith("n(closed),Playback(")]
    assert plays == [f"n(closed),Playback({n.closed_sound})" for n in site.numbers]
