"""Campaign results, the experts' feedback on a version, the corrections export and their API
endpoints. Campaigns, items, slots and reviews are built directly with the ORM."""

import csv
import io
import json
import random

import krippendorff
import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from predictions.models import Prediction
from registry.models import ModelVersion
from reviews import charts, selectors, stats
from reviews.models import Review, ReviewCampaign, ReviewItem, ReviewSlot
from tests.conftest import login
from tests.factories import UseCaseFactory, UserFactory

CORRECT, INCORRECT, UNSURE = "correct", "incorrect", "unsure"


# Building campaigns ------------------------------------------------------------------------


def make_version(use_case, name: str) -> ModelVersion:
    return ModelVersion.objects.create(
        use_case=use_case, version=name, registered_by=use_case.owner
    )


def make_predictions(use_case, version, segments, *, prefix="req") -> list[Prediction]:
    now = timezone.now()
    return Prediction.objects.bulk_create(
        Prediction(
            use_case=use_case,
            model_version=version,
            request_id=f"{prefix}-{i}",
            predicted_at=now,
            features={"store": f"s{i}", "price": 1.5 + i},
            prediction=10 + i,
            score=0.5,
            segment=segment,
            random_key=random.random(),
            outcome=12 + i,
        )
        for i, segment in enumerate(segments)
    )


def make_campaign(use_case, version, *, other=None, reviewers_per_item=1, tags=()):
    return ReviewCampaign.objects.create(
        use_case=use_case,
        name="Spring check",
        model_version=version,
        other_version=other,
        mode=ReviewCampaign.Mode.PAIRWISE if other else ReviewCampaign.Mode.SINGLE,
        sample_size=100,
        reviewers_per_item=reviewers_per_item,
        reason_tags=list(tags),
        created_by=use_case.owner,
    )


def make_items(campaign, predictions, others=None, shown_first=None) -> list[ReviewItem]:
    items = ReviewItem.objects.bulk_create(
        ReviewItem(
            campaign=campaign,
            position=i,
            prediction=prediction,
            other_prediction=others[i] if others else None,
            other_shown_first=bool(shown_first[i]) if shown_first else False,
        )
        for i, prediction in enumerate(predictions)
    )
    ReviewCampaign.objects.filter(pk=campaign.pk).update(item_count=len(items))
    campaign.item_count = len(items)
    return items


def add_reviews(campaign, reviews: list[tuple]) -> list[Review]:
    """reviews: (item, reviewer, fields) for each review, in the order given."""
    start = ReviewSlot.objects.filter(campaign=campaign).count()
    slots = ReviewSlot.objects.bulk_create(
        ReviewSlot(campaign=campaign, item=item, position=start + i, done=True)
        for i, (item, _, _) in enumerate(reviews)
    )
    created = []
    for slot, (item, reviewer, fields) in zip(slots, reviews, strict=True):
        fields = {"seconds_spent": 4.0, **fields}
        created.append(Review(campaign=campaign, item=item, slot=slot, reviewer=reviewer, **fields))
    return Review.objects.bulk_create(created)


@pytest.fixture
def reviewers(db):
    return [UserFactory(username=f"reviewer{i}", first_name=f"Rev{i}") for i in range(5)]


@pytest.fixture
def version(use_case):
    return make_version(use_case, "2.0.0")


@pytest.fixture
def champion(use_case):
    return make_version(use_case, "1.0.0")


@pytest.fixture
def single_campaign(use_case, version, reviewers):
    """north: 3 correct, 1 incorrect, 1 unsure; south: 1 correct, 3 incorrect; one reviewer
    per item; tags on some reviews."""
    campaign = make_campaign(use_case, version, tags=["wrong unit", "seasonality", "unused"])
    segments = ["north"] * 5 + ["south"] * 4
    items = make_items(campaign, make_predictions(use_case, version, segments))
    verdicts = [CORRECT, CORRECT, CORRECT, INCORRECT, UNSURE, CORRECT, INCORRECT, INCORRECT]
    verdicts.append(INCORRECT)
    tags = [[], [], ["seasonality"], ["wrong unit", "seasonality"], [], [], ["wrong unit"]]
    tags += [["wrong unit", "wrong unit"], ["holiday"]]
    add_reviews(
        campaign,
        [
            (
                item,
                reviewers[i % 2],
                {
                    "verdict": verdict,
                    "reason_tags": tag,
                    "corrected_value": 20 if verdict == INCORRECT else None,
                    "comment": "=1+1 looks off" if i == 3 else "",
                },
            )
            for i, (item, verdict, tag) in enumerate(zip(items, verdicts, tags, strict=True))
        ],
    )
    return campaign


