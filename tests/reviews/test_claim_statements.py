"""A claim and a submission in one statement each on PostgreSQL (issue 12), and the
guarantees the statements keep: a second request of the same reviewer, a concurrent close,
refusals in the order the reviewer needs them, a caller's transaction left usable."""

import datetime
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from portal.errors import InvalidInput
from reviews.models import Review, ReviewCampaign, ReviewerProgress, ReviewSlot
from reviews.services import campaigns, reviewing
from reviews.services.reviewing import ClaimError
from tests.factories import log_predictions, make_version


@pytest.fixture
def campaign(use_case, personas):
    version = make_version(use_case, "1.0", personas["owner"])
    log_predictions(version, 30)
    return campaigns.create_campaign(
        use_case,
        by=personas["owner"],
        name="Check",
        model_version=version,
        sample_size=10,
        reviewers_per_item=2,
    )


def wait_until_blocked(pattern: str) -> None:
    """Until a backend whose query contains `pattern` waits for a row lock."""
    with connections["default"].cursor() as cursor:
        for _ in range(200):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                [f"%{pattern}%"],
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"no statement like {pattern!r} waited for a lock")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_and_a_submission_are_one_statement_each(
    campaign, personas, django_assert_num_queries
):
    expert = personas["expert"]
    first = reviewing.claim_next(campaign, reviewer=expert)  # creates the progress row
    reviewing.submit_review(first, reviewer=expert, verdict="correct")
    with django_assert_num_queries(1):
        slot = reviewing.claim_next(campaign, reviewer=expert)
    with django_assert_num_queries(1):
        assert reviewing.claim_next(campaign, reviewer=expert).pk == slot.pk  # still held
    with django_assert_num_queries(1):
        review = reviewing.submit_review(slot, reviewer=expert, verdict="correct")
    assert Review.objects.get(pk=review.pk).slot_id == slot.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_waiting_for_the_reviewers_other_tab_never_hands_back_an_item_they_reviewed(
    campaign, personas
):
    """The claim's statement reads in a snapshot taken before it waited for the progress
    row; the other tab's review committed meanwhile is not in it, so the claim must not
    trust it (it would hand out the other slot of the item just reviewed)."""
    expert = personas["expert"]
    first = reviewing.claim_next(campaign, reviewer=expert)
    submitted, release = threading.Event(), threading.Event()
    claimed: list = []
    errors: list[BaseException] = []

    def other_tab():  # reviews `first` and holds its transaction open until told
        try:
            with transaction.atomic():
                reviewing.submit_review(first, reviewer=expert, verdict="correct")
                submitted.set()
                assert release.wait(timeout=20)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def this_tab():
        try:
            claimed.append(reviewing.claim_next(campaign, reviewer=expert))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    tab = threading.Thread(target=other_tab)
    tab.start()
    assert submitted.wait(timeout=20)
    claim = threading.Thread(target=this_tab)
    claim.start()
    wait_until_blocked("WITH seen AS")
    release.set()
    tab.join(timeout=20)
    claim.join(timeout=20)
    assert not errors, errors
    assert claimed[0].item_id != first.item_id
    assert Review.objects.get().item_id == first.item_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_submission_waiting_for_a_close_is_refused_and_writes_nothing(campaign, personas):
    expert, owner = personas["expert"], personas["owner"]
    slot = reviewing.claim_next(campaign, reviewer=expert)
    closing, release = threading.Event(), threading.Event()
    outcome: list = []

    def close():  # closes and holds its transaction open until told
        try:
            with transaction.atomic():
                campaigns.close_campaign(campaign, by=owner)
                closing.set()
                assert release.wait(timeout=20)
        finally:
            connection.close()

    def submit():
        try:
            reviewing.submit_review(slot, reviewer=expert, verdict="correct")
            outcome.append("accepted")
        except ClaimError as error:
            outcome.append(str(error))
        finally:
            connection.close()

    closer = threading.Thread(target=close)
    closer.start()
    assert closing.wait(timeout=20)
    submitter = threading.Thread(target=submit)
    submitter.start()
    wait_until_blocked("WITH slot AS")
    release.set()
    closer.join(timeout=20)
    submitter.join(timeout=20)
    assert outcome == [reviewing.CLOSED_MESSAGE]
    assert not Review.objects.exists()
    assert not ReviewSlot.objects.get(pk=slot.pk).done


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_close_waits_for_a_submission_under_way_and_the_review_stays(campaign, personas):
    expert, owner = personas["expert"], personas["owner"]
    slot = reviewing.claim_next(campaign, reviewer=expert)
    submitted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def submit():  # submits inside a transaction held open until told
        try:
            with transaction.atomic():
                reviewing.submit_review(slot, reviewer=expert, verdict="correct")
                submitted.set()
                assert release.wait(timeout=20)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def close():
        try:
            campaigns.close_campaign(campaign, by=owner)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    submitter = threading.Thread(target=submit)
    submitter.start()
    assert submitted.wait(timeout=20)
    closer = threading.Thread(target=close)
    closer.start()
    wait_until_blocked("FOR UPDATE")
    release.set()
    submitter.join(timeout=20)
    closer.join(timeout=20)
    assert not errors, errors
    assert Review.objects.get().slot_id == slot.pk
    assert ReviewCampaign.objects.get(pk=campaign.pk).status == "closed"


