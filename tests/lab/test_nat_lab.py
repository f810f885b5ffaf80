"""A home agent behind NAT, for real: baresip in a network namespace with a private address,
behind a masquerading router (homepbx.lab.netns), registered on a second lab Asterisk that
listens on the host's end of the router's WAN (198.51.100.1). The host has no route to the home
LAN: SIP and RTP reach Asterisk only through the router's NAT, as from a home. The agents
connect as `agent add` told them to (TLS and SRTP by default: LabSite.phone).

What a lost NAT mapping does (measured here; -s prints the figures):
- When the router forgets its mappings (`conntrack -F`, as a router reboot does), nothing
  Asterisk sends reaches the agent any more, and Asterisk's qualify (every 30 s) is what finds
  out. Over TLS the router answers the OPTIONS (any segment: a CRLF keep-alive too) with a reset:
  Asterisk drops the connection and the contact with it. Over UDP the OPTIONS go unanswered (the
  contact is Unavailable), and their retransmissions keep the old public port taken in the
  router's table, so the phone's next packet leaves from a new port.
- Neither qualify nor keep_alive_interval brings the agent back: only the phone's next REGISTER
  does (over UDP from the new port, which rewrite_contact takes at once; over TLS baresip sends
  it on its dead connection, where it times out after 32 s, and retries on a new connection
  30-60 s later). The agent is unreachable until then: the test waits for that re-REGISTER
  (bounded), then proves the next queue call reaches the agent.
- While a mapping exists, the qualify keeps it alive: with the router forgetting idle mappings
  after 33 s, an agent idle for twice as long still gets the next call.

Extensions 4651 (the agent at home), 4652 (a colleague, on the host side, then idle at home),
queue nat-q (651) and the outside caller nat-outside belong to this module.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from homepbx.lab.netns import HomeNat
from homepbx.lab.softphone import Softphone

from .conftest import AGENT_HZ, CALLER_HZ, SUPERVISOR_HZ, ToneHelper
from .site import LabSite

AGENT, COLLEAGUE = "4651", "4652"
QUEUE, QUEUE_EXT = "nat-q", "651"
OUTSIDE = "nat-outside"
TALK_S = 4.0
# What the rendered AoR says (config_templates/asterisk/pjsip.conf.j2).
QUALIFY_S = 30
# The phone asks for 60 s registrations (Asterisk's minimum_expiration): baresip re-registers
# after 54 s. An AoR maximum_expiration would impose such a bound on any softphone.
REGINT_S = 60
# A REGISTER baresip sends on a TLS connection Asterisk has dropped times out (Timer F, 32 s);
# baresip retries 30-60 s later (libre's failwait).
REREGISTER_RETRY_S = 32 + 60
# The expiry case: the router forgets an idle mapping after IDLE_TIMEOUT_S; the agent stays
# idle twice as long (plus a margin), so a single Asterisk packet (its 90 s TLS keep-alive)
# cannot have carried the mapping through: only something every < IDLE_TIMEOUT_S can.
IDLE_TIMEOUT_S = 33
IDLE_S = 2 * IDLE_TIMEOUT_S + 2


@pytest.fixture(scope="module")
def nat_world(nat_site: LabSite) -> LabSite:
    """This module's agents, queue and outside caller on the NAT lab, applied."""
    site = nat_site
    site.add_agent(AGENT, "Nadia Maison")
    site.add_agent(COLLEAGUE, "Colin Bureau")
    site.run("queue", "add", QUEUE, "--extension", QUEUE_EXT, "--strategy", "ringall", "--wrapup", "0")
    site.run("queue", "member", "add", QUEUE, AGENT)
    site.add_outside_caller(OUTSIDE, "nat-outside-secret-1")
    site.apply()
    return site


# -- what Asterisk and the router know ------------------------------------------------------------

def aor_contact(site: LabSite, ext: str) -> str:
    """The contact URI Asterisk holds for EXT ('' when none)."""
    found = re.search(r"^\s*contact\s+:\s*(sip:\S+)", site.pbx.rx(f"pjsip show aor {ext}"), re.M)
    return found.group(1) if found else ""


def public_port(contact: str, nat: HomeNat) -> int:
    """The port of the contact, which must be on the router's WAN address."""
    found = re.search(r"@([\d.]+):(\d+)", contact)
    assert found and found.group(1) == nat.wan_address, contact
    return int(found.group(2))


def reachable(site: LabSite, ext: str) -> bool:
    """True when EXT has a contact and its last qualify was answered."""
    rows = [line.split() for line in site.pbx.rx("pjsip show contacts").splitlines()
            if line.strip().startswith(f"Contact:  {ext}/")]
    return any(len(row) > 3 and row[3] == "Avail" for row in rows)


