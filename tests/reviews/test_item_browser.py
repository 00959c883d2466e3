"""The item browser of a campaign (issue 11, item 5): reviewed items filtered by verdict,
disagreement, reason tag and segment, reviews side by side, paginated, htmx."""

import re

import pytest
from django.urls import reverse

from tests.conftest import login
from tests.reviews.test_results import (
    CORRECT,
    INCORRECT,
    UNSURE,
    add_reviews,
    make_campaign,
    make_items,
    make_predictions,
    make_version,
)


@pytest.fixture
def browsed(use_case, reviewers_of):
    """12 items, two reviewers each: items 0–3 disagree, items 4–11 agree; south from 6."""
    version = make_version(use_case, "2.0.0")
    campaign = make_campaign(use_case, version, reviewers_per_item=2, tags=["weather", "price"])
    segments = ["north"] * 6 + ["south"] * 6
    items = make_items(campaign, make_predictions(use_case, version, segments))
    first, second = reviewers_of
    reviews = []
    for i, item in enumerate(items):
        mine = CORRECT if i % 3 else INCORRECT
        theirs = (INCORRECT if mine == CORRECT else UNSURE) if i < 4 else mine
        tags = ["weather"] if i in (1, 5) else []
        reviews.append((item, first, {"verdict": mine, "reason_tags": tags}))
        reviews.append((item, second, {"verdict": theirs, "comment": f"note {i}"}))
    add_reviews(campaign, reviews)
    return campaign


@pytest.fixture
def reviewers_of(db):
    from tests.factories import UserFactory

    return [
        UserFactory(username="ann", first_name="Ann"),
        UserFactory(username="bo", first_name="Bo"),
    ]


def items_url(campaign, query: str = "") -> str:
    url = reverse("reviews:campaign_items", args=[campaign.use_case.slug, campaign.pk])
    return f"{url}?{query}" if query else url


def shown(html: str) -> list[str]:
    """The positions of the items listed."""
    return re.findall(r'<article class="card review-item[^"]*" id="item-(\d+)"', html)


def test_every_reviewed_item_with_its_reviews_side_by_side(client, personas, browsed):
    html = login(client, personas, "viewer").get(items_url(browsed)).content.decode()
    assert shown(html) == [str(n) for n in range(1, 13)]
    first = html.split('id="item-1"')[1].split("</article>")[0]
    assert "Ann" in first and "Bo" in first and "note 0" in first
    assert "Reviewers disagree" in first and "store" in first  # its features
    assert "12 items" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("disagreement=on", ["1", "2", "3", "4"]),
        (f"verdict={UNSURE}", ["1", "4"]),
        ("tag=weather", ["2", "6"]),
        ("segment=south", ["7", "8", "9", "10", "11", "12"]),
        ("segment=south&disagreement=on", []),
        ("verdict=nonsense", [str(n) for n in range(1, 13)]),  # ignored, not a 500
    ],
)
def test_filters_narrow_the_items_and_stay_in_the_url(client, personas, browsed, query, expected):
    browser = login(client, personas, "viewer")
    html = browser.get(items_url(browsed, query)).content.decode()
    assert shown(html) == expected
    fragment = browser.get(items_url(browsed, query), headers={"HX-Request": "true"})
    text = fragment.content.decode()
    assert text.lstrip().startswith('<section id="item-list"') and "<html" not in text
    if not expected:
        assert "No item matches these filters." in text


def test_items_are_paginated_with_the_filters_kept(client, personas, use_case, reviewers_of):
    version = make_version(use_case, "3.0")
    campaign = make_campaign(use_case, version)
    items = make_items(campaign, make_predictions(use_case, version, ["x"] * 25, prefix="p"))
    add_reviews(campaign, [(item, reviewers_of[0], {"verdict": CORRECT}) for item in items])
    browser = login(client, personas, "viewer")
    html = browser.get(items_url(campaign, f"verdict={CORRECT}")).content.decode()
    assert len(shown(html)) == 20 and f"verdict={CORRECT}&amp;page=2" in html
    html = browser.get(items_url(campaign, f"verdict={CORRECT}&page=2")).content.decode()
    assert shown(html) == [str(n) for n in range(21, 26)]


def test_the_browser_is_for_members_only(client, personas, browsed):
    assert login(client, personas, "outsider").get(items_url(browsed)).status_code == 404
    client.logout()
    assert client.get(items_url(browsed)).status_code == 302


def test_the_results_page_links_to_the_browser_and_to_its_disagreements(client, personas, browsed):
    html = (
        login(client, personas, "viewer")
        .get(reverse("reviews:campaign_detail", args=[browsed.use_case.slug, browsed.pk]))
        .content.decode()
    )
    assert f'href="{items_url(browsed)}"' in html
    assert items_url(browsed, "disagreement=on") in html
    assert items_url(browsed, "tag=weather") in html


@pytest.mark.parametrize("tag", ["qualité", "Weather", "weather"])
def test_the_tag_filter_is_exact_with_any_letters(client, personas, use_case, reviewers_of, tag):
    """A tag with non-ASCII letters is found, on PostgreSQL as on SQLite; case counts."""
    version = make_version(use_case, "4.0")
    campaign = make_campaign(use_case, version, tags=["qualité", "weather"])
    items = make_items(campaign, make_predictions(use_case, version, ["x"] * 3, prefix="t"))
    tags = [["qualité"], ["weather"], []]
    add_reviews(
        campaign,
        [
            (item, reviewers_of[0], {"verdict": CORRECT, "reason_tags": t})
            for item, t in zip(items, tags, strict=True)
        ],
    )
    html = login(client, personas, "viewer").get(items_url(campaign, f"tag={tag}"))
    expected = {"qualité": ["1"], "weather": ["2"], "Weather": [str(n) for n in (1, 2, 3)]}
    assert shown(html.content.decode()) == expected[tag]  # "Weather" is no tag: ignored


def test_a_page_of_items_costs_the_same_queries_however_many_items_and_reviews(
    client, personas, use_case, reviewers_of
):
    """No N+1: a page of 3 items with 2 reviews each and a full page of 20 with 3 each take
    the same number of queries (the reviews and reviewers come in one prefetch)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import UserFactory

    third = UserFactory(username="cy", first_name="Cy")
    counts = []
    for n, reviewers in [(3, reviewers_of), (25, [*reviewers_of, third])]:
        version = make_version(use_case, f"5.{n}")
        campaign = make_campaign(use_case, version, reviewers_per_item=len(reviewers))
        items = make_items(campaign, make_predictions(use_case, version, ["x"] * n, prefix=f"q{n}"))
        add_reviews(
            campaign,
            [(item, who, {"verdict": CORRECT}) for item in items for who in reviewers],
        )
        browser = login(client, personas, "viewer")
        with CaptureQueriesContext(connection) as queries:
            html = browser.get(items_url(campaign)).content.decode()
        assert len(shown(html)) == min(n, 20)
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
