"""The one way from the neutral core to a PBX package: by the site's `backend` setting.

The backend module is imported by name, so no neutral module imports `homepbx.asterisk` or
`homepbx.freeswitch` (tests/unit/test_layering.py enforces it).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast

from .errors import InvalidInput

if TYPE_CHECKING:
    from .config import Settings
    from .pbx import Backend, Control

T = TypeVar("T")

NAMES = ("asterisk", "freeswitch")


def backend(settings: Settings) -> Backend:
    """The site's backend (`homepbx.<backend>.backend.BACKEND`)."""
    return by_name(settings.backend)


def by_name(name: str) -> Backend:
    """The backend called `name`."""
    if name not in NAMES:
        raise InvalidInput(f"Unknown backend {name!r}: use asterisk or freeswitch.", field="backend")
    module = importlib.import_module(f"homepbx.{name}.backend")
    return cast("Backend", module.BACKEND)


def run(settings: Settings, work: Callable[[Control], Awaitable[T]], *, events: bool = False) -> T:
    """Run `work` against a connected Control of the site's PBX (blocking: for CLI commands)."""
    async def main() -> T:
        async with backend(settings).control(settings, events=events) as control:
            return await work(control)

    return asyncio.run(main())
