"""The claim queue: quotas, leases and their expiry, skipping, wrap-around, validation of
reviews, progress, the claim and review endpoints, and 20 reviewers at once on PostgreSQL."""

import datetime
import random
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from portal.errors import InvalidInput
from reviews import progress
from reviews.models import Review, ReviewerProgress, ReviewSlot
from reviews.services import campaigns, reviewing
from reviews.services.reviewing import ClaimError
from tests.factories import MemberFactory, UserFactory, log_predictions, make_version
from usecases.models import Role


@pytest.fixture
def v1(use_case, personas):
    return make_version(use_case, "1.0", personas["owner"])


@pytest.fixture
def v2(use_case, personas):
    return make_version(use_case, "2.0", personas["owner"])


def new_campaign(use_case, personas, version, *, items=6, per_item=1, **options):
    return campaigns.create_campaign(
        use_case,
        by=personas["owner"],
        name="Check",
        model_version=version,
        sample_size=items,
        reviewers_per_item=per_item,
        reason_tags=["wrong unit", "stale data"],
        **options,
    )


@pytest.fixture
def campaign(db, use_case, personas, v1):
    log_predictions(v1, 40)
    return new_campaign(use_case, personas, v1, items=6, per_item=2)


@pytest.fixture
def experts(use_case):
    people = [UserFactory(username=f"expert{n}") for n in range(4)]
    for person in people:
        MemberFactory(use_case=use_case, user=person, role=Role.EXPERT)
    return people


def review_all(campaign, reviewer) -> int:
    """Claim and review until nothing is left; how many were reviewed."""
    done = 0
    while (slot := reviewing.claim_next(campaign, reviewer=reviewer)) is not None:
        reviewing.submit_review(slot, reviewer=reviewer, verdict="correct")
        done += 1
    return done


def expire(slot):
    ReviewSlot.objects.filter(pk=slot.pk).update(
        claimed_until=timezone.now() - datetime.timedelta(seconds=1)
    )


# Claims


@pytest.mark.django_db
def test_a_claim_is_returned_again_until_reviewed(campaign, personas):
    expert = personas["expert"]
    first = reviewing.claim_next(campaign, reviewer=expert)
    assert reviewing.claim_next(campaign, reviewer=expert).pk == first.pk
    assert first.claimed_by_id == expert.pk
    lease = first.claimed_until - timezone.now()
    assert datetime.timedelta(minutes=9) < lease <= datetime.timedelta(minutes=10)
    reviewing.submit_review(first, reviewer=expert, verdict="correct")
    assert reviewing.claim_next(campaign, reviewer=expert).pk != first.pk


@pytest.mark.django_db
def test_two_reviewers_hold_different_slots(campaign, personas):
    mine = reviewing.claim_next(campaign, reviewer=personas["expert"])
    theirs = reviewing.claim_next(campaign, reviewer=personas["owner"])
    assert mine.pk != theirs.pk


@pytest.mark.django_db
def test_quota_is_never_exceeded_and_no_reviewer_gets_an_item_twice(
    use_case, personas, v1, experts
):
    log_predictions(v1, 50)
    campaign = new_campaign(use_case, personas, v1, items=20, per_item=3)
    rng = random.Random(3)
    active = list(experts)
    while active:  # interleave the four reviewers at random
        reviewer = rng.choice(active)
        slot = reviewing.claim_next(campaign, reviewer=reviewer)
        if slot is None:
            active.remove(reviewer)
        else:
            reviewing.submit_review(slot, reviewer=reviewer, verdict="unsure")
    reviews = Review.objects.filter(campaign=campaign)
    assert Counter(reviews.values_list("item", flat=True)) == {
        item.pk: 3 for item in campaign.items.all()
    }
    pairs = list(reviews.values_list("item", "reviewer"))
    assert len(pairs) == len(set(pairs)) == 60


@pytest.mark.django_db
def test_a_lone_reviewer_reviews_each_item_once_and_leaves_the_other_slots(campaign, personas):
    assert review_all(campaign, personas["expert"]) == 6
    assert review_all(campaign, personas["owner"]) == 6
    assert review_all(campaign, personas["admin"]) == 0
    assert not ReviewSlot.objects.filter(campaign=campaign, done=False).exists()


