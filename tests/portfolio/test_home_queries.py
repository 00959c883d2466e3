"""The home page costs the same SQL queries with 5 or 50 of everything: use cases, open
campaigns, pending requests and finished evaluations, for a member and for a manager."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import MemberFactory, UseCaseFactory, make_version
from tests.portfolio.test_home import campaign, evaluation, pending_request
from usecases.models import Role
from usecases.services import audit

pytestmark = pytest.mark.django_db


def build(personas, n: int) -> None:
    """n use cases where the expert reviews and approves and the data scientist evaluates,
    each with an open campaign, a request waiting for an expert and a manager, a finished
    evaluation, an audit event of the week, and no KPI (a use case to complete)."""
    scientist = personas["data_scientist"]
    for i in range(n):
        use_case = UseCaseFactory(
            owner=personas["owner"], phase=["idea", "pilot", "production"][i % 3]
        )
        MemberFactory(use_case=use_case, user=personas["expert"], role=Role.EXPERT)
        MemberFactory(use_case=use_case, user=scientist, role=Role.DATA_SCIENTIST)
        MemberFactory(use_case=use_case, user=personas["viewer"], role=Role.VIEWER)
        version = make_version(use_case, "1.0.0", scientist)
        campaign(use_case, version)
        pending_request(use_case, version, scientist, expert=1, manager=1)
        evaluation(use_case, version, scientist)
        with transaction.atomic():
            audit.record(
                actor=scientist, verb="usecase.phase_changed", target=use_case, use_case=use_case
            )


def queries(client, user) -> tuple[int, str]:
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    return len(captured), response.content.decode()


@pytest.mark.parametrize("who", ["owner", "expert", "data_scientist", "viewer", "manager", "admin"])
def test_the_home_page_costs_the_same_queries_for_5_or_50_of_everything(client, personas, who):
    build(personas, 5)
    few, html_few = queries(client, personas[who])
    build(personas, 45)
    many, html_many = queries(client, personas[who])

    assert few == many, f"{who}: {few} queries with 5 of everything, {many} with 50"
    assert many <= 25, f"{who}: {many} queries"
    if who in ("expert", "data_scientist", "manager"):  # rows were listed: not a vacuous test
        assert html_many.count('class="item-title"') > html_few.count('class="item-title"')
