"""CONTRIBUTING.md's tasks exist and work, and the formatter is the same everywhere.

A contributor copies `make …` lines from CONTRIBUTING.md; each must be a real
target. `make lint` is run for real (a few seconds): it is the check people run
most. ruff is pinned in two places, pyproject's test extra (CI) and
.pre-commit-config.yaml (each commit); if they drift, a commit formatted by one
fails the other.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed (Debian: make)")


def contributing_make_targets() -> list[str]:
    text = ROOT.joinpath("CONTRIBUTING.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    return [m for block in blocks for m in re.findall(r"^make ([a-z-]+)", block, re.MULTILINE)]


def makefile_targets() -> set[str]:
    text = ROOT.joinpath("Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


def test_contributing_names_the_makefile_tasks() -> None:
    named = contributing_make_targets()
    assert {"lint", "types", "tests-sqlite", "tests-postgres"} <= set(named)
    assert not set(named) - makefile_targets(), set(named) - makefile_targets()


@needs_make
@pytest.mark.parametrize("target", contributing_make_targets())
def test_each_task_is_a_target_make_accepts(target: str) -> None:
    done = subprocess.run(
        [MAKE, "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"make {target} would run nothing"


@needs_make
def test_tests_postgres_runs_only_the_postgres_cases() -> None:
    commands = subprocess.run(
        [MAKE, "-n", "tests-sqlite", "tests-postgres"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    sqlite, postgres = commands
    assert "-m 'not postgres'" in sqlite and "RAPPORT_TEST_POSTGRES_URL" in sqlite
    assert "RAPPORT_TEST_POSTGRES_URL=postgresql://" in postgres and "-m postgres" in postgres


@needs_make
def test_make_lint_passes() -> None:
    done = subprocess.run([MAKE, "lint"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken\.", done.stdout), done.stdout


def test_ruff_is_pinned_alike_for_ci_and_pre_commit() -> None:
    pyproject = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text(encoding="utf-8"))
    (ci_pin,) = (d for d in pyproject["project"]["optional-dependencies"]["test"] if "ruff" in d)
    hooks = ROOT.joinpath(".pre-commit-config.yaml").read_text(encoding="utf-8")
    pins = set(re.findall(r'"(ruff[^"]*)"', hooks))
    assert pins == {ci_pin.replace(" ", "")}, f"pre-commit {pins}, pyproject {ci_pin}"


def test_pre_commit_runs_ruff_and_the_import_contracts() -> None:
    hooks = ROOT.joinpath(".pre-commit-config.yaml").read_text(encoding="utf-8")
    ids = re.findall(r"^\s*- id: (\S+)", hooks, flags=re.MULTILINE)
    assert ids == ["ruff-check", "ruff-format", "lint-imports"]
