"""Every dispatcher step is safe to repeat, because an outage can hide a commit.

When the database goes away while acknowledging a COMMIT, the dispatcher
sees an error for a step that did happen, and tries it again once the
database is back (see crm/dispatch/dispatcher.py). The repeat must not record a send
twice, must still let the next message go, and must not undo what another
dispatcher did with a delivery in between.
"""

from __future__ import annotations

from sqlalchemy import func, select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.dispatch.outcomes import Outcome
from rapport.crm.models import Delivery, DeliveryStatus, Direction, Interaction, PointsEntry
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.recording import RecordingChannel


def setup(db: Database) -> None:
    everyone(db)
    for i in range(3):
        customer(db, f"p{i}@example.com")
    start_run(db, campaign(db, kind="loyalty", points=10).id)


def delivery(db: Database, delivery_id: int) -> Delivery:
    with db.session() as s:
        found = s.get(Delivery, delivery_id)
        assert found is not None
        return found


async def test_a_repeated_step_records_a_send_once_and_lets_the_next_go(db: Database) -> None:
    setup(db)
    channel = RecordingChannel()
    dispatcher = Dispatcher(db, {"email": channel}, worker_id="one")
    first, second, third = dispatcher.claim()
    assert dispatcher._step([], [first]).go == {first.delivery_id}
    done = [(first, await dispatcher._send(first))]
    assert dispatcher._step(done, [second]).go == {second.delivery_id}
    again = dispatcher._step(done, [second, third], again=True)  # as if the commit went unseen
    assert again.go == {second.delivery_id, third.delivery_id}

    with db.session() as s:
        outbound = s.scalar(
            select(func.count())
            .select_from(Interaction)
            .where(Interaction.direction == Direction.OUT)
        )
        points = s.scalar(select(func.count()).select_from(PointsEntry))
    assert (outbound, points) == (1, 1)
    assert delivery(db, first.delivery_id).status == DeliveryStatus.SENT
    assert delivery(db, second.delivery_id).status == DeliveryStatus.SENDING
    # Without `again` a delivery already "sending" is not ours to send: skipped.
    assert not Dispatcher(db, {"email": channel}, worker_id="two")._step([], [second]).go


async def test_a_repeated_step_records_a_whole_step_once(db: Database) -> None:
    setup(db)
    dispatcher = Dispatcher(db, {"email": RecordingChannel()}, worker_id="one")
    jobs = dispatcher.claim()
    assert dispatcher._step([], jobs).go == {j.delivery_id for j in jobs}
    done = [(job, await dispatcher._send(job)) for job in jobs]
    dispatcher._step(done, [])
    dispatcher._step(done, [], again=True)  # the first commit went through unseen
    dispatcher._step(done[:1], [], again=True)  # and a partial repeat, too
    with db.session() as s:
        outbound = s.scalar(
            select(func.count())
            .select_from(Interaction)
            .where(Interaction.direction == Direction.OUT)
        )
        points = s.scalar(select(func.count()).select_from(PointsEntry))
    assert (outbound, points) == (3, 3)
    assert {delivery(db, j.delivery_id).status for j in jobs} == {DeliveryStatus.SENT}


async def test_a_repeated_failure_does_not_undo_another_dispatchers_claim(db: Database) -> None:
    setup(db)
    one = Dispatcher(db, {"email": RecordingChannel()}, worker_id="one", base_backoff=0)
    job = one.claim()[0]
    assert one._step([], [job]).go
    failed = [(job, Outcome.failed("transient", "SMTP 451 later", retry=True, retry_after=0))]
    one._step(failed, [])
    assert delivery(db, job.delivery_id).status == DeliveryStatus.QUEUED

    two = Dispatcher(db, {"email": RecordingChannel()}, worker_id="two")
    assert job.delivery_id in {j.delivery_id for j in two.claim()}
    one._step(failed, [], again=True)  # the repeat arrives late
    taken = delivery(db, job.delivery_id)
    assert (taken.status, taken.claimed_by) == (DeliveryStatus.CLAIMED, "two")


def test_claims_in_hand_of_nobody_are_released_without_counting_an_attempt(db: Database) -> None:
    setup(db)
    dispatcher = Dispatcher(db, {"email": RecordingChannel()}, worker_id="one")
    jobs = dispatcher.claim()  # and then the caller lost them
    other = Dispatcher(db, {"email": RecordingChannel()}, worker_id="two")
    assert other.release_claims() == 0  # only one's own
    assert dispatcher.release_claims() == len(jobs) == 3
    rows = [delivery(db, j.delivery_id) for j in jobs]
    assert {(d.status, d.claimed_by, d.attempts) for d in rows} == {
        (DeliveryStatus.QUEUED, None, 0)
    }