# Results of a single-prediction campaign ---------------------------------------------------


def test_acceptance_leaves_unsure_out_with_a_wilson_interval(single_campaign):
    results = selectors.campaign_results(single_campaign)
    assert results["reviews"] == 9
    assert results["items_reviewed"] == 9
    assert results["verdicts"] == {CORRECT: 4, INCORRECT: 4, UNSURE: 1}
    acceptance = results["acceptance"]
    assert (acceptance["successes"], acceptance["n"], acceptance["rate"]) == (4, 8, 0.5)
    low, high = proportion_confint(4, 8, method="wilson")
    assert (acceptance["low"], acceptance["high"]) == pytest.approx((low, high))
    assert results["pairwise"] is None


def test_acceptance_per_segment(single_campaign):
    segments = {s["segment"]: s for s in selectors.campaign_results(single_campaign)["segments"]}
    assert list(segments) == ["north", "south"]
    north, south = segments["north"], segments["south"]
    assert north["reviews"] == 5 and north["verdicts"] == {CORRECT: 3, INCORRECT: 1, UNSURE: 1}
    assert north["acceptance"]["rate"] == 0.75
    assert (north["acceptance"]["low"], north["acceptance"]["high"]) == pytest.approx(
        proportion_confint(3, 4, method="wilson")
    )
    assert south["acceptance"]["rate"] == 0.25
    assert south["acceptance"]["n"] == 4


def test_reason_tags_in_the_campaigns_order_then_others_each_counted_once_per_review(
    single_campaign,
):
    tags = {t["tag"]: t for t in selectors.campaign_results(single_campaign)["reason_tags"]}
    assert list(tags) == ["wrong unit", "seasonality", "unused", "holiday"]
    # "wrong unit" twice on one review counts once.
    assert tags["wrong unit"]["reviews"] == 3
    assert tags["wrong unit"]["verdicts"] == {CORRECT: 0, INCORRECT: 3, UNSURE: 0}
    assert tags["wrong unit"]["acceptance"]["rate"] == 0.0
    assert tags["seasonality"]["verdicts"] == {CORRECT: 1, INCORRECT: 1, UNSURE: 0}
    assert tags["seasonality"]["acceptance"]["rate"] == 0.5
    assert tags["unused"]["reviews"] == 0
    assert tags["unused"]["acceptance"] == {
        "successes": 0,
        "n": 0,
        "rate": None,
        "low": None,
        "high": None,
    }


def test_a_campaign_without_reviews_has_empty_results(use_case, version):
    campaign = make_campaign(use_case, version, tags=["wrong unit"])
    results = selectors.campaign_results(campaign)
    assert results["reviews"] == 0
    assert results["acceptance"]["rate"] is None
    assert results["segments"] == []
    undefined = {"value": None, "band": None}
    assert results["agreement"] == {
        "method": None,
        "value": None,
        "labels": "verdict",
        "items": 0,
        "reviews": 0,
        "krippendorff_alpha": undefined,
        "fleiss_kappa": {**undefined, "items": 0, "raters": None},
        "pairs": [],
        "pairs_with_fewer_items": 0,
        "min_shared_items": 20,
    }
    assert charts.campaign_figures(results) == {
        "acceptance": None,
        "tags": None,
        "preference": None,
    }


# Agreement ---------------------------------------------------------------------------------


def alpha_of(table: list[list[str | None]], labels: list[str]) -> float:
    """krippendorff's alpha of a units × raters table (None: no label)."""
    codes = {label: float(i) for i, label in enumerate(labels)}
    matrix = np.array([[np.nan if v is None else codes[v] for v in row] for row in table])
    return krippendorff.alpha(reliability_data=matrix.T, level_of_measurement="nominal")


