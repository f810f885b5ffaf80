"""No accepted value can change the structure of a rendered FreeSWITCH file.

Each rendered file is parsed as XML and compared, element by element and attribute by
attribute, with the same site rendered with every display name replaced by "X": the only
difference allowed is the display name's own attribute, which must read back unchanged.
FreeSWITCH's line-based pre-processor is checked too: it would act on `$${`, on lines
mentioning X-PRE-PROCESS, `<include>` or `<?` before any XML parsing.
"""

from __future__ import annotations

import hashlib
import string
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from homepbx import names
from homepbx.config import EslSettings, Settings, SipSettings
from homepbx.errors import InvalidInput
from homepbx.freeswitch.render import render_files
from homepbx.freeswitch.render.environment import finalize
from homepbx.freeswitch.render.options import options_from
from homepbx.site import (
    SPY_MODES,
    AgentView,
    MemberView,
    QueueView,
    Site,
    SupervisorView,
    TeamView,
)

# A certificate: agents may be on TLS (SRTP variables in the directory) or in clear text.
OPTIONS = options_from(Settings(esl=EslSettings(password="property-secret"),
                                sip=SipSettings(tls_cert_file="/etc/pbx.crt", tls_key_file="/etc/pbx.key",
                                                tls_ciphers="ECDHE+AESGCM:!aNULL")))


def md5(ext: str) -> str:
    return hashlib.md5(ext.encode()).hexdigest()


def _accepted(value: str) -> bool:
    try:
        names.display_name(value)
    except InvalidInput:
        return False
    return True


# Biased towards XML and FreeSWITCH syntax, plus any Unicode.
_nasty = st.sampled_from(
    list("&'<>\"=$%{}#*:!?@~`^/ \t.-_+") + ["&amp;", "&#60;", "]]>", "<!--", "-->", "$${", "${", "x-pre-process",
                                            "X-PRE-PROCESS", "<include>", "<?", "\u2028", "\x85", "\ufeff", "\ufffe"]
)
display_names = (
    st.lists(st.one_of(_nasty, st.characters(codec="utf-8"), st.sampled_from(string.ascii_letters)), min_size=1, max_size=30)
    .map("".join)
    .filter(_accepted)
    .map(names.display_name)
)
slugs = st.from_regex(r"[a-z][a-z0-9_-]{0,39}", fullmatch=True)
exts = st.from_regex(r"[0-9]{2,10}", fullmatch=True).filter(lambda e: e not in names.RESERVED_EXTENSIONS)


@st.composite
def sites(draw) -> Site:  # type: ignore[no-untyped-def]
    team_names = draw(st.lists(slugs, min_size=1, max_size=3, unique=True))
    all_exts = draw(st.lists(exts, min_size=2, max_size=8, unique=True))
    queue_exts, agent_exts = all_exts[:1], sorted(all_exts[1:])
    agents = tuple(
        AgentView(ext, draw(display_names), md5(ext), OPTIONS.domain, i == 0, draw(st.sampled_from(team_names)),
                  draw(st.sampled_from(["tls", "udp", "tcp"])))
        for i, ext in enumerate(agent_exts)
    )
    teams = tuple(
        TeamView(t, tuple(a.extension for a in agents if a.team == t and not a.is_supervisor)) for t in sorted(team_names)
    )
    modes = tuple(m for m in SPY_MODES if draw(st.booleans()))
    sup = SupervisorView(agents[0].extension, modes, tuple(sorted(draw(st.sets(st.sampled_from(team_names))))))
    members = tuple(MemberView(a.extension, draw(st.integers(0, 3))) for a in agents[1:] if draw(st.booleans()))
    queue = QueueView(draw(slugs), queue_exts[0], draw(st.sampled_from(["ringall", "rrmemory", "linear"])), 15, 300, 10, 20,
                      draw(st.booleans()), members)
    return Site(agents=agents, teams=teams, supervisors=(sup,), queues=(queue,))


def _shape(element: ET.Element) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    """Every element in document order: its tag, attributes (display name masked) and text."""
    out = []
    for e in element.iter():
        attrs = dict(e.attrib)
        if e.tag == "variable" and attrs.get("name") == "effective_caller_id_name":
            attrs["value"] = "X"
        out.append((str(e.tag), tuple(sorted(attrs.items())), (e.text or "").strip()))
    return out


def _preprocessed(text: str) -> list[str]:
    """The lines FreeSWITCH's pre-processor expands, drops or runs before the XML parser."""
    special = ("$${", "${", "<?", "<include>", "</include>", "<!--#")
    return [line for line in text.splitlines() if any(s in line for s in special) or "x-pre-process" in line.lower()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(sites())
def test_names_cannot_change_the_structure(site: Site) -> None:
    files = render_files(site, OPTIONS)
    plain = Site(
        agents=tuple(AgentView(a.extension, "X", a.md5_cred, a.realm, a.is_supervisor, a.team, a.transport)
                     for a in site.agents),
        teams=site.teams, supervisors=site.supervisors, queues=site.queues,
    )
    reference = render_files(plain, OPTIONS)
    assert sorted(files) == sorted(reference)
    for name, text in files.items():
        root = ET.fromstring(text)
        assert _shape(root) == _shape(ET.fromstring(reference[name])), name
        # What the pre-processor acts on is the same, line for line, as without the names.
        assert _preprocessed(text) == _preprocessed(reference[name]), name
    # The display names read back exactly, in extension order.
    got = [v.get("value") for v in ET.fromstring(files["directory/homepbx.xml"]).iter("variable")
           if v.get("name") == "effective_caller_id_name"]
    assert got == [a.display_name for a in site.agents]


@given(st.text(min_size=1, max_size=10))
def test_a_value_with_a_control_character_never_renders(text: str) -> None:
    assume(any(ord(c) < 32 or c in "\x85\u2028\u2029" for c in text))
    bad = AgentView("1001", text, md5("1001"), OPTIONS.domain, False, None)
    site = Site(agents=(bad,), teams=(), supervisors=(), queues=())
    try:
        files = render_files(site, OPTIONS)
    except ValueError:
        return
    raise AssertionError(f"rendered a control character: {files['directory/homepbx.xml']!r}")


@given(st.sampled_from(["$${x}", "${x}", "a X-Pre-Process b", "x-pre-process", "<include>", "<?xml", "Tom & Jerry's"]))
def test_preprocessor_text_is_neutralised(text: str) -> None:
    out = str(finalize(text))
    assert "$" not in out and "x-pre-process" not in out.lower() and "<" not in out
    # ...and the XML parser reads the very same text back.
    assert ET.fromstring(f'<a v="{out}"/>').get("v") == text
