"""The supervisors' wallboard: a live web page with one-click listen, whisper and barge (`homepbx web`).

Neutral like the rest of the core: it reaches the PBX only through `homepbx.backends`
(the live feed `Backend.watch`, and `supervision.spy` for the clicks). `create_app` builds the
ASGI application; `serve` runs it under uvicorn.
"""

from __future__ import annotations

from .app import WebConfig, create_app
from .server import serve

__all__ = ["WebConfig", "create_app", "serve"]
