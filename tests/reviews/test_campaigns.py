"""Review campaigns: every sampling strategy, the pairwise layout, validation, closing, and
the campaign endpoints' permissions."""

import datetime
import random
from collections import Counter

import pytest

from portal.errors import DomainError, InvalidInput
from predictions.models import Prediction
from predictions.services import ingest
from predictions.tasks import recompute_confidences_task
from reviews.models import ReviewCampaign, ReviewItem, ReviewSlot
from reviews.services import campaigns, sampling
from tests.factories import T0, log_predictions, make_version
from usecases.models import AuditEvent
from usecases.services import usecases

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(use_case, personas):
    by = personas["owner"]
    return make_version(use_case, "1.0", by), make_version(use_case, "2.0", by)


@pytest.fixture
def v1(versions):
    return versions[0]


@pytest.fixture
def v2(versions):
    return versions[1]


def create(use_case, personas, **options):
    defaults = {"name": "Check", "sample_size": 10}
    return campaigns.create_campaign(use_case, by=personas["expert"], **{**defaults, **options})


def sampled(campaign) -> list[Prediction]:
    return [item.prediction for item in campaign.items.select_related("prediction")]


class FixedStart(random.Random):
    """SystemRandom stand-in whose first random() is `start` (where the index walk begins)."""

    def __init__(self, start):
        super().__init__(7)
        self.starts = [start]

    def random(self):
        return self.starts.pop() if self.starts else super().random()


# Uniform


def test_uniform_sample_has_the_size_asked_and_distinct_predictions_of_the_version(
    use_case, personas, v1, v2
):
    log_predictions(v1, 200)
    log_predictions(v2, 200, first=1000)
    campaign = create(use_case, personas, model_version=v1, sample_size=50, reviewers_per_item=3)
    picked = sampled(campaign)
    assert campaign.item_count == 50 == len({p.pk for p in picked})
    assert {p.model_version_id for p in picked} == {v1.pk}
    assert sorted(campaign.items.values_list("position", flat=True)) == list(range(50))
    slots = campaign.slots.order_by("position")
    assert [s.position for s in slots] == list(range(150))
    assert Counter(s.item_id for s in slots) == {item.pk: 3 for item in campaign.items.all()}


def test_uniform_positions_are_shuffled_not_in_random_key_order(use_case, personas, v1):
    log_predictions(v1, 300)
    campaign = create(use_case, personas, model_version=v1, sample_size=100)
    keys = [
        item.prediction.random_key
        for item in campaign.items.select_related("prediction").order_by("position")
    ]
    assert keys != sorted(keys)


def test_uniform_sample_wraps_around_the_end_of_the_random_key_index(
    use_case, personas, v1, monkeypatch
):
    rows = log_predictions(v1, 100)
    monkeypatch.setattr(campaigns.random, "SystemRandom", lambda: FixedStart(0.999999))
    campaign = create(use_case, personas, model_version=v1, sample_size=10)
    # 10 drawn from the run of RUN_FACTOR × 10 keys that follows the start, wrapping around.
    run = sorted(rows, key=lambda p: p.random_key)[: sampling.RUN_FACTOR * 10]
    picked = {p.pk for p in sampled(campaign)}
    assert len(picked) == 10 and picked <= {p.pk for p in run}


