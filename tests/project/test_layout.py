"""The tests mirror the package layout, and test modules never import each other.

A test module lives in `tests/<package>/` or `tests/<package>/<part>/`, where
`<package>/<part>` is a subpackage or a module of `crm`, `channels`, `bot` or
`migrations` (`tests/crm/customers/`, `tests/bot/cli/`, `tests/channels/registry/`),
or in `tests/project/` (packaging, docs, contributing, this file). Helpers
shared by several modules live in `tests/support/`; nothing else besides
`conftest.py` and `__init__.py` is a Python file under `tests/`. Every folder
is a package, so modules are named by their path and basenames may repeat.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
PACKAGES = ("crm", "channels", "bot", "migrations")


def _mirrored() -> set[str]:
    found = {"project", *PACKAGES}
    for package in PACKAGES:
        for child in (ROOT / package).iterdir():
            if child.name.startswith(("_", ".")) or child.name == "versions":
                continue
            if child.is_dir() and (child / "__init__.py").exists():
                found.add(f"{package}/{child.name}")
            elif child.suffix == ".py":
                found.add(f"{package}/{child.stem}")
    return found


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _is_test_module(name: str) -> bool:
    return name.split(".")[-1].startswith("test_")


def test_every_test_module_sits_in_the_mirrored_layout() -> None:
    allowed = _mirrored()
    misplaced = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if path.name.startswith("test_")
        and path.parent.relative_to(TESTS).as_posix() not in allowed
    ]
    assert not misplaced, f"test modules outside the mirrored layout (see above): {misplaced}"


def test_helpers_live_in_tests_support() -> None:
    stray = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
        and path.parent != TESTS / "support"
    ]
    assert not stray, f"helpers belong in tests/support/: {stray}"


def test_every_test_folder_is_a_package() -> None:
    folders = sorted({path.parent for path in _python_files()})
    missing = [str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()]
    assert not missing, f"folders without __init__.py: {missing}"


def test_no_module_imports_a_test_module() -> None:
    offenders = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.ImportFrom):  # relative: from .test_x import y
                names = [node.module or "", *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(_is_test_module(n) for n in names if n):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"import shared parts from tests/support/ instead: {offenders}"


def test_the_layout_check_sees_a_misplaced_module() -> None:
    """The rules above, on names they must refuse and accept."""
    allowed = _mirrored()
    assert {"crm/customers", "channels/email", "bot/cli", "channels/registry"} <= allowed
    assert "telegram" not in allowed and "" not in allowed and "." not in allowed
    assert _is_test_module("tests.crm.desk.test_follow_ups")
    assert not _is_test_module("tests.support.desk_policy")
