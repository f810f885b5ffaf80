"""The AMI client's expected failures, each carrying one plain sentence for the CLI."""

from __future__ import annotations

from ...errors import InvalidInput, OperationalError


class UnsafeHeader(InvalidInput):
    """A header key or value the manager protocol cannot carry (CR, LF, NUL, or ':' in a key).

    Raised before anything is written, so a hostile value can never smuggle a second action.
    The message names the header but never echoes the value (it may be a secret).
    """


class AmiError(OperationalError):
    """Base class of the AMI client's operational failures (exit code 1)."""


class AmiUnavailable(AmiError):
    """The manager interface could not be reached (refused, unreachable, timed out)."""


class AmiLoginError(AmiError):
    """Asterisk answered the Login action with an error (wrong user or secret, ACL)."""


class AmiTimeout(AmiError):
    """Asterisk did not answer an action within its timeout."""


class AmiDisconnected(AmiError):
    """The connection dropped (or was closed) while an action was waiting for its answer."""


class AmiProtocolError(AmiError):
    """The peer sent something that is not the manager protocol (e.g. an endless frame)."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error`` (see ``Response.raise_for_error``)."""