@pytest.mark.django_db
def test_an_expired_claim_goes_to_another_reviewer_and_the_late_review_is_refused(
    campaign, personas
):
    expert, owner = personas["expert"], personas["owner"]
    slot = reviewing.claim_next(campaign, reviewer=expert)
    expire(slot)
    taken = reviewing.claim_next(campaign, reviewer=owner)
    assert taken.pk == slot.pk and taken.claimed_by_id == owner.pk
    with pytest.raises(ClaimError, match="not claimed by you"):
        reviewing.submit_review(slot, reviewer=expert, verdict="correct")
    reviewing.submit_review(taken, reviewer=owner, verdict="correct")
    assert reviewing.claim_next(campaign, reviewer=expert).pk != slot.pk


@pytest.mark.django_db
def test_a_review_after_the_lease_counts_if_nobody_took_the_item_meanwhile(campaign, personas):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    expire(slot)
    reviewing.submit_review(slot, reviewer=personas["expert"], verdict="correct")
    assert Review.objects.get().slot_id == slot.pk


@pytest.mark.django_db
def test_a_review_after_the_lease_is_refused_once_someone_else_took_the_item(campaign, personas):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    expire(slot)
    Review.objects.all().delete()
    other = reviewing.claim_next(campaign, reviewer=personas["owner"])
    assert other.pk == slot.pk  # the expired claim went to the next reviewer
    with pytest.raises(ClaimError, match="expired"):
        reviewing.submit_review(slot, reviewer=personas["expert"], verdict="correct")
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_skipped_item_goes_to_others_and_comes_back_after_wrapping_around(use_case, personas, v1):
    log_predictions(v1, 10)
    campaign = new_campaign(use_case, personas, v1, items=3)
    expert, owner = personas["expert"], personas["owner"]
    skipped = reviewing.claim_next(campaign, reviewer=expert)
    reviewing.release_claim(skipped, reviewer=expert)
    assert reviewing.claim_next(campaign, reviewer=owner).pk == skipped.pk  # free again
    reviewing.release_claim(skipped, reviewer=owner)
    seen = []
    while (slot := reviewing.claim_next(campaign, reviewer=expert)) is not None:
        seen.append(slot.pk)
        reviewing.submit_review(slot, reviewer=expert, verdict="incorrect")
    assert len(seen) == 3 and seen[-1] == skipped.pk  # last: after the wrap-around


@pytest.mark.django_db
def test_releasing_someone_elses_claim_is_refused(campaign, personas):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    with pytest.raises(ClaimError, match="not claimed by you"):
        reviewing.release_claim(slot, reviewer=personas["owner"])


@pytest.mark.django_db
def test_closed_campaign_hands_out_nothing_and_takes_no_reviews(campaign, personas):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    campaigns.close_campaign(campaign, by=personas["owner"])
    with pytest.raises(ClaimError, match="closed"):
        reviewing.claim_next(campaign, reviewer=personas["owner"])
    with pytest.raises(ClaimError, match="closed"):
        reviewing.submit_review(slot, reviewer=personas["expert"], verdict="correct")


# Reviews


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({}, "verdict"),
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "correct", "preference": "a"}, "preference"),
        ({"verdict": "correct", "reason_tags": ["typo"]}, "not one of this campaign's tags"),
        ({"verdict": "correct", "seconds_spent": -1}, "seconds_spent"),
    ],
)
def test_invalid_reviews_are_refused(campaign, personas, answer, message):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    with pytest.raises(InvalidInput, match=message):
        reviewing.submit_review(slot, reviewer=personas["expert"], **answer)
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_a_review_marks_the_slot_done_and_counts_in_progress(campaign, personas):
    expert = personas["expert"]
    slot = reviewing.claim_next(campaign, reviewer=expert)
    review = reviewing.submit_review(
        slot,
        reviewer=expert,
        verdict="incorrect",
        corrected_value=12,
        reason_tags=["stale data"],
        comment="Price was from last week.",
        seconds_spent=7.5,
    )
    assert (review.item_id, review.corrected_value, review.reason_tags) == (
        slot.item_id,
        12,
        ["stale data"],
    )
    slot.refresh_from_db()
    assert slot.done
    row = ReviewerProgress.objects.get(campaign=campaign, reviewer=expert)
    assert (row.reviewed, row.seconds, row.claimed_slot_id) == (1, 7.5, None)
    with pytest.raises(ClaimError, match="already reviewed"):
        reviewing.submit_review(slot, reviewer=expert, verdict="correct")