def test_uniform_sample_covers_the_whole_range_over_many_campaigns(use_case, personas, v1):
    log_predictions(v1, 400)
    seen = Counter()
    for n in range(20):
        campaign = create(use_case, personas, name=f"c{n}", model_version=v1, sample_size=20)
        seen.update(int(p.request_id[1:]) // 100 for p in sampled(campaign))
    assert set(seen) == {0, 1, 2, 3}  # every quarter of the rows gets sampled
    assert max(seen.values()) < 2.2 * min(seen.values())


def test_a_sample_larger_than_the_version_holds_is_refused_with_the_count(use_case, personas, v1):
    log_predictions(v1, 7)
    with pytest.raises(InvalidInput) as refused:
        create(use_case, personas, model_version=v1, sample_size=50)
    assert refused.value.field == "sample_size"
    assert refused.value.message == "Version 1.0 has 7 logged predictions: choose at most 7."
    assert not ReviewCampaign.objects.exists()
    assert create(use_case, personas, model_version=v1, sample_size=7).item_count == 7


def test_time_window_limits_the_sample(use_case, personas, v1):
    log_predictions(v1, 100)  # one per hour from T0
    start, end = T0 + datetime.timedelta(hours=10), T0 + datetime.timedelta(hours=30)
    campaign = create(
        use_case, personas, model_version=v1, sample_size=20, window_start=start, window_end=end
    )
    assert campaign.item_count == 20
    assert all(start <= p.predicted_at < end for p in sampled(campaign))


def test_empty_window_is_a_clear_error(use_case, personas, v1):
    log_predictions(v1, 10)
    with pytest.raises(InvalidInput, match="no predictions in this time window"):
        create(use_case, personas, model_version=v1, window_start=T0 + datetime.timedelta(days=9))


def test_version_without_predictions_is_a_clear_error(use_case, personas, v1):
    with pytest.raises(InvalidInput, match="(?i)version 1.0 has no predictions"):
        create(use_case, personas, model_version=v1)


# Stratified


def test_stratified_sample_is_proportional_per_segment(use_case, personas, v1):
    log_predictions(v1, 1000, segments={"north": 600, "south": 300, "east": 100})
    campaign = create(use_case, personas, model_version=v1, strategy="stratified", sample_size=100)
    assert Counter(p.segment for p in sampled(campaign)) == {"north": 60, "south": 30, "east": 10}


def test_stratified_sample_takes_at_least_one_from_a_tiny_segment(use_case, personas, v1):
    log_predictions(v1, 1002, segments={"big": 1000, "tiny": 2})
    campaign = create(use_case, personas, model_version=v1, strategy="stratified", sample_size=20)
    counts = Counter(p.segment for p in sampled(campaign))
    assert counts == {"big": 19, "tiny": 1}


def test_stratified_estimates_shares_from_a_slice_and_still_finds_rare_segments(
    use_case, personas, v1, monkeypatch
):
    monkeypatch.setattr(sampling, "STRATA_PROBE", 300)
    log_predictions(v1, 2001, segments={"a": 1500, "b": 500, "rare": 1})
    campaign = create(use_case, personas, model_version=v1, strategy="stratified", sample_size=40)
    counts = Counter(p.segment for p in sampled(campaign))
    assert sum(counts.values()) == 40
    assert counts["rare"] == 1
    assert 24 <= counts["a"] <= 34  # about 3 : 1 from a 300-row slice


def test_more_segments_than_items_is_a_clear_error(use_case, personas, v1):
    log_predictions(v1, 30, segments={f"s{n}": 3 for n in range(10)})
    with pytest.raises(InvalidInput, match="10 segments"):
        create(use_case, personas, model_version=v1, strategy="stratified", sample_size=5)


# Lowest confidence, largest error


def test_lowest_confidence_takes_the_least_confident_predictions(use_case, personas, v1):
    rows = log_predictions(v1, 200)
    campaign = create(
        use_case, personas, model_version=v1, strategy="lowest_confidence", sample_size=15
    )
    lowest = sorted(rows, key=lambda p: p.confidence)[:15]
    assert {p.pk for p in sampled(campaign)} == {p.pk for p in lowest}


def test_lowest_confidence_takes_the_scores_nearest_the_decision_threshold(
    use_case, personas, v1, django_capture_on_commit_callbacks, monkeypatch
):
    """Threshold 0.3 (the churn case): the cases near 0.3 are the uncertain ones, not those
    near 0.5. Logged through the service, then the threshold moved and the log recomputed."""
    use_case.task_type, use_case.decision_threshold = "binary", 0.3
    use_case.save()
    task = recompute_confidences_task
    monkeypatch.setattr(task, "delay", lambda use_case_id: task.apply(args=[use_case_id]))
    scores = [0.05, 0.28, 0.31, 0.33, 0.5, 0.52, 0.9, 0.26, 0.7, 0.49]
    rows = [
        {
            "version": v1.version,
            "request_id": f"q{i}",
            "timestamp": "2026-03-31T14:05:00Z",
            "features": {"store": "S1", "price": 2.0},
            "score": score,
        }
        for i, score in enumerate(scores)
    ]
    ingest.log_predictions(use_case, by=personas["data_scientist"], rows=rows)
    campaign = create(
        use_case, personas, model_version=v1, strategy="lowest_confidence", sample_size=4
    )
    assert sorted(p.score for p in sampled(campaign)) == [0.26, 0.28, 0.31, 0.33]

    with django_capture_on_commit_callbacks(execute=True):  # the worker runs the task here
        usecases.update_use_case(use_case, by=personas["owner"], decision_threshold=0.5)
    campaign = create(
        use_case, personas, model_version=v1, strategy="lowest_confidence", sample_size=3
    )
    assert sorted(p.score for p in sampled(campaign)) == [0.49, 0.5, 0.52]


def test_lowest_confidence_without_confidences_is_a_clear_error(use_case, personas, v1):
    log_predictions(v1, 20, confidence=False)
    with pytest.raises(InvalidInput, match="no confidence"):
        create(use_case, personas, model_version=v1, strategy="lowest_confidence")


def test_largest_error_takes_the_largest_errors_among_predictions_with_outcomes(
    use_case, personas, v1
):
    errors = [None if n % 3 == 0 else (n * 37 % 101) / 100 for n in range(150)]
    rows = log_predictions(v1, 150, errors=errors)
    campaign = create(use_case, personas, model_version=v1, strategy="largest_error")
    largest = sorted((p for p in rows if p.error is not None), key=lambda p: -p.error)[:10]
    assert sorted(p.error for p in sampled(campaign)) == sorted(p.error for p in largest)


def test_largest_error_without_outcomes_is_a_clear_error(use_case, personas, v1):
    log_predictions(v1, 20)
    with pytest.raises(InvalidInput, match="(?i)no outcomes are known"):
        create(use_case, personas, model_version=v1, strategy="largest_error")


# Disagreement and pairwise


def test_disagreement_picks_the_requests_where_the_versions_disagree_most(
    use_case, personas, v1, v2
):
    use_case.task_type = "binary"  # scores are what two classifiers disagree on
    use_case.save(update_fields=["task_type"])
    scores = [0.1 + 0.8 * n / 300 for n in range(300)]
    log_predictions(v1, 300, scores=scores)
    other = [s + (0.5 if n % 30 == 0 else 0.01) for n, s in enumerate(scores)]
    log_predictions(v2, 300, scores=[min(s, 0.999) for s in other])
    campaign = create(
        use_case, personas, model_version=v2, other_version=v1, strategy="disagreement"
    )
    items = campaign.items.select_related("prediction", "other_prediction")
    assert {item.prediction.request_id for item in items} == {f"r{n}" for n in range(0, 300, 30)}
    for item in items:
        assert item.other_prediction.model_version_id == v1.pk
        assert item.other_prediction.request_id == item.prediction.request_id


def test_disagreement_needs_the_other_version(use_case, personas, v1):
    log_predictions(v1, 20)
    with pytest.raises(InvalidInput, match="(?i)disagreement sampling needs"):
        create(use_case, personas, model_version=v1, strategy="disagreement")


def test_pairwise_items_pair_the_same_request_of_both_versions_in_a_stored_random_order(
    use_case, personas, v1, v2
):
    log_predictions(v1, 300)
    log_predictions(v2, 300, first=150)  # requests r150…r299 in common
    campaign = create(
        use_case, personas, model_version=v2, other_version=v1, mode="pairwise", sample_size=150
    )
    assert campaign.item_count == 150
    items = list(campaign.items.select_related("prediction", "other_prediction"))
    for item in items:
        assert item.prediction.model_version_id == v2.pk
        assert item.other_prediction.model_version_id == v1.pk
        assert item.prediction.request_id == item.other_prediction.request_id
    shown_first = Counter(item.other_shown_first for item in items)
    assert shown_first[True] > 40 and shown_first[False] > 40


@pytest.mark.parametrize("strategy", ["stratified", "lowest_confidence", "largest_error"])
def test_pairwise_works_with_every_strategy(use_case, personas, v1, v2, strategy):
    log_predictions(v1, 60, errors=[0.5] * 60)
    log_predictions(v2, 60, first=30, errors=[0.1 * (n % 9) for n in range(60)])
    campaign = create(
        use_case,
        personas,
        model_version=v2,
        other_version=v1,
        mode="pairwise",
        strategy=strategy,
        sample_size=12,
    )
    assert campaign.item_count == 12
    assert all(item.other_prediction_id for item in campaign.items.all())


def test_pairwise_needs_two_versions_with_requests_in_common(use_case, personas, v1, v2):
    log_predictions(v1, 10)
    log_predictions(v2, 10, first=100)
    with pytest.raises(InvalidInput, match="(?i)blind pairwise review compares two versions"):
        create(use_case, personas, model_version=v2, mode="pairwise")
    with pytest.raises(InvalidInput, match="no request in common"):
        create(use_case, personas, model_version=v2, other_version=v1, mode="pairwise")


# Validation, audit, closing


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample_size": 0}, "sample_size"),
        ({"sample_size": 10_001}, "sample_size"),
        ({"reviewers_per_item": 6}, "reviewers_per_item"),
        ({"strategy": "whatever"}, "strategy"),
        ({"mode": "triple"}, "mode"),
        ({"name": " "}, "name"),
        ({"other_version": "1.0"}, "different version"),
        ({"reason_tags": ["ok", ""]}, "reason_tags"),
        ({"window_start": T0, "window_end": T0}, "must end after"),
    ],
)
def test_invalid_campaigns_are_refused_with_a_clear_message(
    use_case, personas, v1, options, message
):
    log_predictions(v1, 10)
    options = {"model_version": "1.0", **options}
    for field in ("model_version", "other_version"):  # the service takes versions, not names
        if field in options:
            options[field] = use_case.versions.get(version=options[field])
    with pytest.raises(InvalidInput, match=message):
        create(use_case, personas, **options)
    assert not ReviewCampaign.objects.exists()