def fleiss_of(units: list[list[str]], labels: list[str]) -> float:
    table, _ = aggregate_raters([[labels.index(v) for v in unit] for unit in units])
    return fleiss_kappa(table, method="fleiss")


def shuffled_submission(campaign, reviews: list[tuple], seed: int) -> dict:
    """The campaign's agreement with `reviews` submitted in a shuffled order (fresh rows)."""
    Review.objects.filter(campaign=campaign).delete()
    ReviewSlot.objects.filter(campaign=campaign).delete()
    order = reviews[:]
    random.Random(seed).shuffle(order)
    add_reviews(campaign, order)
    return selectors.campaign_results(campaign)["agreement"]


@pytest.fixture
def three_reviewers_on_60_items(use_case, version, reviewers):
    """60 items, each reviewed by 2 or 3 of 3 reviewers (rev0, rev1, rev2) whose verdicts
    mostly follow a truth; (campaign, reviews, table of labels per reviewer)."""
    campaign = make_campaign(use_case, version, reviewers_per_item=3)
    rng = np.random.default_rng(11)
    labels = [CORRECT, INCORRECT, UNSURE]
    table = []
    for _ in range(60):
        truth = str(rng.choice(labels, p=[0.6, 0.3, 0.1]))
        row = [truth if rng.random() < 0.8 else str(rng.choice(labels)) for _ in range(3)]
        if rng.random() < 0.25:
            row[int(rng.integers(3))] = None  # one of the three did not review it
        table.append(row)
    items = make_items(campaign, make_predictions(use_case, version, ["x"] * len(table)))
    reviews = [
        (items[i], reviewers[j], {"verdict": verdict})
        for i, row in enumerate(table)
        for j, verdict in enumerate(row)
        if verdict is not None
    ]
    return campaign, reviews, table


def test_agreement_matches_the_reference_libraries_whatever_the_submission_order(
    three_reviewers_on_60_items,
):
    campaign, reviews, table = three_reviewers_on_60_items
    labels = [CORRECT, INCORRECT, UNSURE]
    want_alpha = alpha_of(table, labels)
    complete = [row for row in table if None not in row]
    want_fleiss = fleiss_of(complete, labels)
    want_pairs = {}
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        both = [(row[a], row[b]) for row in table if row[a] is not None and row[b] is not None]
        want_pairs[(f"Rev{a}", f"Rev{b}")] = (
            len(both),
            cohen_kappa_score([x for x, _ in both], [y for _, y in both]),
        )
    answers = [shuffled_submission(campaign, reviews, seed) for seed in range(4)]
    for agreement in answers:
        assert agreement["items"] == 60
        assert agreement["krippendorff_alpha"]["value"] == pytest.approx(want_alpha)
        fleiss = agreement["fleiss_kappa"]
        assert (fleiss["items"], fleiss["raters"]) == (len(complete), 3)
        assert fleiss["value"] == pytest.approx(want_fleiss)
        pairs = {tuple(pair["reviewers"]): pair for pair in agreement["pairs"]}
        assert set(pairs) == set(want_pairs)
        for names, (shared, kappa) in want_pairs.items():
            assert pairs[names]["items"] == shared
            assert pairs[names]["value"] == pytest.approx(kappa)
            assert pairs[names]["band"] == stats.landis_koch(kappa)
    assert all(agreement == answers[0] for agreement in answers)


