"""Bulk agent files: read agent requests from CSV, write one-time credentials to CSV (0600)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from .errors import InvalidInput
from .provisioning import AgentSpec, SoftphoneSettings

COLUMNS = ("extension", "display_name", "email", "team", "role", "employment", "billing_rate", "billing_unit", "spy_modes",
           "transport")
REQUIRED = ("extension", "display_name")
CREDENTIAL_COLUMNS = ("extension", "display_name", "username", "password", "server", "port", "transport", "srtp", "realm")


def read_agents(path: Path) -> tuple[list[AgentSpec], list[str]]:
    """Parse an agents CSV (header row required); returns the requests and their row labels.

    A label names the CSV record as a spreadsheet numbers its rows (the header is row 1), not
    the file line: a quoted cell may span lines.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InvalidInput(f"The CSV file {path} has no {missing[0]!r} column.", field="csv")
            unknown = [c for c in header if c not in COLUMNS]
            if unknown:
                raise InvalidInput(f"The CSV file {path} has an unknown column {unknown[0]!r}.", field="csv")
            specs: list[AgentSpec] = []
            labels: list[str] = []
            # Every record counts, an empty one too (a blank spreadsheet row).
            for record, cells in enumerate(reader, start=2):
                if len(cells) > len(header):
                    raise InvalidInput(f"Row {record} of {path} has more cells than the header.", field="csv")
                values = {k: v.strip() for k, v in zip(header, cells)}
                if not any(values.values()):
                    continue
                specs.append(
                    AgentSpec(
                        extension=values.get("extension", ""),
                        display_name=values.get("display_name", ""),
                        email=values.get("email", ""),
                        team=values.get("team") or None,
                        role=values.get("role") or "agent",  # type: ignore[arg-type]
                        employment=values.get("employment") or "employee",  # type: ignore[arg-type]
                        billing_rate=values.get("billing_rate") or "0",  # type: ignore[arg-type]
                        billing_unit=values.get("billing_unit") or "minute",  # type: ignore[arg-type]
                        spy_modes=values.get("spy_modes") or None,
                        transport=values.get("transport") or None,
                    )
                )
                labels.append(f"row {record}")
    except FileNotFoundError:
        raise InvalidInput(f"The CSV file {path} does not exist.", field="csv") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"The CSV file {path} is not UTF-8 text.", field="csv") from None
    except csv.Error as exc:
        raise InvalidInput(f"The CSV file {path} is malformed: {exc}.", field="csv") from None
    if not specs:
        raise InvalidInput(f"The CSV file {path} holds no agents.", field="csv")
    return specs, labels


def open_private(path: Path) -> Path:
    """Create an empty temp file beside `path`, readable only by its owner; refuse to overwrite `path`."""
    if path.exists():
        raise InvalidInput(f"The credentials file {path} already exists: choose another name.", field="credentials")
    if not path.parent.is_dir():
        raise InvalidInput(f"The folder {path.parent} does not exist.", field="credentials")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    return tmp


def write_credentials(tmp: Path, creds: Sequence[SoftphoneSettings]) -> None:
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CREDENTIAL_COLUMNS)
        for c in creds:
            writer.writerow([getattr(c, col) for col in CREDENTIAL_COLUMNS])
        handle.flush()
        os.fsync(handle.fileno())