def test_version_of_another_use_case_is_refused(use_case, personas, v1):
    from tests.factories import UseCaseFactory

    elsewhere = make_version(UseCaseFactory(), "1.0", personas["owner"])
    log_predictions(elsewhere, 10)
    with pytest.raises(InvalidInput, match="another use case"):
        create(use_case, personas, model_version=elsewhere)
    with pytest.raises(InvalidInput, match="another use case") as refused:
        create(use_case, personas, model_version=v1, other_version=elsewhere, mode="pairwise")
    assert refused.value.field == "other_version"
    assert not ReviewCampaign.objects.exists()


def test_create_and_close_are_audited_and_closing_twice_is_refused(use_case, personas, v1):
    log_predictions(v1, 10)
    campaign = create(use_case, personas, model_version=v1, reason_tags=["unit", "unit", "late"])
    assert campaign.reason_tags == ["unit", "late"]
    campaigns.close_campaign(campaign, by=personas["owner"])
    campaign.refresh_from_db()
    assert campaign.status == ReviewCampaign.Status.CLOSED
    verbs = list(AuditEvent.objects.order_by("id").values_list("verb", flat=True))
    assert verbs[-2:] == ["review_campaign.created", "review_campaign.closed"]
    with pytest.raises(DomainError, match="already closed"):
        campaigns.close_campaign(campaign, by=personas["owner"])


