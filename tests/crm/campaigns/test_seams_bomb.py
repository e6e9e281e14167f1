"""One template cannot stall sending or shutdown (issue 20, defect 3).

Three campaigns queued for the same customers, one of them a template bomb
that passed validation (it is only slow for names the samples do not have).
`rapport run`, a real process sending to an SMTP sink on loopback, sends the
other two completely; the bomb's delivery fails with the reason and its
campaign is paused; SIGTERM stops the process within 5 seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.campaigns.templates import TemplateProblem, validate_template
from rapport.crm.database import Database
from rapport.crm.models import Campaign, Delivery
from rapport.migrations.schema import open_database
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.email_sink import Sink

ROOT = Path(__file__).resolve().parents[3]
CUSTOMERS = 12
LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
BOMB = "Hi {{ first_name }}!{% if first_name.startswith('Cust') %}" + LOOP + "{% endif %}"


def _counts(db: Database) -> dict[tuple[int, str], int]:
    with db.session() as session:
        rows = session.execute(
            select(Delivery.campaign_id, Delivery.status, func.count()).group_by(
                Delivery.campaign_id, Delivery.status
            )
        ).all()
    return {(c, s): n for c, s, n in rows}


async def _until(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def test_validation_renders_worst_case_customers() -> None:
    bomb_for_long_names = "Hi{% if name|length > 100 %}" + LOOP + "{% endif %}"
    try:
        validate_template(bomb_for_long_names)
    except TemplateProblem as exc:
        assert "took longer than" in str(exc)
    else:
        raise AssertionError("a template slow for long names passed validation")
    for hog in ("{{ (['x'*20000]*20000)|join|length }}",
                "{% for i in range(100000) %}{{ 'ten chars.' }}{% endfor %}"):  # fmt: skip
        try:
            validate_template(hog)
        except TemplateProblem as exc:
            assert "memory" in str(exc) or "longer than 20,000 characters" in str(exc), exc
        else:
            raise AssertionError(f"{hog} passed validation")


async def test_a_template_bomb_fails_alone_and_run_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db = open_database(url)
    sink = await Sink().start()
    app = None
    try:
        for n in range(CUSTOMERS):
            customer(db, f"cust{n:02d}@example.org", name=f"Cust{n:02d} Example")
        everyone(db)
        good = [campaign(db, "Autumn news"), campaign(db, "Winter news")]
        bomb = campaign(db, "Bomb", template=BOMB)  # passes validation: samples are not "Cust…"
        for c in (good[0], bomb, good[1]):
            start_run(db, c.id, trigger="manual", frequency_cap=10)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
        env.update(
            PYTHONPATH=str(ROOT),
            RAPPORT_DATABASE_URL=url,
            RAPPORT_INBOUND_SMTP_PORT="0",
            RAPPORT_WEB_PORT="0",
            RAPPORT_SMTP_HOST="127.0.0.1",
            RAPPORT_SMTP_PORT=str(sink.port),
            RAPPORT_SMTP_TLS="none",
            RAPPORT_MAIL_FROM="shop@example.com",
            RAPPORT_PUBLIC_URL="https://shop.example",
            RAPPORT_DISPATCH_QUIET_SECONDS="0",
        )
        log = tmp_path / "rapport.log"
        with log.open("wb") as out:
            app = subprocess.Popen([sys.executable, "-m", "rapport.bot", "run"], cwd=tmp_path,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        await _until(lambda: "Rapport is running" in log.read_text(), "the start", 60)
        started = time.monotonic()
        good_ids = [c.id for c in good]
        await _until(
            lambda: all(_counts(db).get((c, "sent"), 0) == CUSTOMERS for c in good_ids),
            "both good campaigns sent",
            60,
        )
        sent_in = time.monotonic() - started
        counts = _counts(db)
        assert counts.get((bomb.id, "sent"), 0) == 0
        assert counts.get((bomb.id, "failed"), 0) == 1
        assert counts.get((bomb.id, "queued"), 0) == CUSTOMERS - 1  # waiting for a fix
        with db.session() as session:
            failed = session.scalars(
                select(Delivery).where(Delivery.campaign_id == bomb.id, Delivery.status == "failed")
            ).one()
            paused = session.get(Campaign, bomb.id)
        assert failed.last_error is not None
        assert "took longer than 100 ms to render one message" in failed.last_error
        assert "paused" in failed.last_error
        assert paused is not None and paused.status == "paused"
        assert len(sink.received) == 2 * CUSTOMERS
        print(f"good campaigns sent in {sent_in:.1f} s")

        stop = time.monotonic()
        app.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(app.wait, 30)
        stopped_in = time.monotonic() - stop
        assert code == 0, log.read_text()
        assert stopped_in < 5, f"rapport run took {stopped_in:.1f} s to stop"
        assert "Traceback" not in log.read_text()
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait()
        await sink.stop()
        db.dispose()