def test_the_same_verdicts_give_the_same_kappa_whoever_submitted_first(
    use_case, version, reviewers
):
    """Two reviewers, 24 items: the first-review/second-review kappa of before changed with
    the submission order (0.516 or 0.485 on the issue's data); the pair's kappa does not."""
    campaign = make_campaign(use_case, version, reviewers_per_item=2)
    mine = [CORRECT] * 14 + [INCORRECT] * 7 + [UNSURE] * 3
    theirs = [CORRECT] * 11 + [INCORRECT] * 3 + [INCORRECT] * 5 + [CORRECT] * 2 + [UNSURE] * 3
    items = make_items(campaign, make_predictions(use_case, version, ["x"] * 24))
    reviews = [(items[i], reviewers[0], {"verdict": v}) for i, v in enumerate(mine)]
    reviews += [(items[i], reviewers[1], {"verdict": v}) for i, v in enumerate(theirs)]
    kappas = [
        shuffled_submission(campaign, reviews, seed)["pairs"][0]["value"] for seed in range(6)
    ]
    assert kappas == [pytest.approx(cohen_kappa_score(mine, theirs))] * 6
    assert len(set(kappas)) == 1


def test_pairs_sharing_fewer_than_20_items_are_counted_not_measured(use_case, version, reviewers):
    campaign = make_campaign(use_case, version, reviewers_per_item=2)
    items = make_items(campaign, make_predictions(use_case, version, ["x"] * 30))
    reviews = [(item, reviewers[0], {"verdict": CORRECT}) for item in items]
    reviews += [(item, reviewers[1], {"verdict": CORRECT}) for item in items[:21]]
    reviews += [(item, reviewers[2], {"verdict": INCORRECT}) for item in items[21:]]
    add_reviews(campaign, reviews)
    agreement = selectors.campaign_results(campaign)["agreement"]
    assert [(pair["reviewers"], pair["items"]) for pair in agreement["pairs"]] == [
        (["Rev0", "Rev1"], 21)
    ]
    assert agreement["pairs"][0]["value"] is None  # both said "correct" every time
    assert agreement["pairs_with_fewer_items"] == 1  # Rev0 and Rev2: 9 items


def test_agreement_of_one_reviewer_per_item_rests_on_no_item(single_campaign):
    agreement = selectors.campaign_results(single_campaign)["agreement"]
    assert agreement["items"] == 0 and agreement["krippendorff_alpha"]["value"] is None


# Pairwise ----------------------------------------------------------------------------------


@pytest.fixture
def pairwise_campaign(use_case, version, champion, reviewers):
    """Six items; A is the champion's prediction where other_shown_first is set."""
    campaign = make_campaign(use_case, version, other=champion, reviewers_per_item=2)
    segments = ["north", "north", "north", "south", "south", "south"]
    mine = make_predictions(use_case, version, segments)
    theirs = make_predictions(use_case, champion, segments)
    shown_first = [False, True, False, True, False, True]
    items = make_items(campaign, mine, theirs, shown_first)
    # (item, first pick, second pick) as shown; what each means on the right.
    picks = [
        (0, "a", "b"),  # A is the version: version, champion
        (1, "b", "b"),  # A is the champion: version, version
        (2, "a", "a"),  # version, version
        (3, "a", "equal"),  # A is the champion: champion, equal
        (4, "b", "b"),  # champion, champion
        (5, "equal", "b"),  # A is the champion: equal, version
    ]
    add_reviews(
        campaign,
        [
            (items[i], reviewers[j], {"preference": pick})
            for i, *both in picks
            for j, pick in enumerate(both)
        ],
    )
    return campaign


def test_pairwise_resolves_a_and_b_to_versions_using_other_shown_first(
    pairwise_campaign, version, champion
):
    pairwise = selectors.campaign_results(pairwise_campaign)["pairwise"]
    mine, theirs = pairwise["versions"]
    # version wins: item0 a, item1 b b, item2 a a, item5 b = 6; champion: item0 b, item3 a,
    # item4 b b = 4; ties: item3, item5 = 2.
    assert (mine["version_id"], mine["version"]) == (version.pk, "2.0.0")
    assert (theirs["version_id"], theirs["version"]) == (champion.pk, "1.0.0")
    assert (mine["wins"], mine["losses"], mine["ties"]) == (6, 4, 2)
    assert (theirs["wins"], theirs["losses"], theirs["ties"]) == (4, 6, 2)
    assert (pairwise["decisive"], pairwise["ties"]) == (10, 2)
    assert mine["share"]["rate"] == 0.6
    assert (mine["share"]["low"], mine["share"]["high"]) == pytest.approx(
        proportion_confint(6, 10, method="wilson")
    )
    assert pairwise["p_value"] == pytest.approx(binomtest(6, 10).pvalue)
    north, south = pairwise["segments"]
    assert (north["segment"], north["wins"], north["losses"], north["ties"]) == ("north", 5, 1, 0)
    assert (south["segment"], south["wins"], south["losses"], south["ties"]) == ("south", 1, 3, 2)


