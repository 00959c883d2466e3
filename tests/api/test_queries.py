"""A list costs the same number of SQL queries whatever its length (no N+1)."""

import pytest

from tests.conftest import queries_for
from tests.factories import (
    KPIFactory,
    MemberFactory,
    RuleFactory,
    UseCaseFactory,
    UserFactory,
)
from usecases.services import usecases

UC = "/api/v1/usecases/demand-forecast"


@pytest.mark.parametrize("who", ["owner", "manager"])  # membership filter vs. see-all
def test_listing_use_cases_costs_the_same_queries_for_3_or_30(api, personas, who):
    client = api(who)
    counts = []
    for total in (3, 30):
        while len(personas["owner"].memberships.all()) < total:
            use_case = UseCaseFactory(owner=personas["owner"])
            KPIFactory.create_batch(2, use_case=use_case)
            MemberFactory(use_case=use_case)
        counts.append(queries_for(client, "/api/v1/usecases/", total))
    assert counts[0] == counts[1]


def add_kpis(use_case, n):
    for _ in range(n):
        KPIFactory(use_case=use_case)


def add_rules(use_case, n):
    for _ in range(n):
        RuleFactory(use_case=use_case, field=f"column_{UserFactory().pk}")


def add_members(use_case, n):
    MemberFactory.create_batch(n, use_case=use_case)


def add_events(use_case, n):
    for _ in range(n):
        usecases.update_use_case(use_case, by=use_case.owner, title=f"Forecast {UserFactory().pk}")


@pytest.mark.parametrize(
    ("path", "add", "already"),
    [
        ("kpis/", add_kpis, 0),
        ("data-quality-rules/", add_rules, 0),
        ("members/", add_members, 4),  # the personas' memberships
        ("audit-events/", add_events, 0),
    ],
    ids=["kpis", "rules", "members", "audit-events"],
)
def test_listing_a_use_cases_items_costs_the_same_queries_for_a_few_or_30(
    api, use_case, path, add, already
):
    use_case.feature_schema = []  # so that rules may name any column
    use_case.save()
    client = api("viewer")
    few = max(3, already)
    add(use_case, few - already)
    few_queries = queries_for(client, f"{UC}/{path}", few)
    add(use_case, 30 - few)
    assert queries_for(client, f"{UC}/{path}", 30) == few_queries