# API


URL = "/api/v1/usecases/demand-forecast/review-campaigns/"
BODY = {"name": "April check", "model_version": "1.0", "sample_size": 5, "reason_tags": ["unit"]}


@pytest.fixture
def campaign(use_case, personas, v1):
    log_predictions(v1, 30)
    return create(use_case, personas, model_version=v1, reviewers_per_item=2)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("viewer", 403),
        ("manager", 403),
        ("expert", 201),
        ("data_scientist", 201),
        ("owner", 201),
        ("admin", 201),
    ],
)
def test_who_may_create_a_campaign(api, campaign, who, status):
    response = api(who).post(URL, BODY, format="json")
    assert response.status_code == status, response.content
    if status == 201:
        body = response.json()
        assert body["item_count"] == 5 and body["progress"]["reviews_needed"] == 5


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("viewer", 200),
        ("manager", 200),
        ("expert", 200),
        ("admin", 200),
    ],
)
def test_who_may_list_and_read_campaigns(api, campaign, who, status):
    client = api(who)
    assert client.get(URL).status_code == status
    assert client.get(f"{URL}{campaign.pk}/").status_code == status


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("viewer", 403),
        ("manager", 403),
        ("expert", 200),
        ("data_scientist", 200),
        ("owner", 200),
        ("admin", 200),
    ],
)
def test_who_may_close_a_campaign(api, campaign, who, status):
    response = api(who).post(f"{URL}{campaign.pk}/close")
    assert response.status_code == status
    if status == 200:
        assert response.json()["status"] == "closed"


def test_campaign_detail_shows_progress(api, campaign):
    body = api("viewer").get(f"{URL}{campaign.pk}/").json()
    assert body["progress"] == {
        "items": 10,
        "reviews_needed": 20,
        "reviews_done": 0,
        "percent": 0.0,
        "open_claims": 0,
        "reviewers": [],
    }
    assert body["model_version"] == "1.0" and body["strategy"] == "uniform"