@pytest.mark.django_db
def test_pairwise_preference_is_resolved_to_the_version_shown(use_case, personas, v1, v2):
    log_predictions(v1, 30)
    log_predictions(v2, 30)
    campaign = new_campaign(
        use_case, personas, v2, items=30, other_version=v1, mode="pairwise", per_item=3
    )
    picks = {"expert": "a", "owner": "b", "admin": "equal"}
    for who, pick in picks.items():
        while (slot := reviewing.claim_next(campaign, reviewer=personas[who])) is not None:
            reviewing.submit_review(slot, reviewer=personas[who], preference=pick)
    for review in Review.objects.select_related("item", "reviewer"):
        pick, other_first = review.preference, review.item.other_shown_first
        if pick == "equal":
            assert review.preferred_version_id is None
        elif (pick == "a") == other_first:
            assert review.preferred_version_id == v1.pk  # the other version was shown there
        else:
            assert review.preferred_version_id == v2.pk
    assert Review.objects.filter(preferred_version=v1).exists()
    assert Review.objects.filter(preferred_version=v2).exists()


@pytest.mark.django_db
def test_pairwise_review_needs_a_preference_not_a_verdict(use_case, personas, v1, v2):
    log_predictions(v1, 5)
    log_predictions(v2, 5)
    campaign = new_campaign(use_case, personas, v2, items=5, other_version=v1, mode="pairwise")
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    with pytest.raises(InvalidInput, match="preference"):
        reviewing.submit_review(slot, reviewer=personas["expert"], verdict="correct")


# Progress


@pytest.mark.django_db
def test_campaign_progress_counts_reviews_seconds_and_open_claims(campaign, personas):
    expert, owner = personas["expert"], personas["owner"]
    for _ in range(2):
        slot = reviewing.claim_next(campaign, reviewer=expert)
        reviewing.submit_review(slot, reviewer=expert, verdict="correct", seconds_spent=4)
    reviewing.claim_next(campaign, reviewer=owner)
    state = progress.campaign_progress(campaign)
    assert (state["items"], state["reviews_needed"], state["reviews_done"]) == (6, 12, 2)
    assert state["percent"] == 16.7 and state["open_claims"] == 1
    by_name = {row["username"]: row for row in state["reviewers"]}
    assert by_name["erik"] | {"name": None} == {
        "reviewer_id": expert.pk,
        "username": "erik",
        "name": None,
        "reviewed": 2,
        "seconds": 8.0,
        "open_claims": 0,
    }
    assert (by_name["olivia"]["reviewed"], by_name["olivia"]["open_claims"]) == (0, 1)


@pytest.mark.django_db
def test_campaign_progress_costs_one_query_however_many_reviewers(
    campaign, personas, experts, django_assert_num_queries
):
    for person in [*experts, personas["expert"]]:
        reviewing.claim_next(campaign, reviewer=person)
    with django_assert_num_queries(1):
        assert len(progress.campaign_progress(campaign)["reviewers"]) == 5


@pytest.mark.django_db
def test_open_campaigns_are_those_the_user_may_review_with_work_left(
    use_case, personas, v1, django_assert_num_queries
):
    log_predictions(v1, 20)
    active = new_campaign(use_case, personas, v1, items=2)
    finished = new_campaign(use_case, personas, v1, items=1)
    review_all(finished, personas["owner"])
    closed = new_campaign(use_case, personas, v1, items=2)
    campaigns.close_campaign(closed, by=personas["owner"])
    expert = personas["expert"]
    with django_assert_num_queries(2):  # the user's global groups (cached), the campaigns
        assert [c.pk for c in progress.open_campaigns_for(expert)] == [active.pk]
    assert list(progress.open_campaigns_for(personas["data_scientist"])) == []  # no REVIEW
    assert list(progress.open_campaigns_for(personas["outsider"])) == []
    assert [c.pk for c in progress.open_campaigns_for(personas["admin"])] == [active.pk]
    review_all(active, expert)  # two items, one review each: done for everyone
    assert list(progress.open_campaigns_for(personas["owner"])) == []


# API