def test_pairwise_agreement_is_on_the_versions_not_on_a_and_b(pairwise_campaign):
    results = selectors.campaign_results(pairwise_campaign)
    agreement = results["agreement"]
    first = ["model_version"] * 3 + ["other_version", "other_version", "equal"]
    second = ["other_version", "model_version", "model_version", "equal"]
    second += ["other_version", "model_version"]
    assert (agreement["labels"], agreement["items"]) == ("preference", 6)
    labels = ["model_version", "other_version", "equal"]
    want = alpha_of([list(pair) for pair in zip(first, second, strict=True)], labels)
    assert agreement["krippendorff_alpha"]["value"] == pytest.approx(want)
    assert agreement["fleiss_kappa"]["value"] == pytest.approx(
        fleiss_of([list(pair) for pair in zip(first, second, strict=True)], labels)
    )
    assert results["verdicts"] == {CORRECT: 0, INCORRECT: 0, UNSURE: 0}
    figure = charts.preference_figure(results)
    assert figure["id"] == "chart-preference"
    assert "2.0.0 better" in json.dumps(figure["figure"])


# Query counts ------------------------------------------------------------------------------


def build_random_campaign(use_case, version, reviewers, n_items: int, *, seed: int):
    campaign = make_campaign(use_case, version, reviewers_per_item=2, tags=["a", "b"])
    rng = random.Random(seed)
    segments = [rng.choice(["north", "south", "east"]) for _ in range(n_items)]
    items = make_items(
        campaign, make_predictions(use_case, version, segments, prefix=f"r{n_items}")
    )
    verdicts = [CORRECT, INCORRECT, UNSURE]
    add_reviews(
        campaign,
        [
            (
                item,
                reviewers[j],
                {
                    "verdict": rng.choice(verdicts),
                    "reason_tags": rng.sample(["a", "b", "c"], rng.randint(0, 2)),
                },
            )
            for item in items
            for j in range(2)
        ],
    )
    return campaign


def queries_of(function, *args) -> int:
    with CaptureQueriesContext(connection) as context:
        function(*args)
    return len(context.captured_queries)


def test_results_and_export_cost_the_same_queries_for_10_and_100_reviews(
    use_case, version, reviewers
):
    small = build_random_campaign(use_case, version, reviewers, 5, seed=1)
    large = build_random_campaign(use_case, version, reviewers, 50, seed=2)
    assert Review.objects.filter(campaign=small).count() == 10
    assert Review.objects.filter(campaign=large).count() == 100
    assert queries_of(selectors.campaign_results, small) == 2
    assert queries_of(selectors.campaign_results, large) == 2
    assert queries_of(lambda c: list(selectors.corrections_rows(c)), small) == 1
    assert queries_of(lambda c: list(selectors.corrections_rows(c)), large) == 1
    assert queries_of(selectors.version_feedback, version) == 2


# Feedback on a version, and the export -----------------------------------------------------


def test_version_feedback_lists_what_the_experts_said_newest_first(
    single_campaign, use_case, champion, reviewers
):
    # Reviews of another version's campaign stay out.
    other = make_campaign(use_case, champion)
    items = make_items(other, make_predictions(use_case, champion, ["x"], prefix="c"))
    add_reviews(other, [(items[0], reviewers[0], {"verdict": INCORRECT, "comment": "no"})])

    feedback = selectors.version_feedback(single_campaign.model_version)
    summary = feedback["summary"]
    assert summary["campaigns"] == 1 and summary["reviews"] == 9
    assert summary["verdicts"] == {CORRECT: 4, INCORRECT: 4, UNSURE: 1}
    assert summary["acceptance"]["rate"] == 0.5
    rows = feedback["feedback"]
    # Plain "correct" without a word (req-0, req-1, req-5) and "unsure" without one are left
    # out; the rest, newest (last created) first.
    assert [row["request_id"] for row in rows] == ["req-8", "req-7", "req-6", "req-3", "req-2"]
    assert rows[3]["verdict"] == INCORRECT
    assert rows[3]["corrected_value"] == 20
    assert rows[3]["reason_tags"] == ["wrong unit", "seasonality"]
    assert rows[3]["comment"] == "=1+1 looks off"
    assert rows[3]["reviewer"] == "Rev1"
    assert rows[3]["prediction"] == 13
    assert (
        selectors.version_feedback(single_campaign.model_version, limit=2)["feedback"] == (rows[:2])
    )


