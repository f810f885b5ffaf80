"""The architecture's one rule, checked on the source: nothing neutral imports a backend.

Only `homepbx/asterisk/` and `homepbx/freeswitch/` may import `homepbx.asterisk` or
`homepbx.freeswitch`, and neither backend imports the other; the core reaches a backend only
through `homepbx.backends` (by name, with importlib).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "homepbx"
BACKENDS = ("asterisk", "freeswitch")


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    package = parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from homepbx import asterisk` imports the package too.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def owner(path: Path, root: Path = PACKAGE) -> str:
    """'asterisk', 'freeswitch' or 'core': which part of homepbx a file belongs to."""
    first = path.relative_to(root).parts[0]
    return first if first in BACKENDS else "core"


def violations(root: Path = PACKAGE) -> list[str]:
    """Each import that crosses the rule, as 'file: module'."""
    out = []
    for path in sorted(root.rglob("*.py")):
        mine = owner(path, root)
        for module in sorted(imported_modules(path, root)):
            for backend in BACKENDS:
                if backend != mine and (module == f"homepbx.{backend}" or module.startswith(f"homepbx.{backend}.")):
                    out.append(f"{path.relative_to(root.parent)}: {module}")
    return out


def test_nothing_neutral_imports_a_backend() -> None:
    assert violations() == []


@pytest.mark.parametrize("line", [
    "from .asterisk.ami import AmiClient\n",
    "from homepbx.freeswitch.esl import EslClient\n",
    "from . import asterisk\n",
    "import homepbx.asterisk.live\n",
])
def test_the_check_catches_a_core_module_importing_a_backend(tmp_path: Path, line: str) -> None:
    # The same walk over a copy of the layout with one offending core module.
    root = tmp_path / "homepbx"
    (root / "asterisk").mkdir(parents=True)
    (root / "service.py").write_text(line)
    found = violations(root)
    assert found and all(v.startswith("homepbx/service.py: homepbx.") for v in found)


def test_a_backend_may_import_itself_and_the_core_but_not_the_other_backend(tmp_path: Path) -> None:
    root = tmp_path / "homepbx"
    (root / "asterisk").mkdir(parents=True)
    (root / "asterisk" / "control.py").write_text("from .ami import AmiClient\nfrom ..pbx import Control\n")
    (root / "freeswitch").mkdir()
    (root / "freeswitch" / "lab.py").write_text("from ..asterisk import calls\n")
    assert violations(root) == ["homepbx/freeswitch/lab.py: homepbx.asterisk", "homepbx/freeswitch/lab.py: homepbx.asterisk.calls"]
