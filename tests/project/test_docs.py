"""The README links every document; no document points at a file that is not there.

Links must stay inside the repository: a reader of a clone or of the wheel's
README has nothing beside it. docs/architecture.md names packages, modules
and functions; each must exist, so the map cannot drift from the code.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PAGES = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "CHANGELOG.md",
    *sorted(ROOT.glob("docs/*.md")),
]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# A path in backticks: `crm/desk/report.py`, `migrations/versions/`, `../shared/x`.
CODE_PATH = re.compile(r"`((?:\.\./|\./)*(?:[\w.-]+/)+[\w.-]*)`")
# A dotted name of ours, with or without the `rapport.` prefix (the diagrams drop it).
DOTTED = re.compile(r"(?<![\w./])(?:rapport\.)?(?:crm|channels|bot|migrations)(?:\.\w+)+")


def test_readme_links_every_doc() -> None:
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    missing = [
        doc.name for doc in sorted(ROOT.glob("docs/*.md")) if f"(docs/{doc.name})" not in readme
    ]
    assert not missing, f"README.md does not link {', '.join(missing)}"


def _inside_repository(page: Path, target: str) -> bool:
    resolved = (page.parent / target).resolve()
    return resolved.is_relative_to(ROOT) and resolved.exists()


def test_relative_links_resolve_inside_the_repository() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not _inside_repository(page, target):
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken, "broken links: " + "; ".join(broken)


def test_no_page_points_outside_the_repository() -> None:
    """Paths in backticks too: `../shared/DESIGN.md` is not there for a reader."""
    outside = [
        f"{page.relative_to(ROOT)} → {path}"
        for page in PAGES
        for path in CODE_PATH.findall(page.read_text(encoding="utf-8"))
        if path.startswith("../") and not (page.parent / path).resolve().is_relative_to(ROOT)
    ]
    assert not outside, "paths outside the repository: " + "; ".join(outside)


def architecture_table() -> dict[str, str]:
    """The package table of docs/architecture.md: package name → its row."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    return {
        m[1]: m[0] for m in re.finditer(r"^\| `(rapport(?:\.\w+)*)` \|.*$", section, re.MULTILINE)
    }


def _source_of(dotted: str) -> Path | None:
    """The folder (package) or file (module) behind a `rapport.…` name, if any."""
    relative = Path(*dotted.split(".")[1:])
    if ROOT.joinpath(relative, "__init__.py").exists():
        return ROOT / relative
    if ROOT.joinpath(relative).with_suffix(".py").exists():
        return ROOT.joinpath(relative).with_suffix(".py")
    return None


def test_architecture_table_names_packages_that_exist() -> None:
    table = architecture_table()
    assert len(table) >= 25, sorted(table)
    missing = [name for name in table if _source_of(name) is None]
    assert not missing, f"docs/architecture.md names packages that do not exist: {missing}"


def test_architecture_table_covers_every_package() -> None:
    """Every package but the bot's own subfolders (the `rapport.bot` row covers them)."""
    pyproject = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        p for p in pyproject["tool"]["setuptools"]["packages"] if not p.startswith("rapport.bot.")
    }
    kernel = {f"rapport.crm.{m}" for m in ("database", "settings", "clock", "errors", "channel")}
    missing = sorted((packages | kernel | {"rapport.crm.messages"}) - set(architecture_table()))
    assert not missing, f"add a row to docs/architecture.md's package table: {missing}"


def _resolves(dotted: str) -> bool:
    """A module, or an attribute reached from the longest importable module prefix."""
    parts = dotted.removeprefix("rapport.").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module("rapport." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_architecture_names_resolve() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    names = sorted(set(DOTTED.findall(text)))
    assert len(names) >= 30, names
    unknown = [name for name in names if not _resolves(name)]
    assert not unknown, f"docs/architecture.md names what is not in the code: {unknown}"


@pytest.mark.parametrize("page", [ARCHITECTURE, ROOT / "CONTRIBUTING.md"], ids=lambda p: p.name)
def test_paths_named_in_backticks_exist(page: Path) -> None:
    missing = [
        path
        for path in CODE_PATH.findall(page.read_text(encoding="utf-8"))
        if not path.startswith("../") and not ROOT.joinpath(path).exists()
    ]
    assert not missing, f"{page.name} names paths that do not exist: {missing}"
