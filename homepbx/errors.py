"""Expected failures: the CLI turns each into one plain sentence and an exit code."""

from __future__ import annotations


class HomepbxError(Exception):
    """An expected failure with a message meant for a human."""

    exit_code = 1


class InvalidInput(HomepbxError):
    """The user gave a value we refuse (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(InvalidInput):
    """The user named something that does not exist (exit code 2)."""


class OperationalError(HomepbxError):
    """The PBX or another dependency failed (exit code 1)."""