def mapping(nat: HomeNat, port: int) -> dict[str, Any] | None:
    """The router's entry that maps the home to WAN port `port` (timeout left, private port)."""
    for line in nat.mappings():
        fields = line.split()
        tuples = [f.split("=", 1) for f in fields if f.split("=", 1)[0] in ("src", "dst", "sport", "dport")]
        original, reply = dict(tuples[:4]), dict(tuples[4:8])
        if (original.get("src") == nat.home_address and reply.get("dst") == nat.wan_address
                and reply.get("dport") == str(port)):
            return {"timeout": int(fields[2]), "private_port": int(original["sport"]), "line": line}
    return None


def registered_since(phone: Softphone, index: int) -> bool:
    """Did the phone get a REGISTER accepted after its first `index` events?"""
    return any(e.get("type") == "REGISTER_OK" for e in phone.events[index:])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until `predicate()`; return the seconds it took, or fail saying what never happened."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.5)
    return time.monotonic() - started


# -- calls ----------------------------------------------------------------------------------------

def queue_call(caller: Softphone, agent: Softphone, tones: ToneHelper) -> None:
    """The outside caller reaches the agent through the queue; each hears the other."""
    caller.dial(QUEUE_EXT)
    agent.wait_event("CALL_ESTABLISHED", 20)
    caller.wait_event("CALL_ESTABLISHED", 20)
    time.sleep(TALK_S)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    agent.wait_event("CALL_CLOSED", 10)
    assert tones.heard(agent) == {CALLER_HZ}
    heard = tones.heard(caller)
    assert AGENT_HZ in heard and CALLER_HZ not in heard, heard


def start_agent(site: LabSite, factory: Callable[..., Softphone], behind_nat: dict[str, str],
                regint: int) -> Softphone:
    """The agent's softphone at home, registered, asking for `regint` s registrations."""
    return site.start_phone(factory, AGENT, AGENT_HZ, **behind_nat,
                            extra_account_params={"regint": str(regint)})


# -- the tests ------------------------------------------------------------------------------------

def test_natted_agent_registers_from_the_routers_wan_address(
    nat_world: LabSite, nat_softphone: Callable[..., Softphone], behind_nat: dict[str, str], home_nat: HomeNat
) -> None:
    site = nat_world
    transport = site.transport(AGENT)
    start_agent(site, nat_softphone, behind_nat, REGINT_S)
    contact = aor_contact(site, AGENT)
    # rewrite_contact: Asterisk keeps where the REGISTER came from (the router's WAN address and
    # the port it mapped), and notes the private address the phone wrote as x-ast-orig-host.
    port = public_port(contact, home_nat)
    assert f"x-ast-orig-host={home_nat.home_address}:" in contact, contact
    assert (f";transport={transport}" in contact.lower()) == (transport != "udp"), contact
    # the router's table maps the phone's private address to that port
    assert mapping(home_nat, port) is not None, home_nat.mappings()
    # and Asterisk's qualify reaches the phone through it
    wait_for(lambda: reachable(site, AGENT), 10, "the first qualify answered")
    # and the host cannot reach the private address itself (no route leaves the machine for it)
    route = subprocess.run(["ip", "route", "get", home_nat.home_address], capture_output=True, text=True, check=False)
    assert route.returncode != 0 and "no route to host" in route.stderr.lower(), route


def test_natted_agent_takes_a_queue_call_and_calls_a_colleague(
    nat_world: LabSite, nat_softphone: Callable[..., Softphone], behind_nat: dict[str, str], tones: ToneHelper,
) -> None:
    site = nat_world
    agent = start_agent(site, nat_softphone, behind_nat, REGINT_S)
    caller = site.start_phone(nat_softphone, OUTSIDE, CALLER_HZ)
    colleague = site.start_phone(nat_softphone, COLLEAGUE, SUPERVISOR_HZ)
    site.run("agent", "login", AGENT, "--queue", QUEUE)
    try:
        queue_call(caller, agent, tones)
    finally:
        site.run("agent", "logout", AGENT)
    agent.dial(COLLEAGUE)
    agent.wait_event("CALL_ESTABLISHED", 15)
    colleague.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(TALK_S)
    agent.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    colleague.wait_event("CALL_CLOSED", 10)
    assert tones.heard(agent) == {SUPERVISOR_HZ}
    assert tones.heard(colleague) == {AGENT_HZ}