def test_corrections_rows_of_a_single_campaign(single_campaign):
    rows = list(selectors.corrections_rows(single_campaign))
    assert len(rows) == 9
    assert list(rows[0]) == list(selectors.CORRECTION_COLUMNS)
    row = rows[3]
    assert row["request_id"] == "req-3"
    assert row["version"] == "2.0.0"
    assert row["features"] == {"store": "s3", "price": 4.5}
    assert (row["prediction"], row["score"], row["outcome"]) == (13, 0.5, 15)
    assert (row["verdict"], row["corrected_value"]) == (INCORRECT, 20)
    assert (row["preference"], row["preferred_version"], row["other_version"]) == ("", "", "")
    assert row["seconds_spent"] == 4.0
    assert row["reviewer"] == "Rev1"


def test_corrections_rows_of_a_pairwise_campaign_name_the_preferred_version(pairwise_campaign):
    rows = list(selectors.corrections_rows(pairwise_campaign))
    by_item = [(row["request_id"], row["preferred_version"], row["preference"]) for row in rows]
    assert by_item[:4] == [
        ("req-0", "2.0.0", "model_version"),
        ("req-0", "1.0.0", "other_version"),
        ("req-1", "2.0.0", "model_version"),
        ("req-1", "2.0.0", "model_version"),
    ]
    assert by_item[7] == ("req-3", "", "equal")
    assert rows[0]["other_version"] == "1.0.0"
    assert rows[0]["other_prediction"] == 10


# Charts ------------------------------------------------------------------------------------


def test_charts_show_acceptance_by_segment_with_error_bars_and_verdicts_by_tag(
    single_campaign,
):
    results = selectors.campaign_results(single_campaign)
    figures = charts.campaign_figures(results)
    bars = figures["acceptance"]["figure"]["data"][0]
    assert bars["x"] == ["north", "south"]
    assert bars["y"] == pytest.approx([75.0, 25.0])
    north = results["segments"][0]["acceptance"]
    assert bars["error_y"]["array"][0] == pytest.approx((north["high"] - 0.75) * 100)
    assert bars["error_y"]["arrayminus"][0] == pytest.approx((0.75 - north["low"]) * 100)
    tags = figures["tags"]["figure"]["data"]
    assert [trace["name"] for trace in tags] == ["Correct", "Incorrect"]  # no unsure tagged
    assert tags[0]["y"] == ["wrong unit", "seasonality", "holiday"]  # unused tags left out
    tag_layout = figures["tags"]["figure"]["layout"]
    assert tag_layout["barmode"] == "stack"  # one bar per tag, its verdicts stacked
    assert tag_layout.get("showlegend", True) is not False and "legend" in tag_layout
    by_tag = {t["tag"]: t for t in results["reason_tags"]}
    for i, tag in enumerate(tags[0]["y"]):  # the stack adds up to the tag's reviews
        assert sum(trace["x"][i] for trace in tags) == by_tag[tag]["reviews"]
    assert figures["preference"] is None
    json.dumps(figures)  # plain JSON for json_script


# API ---------------------------------------------------------------------------------------


def url(campaign, what: str) -> str:
    slug = campaign.use_case.slug
    return f"/api/v1/usecases/{slug}/review-campaigns/{campaign.pk}/{what}"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("viewer", 200),
        ("expert", 200),
        ("data_scientist", 200),
        ("owner", 200),
        ("manager", 200),
        ("admin", 200),
    ],
)
@pytest.mark.parametrize("what", ["results", "corrections", "corrections?format=csv"])
def test_results_and_corrections_permissions(api, single_campaign, who, status, what):
    response = api(who).get(url(single_campaign, what))
    assert response.status_code == status
    if status != 200:
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()


