"""The newest schema revision, read from the migration files without importing alembic or SQLAlchemy.

Every command checks the database against it; latency-critical commands cannot afford either import.
"""

from __future__ import annotations

import functools
import re

from .resources import data_dir

_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|None)", re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The newest migration, read from the version files (the revision nothing revises)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (data_dir("migrations") / "versions").glob("*.py"):
        for key, dq, sq in _REVISION.findall(path.read_text(encoding="utf-8")):
            value = dq or sq
            if value:
                (revisions if key == "revision" else revised).add(value)
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"homepbx migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()
