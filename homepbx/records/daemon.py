"""What every PBX's `homepbx collect` daemon shares: its JSON log lines, its totals, and what
counts as the database being away (worth waiting for) rather than a fault."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError as DatabaseOperationalError

# The database did not answer (server down or restarting, connection cut, SQLite busy past its
# timeout): worth waiting for. Anything else (a constraint, a missing table) is a fault.
DATABASE_AWAY = (DatabaseOperationalError, InterfaceError)
# Retry delays while the database is away: the first, doubled up to the last.
RETRY_DELAYS = (1.0, 30.0)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the `extra` fields."""

    _plain = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._plain})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(data, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    """homepbx's log lines as JSON on stderr (what journald or a log shipper reads)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("homepbx")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@dataclass
class Totals:
    """What one collector run stored and read."""

    calls: int = 0
    agent_events: int = 0
    events: int = 0
    backfills: int = 0
