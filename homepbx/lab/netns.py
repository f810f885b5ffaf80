"""A home LAN behind a NAT router, built from network namespaces: where lab tests put a home agent.

    host (root namespace)             netns hpx-router                 netns hpx-home
    hpx-wan0 198.51.100.1/24 ──veth── hpx-wan1 198.51.100.2/24
                                      hpx-lan1 192.168.77.1/24 ──veth── hpx-lan0 192.168.77.2/24
                                                                        (default via 192.168.77.1)
    hpx-mgmt0 10.250.77.1/30 ────────────────────── veth ────────────── hpx-mgmt1 10.250.77.2/30

The router forwards and masquerades (nftables) what leaves hpx-wan1, so the host sees the home
only as 198.51.100.2 and has no route to 192.168.77.0/24: real NAT, with the router's own
conntrack table. The management veth is for the test's own use (a softphone's control socket);
nothing routes beyond 10.250.77.0/30 on it, so SIP and RTP can only go through the router.

Every name is fixed (hpx-*), so there is one such home per machine: `up` waits for a lock
(another test run may hold it), then removes what a crashed run left; `down` removes it all,
whatever state it is in, and releases the lock. Needs root, `ip` (iproute2), `nft` (nftables)
and `conntrack` (conntrack); `tc` for netem shaping when the kernel has netem.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from ..errors import OperationalError

T = TypeVar("T")

HOME, ROUTER = "hpx-home", "hpx-router"
HOST_WAN, ROUTER_WAN = "hpx-wan0", "hpx-wan1"
ROUTER_LAN, HOME_LAN = "hpx-lan1", "hpx-lan0"
HOST_MGMT, HOME_MGMT = "hpx-mgmt0", "hpx-mgmt1"

HOST_WAN_ADDRESS = "198.51.100.1"  # TEST-NET-2: never a real network
ROUTER_WAN_ADDRESS = "198.51.100.2"
ROUTER_LAN_ADDRESS = "192.168.77.1"
HOME_ADDRESS = "192.168.77.2"
HOST_MGMT_ADDRESS = "10.250.77.1"
HOME_MGMT_ADDRESS = "10.250.77.2"
# The networks above, as the host must not otherwise know them.
NETWORKS = ("198.51.100.0/24", "192.168.77.0/24", "10.250.77.0/30")
# The host answers for the home LAN with "unreachable": without it, a packet for 192.168.77.2
# (a contact nobody rewrote) would leave by the host's default route instead of failing here.
PRIVATE_LAN = "192.168.77.0/24"

NAT_TABLE = "hpx_nat"
SHAPE_TABLE = "hpx_shape"
TOOLS = {"ip": "iproute2", "nft": "nftables", "conntrack": "conntrack"}
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
LOCK_PATH = Path("/run/homepbx-netns.lock")


def require_tools() -> None:
    """Raise OperationalError (one sentence) unless we are root and ip, nft and conntrack exist."""
    if os.geteuid() != 0:
        raise OperationalError("The NAT lab needs root: run it with sudo.")
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise OperationalError(
            f"The NAT lab needs {', '.join(missing)}: run scripts/install-system-packages "
            f"(or apt-get install {' '.join(missing)}).")


def _run(argv: list[str], check: bool = True, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise OperationalError(f"{' '.join(argv)} did not finish within {timeout:g} s.") from None
    if check and result.returncode != 0:
        raise OperationalError(f"{' '.join(argv)} failed: {(result.stderr or result.stdout).strip()}.")
    return result


def in_ns(namespace: str, argv: list[str]) -> list[str]:
    """`argv` as a command line running inside network namespace `namespace`."""
    return ["ip", "netns", "exec", namespace, *argv]


def call_in(namespace: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread that joined network namespace `namespace` and return its result.

    Sockets `fn` opens live in that namespace (e.g. to find a free port there). setns(2)
    moves only the calling thread, and that thread ends with `fn`, so the rest of this
    process stays where it was.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {namespace} failed")
            finally:
                os.close(fd)
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


@dataclass(frozen=True)
class Shaping:
    """How a line was degraded: `method` is "netem" or "nft" (loss only: the kernel has no netem)."""

    method: str
    loss_pct: float
    delay_ms: int
    jitter_ms: int

    def describe(self) -> str:
        if self.method == "netem":
            return (f"netem loss {self.loss_pct:g}% delay {self.delay_ms}ms {self.jitter_ms}ms on {HOME_LAN} "
                    f"(upstream) and {ROUTER_LAN} (downstream)")
        return (f"nftables random drop of {self.loss_pct:g}% each way in {ROUTER}'s forward chain "
                "(this kernel has no netem: no delay or jitter)")


class HomeNat:
    """The namespaces, veths and NAT rules above (one set per machine: the names are fixed)."""

    home = HOME
    router = ROUTER
    home_address = HOME_ADDRESS
    wan_address = ROUTER_WAN_ADDRESS
    host_address = HOST_WAN_ADDRESS
    mgmt_address = HOME_MGMT_ADDRESS

    def __init__(self) -> None:
        self._lock: IO[str] | None = None

    def up(self, wait: float = 600.0) -> HomeNat:
        """Take the machine's lock (waiting up to `wait` seconds for another run to finish),
        remove leftovers of a crashed run, then build everything; undone by `down` on failure."""
        require_tools()
        self._take_lock(wait)
        try:
            self._remove()
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Remove everything `up` built and release the lock; does nothing unless `up` ran."""
        if self._lock is None:
            return
        try:
            self._remove()
        finally:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def _take_lock(self, wait: float) -> None:
        if self._lock is not None:
            return
        handle = open(LOCK_PATH, "w", encoding="utf-8")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise OperationalError(
                        f"Another run holds the NAT lab ({LOCK_PATH}) for more than {wait:g} s: "
                        "wait for it to finish.") from None
                time.sleep(1.0)
        self._lock = handle

    def _remove(self) -> None:
        # Namespaces, veths and the route (the rules and conntrack tables go with the namespaces).
        if _run(["ip", "route", "show", "type", "unreachable", PRIVATE_LAN], check=False).stdout.strip():
            _run(["ip", "route", "del", "unreachable", PRIVATE_LAN], check=False)
        for link in (HOST_WAN, HOST_MGMT):
            if Path("/sys/class/net", link).exists():
                _run(["ip", "link", "del", link], check=False)
        for ns in (HOME, ROUTER):
            if (NETNS_DIR / ns).exists():
                _run(["ip", "netns", "del", ns], check=False)

    def __enter__(self) -> HomeNat:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def run(self, namespace: str, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside `namespace` (HOME or ROUTER) and return its output."""
        return _run(in_ns(namespace, argv), check=check)

    # -- the router's NAT ------------------------------------------------------------------------

    def flush(self) -> None:
        """Forget every NAT mapping of the router (`conntrack -F`), as a router reboot would."""
        self.run(ROUTER, ["conntrack", "-F"])

    def mappings(self) -> list[str]:
        """The router's conntrack entries, one line each (`conntrack -L`)."""
        out = self.run(ROUTER, ["conntrack", "-L"]).stdout
        return [line for line in out.splitlines() if line.strip()]

    def set_timeouts(self, **seconds: int) -> dict[str, int]:
        """Set the router's conntrack timeouts, e.g. set_timeouts(udp_timeout=20,
        tcp_timeout_established=20); return the values they had (to put them back).

        Each key is the end of a net.netfilter.nf_conntrack_* setting, which is per namespace:
        the host's stay as they are. A new value applies from an entry's next packet on.
        """
        before = {}
        for key, value in seconds.items():
            name = f"net.netfilter.nf_conntrack_{key}"
            before[key] = int(self.run(ROUTER, ["sysctl", "-n", name]).stdout.strip())
            self.run(ROUTER, ["sysctl", "-q", "-w", f"{name}={int(value)}"])
        return before

    # -- line shaping ----------------------------------------------------------------------------

    def shape(self, loss_pct: float, delay_ms: int = 0, jitter_ms: int = 0) -> Shaping:
        """Degrade the home's line both ways: netem on the LAN veth's two ends when the kernel has it.

        netem shapes what a device sends, so upstream is hpx-lan0 (in the home) and downstream
        hpx-lan1 (in the router). Without netem (some CI kernels leave it out), the same
        random loss is applied by nftables in the router's forward chain, and delay and jitter
        cannot be: the returned Shaping says which was done.
        """
        self.unshape()
        netem = ["netem", "loss", f"{loss_pct:g}%"]
        if delay_ms:
            netem += ["delay", f"{delay_ms}ms"] + ([f"{jitter_ms}ms"] if jitter_ms else [])
        if shutil.which("tc") is not None:
            first = self.run(HOME, ["tc", "qdisc", "replace", "dev", HOME_LAN, "root", *netem], check=False)
            if first.returncode == 0:
                self.run(ROUTER, ["tc", "qdisc", "replace", "dev", ROUTER_LAN, "root", *netem])
                return Shaping("netem", loss_pct, delay_ms, jitter_ms)
            if "unknown" not in first.stderr.lower():  # anything but "this kernel has no netem"
                raise OperationalError(f"tc could not shape {HOME_LAN}: {first.stderr.strip()}.")
        # numgen random mod 10000 < N drops N in 10,000 packets, independently of each other
        # (netem's loss model without correlation).
        drop = int(round(loss_pct * 100))
        rules = (
            f"table ip {SHAPE_TABLE} {{\n"
            "  chain forward {\n"
            "    type filter hook forward priority filter; policy accept;\n"
            f'    iifname "{ROUTER_LAN}" numgen random mod 10000 < {drop} counter drop\n'
            f'    oifname "{ROUTER_LAN}" numgen random mod 10000 < {drop} counter drop\n'
            "  }\n"
            "}\n"
        )
        self._nft(ROUTER, rules)
        return Shaping("nft", loss_pct, 0, 0)

    def unshape(self) -> None:
        """Give the home its clean line back (no error when it was not shaped)."""
        self.run(HOME, ["tc", "qdisc", "del", "dev", HOME_LAN, "root"], check=False)
        self.run(ROUTER, ["tc", "qdisc", "del", "dev", ROUTER_LAN, "root"], check=False)
        self.run(ROUTER, ["nft", "delete", "table", "ip", SHAPE_TABLE], check=False)

    # -- internals -------------------------------------------------------------------------------

    def _build(self) -> None:
        for net in NETWORKS:
            if _run(["ip", "-o", "route", "show", "root", net], check=False).stdout.strip():
                raise OperationalError(f"This machine already uses {net}: the NAT lab needs it for itself.")
        for ns in (ROUTER, HOME):
            _run(["ip", "netns", "add", ns])
            self.run(ns, ["ip", "link", "set", "lo", "up"])
        # WAN: host <-> router
        _run(["ip", "link", "add", HOST_WAN, "type", "veth", "peer", "name", ROUTER_WAN, "netns", ROUTER])
        _run(["ip", "addr", "add", f"{HOST_WAN_ADDRESS}/24", "dev", HOST_WAN])
        _run(["ip", "link", "set", HOST_WAN, "up"])
        self.run(ROUTER, ["ip", "addr", "add", f"{ROUTER_WAN_ADDRESS}/24", "dev", ROUTER_WAN])
        self.run(ROUTER, ["ip", "link", "set", ROUTER_WAN, "up"])
        # LAN: router <-> home
        self.run(ROUTER, ["ip", "link", "add", ROUTER_LAN, "type", "veth", "peer", "name", HOME_LAN, "netns", HOME])
        self.run(ROUTER, ["ip", "addr", "add", f"{ROUTER_LAN_ADDRESS}/24", "dev", ROUTER_LAN])
        self.run(ROUTER, ["ip", "link", "set", ROUTER_LAN, "up"])
        self.run(HOME, ["ip", "addr", "add", f"{HOME_ADDRESS}/24", "dev", HOME_LAN])
        self.run(HOME, ["ip", "link", "set", HOME_LAN, "up"])
        self.run(HOME, ["ip", "route", "add", "default", "via", ROUTER_LAN_ADDRESS])
        # Management: host <-> home, for the test's control sockets only.
        _run(["ip", "link", "add", HOST_MGMT, "type", "veth", "peer", "name", HOME_MGMT, "netns", HOME])
        _run(["ip", "addr", "add", f"{HOST_MGMT_ADDRESS}/30", "dev", HOST_MGMT])
        _run(["ip", "link", "set", HOST_MGMT, "up"])
        self.run(HOME, ["ip", "addr", "add", f"{HOME_MGMT_ADDRESS}/30", "dev", HOME_MGMT])
        self.run(HOME, ["ip", "link", "set", HOME_MGMT, "up"])
        _run(["ip", "route", "add", "unreachable", PRIVATE_LAN])
        # The router: forward, and masquerade what leaves through the WAN.
        self.run(ROUTER, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        self._nft(ROUTER, (
            f"table ip {NAT_TABLE} {{\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{ROUTER_WAN}" counter masquerade\n'
            "  }\n"
            "}\n"
        ))

    def _nft(self, namespace: str, rules: str) -> None:
        result = subprocess.run(in_ns(namespace, ["nft", "-f", "-"]), input=rules, capture_output=True, text=True,
                                timeout=15, check=False)
        if result.returncode != 0:
            raise OperationalError(f"nft refused the rules in {namespace}: {result.stderr.strip()}.")
