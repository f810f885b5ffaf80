"""The built wheel carries the templates and migrations (a non-editable install must work)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_templates_dialplans_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("homepbx-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in (
        "homepbx/_data/migrations/env.py",
        "homepbx/_data/migrations/versions/0001_provisioning.py",
        "homepbx/_data/config_templates/asterisk/pjsip.conf.j2",
        "homepbx/_data/config_templates/asterisk/extensions.conf.j2",
        "homepbx/_data/dialplans/asterisk/agents.j2",
        "homepbx/cli/__init__.py",
    ):
        assert rel in names, rel
    for template in (ROOT / "config_templates").rglob("*.j2"):
        assert f"homepbx/_data/{template.relative_to(ROOT)}" in names
    for version in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"homepbx/_data/{version.relative_to(ROOT)}" in names
