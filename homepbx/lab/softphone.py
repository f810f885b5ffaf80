"""A scriptable softphone for the lab: baresip 1.1.0 inside the chroot, driven over ctrl_tcp.

It sends a pure tone (ausine) and writes what it hears to a WAV file (aufile as the audio
player), so tests can tell who heard whom with `homepbx.lab.tones`.

What baresip 1.1.0 (Debian sid) needs, checked against the binary:
- `audio_source ausine,<Hz>` with `ausrc_srate 48000`; `audio_player aufile,<file.wav>`
  records what it hears (aufile is also an auplay in 1.1.0; the header is fixed on close);
- `net_interface <address>` takes an address too, and keeps media off the host's main NIC;
- ctrl_tcp speaks netstring JSON `{"command","params","token"}`; the commands are menu's
  long names (dial, accept, hangup, sndcode, uanew, quit), so menu.so must be loaded;
- events (REGISTER_OK, CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, CALL_DTMF_START...) are
  only sent to connected clients, so the account is added with `uanew` once we listen.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OperationalError
from .chroot import CHROOT_ENV, Chroot
from .netns import call_in, in_ns

# Inside the chroot: one directory per softphone holds its config and what it heard.
PHONES_DIR = "/var/lib/homepbx-lab/phones"
AUDIO_PLAY_RATE = 8000  # what G.711 carries anyway; keeps the recordings small

TRANSPORTS = ("udp", "tcp", "tls")


@dataclass
class PhoneConfig:
    """One softphone: a SIP account on the lab PBX, a tone to send, how to answer."""

    name: str
    username: str
    password: str
    address: str = "127.0.0.1"  # the PBX, and the address the softphone binds
    tone_hz: int = 440
    transport: str = "udp"
    auto_answer: bool = True
    sip_port: int = 5060  # the PBX's port for this transport
    srtp: bool = False  # offer SDES-SRTP (mandatory when set)
    ca_file: str = ""  # as seen inside the chroot: verify the PBX's TLS certificate with it
    extra_account_params: dict[str, str] = field(default_factory=dict)
    # A phone behind NAT (homepbx.lab.netns): baresip runs in this network namespace, binds
    # `bind_address` there for SIP and media, and listens for control on `ctrl_address`.
    netns: str = ""
    bind_address: str = ""  # empty: `address`
    ctrl_address: str = ""  # empty: the bind address

    @property
    def local_address(self) -> str:
        """The address the softphone binds for SIP and media."""
        return self.bind_address or self.address

    @property
    def control_address(self) -> str:
        """The address of baresip's control socket (ctrl_tcp)."""
        return self.ctrl_address or self.local_address


