"""The docs a reader copies from, run as written: README's "Trying it by hand" and quickstart.

Each page's ```sh blocks are run in order by bash (`set -e`: the first
failing command fails the test) with the real `rapport` command, in an empty
folder with a fresh SQLite database, a real SMTP sink as the mail relay
(what `rapport init` or `.env` would configure) and the quiet window off (a
reader typing the lines takes longer than its 5 s). A block right after
`<!-- not run by the docs test: … -->` is skipped, for the reason given.
When a documented command changes, this fails until the doc does.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.support.email_sink import Sink

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- not run by the docs test:[^>]*-->\n)?```sh\n(.*?)```", re.S)


def runnable(text: str) -> str:
    """The page's shell blocks that are meant to run, as one script."""
    return "\n".join(m.group(2) for m in BLOCK.finditer(text) if m.group(1) is None)


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


async def run_script(script: str, folder: Path, sink: Sink) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="200",
        RAPPORT_SMTP_HOST="127.0.0.1",
        RAPPORT_SMTP_PORT=str(sink.port),
        RAPPORT_SMTP_TLS="none",
        RAPPORT_MAIL_FROM="hello@corner-shop.example",
        RAPPORT_DISPATCH_QUIET_SECONDS="0",
    )
    (folder / "doc.sh").write_text("set -euo pipefail\n" + script, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        "bash", "doc.sh", cwd=folder, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 600)
    text = out.decode()
    assert process.returncode == 0, text
    return text


async def test_the_readme_example_reaches_ann(tmp_path: Path, sink: Sink) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    script = runnable(section(readme, "## Trying it by hand"))
    assert "rapport consent grant" in script  # the example obtains consent

    out = await run_script(script, tmp_path, sink)

    assert "dry run: 1 would be queued" in out
    assert "run 1: 1 queued" in out and "sent 1," in out
    [mail] = sink.received
    message = mail.message
    assert message["To"] == "ann@example.com" and message["Subject"] == "Monthly CSAT"
    assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8080/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_body(("plain",)).get_content()
    assert "Hi Ann, how did we do this month?" in body
    assert "1 = very dissatisfied" in body and "5 = very satisfied" in body


async def test_the_quickstart_runs_as_written(tmp_path: Path, sink: Sink) -> None:
    page = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    script = runnable(page)
    assert "pip install" not in script and "rapport init\n" not in script
    assert "rapport run\n" not in script

    out = await run_script(script, tmp_path, sink)

    assert "2 row(s): 2 new customer(s), 0 updated, 0 unchanged; 1 email consent(s)" in out
    assert "customer 2: marketing consent by email granted" in out
    assert "confirmation mail sent to cy@example.com" in out
    [invitation] = sink.received
    assert invitation.message["To"] == "cy@example.com"
    assert "/confirm/" in invitation.message.get_body(("plain",)).get_content()
    assert "campaign" in out and "Welcome: day 0" in out
    assert (tmp_path / "csat.png").stat().st_size > 0  # the demo data's chart
