"""The event socket client's expected failures, each carrying one plain sentence for the CLI."""

from __future__ import annotations

from ...errors import InvalidInput, OperationalError


class UnsafeEslValue(InvalidInput):
    """A command, argument, header name or value the event socket cannot carry.

    CR, LF or NUL anywhere (a newline inside an argument would end the command and start a
    second one), an empty command name, a header name with ':' or whitespace. Raised before
    anything is written; the message names the field (``field``) but never echoes the value,
    which may be a password.
    """


class EslError(OperationalError):
    """Base class of the event socket client's operational failures (exit code 1)."""


class EslUnavailable(EslError):
    """FreeSWITCH's event socket could not be reached (refused, unreachable, silent)."""


class EslLoginError(EslError):
    """FreeSWITCH refused the password (``-ERR invalid``) or this client's address (ACL)."""


class EslTimeout(EslError):
    """FreeSWITCH did not answer a command, or a background job did not end, in time."""


class EslDisconnected(EslError):
    """The connection dropped (or was closed) while a command or a job waited for its answer."""


class EslProtocolError(EslError):
    """The peer sent something that is not the event socket protocol (an endless frame...)."""


class EslCommandError(EslError):
    """FreeSWITCH answered ``-ERR ...`` (or ``-USAGE ...``) to a command, API call or job."""