URL = "/api/v1/usecases/demand-forecast/review-campaigns"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("viewer", 403),
        ("data_scientist", 403),
        ("manager", 403),
        ("expert", 200),
        ("owner", 200),
        ("admin", 200),
    ],
)
def test_who_may_claim_and_review(api, campaign, personas, who, status):
    client = api(who)
    claim = client.post(f"{URL}/{campaign.pk}/claim")
    assert claim.status_code == status
    if status != 200:
        slot = ReviewSlot.objects.filter(campaign=campaign).first()
        body = {"slot": slot.pk, "verdict": "correct"}
        review = client.post(f"{URL}/{campaign.pk}/reviews", body, format="json")
        assert review.status_code == status
        return
    item = claim.json()
    assert set(item) >= {"slot", "features", "prediction", "outcome", "request_id"}
    assert set(item["prediction"]) == {"prediction", "label", "score", "confidence"}
    body = {"slot": item["slot"], "verdict": "incorrect", "reason_tags": ["wrong unit"]}
    review = client.post(f"{URL}/{campaign.pk}/reviews", body, format="json")
    assert review.status_code == 201
    assert review.json()["verdict"] == "incorrect"


@pytest.mark.django_db
def test_claim_answers_204_when_nothing_is_left(api, campaign, personas):
    client = api("expert")
    for _ in range(6):
        slot = client.post(f"{URL}/{campaign.pk}/claim").json()["slot"]
        body = {"slot": slot, "verdict": "correct"}
        assert client.post(f"{URL}/{campaign.pk}/reviews", body, format="json").status_code == 201
    assert client.post(f"{URL}/{campaign.pk}/claim").status_code == 204


