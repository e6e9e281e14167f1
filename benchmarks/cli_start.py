"""How long `rapport` takes to start, as whole processes, against `python -c pass`.

Run: python -m benchmarks.cli_start [--runs 10] [--customers 200]

Times, from outside, four commands a person types: `python -c pass` (the
interpreter's own start, the baseline), `rapport --help`, `rapport customers
--help` and `rapport customers list` on a small SQLite demo database (filled
first, untimed). The commands run in turn, round after round, so a change in
the machine's load falls on all of them alike; each figure is the median of
`--runs` rounds, with its ratio to the baseline's median of the same run.

The processes run as an installed Rapport does: with bytecode cached (in a
temporary PYTHONPYCACHEPREFIX, warmed by one untimed round) and in an empty
working directory, so no .env is read. CPU seconds (user + system, from the
operating system's accounting of each finished child) are printed beside the
wall time: they move less with load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, result


def rapport_command() -> list[str]:
    """The `rapport` console script beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("rapport")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rapport.bot"]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command` to its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=120)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at start")
    rapport = rapport_command()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "RAPPORT_"))}
        env |= {
            "PYTHONPYCACHEPREFIX": str(cwd / "pycache"),
            "RAPPORT_DATABASE_URL": f"sqlite:///{cwd / 'demo.db'}",
        }
        fill = [*rapport, "demo-data", "--customers", str(args.customers)]
        subprocess.run(
            [*fill, "--database-url", env["RAPPORT_DATABASE_URL"]],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
        )
        commands = {
            "python": [sys.executable, "-c", "pass"],
            "cli_help": [*rapport, "--help"],
            "cli_noun_help": [*rapport, "customers", "--help"],
            "cli_list": [*rapport, "customers", "list", "--limit", "20"],
        }
        for command in commands.values():  # warm the bytecode cache, untimed
            timed(command, cwd, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                wall, cpu = timed(command, cwd, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"load average {os.getloadavg()[0]:.1f} at the end; medians of {args.runs} runs:")
    baseline = statistics.median(walls["python"])
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(
            f"  {name}: wall {wall:.3f} s (min {min(walls[name]):.3f}, "
            f"max {max(walls[name]):.3f}), cpu {cpu:.3f} s"
        )
        label = "python_start" if name == "python" else name
        result(f"{label}_seconds", wall, "s")
        result(f"{label}_cpu_seconds", cpu, "s")
        if name != "python":
            result(f"{label}_vs_python", wall / baseline, "ratio")


if __name__ == "__main__":
    main()
