"""`rapport conversations …` and `rapport report desk`, mail going to a real SMTP sink.

In process (typer's runner) rather than subprocesses, to keep the test fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.desk_cli import _rapport
from tests.support.email_sink import Sink


async def test_take_reply_resolve_and_report_from_the_command_line(
    tmp_path: Path, sink: Sink
) -> None:
    async def ok(*args: str) -> str:
        code, out, err = await _rapport(tmp_path, sink, *args)
        assert code == 0, err
        return out

    text = "Still no parcel. I want a refund."
    await ok("ingest", "--channel", "email", "--from", "zoe@example.org", "--name", "Zoe",
             "--text", text, "--key", "<m1@example.org>")  # fmt: skip
    await ok("staff", "add", "--name", "Ada", "--role", "agent", "--email", "ada@shop.hk")
    listing = await ok("conversations", "list")
    assert "Zoe" in listing and "yes" in listing  # the complaint column
    assert "is now Ada's" in await ok("conversations", "take", "1", "--staff", "1")
    sent = await ok("conversations", "reply", "1", "Refund is on its way.", "--staff", "1")
    assert "sent to the customer of conversation 1" in sent
    [answer] = sink.received
    assert answer.message["In-Reply-To"] == "<m1@example.org>"
    assert answer.message["To"] == "zoe@example.org"
    resolved = await ok("conversations", "resolve", "1", "--staff", "1")
    assert "satisfaction question sent" in resolved and len(sink.received) == 2
    report = await ok("report", "desk", "--days", "7")
    assert "Ada" in report and "everyone else" in report
    today = datetime.now(UTC).date()
    in_range = await ok("report", "desk", "--from", f"{today}", "--to", f"{today}",
                        "--format", "csv")  # fmt: skip
    assert in_range == await ok("report", "desk", "--days", "7", "--format", "csv")
    before = today - timedelta(days=3)
    empty = await ok("report", "desk", "--from", f"{before}", "--to", f"{before}",
                     "--format", "csv")  # fmt: skip
    assert empty.splitlines()[1].startswith("all,0,")
    code, _, err = await _rapport(tmp_path, sink, "report", "desk", "--from", f"{today}")
    assert code == 2 and "--from and --to together" in err
    code, _, err = await _rapport(
        tmp_path, sink, "report", "desk", "--from", f"{today}", "--to", f"{before}"
    )
    assert code == 2 and "ends before it starts" in err

    code, _, err = await _rapport(tmp_path, sink, "conversations", "reply", "9", "Hello")
    assert code == 2 and "no conversation #9" in err
    code, _, err = await _rapport(tmp_path, sink, "conversations", "take", "1", "--staff", "5")
    assert code == 2 and "no active staff member 5" in err
    assert len(sink.received) == 2
