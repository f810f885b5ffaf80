"""Supervisors' web accounts: passwords (argon2id), sign-in with a rate limit, sessions, CSRF tokens.

Only an enabled supervisor with a web password set by the sysadmin can sign in; agents and
unknown extensions get the same answer as a wrong password, after the same work (a hash is
verified either way), so the sign-in page does not tell who exists. Sessions live in the
server's memory: a restart signs everyone out, which is the safe side.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .. import audit, names, provisioning
from ..errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Sessions = Callable[[], AbstractContextManager["Session"]]

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile (t=3, 64 MiB, p=4).
_HASHER = PasswordHasher()
# Verified when the extension has no usable hash, so a miss costs what a wrong password costs.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 10
MAX_PASSWORD = 256


def hash_password(password: str) -> str:
    """The argon2id hash of a web password (checked for length first)."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"The web password must be at least {MIN_PASSWORD} characters long.", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"The web password must be at most {MAX_PASSWORD} characters long.", field="password")
    if any(c in password for c in "\r\n\x00"):
        raise InvalidInput("The web password must not contain line breaks or NUL.", field="password")
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no password; the same work is done)."""
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def set_password(session: Session, extension: str, password: str) -> str:
    """Set a supervisor's web password (`homepbx supervisor web-password`); audited, never logged.

    Returns the extension. Refused (InvalidInput) for an agent who is not a supervisor.
    """
    agent = provisioning.get_agent(session, extension)
    if not agent.is_supervisor:
        raise InvalidInput(f"Extension {agent.extension} is not a supervisor: only supervisors sign in to the web.",
                           field="extension")
    agent.web_password_hash = hash_password(password)
    audit.record(session, "supervisor.web_password", agent.extension)
    return agent.extension


def check_sign_in(sessions: Sessions, extension: str, password: str) -> str | None:
    """The supervisor's extension if they may sign in with this password, else None.

    The row is read in a transaction that is closed before the (slow, deliberate) hash check.
    """
    from sqlalchemy import select

    from ..models import Agent, Role

    try:
        ext = names.extension(extension)
    except InvalidInput:
        ext = ""
    row = None
    if ext:
        with sessions() as s:
            row = s.execute(select(Agent.role, Agent.enabled, Agent.web_password_hash)
                            .where(Agent.extension == ext)).first()
    usable = row is not None and row.role == Role.supervisor and row.enabled and row.web_password_hash
    ok = verify_password(row.web_password_hash if usable and row is not None else None, password)
    return ext if (ok and usable) else None


# --- sign-in rate limit -------------------------------------------------------------------------

@dataclass
class RateLimit:
    """At most `failures` failed sign-ins per address in `window` seconds; then refused until they age out."""

    failures: int = 5
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, list[float]] = field(default_factory=dict)

    def _recent(self, address: str) -> list[float]:
        now = self.clock()
        times = [t for t in self._seen.get(address, []) if now - t < self.window]
        if times:
            self._seen[address] = times
        else:
            self._seen.pop(address, None)
        return times

    def allowed(self, address: str) -> bool:
        """Whether a sign-in attempt from `address` may be checked now."""
        return len(self._recent(address)) < self.failures

    def failed(self, address: str) -> None:
        if len(self._seen) > 10_000:
            # A flood of addresses: forget the aged ones first (memory stays bounded).
            for addr in list(self._seen):
                self._recent(addr)
        self._seen.setdefault(address, []).append(self.clock())

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)


# --- sessions -----------------------------------------------------------------------------------

@dataclass
class WebSession:
    token: str
    supervisor: str
    csrf: str
    address: str
    created: float
    seen: float


@dataclass
class SessionStore:
    """Signed-in supervisors by cookie token (random, 256 bits); idle ones expire."""

    idle: float = 12 * 3600.0
    clock: Callable[[], float] = time.monotonic
    _by_token: dict[str, WebSession] = field(default_factory=dict)

    def create(self, supervisor: str, address: str) -> WebSession:
        now = self.clock()
        session = WebSession(secrets.token_urlsafe(32), supervisor, secrets.token_urlsafe(32), address, now, now)
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> WebSession | None:
        """The live session of a cookie token (its idle time restarts), or None."""
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle:
            del self._by_token[token]
            return None
        session.seen = now
        return session

    def drop(self, token: str) -> WebSession | None:
        return self._by_token.pop(token, None)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens; a missing one never matches."""
    return bool(expected) and bool(given) and secrets.compare_digest(str(expected), str(given))