def test_flushed_agent_is_back_at_its_next_register_and_qualify_keeps_idle_mappings(
    nat_world: LabSite, nat_softphone: Callable[..., Softphone], behind_nat: dict[str, str], home_nat: HomeNat,
    tones: ToneHelper,
) -> None:
    """Two ways a router loses a mapping, measured side by side (their waits overlap):
    all at once (`conntrack -F`: the agent) and when idle (a timeout: the idle colleague, whose
    mapping the qualify must keep alive)."""
    site = nat_world
    agent = start_agent(site, nat_softphone, behind_nat, REGINT_S)
    registered_at = time.monotonic()
    caller = site.start_phone(nat_softphone, OUTSIDE, CALLER_HZ)
    site.run("agent", "login", AGENT, "--queue", QUEUE)
    # From here on the router forgets a mapping idle for IDLE_TIMEOUT_S (entries made after the
    # flush get it from their first packet).
    saved = home_nat.set_timeouts(udp_timeout=IDLE_TIMEOUT_S, udp_timeout_stream=IDLE_TIMEOUT_S,
                                  tcp_timeout_established=IDLE_TIMEOUT_S)
    try:
        # 1. The router forgets every mapping.
        before = aor_contact(site, AGENT)
        events = len(agent.events)
        flushed = time.monotonic()
        since_register = flushed - registered_at
        home_nat.flush()
        # The idle colleague registers at home now, asking for 300 s: it sends nothing for 270 s.
        idle = site.start_phone(nat_softphone, COLLEAGUE, SUPERVISOR_HZ, **behind_nat,
                                extra_account_params={"regint": "300"})
        idle_since = time.monotonic()
        idle_events = len(idle.events)
        idle_contact = aor_contact(site, COLLEAGUE)
        idle_first = mapping(home_nat, public_port(idle_contact, home_nat))
        assert idle_first is not None and idle_first["timeout"] <= IDLE_TIMEOUT_S, idle_first

        # 2. Asterisk's next qualify finds the agent gone (TLS: the router resets the connection
        # and the contact goes; UDP: the OPTIONS go unanswered).
        lost = wait_for(lambda: not reachable(site, AGENT), QUALIFY_S + 10, "Asterisk noticing the lost mapping")
        assert not registered_since(agent, events), "the phone re-registered before Asterisk noticed"
        # 3. Only the phone's next REGISTER (due at 90 % of REGINT_S after the last one; over TLS
        # it fails first, see REREGISTER_RETRY_S) makes it reachable again: the precondition of
        # the next queue call.
        back = lost + wait_for(lambda: registered_since(agent, events) and reachable(site, AGENT),
                               REGINT_S + REREGISTER_RETRY_S + 10, "the agent's re-REGISTER after the flush")
        failed = sum(e.get("type") == "REGISTER_FAIL" for e in agent.events[events:])
        after = aor_contact(site, AGENT)
        public_port(after, home_nat)
        print(f"\nNAT flush ({site.transport(AGENT)}), {since_register:.1f} s after the agent's REGISTER: "
              f"Asterisk lost the agent {lost:.1f} s after it, the agent was reachable again {back:.1f} s "
              f"after it ({failed} failed REGISTER first); contact {before} -> {after}")
        # 4. The next queue call reaches the agent, with audio both ways.
        queue_call(caller, agent, tones)

        # 5. The idle colleague: idle for more than twice the router's timeout, so a single packet
        # of Asterisk's (its TLS keep-alive, every 90 s) could not have carried the mapping
        # through; the qualify, every QUALIFY_S < IDLE_TIMEOUT_S, did.
        time.sleep(max(0.0, IDLE_S - (time.monotonic() - idle_since)))
        assert not registered_since(idle, idle_events), "the idle phone sent a REGISTER"
        still = mapping(home_nat, public_port(idle_contact, home_nat))
        assert still is not None and still["private_port"] == idle_first["private_port"], home_nat.mappings()
        assert aor_contact(site, COLLEAGUE) == idle_contact
        print(f"Idle {time.monotonic() - idle_since:.0f} s behind a router forgetting idle mappings after "
              f"{IDLE_TIMEOUT_S} s: the mapping lived on ({still['timeout']} s left), kept by the qualify "
              f"every {QUALIFY_S} s")
        agent.dial(COLLEAGUE)
        idle.wait_event("CALL_ESTABLISHED", 15)
        agent.wait_event("CALL_ESTABLISHED", 15)
        time.sleep(TALK_S)
        agent.hangup()
        agent.wait_event("CALL_CLOSED", 10)
        idle.wait_event("CALL_CLOSED", 10)
        assert tones.heard(idle) == {AGENT_HZ}
        assert tones.heard(agent) == {SUPERVISOR_HZ}
    finally:
        site.run("agent", "logout", AGENT)
        home_nat.set_timeouts(**saved)