# Both databases


@pytest.mark.django_db
def test_an_invalid_answer_on_an_item_taken_by_someone_else_says_the_claim_is_gone(
    campaign, personas
):
    expert, owner = personas["expert"], personas["owner"]
    slot = reviewing.claim_next(campaign, reviewer=expert)
    ReviewSlot.objects.filter(pk=slot.pk).update(
        claimed_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert reviewing.claim_next(campaign, reviewer=owner).pk == slot.pk
    with pytest.raises(ClaimError, match="not claimed by you"):
        reviewing.submit_review(slot, reviewer=expert, verdict="maybe")
    with pytest.raises(InvalidInput, match="verdict"):
        reviewing.submit_review(slot, reviewer=owner, verdict="maybe")  # theirs: the answer


@pytest.mark.django_db
def test_a_refused_duplicate_review_leaves_the_callers_transaction_usable(campaign, personas):
    expert = personas["expert"]
    first = reviewing.claim_next(campaign, reviewer=expert)
    reviewing.submit_review(first, reviewer=expert, verdict="correct")
    # The item's other slot, held by the same reviewer (not as claim_next hands it out).
    sibling = ReviewSlot.objects.get(item_id=first.item_id, done=False)
    until = timezone.now() + datetime.timedelta(minutes=5)
    ReviewSlot.objects.filter(pk=sibling.pk).update(claimed_by=expert, claimed_until=until)
    with transaction.atomic():
        with pytest.raises(ClaimError, match="already reviewed"):
            reviewing.submit_review(sibling, reviewer=expert, verdict="incorrect")
        assert Review.objects.filter(reviewer=expert).count() == 1  # still usable
    assert not ReviewSlot.objects.get(pk=sibling.pk).done


@pytest.mark.django_db
def test_a_review_of_a_slot_claimed_without_progress_creates_the_reviewers_progress(
    campaign, personas
):
    expert = personas["expert"]
    slot = ReviewSlot.objects.filter(campaign=campaign).order_by("position").first()
    until = timezone.now() + datetime.timedelta(minutes=5)
    ReviewSlot.objects.filter(pk=slot.pk).update(claimed_by=expert, claimed_until=until)
    slot.refresh_from_db()
    reviewing.submit_review(slot, reviewer=expert, verdict="correct", seconds_spent=4)
    row = ReviewerProgress.objects.get(campaign=campaign, reviewer=expert)
    assert (row.reviewed, row.seconds) == (1, 4.0)


@pytest.mark.django_db
def test_the_review_returned_is_the_one_stored(campaign, personas):
    campaign.reason_tags = ["stale data"]
    ReviewCampaign.objects.filter(pk=campaign.pk).update(reason_tags=["stale data"])
    expert = personas["expert"]
    slot = reviewing.claim_next(campaign, reviewer=expert)
    review = reviewing.submit_review(
        slot,
        reviewer=expert,
        verdict="unsure",
        reason_tags=["stale data"],
        comment="Odd.",
        seconds_spent=2.5,
    )
    stored = Review.objects.get(pk=review.pk)
    fields = ["campaign_id", "item_id", "slot_id", "reviewer_id", "verdict", "preference"]
    fields += ["preferred_version_id", "corrected_value", "reason_tags", "comment"]
    fields += ["seconds_spent"]
    assert [getattr(review, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert abs(review.created_at - stored.created_at) < datetime.timedelta(milliseconds=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_claim", [True, False])  # the general path, the one statement
def test_a_claim_inside_a_callers_transaction_keeps_its_commit_durable(
    campaign, personas, first_claim
):
    """A claim alone commits without waiting for the WAL flush (a lease); inside a caller's
    transaction it must not turn that off for the caller's other writes."""
    expert = personas["expert"]
    if not first_claim:
        reviewing.release_claim(reviewing.claim_next(campaign, reviewer=expert), reviewer=expert)
    with transaction.atomic(), connection.cursor() as cursor:
        assert reviewing.claim_next(campaign, reviewer=expert) is not None
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