def test_results_endpoint_answers_campaign_results(api, single_campaign):
    response = api("viewer").get(url(single_campaign, "results"))
    assert response.status_code == 200
    body = response.json()
    assert body["acceptance"]["rate"] == 0.5
    assert [s["segment"] for s in body["segments"]] == ["north", "south"]
    assert body["pairwise"] is None


def test_a_campaign_of_another_use_case_is_not_found(api, single_campaign):
    elsewhere = UseCaseFactory(slug="churn")
    response = api("admin").get(
        f"/api/v1/usecases/churn/review-campaigns/{single_campaign.pk}/results"
    )
    assert response.status_code == 404
    assert elsewhere.campaigns.count() == 0
    assert (
        api("viewer")
        .get(url(single_campaign, "results").replace(f"/{single_campaign.pk}/", "/999999/"))
        .status_code
        == 404
    )


def test_corrections_endpoint_is_paginated_json(api, single_campaign):
    response = api("viewer").get(url(single_campaign, "corrections") + "?page_size=4")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 9
    assert len(body["results"]) == 4
    first = body["results"][0]
    assert first["request_id"] == "req-0"
    assert first["features"] == {"store": "s0", "price": 1.5}
    assert first["reviewed_at"].endswith("Z")
    second_page = api("viewer").get(body["next"]).json()
    assert [row["request_id"] for row in second_page["results"]] == [
        f"req-{i}" for i in range(4, 8)
    ]


