"""Fixtures shared by the unit tests (the databases are tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import Cli, make_cli


@pytest.fixture
def site_cli(tmp_path: Path, any_db_url: str) -> Cli:
    """The CLI of a site just set up with `homepbx init` on `any_db_url` (SQLite and PostgreSQL)."""
    return make_cli(tmp_path, any_db_url)
