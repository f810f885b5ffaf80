"""SIP passwords: generated strong, shown once, kept only as a PJSIP digest credential."""

from __future__ import annotations

import hashlib
import secrets
import string

# No look-alikes (0/O, 1/l/I): agents type these into softphones by hand.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
PASSWORD_LENGTH = 20  # about 114 bits


def new_password() -> str:
    """A random SIP password."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def md5_cred(username: str, realm: str, password: str) -> str:
    """HA1 = MD5(username:realm:password), what Asterisk's `auth_type=md5` / `md5_cred` expects.

    MD5 here is the SIP digest scheme's own (RFC 2617), which nearly every softphone speaks;
    Asterisk never needs the clear password.
    """
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
