"""The wheel holds every package folder and the Alembic scripts, under `rapport` only.

pyproject lists the packages by hand (the folders at the root map to `rapport.*`),
so a new folder with an __init__.py is not importable from an installed wheel
until it is listed; and the migrations are package data, which setuptools leaves
out unless told. `.ci/wheel-check` goes further (a fresh venv, Django Channels,
`rapport run` from an empty folder); these are the quick halves of it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = ("bot", "channels", "crm", "migrations")


def package_folders() -> set[str]:
    """Every folder with an __init__.py under the package roots, as its `rapport.` name."""
    return {
        "rapport." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in PACKAGE_ROOTS
        for init in ROOT.joinpath(top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def listed_packages() -> set[str]:
    pyproject = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text(encoding="utf-8"))
    return set(pyproject["tool"]["setuptools"]["packages"])


def wheel_check_script() -> ModuleType:
    """`.ci/wheel-check` as a module, to build the wheel the way CI does."""
    loader = importlib.machinery.SourceFileLoader("wheel_check", str(ROOT / ".ci" / "wheel-check"))
    spec = importlib.util.spec_from_loader("wheel_check", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel built from a clean copy of this tree (a few seconds)."""
    return wheel_check_script().build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_every_package_folder_is_listed_in_pyproject() -> None:
    folders, listed = package_folders(), listed_packages()
    assert not folders - listed, (
        f"add to [tool.setuptools] packages in pyproject.toml: {sorted(folders - listed)}"
    )
    assert not listed - folders, f"listed but no such package folder: {sorted(listed - folders)}"


def test_wheel_has_only_rapport_at_the_top(wheel: Path, wheel_names: list[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"rapport"}
    (top_level,) = (name for name in wheel_names if name.endswith(".dist-info/top_level.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(top_level).decode().split() == ["rapport"]


def test_wheel_carries_the_migrations_as_package_data(wheel_names: list[str]) -> None:
    versions = sorted(ROOT.glob("migrations/versions/[0-9]*.py"))
    assert len(versions) >= 11
    expected = {f"rapport/migrations/versions/{path.name}" for path in versions}
    expected.add("rapport/migrations/script.py.mako")
    assert not expected - set(wheel_names), (
        f"missing from the wheel: {sorted(expected - set(wheel_names))}"
    )


def test_wheel_carries_every_module(wheel_names: list[str]) -> None:
    modules = {
        "rapport/" + path.relative_to(ROOT).as_posix()
        for top in PACKAGE_ROOTS
        for path in ROOT.joinpath(top).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert not modules - set(wheel_names), (
        f"missing from the wheel: {sorted(modules - set(wheel_names))}"
    )