@pytest.mark.django_db
def test_pairwise_claim_shows_a_and_b_in_the_stored_order_without_versions(
    api, use_case, personas, v1, v2
):
    log_predictions(v1, 10, seed=1)
    log_predictions(v2, 10, seed=2)
    campaign = new_campaign(use_case, personas, v2, items=10, other_version=v1, mode="pairwise")
    client = api("expert")
    item = client.post(f"{URL}/{campaign.pk}/claim").json()
    assert "prediction" not in item

    def strings(value):  # every key and text value of the answer, however nested
        if isinstance(value, dict):
            for key, inner in value.items():
                yield str(key)
                yield from strings(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from strings(inner)
        elif isinstance(value, str):
            yield value

    shown = list(strings(item))
    assert not any("version" in text for text in shown)
    assert not {v1.version, v2.version} & set(shown)
    stored = ReviewSlot.objects.select_related("item__prediction", "item__other_prediction").get(
        pk=item["slot"]
    )
    mine, other = stored.item.prediction, stored.item.other_prediction
    a, b = (other, mine) if stored.item.other_shown_first else (mine, other)
    assert (item["a"]["score"], item["b"]["score"]) == (a.score, b.score)
    review = client.post(
        f"{URL}/{campaign.pk}/reviews", {"slot": item["slot"], "preference": "a"}, format="json"
    )
    assert review.status_code == 201 and "preferred_version" not in review.json()


@pytest.mark.django_db
def test_review_of_an_unclaimed_or_expired_slot_is_409(api, campaign, personas):
    client = api("expert")
    item = client.post(f"{URL}/{campaign.pk}/claim").json()
    other = ReviewSlot.objects.filter(campaign=campaign).exclude(pk=item["slot"]).first()
    response = client.post(
        f"{URL}/{campaign.pk}/reviews", {"slot": other.pk, "verdict": "correct"}, format="json"
    )
    assert response.status_code == 409 and "not claimed by you" in response.json()["detail"]
    expire(ReviewSlot(pk=item["slot"]))
    assert reviewing.claim_next(campaign, reviewer=personas["owner"]).pk == item["slot"]
    response = client.post(
        f"{URL}/{campaign.pk}/reviews", {"slot": item["slot"], "verdict": "correct"}, format="json"
    )
    assert response.status_code == 409 and "expired" in response.json()["detail"]


@pytest.mark.django_db
def test_release_puts_the_item_back(api, campaign, personas):
    client = api("expert")
    item = client.post(f"{URL}/{campaign.pk}/claim").json()
    response = client.post(f"{URL}/{campaign.pk}/release", {"slot": item["slot"]}, format="json")
    assert response.status_code == 204
    assert ReviewSlot.objects.get(pk=item["slot"]).claimed_by_id is None


@pytest.mark.django_db
def test_claim_then_review_costs_the_same_queries_late_in_a_campaign(
    api, use_case, personas, v1, django_assert_max_num_queries
):
    log_predictions(v1, 200)
    campaign = new_campaign(use_case, personas, v1, items=100, per_item=1)
    client = api("expert")

    def one_round():
        item = client.post(f"{URL}/{campaign.pk}/claim").json()
        body = {"slot": item["slot"], "verdict": "correct"}
        assert client.post(f"{URL}/{campaign.pk}/reviews", body, format="json").status_code == 201

    with django_assert_max_num_queries(40) as first:
        one_round()
    early = len(first)
    for _ in range(90):
        one_round()
    with django_assert_max_num_queries(early):
        one_round()


# Concurrency (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_reviewers_at_once_never_exceed_a_quota_and_lose_no_review(use_case, personas):
    v1 = make_version(use_case, "1.0", personas["owner"])
    log_predictions(v1, 300)
    campaign = new_campaign(use_case, personas, v1, items=60, per_item=3)
    reviewers = [UserFactory(username=f"reviewer{n:02d}") for n in range(20)]
    start = threading.Barrier(len(reviewers))
    submitted: dict[int, list[int]] = {}
    failures: list[BaseException] = []

    def work(reviewer, seed):
        rng = random.Random(seed)
        mine = submitted.setdefault(reviewer.pk, [])
        try:
            start.wait()
            while (slot := reviewing.claim_next(campaign, reviewer=reviewer)) is not None:
                if rng.random() < 0.1:  # now and then skip an item
                    reviewing.release_claim(slot, reviewer=reviewer)
                    continue
                review = reviewing.submit_review(slot, reviewer=reviewer, verdict="correct")
                mine.append(review.pk)
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=work, args=(r, n)) for n, r in enumerate(reviewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    reviews = Review.objects.filter(campaign=campaign)
    per_item = Counter(reviews.values_list("item", flat=True))
    assert per_item == {item.pk: 3 for item in campaign.items.all()}  # quota, and all done
    pairs = list(reviews.values_list("item", "reviewer"))
    assert len(pairs) == len(set(pairs))  # nobody reviewed an item twice
    returned = sorted(pk for pks in submitted.values() for pk in pks)
    assert returned == sorted(reviews.values_list("pk", flat=True))  # no review lost
    counted = {row.reviewer_id: row.reviewed for row in ReviewerProgress.objects.all()}
    assert counted == {pk: len(pks) for pk, pks in submitted.items() if pks or pk in counted}


@pytest.mark.django_db
def test_a_skipped_item_needing_two_reviews_does_not_come_straight_back(use_case, personas, v1):
    log_predictions(v1, 10)
    campaign = new_campaign(use_case, personas, v1, items=5, per_item=2)
    expert = personas["expert"]
    skipped = reviewing.claim_next(campaign, reviewer=expert)
    reviewing.release_claim(skipped, reviewer=expert)
    following = reviewing.claim_next(campaign, reviewer=expert)
    assert following.item_id != skipped.item_id


def test_a_claimed_binary_item_names_its_class(api, use_case, personas):
    from reviews.services import campaigns
    from tests.factories import log_predictions, make_version

    use_case.task_type, use_case.decision_threshold = "binary", 0.3
    use_case.positive_label, use_case.negative_label = "will churn", "stays"
    use_case.save()
    version = make_version(use_case, "3.0", personas["data_scientist"])
    log_predictions(version, 2, scores=[0.428, 0.1])
    campaign = campaigns.create_campaign(
        use_case, by=personas["data_scientist"], name="Churn", model_version=version, sample_size=2
    )
    client = api("expert")
    labels = set()
    for _ in range(2):
        item = client.post(f"{URL}/{campaign.pk}/claim", format="json").json()
        labels.add((item["prediction"]["prediction"], item["prediction"]["label"]))
        reviewed = {"slot": item["slot"], "verdict": "correct"}
        assert (
            client.post(f"{URL}/{campaign.pk}/reviews", reviewed, format="json").status_code == 201
        )
    assert labels == {(1, "will churn"), (0, "stays")}
