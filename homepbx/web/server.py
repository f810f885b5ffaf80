"""Running the wallboard under uvicorn (`homepbx web`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from .app import WebConfig, create_app

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8080`) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"--listen must look like 127.0.0.1:8080, got {listen!r}.", field="listen")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def serve(config: WebConfig, listen: str = "127.0.0.1:8080", certfile: str | None = None,
          keyfile: str | None = None, forwarded_allow_ips: str = "127.0.0.1") -> None:
    """Serve the wallboard until SIGINT/SIGTERM; TLS when a certificate and key are given.

    Behind a reverse proxy on `forwarded_allow_ips`, its X-Forwarded-For/-Proto are trusted:
    the sign-in rate limit then counts the real client addresses.
    """
    import uvicorn

    host, port = parse_listen(listen)
    if bool(certfile) != bool(keyfile):
        raise InvalidInput("Give both --certfile and --keyfile, or neither.", field="certfile")
    uvicorn.run(create_app(config), host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
                proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, log_level="info",
                access_log=False, timeout_graceful_shutdown=3)


@contextmanager
def in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` from a thread until the block ends; yields its base URL (tests, the bench)."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("The wallboard server did not start.")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