def test_create_with_bad_input_answers_400_with_the_message(api, campaign):
    response = api("expert").post(URL, {**BODY, "strategy": "largest_error"}, format="json")
    assert response.status_code == 400
    assert "no outcomes are known" in response.json()["detail"].lower()
    response = api("expert").post(URL, {**BODY, "sample_size": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "sample_size"


@pytest.mark.parametrize("field", ["model_version", "other_version"])
def test_create_naming_an_unknown_version_answers_400_on_that_field(api, campaign, field):
    response = api("expert").post(URL, {**BODY, field: "9.9"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == f"Invalid input. {field}: This use case has no version “9.9”."
    assert body["errors"] == [{"field": field, "message": "This use case has no version “9.9”."}]
    assert ReviewCampaign.objects.count() == 1  # the fixture's campaign only


def test_unknown_campaign_is_404(api, campaign):
    assert api("expert").get(f"{URL}999999/").status_code == 404


def test_campaign_list_costs_the_same_queries_for_many_campaigns(
    api, campaign, use_case, personas, v1, django_assert_max_num_queries
):
    client = api("expert")
    with django_assert_max_num_queries(20) as few:
        client.get(URL)
    queries = len(few)
    for n in range(6):
        create(use_case, personas, name=f"more {n}", model_version=v1, sample_size=3)
    with django_assert_max_num_queries(queries):
        assert len(client.get(URL).json()["results"]) == 7


def test_items_and_slots_are_all_or_nothing(use_case, personas, v1, monkeypatch):
    log_predictions(v1, 10)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(campaigns.audit, "record", fail)
    with pytest.raises(RuntimeError):
        create(use_case, personas, model_version=v1)
    assert not ReviewCampaign.objects.exists()
    assert not ReviewItem.objects.exists() and not ReviewSlot.objects.exists()


def test_disagreement_is_measured_as_the_task_type_needs():
    cat, dog = {"prediction": "cat", "score": 0.9}, {"prediction": "dog", "score": 0.9}
    unsure_cat = {"prediction": "cat", "score": 0.5}
    assert sampling.disagreement(cat, dog, "multiclass") > sampling.disagreement(
        cat, unsure_cat, "multiclass"
    )
    small, large = {"prediction": 10.0, "score": 0.5}, {"prediction": 500.0, "score": 0.5}
    assert sampling.disagreement(small, large, "regression") == 490.0
    assert sampling.disagreement(
        {"prediction": 1, "score": 0.9}, {"prediction": 1, "score": 0.6}, "binary"
    ) == pytest.approx(0.3)


def test_shares_trim_the_segment_given_most_beyond_its_exact_share():
    shares = sampling._shares({"a": 1, "b": 1, "c": 490, "d": 508}, 10)
    assert shares == {"a": 1, "b": 1, "c": 4, "d": 4} and sum(shares.values()) == 10


def test_a_segment_lifted_to_its_minimum_gets_no_remainder_too():
    """Largest remainder after the minimum of one: c's exact share is 0.86, it has 1 already;
    the last item goes to a or b (9.57 each), not to c."""
    shares = sampling._shares({"a": 100, "b": 100, "c": 9}, 20)
    assert shares["c"] == 1 and sorted([shares["a"], shares["b"]]) == [9, 10]


def test_stratified_sampling_counts_only_segments_with_rows_in_the_window(
    use_case, personas, v1, monkeypatch
):
    import datetime

    from django.utils import timezone

    from predictions.models import Prediction

    rows = log_predictions(v1, 120)
    now = timezone.now()
    old, recent = rows[:100], rows[100:]
    for n, prediction in enumerate(old):  # ten segments that only old predictions have
        Prediction.objects.filter(pk=prediction.pk).update(
            predicted_at=now - datetime.timedelta(days=30), segment=f"old-{n % 10}"
        )
    Prediction.objects.filter(pk__in=[p.pk for p in recent]).update(
        predicted_at=now, segment="recent"
    )
    monkeypatch.setattr(sampling, "STRATA_PROBE", 5)  # as if the window were large
    campaign = create(
        use_case,
        personas,
        model_version=v1,
        strategy="stratified",
        sample_size=4,  # fewer than the version's 11 segments: only 1 is in the window
        window_start=now - datetime.timedelta(days=1),
    )
    assert {p.segment for p in sampled(campaign)} == {"recent"}