class Softphone:
    """A baresip process registered on the lab PBX."""

    def __init__(self, chroot: Chroot, config: PhoneConfig) -> None:
        if config.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}")
        self.chroot = chroot
        self.config = config
        self.inner_dir = f"{PHONES_DIR}/{config.name}"
        self.dir = chroot.host(self.inner_dir)
        self.process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._consumed = 0  # events before this index were returned by wait_event
        self._responses: dict[str, dict[str, Any]] = {}
        self._token = 0
        self.sip_listen_port = 0
        self.ctrl_port = 0

    # -- paths -----------------------------------------------------------------------------------

    @property
    def recording_path(self) -> Path:
        """Host path of the WAV holding what this softphone heard."""
        return self.dir / "heard.wav"

    @property
    def log_path(self) -> Path:
        return self.dir / "baresip.log"

    @property
    def aor(self) -> str:
        return f"sip:{self.config.username}@{self.config.address}"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Softphone:
        """Write the config, start baresip and connect to its control socket."""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        c = self.config
        # The ports must be free where baresip runs: in its namespace, if it has one.
        where = (lambda probe: call_in(c.netns, probe)) if c.netns else (lambda probe: probe())
        self.sip_listen_port = where(lambda: _free_port_pair(c.local_address))
        self.ctrl_port = where(lambda: _free_tcp_port(c.control_address))
        (self.dir / "config").write_text(self._config_text(), encoding="utf-8")
        # No account at startup: baresip would register before we listen to its events.
        (self.dir / "accounts").write_text("", encoding="utf-8")
        with open(self.log_path, "ab") as log:
            argv = self.chroot.command(["baresip", "-f", self.inner_dir])
            self.process = subprocess.Popen(
                in_ns(c.netns, argv) if c.netns else argv,
                env=CHROOT_ENV, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._connect(timeout)
        self.command("uanew", self._account_line())
        return self

    def stop(self) -> None:
        """Quit baresip (politely, then by signal); safe to call twice or after a crash."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                self.command("quit", timeout=2.0)
            except OperationalError:
                pass
            _wait_or_kill(process)
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def __enter__(self) -> Softphone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- call control ------------------------------------------------------------------------------

    def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        """Run a baresip command (a long menu command name) and return its text response."""
        with self._cond:
            self._token += 1
            token = str(self._token)
        message: dict[str, str] = {"command": name, "token": token}
        if params:
            message["params"] = params
        payload = json.dumps(message).encode()
        if self._sock is None:
            raise OperationalError(f"The softphone {self.config.name} is not running.")
        try:
            self._sock.sendall(str(len(payload)).encode() + b":" + payload + b",")
        except OSError as exc:
            raise OperationalError(f"The softphone {self.config.name} went away: {exc}.") from None
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self._reader is None or not self._reader.is_alive():
                    raise OperationalError(f"The softphone {self.config.name} did not answer {name!r}.")
                self._cond.wait(left)
            response = self._responses.pop(token)
        if not response.get("ok", False):
            raise OperationalError(f"The softphone {self.config.name} refused {name!r}: {response.get('data', '')}".strip() + ".")
        return str(response.get("data", ""))

    def wait_registered(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the PBX accepted our REGISTER."""
        return self.wait_event("REGISTER_OK", timeout, fail="REGISTER_FAIL")

    def dial(self, uri: str) -> str:
        """Call `uri` (a full SIP URI, or a user part dialled at the PBX)."""
        if not uri.startswith(("sip:", "sips:")):
            # The PBX's port and transport this phone registered with: the FreeSWITCH lab does
            # not listen on 5060, and a TLS phone's call (its SRTP keys) must not go out in clear.
            uri = f"sip:{uri}@{self.config.address}:{self.config.sip_port}"
            if self.config.transport != "udp":
                uri += f";transport={self.config.transport}"
        return self.command("dial", uri)

    def answer(self) -> str:
        """Answer the ringing incoming call."""
        return self.command("accept")

    def hangup(self) -> str:
        """Hang up the current call."""
        return self.command("hangup")

    def send_dtmf(self, digits: str) -> None:
        """Send DTMF digits on the current call, one by one (as RTP events)."""
        for digit in digits:
            self.command("sndcode", digit)
            time.sleep(0.25)  # each digit needs its own press/release span on the wire

    def wait_event(self, kind: str, timeout: float = 10.0, fail: str | None = None) -> dict[str, Any]:
        """Return the next event of type `kind` (e.g. CALL_ESTABLISHED, CALL_CLOSED) not yet returned.

        A `fail` event type seen first raises OperationalError instead.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(self._consumed, len(self._events)):
                    event = self._events[index]
                    if event.get("type") == kind:
                        self._consumed = index + 1
                        return event
                    if fail is not None and event.get("type") == fail:
                        self._consumed = index + 1
                        raise OperationalError(
                            f"The softphone {self.config.name} got {fail}: {event.get('param', '')}.")
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = ", ".join(e.get("type", "?") for e in self._events[self._consumed:]) or "none"
                    raise OperationalError(
                        f"The softphone {self.config.name} saw no {kind} within {timeout:g} s (events: {seen}).")
                self._cond.wait(left)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event received so far (for diagnostics)."""
        with self._cond:
            return list(self._events)

    # -- internals ---------------------------------------------------------------------------------

    def _config_text(self) -> str:
        c = self.config
        lines = {
            "poll_method": "epoll",
            # media on loopback too, not on the host's first interface
            "net_interface": c.local_address,
            # baresip listens on UDP+TCP at this port, TLS at port+1
            "sip_listen": f"{c.local_address}:{self.sip_listen_port}",
            "sip_verify_server": "yes" if c.ca_file else "no",
            "call_local_timeout": "120",
            "call_max_calls": "4",
            "audio_player": f"aufile,{self.inner_dir}/heard.wav",
            "audio_source": f"ausine,{c.tone_hz}",
            # ring and ringback tones go to a file of their own, not into what we heard
            "audio_alert": f"aufile,{self.inner_dir}/alert.wav",
            "ausrc_srate": "48000",  # ausine only produces 48 kHz
            "ausrc_channels": "1",
            "auplay_srate": str(AUDIO_PLAY_RATE),
            "auplay_channels": "1",
            "audio_buffer": "20-160",
            "rtp_tos": "0",
            "jitter_buffer_type": "fixed",
            "jitter_buffer_delay": "1-10",
            "ringback_disabled": "yes",
            # No ring/ringback/busy sounds: menu would play them through aufile into our
            # recording, and stopping that player at answer time hangs baresip 1.1.0.
            "audio_path": f"{self.inner_dir}/no-sounds",
            "statmode_default": "off",  # else menu writes a status line to the log many times a second
            "module_path": "/usr/lib/baresip/modules",
            "ctrl_tcp_listen": f"{c.control_address}:{self.ctrl_port}",
        }
        if c.ca_file:
            lines["sip_cafile"] = c.ca_file
        text = [f"{key}\t{value}" for key, value in lines.items()]
        modules = ["g711.so", "ausine.so", "aufile.so"] + (["srtp.so"] if c.srtp else [])
        text += [f"module\t{m}" for m in modules]
        text += ["module_tmp\tuuid.so", "module_tmp\taccount.so", "module_app\tmenu.so", "module_app\tctrl_tcp.so"]
        return "\n".join(text) + "\n"

    def _account_line(self) -> str:
        c = self.config
        uri = f"sip:{c.username}@{c.address}:{c.sip_port}"
        if c.transport != "udp":
            uri += f";transport={c.transport}"
        params = {
            "auth_pass": c.password,
            "answermode": "auto" if c.auto_answer else "manual",
            "audio_codecs": "PCMU/8000/1",
            "regint": "300",
            "ptime": "20",
        }
        if c.srtp:
            params["mediaenc"] = "srtp-mand"
        params.update(c.extra_account_params)
        return f"<{uri}>" + "".join(f";{k}={v}" for k, v in params.items())

    def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise OperationalError(f"baresip for {self.config.name} exited: {self._last_log_line()}")
            try:
                self._sock = socket.create_connection((self.config.control_address, self.ctrl_port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise OperationalError(f"baresip for {self.config.name} did not open its control port.") from None
                time.sleep(0.1)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name=f"baresip-{self.config.name}", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        assert self._sock is not None
        sock = self._sock
        buffer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                messages, buffer = parse_netstrings(buffer)
                for message in messages:
                    self._dispatch(message)
        except OSError:
            pass
        finally:
            with self._cond:
                self._cond.notify_all()

    def _dispatch(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        with self._cond:
            if message.get("response"):
                self._responses[str(message.get("token", ""))] = message
            elif message.get("event"):
                self._events.append(message)
            self._cond.notify_all()

    def _last_log_line(self) -> str:
        try:
            lines = [l for l in self.log_path.read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"


def parse_netstrings(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split complete netstrings (`<len>:<data>,`) off `buffer`; return them and the rest."""
    messages: list[bytes] = []
    while True:
        colon = buffer.find(b":")
        if colon < 0:
            return messages, buffer
        length_text = buffer[:colon]
        if not length_text.isdigit():
            raise OperationalError("baresip sent a malformed netstring.")
        length = int(length_text)
        end = colon + 1 + length
        if len(buffer) < end + 1:
            return messages, buffer
        if buffer[end:end + 1] != b",":
            raise OperationalError("baresip sent a malformed netstring.")
        messages.append(buffer[colon + 1:end])
        buffer = buffer[end + 1:]


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((None, 3.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if sig is not None:
            try:
                os.kill(process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _free_tcp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _free_port_pair(address: str) -> int:
    """A port free for UDP and TCP whose successor is free for TCP (baresip's TLS port)."""
    for _ in range(200):
        port = _free_tcp_port(address)
        if port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind((address, port))
                t.bind((address, port + 1))
            return port
        except OSError:
            continue
    raise OperationalError(f"No free SIP port pair on {address} for a softphone.")