@pytest.mark.parametrize("how", ["query", "accept"])
def test_corrections_endpoint_streams_every_row_as_csv(api, single_campaign, how):
    client = api("viewer")
    if how == "query":
        response = client.get(url(single_campaign, "corrections") + "?format=csv")
    else:
        response = client.get(url(single_campaign, "corrections"), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 9
    assert list(rows[0]) == list(selectors.CORRECTION_COLUMNS)
    row = rows[3]
    assert row["request_id"] == "req-3"
    assert json.loads(row["features"]) == {"store": "s3", "price": 4.5}
    assert json.loads(row["reason_tags"]) == ["wrong unit", "seasonality"]
    assert (row["verdict"], row["corrected_value"], row["prediction"]) == (INCORRECT, "20", "13")
    assert row["comment"] == "'=1+1 looks off"  # no formula runs when a spreadsheet opens it
    assert rows[0]["corrected_value"] == ""  # None is empty


def test_corrections_endpoint_costs_the_same_queries_for_10_and_100_reviews(
    api, use_case, version, reviewers
):
    small = build_random_campaign(use_case, version, reviewers, 5, seed=1)
    large = build_random_campaign(use_case, version, reviewers, 50, seed=2)
    client = api("viewer")
    counts = []
    for campaign in (small, large):
        for what in ("results", "corrections?page_size=500", "corrections?format=csv"):
            with CaptureQueriesContext(connection) as context:
                response = client.get(url(campaign, what))
                if what.endswith("csv"):
                    b"".join(response.streaming_content)
            assert response.status_code == 200
            counts.append(len(context.captured_queries))
    assert counts[:3] == counts[3:]


def test_the_results_page_and_api_show_every_agreement_figure_with_its_reading(
    client, api, personas, three_reviewers_on_60_items
):
    campaign, reviews, _ = three_reviewers_on_60_items
    add_reviews(campaign, reviews)
    agreement = selectors.campaign_results(campaign)["agreement"]
    login(client, personas, "viewer")
    page = reverse("reviews:campaign_detail", args=[campaign.use_case.slug, campaign.pk])
    html = client.get(page).content.decode()
    alpha = agreement["krippendorff_alpha"]
    assert "Krippendorff's α" in html
    assert f"{alpha['value']:.2f}" in html and alpha["band"].capitalize() in html
    assert "Fleiss' κ" in html and f"{agreement['fleiss_kappa']['value']:.2f}" in html
    assert 'id="pairs-table"' in html and "Rev0 and Rev1" in html
    for pair in agreement["pairs"]:
        assert f"{pair['value']:.2f}" in html
    answer = api("viewer").get(url(campaign, "results")).json()["agreement"]
    assert answer["pairs"] == agreement["pairs"]
    assert answer["fleiss_kappa"] == agreement["fleiss_kappa"]
    assert answer["krippendorff_alpha"] == alpha


def test_the_summary_and_the_charts_round_a_share_the_same_way(
    client, personas, use_case, version, reviewers
):
    """2 correct of 3: 66.67 %, "67 %" on the summary card and in the chart alike."""
    campaign = make_campaign(use_case, version)
    items = make_items(campaign, make_predictions(use_case, version, ["north"] * 3))
    verdicts = [CORRECT, CORRECT, INCORRECT]
    add_reviews(
        campaign,
        [(item, reviewers[0], {"verdict": v}) for item, v in zip(items, verdicts, strict=True)],
    )
    results = selectors.campaign_results(campaign)
    figure = json.dumps(charts.acceptance_by_segment_figure(results)["figure"])
    assert "All reviews: 67 %" in figure and "66.7" not in figure
    login(client, personas, "viewer")
    html = client.get(
        reverse("reviews:campaign_detail", args=[use_case.slug, campaign.pk])
    ).content.decode()
    card = html.split('id="acceptance"')[1].split('class="muted small"')[0]
    assert "67 %" in card


@pytest.mark.parametrize(
    ("bound", "threshold", "says"),
    [("point", 0.6, "met"), ("point", 0.7, "not met"), ("wilson", 0.6, "not met")],
)
def test_the_acceptance_shows_the_use_cases_threshold_for_production(
    client, personas, use_case, version, reviewers, bound, threshold, says
):
    """2 of 3 correct: 67 %, Wilson lower end 21 %; as the promotion gate reads it."""
    from promotions.models import PromotionPolicy

    PromotionPolicy.objects.create(
        use_case=use_case, acceptance_threshold=threshold, acceptance_bound=bound
    )
    campaign = make_campaign(use_case, version)
    items = make_items(campaign, make_predictions(use_case, version, ["north"] * 3))
    verdicts = [CORRECT, CORRECT, INCORRECT]
    add_reviews(
        campaign,
        [(item, reviewers[0], {"verdict": v}) for item, v in zip(items, verdicts, strict=True)],
    )
    login(client, personas, "viewer")
    html = client.get(
        reverse("reviews:campaign_detail", args=[use_case.slug, campaign.pk])
    ).content.decode()
    note = html.split('id="acceptance-threshold"')[1].split("</div>")[0]
    assert f"Production needs ≥ {round(threshold * 100)} %" in note
    assert ("lower end" in note) == (bound == "wilson")
    assert f">{says}<" in note


def test_the_corrections_export_names_the_classes(api, use_case, version, reviewers):
    """Issue 11, item 2: beside each 1/0, its name ("will churn" / "stays")."""
    use_case.task_type = "binary"
    use_case.positive_label, use_case.negative_label = "will churn", "stays"
    use_case.save()
    campaign = make_campaign(use_case, version)
    [prediction] = make_predictions(use_case, version, ["north"])
    Prediction.objects.filter(pk=prediction.pk).update(prediction=1, outcome=0)
    [item] = make_items(campaign, [prediction])
    add_reviews(campaign, [(item, reviewers[0], {"verdict": INCORRECT, "corrected_value": 0})])
    [row] = selectors.corrections_rows(campaign)
    assert (row["prediction"], row["prediction_label"]) == (1, "will churn")
    assert (row["outcome_label"], row["corrected_label"]) == ("stays", "stays")
    body = api("viewer").get(url(campaign, "corrections")).json()
    assert body["results"][0]["prediction_label"] == "will churn"
    text = api("viewer").get(url(campaign, "corrections?format=csv"))
    csv_text = b"".join(text.streaming_content).decode()
    assert "prediction_label" in csv_text.splitlines()[0] and ",will churn," in csv_text
