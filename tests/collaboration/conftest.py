"""Fixtures of the collaboration tests: a thread's target of every kind on `use_case`."""

import pytest
from django.urls import reverse

from collaboration.services import comments
from reviews.services import campaigns
from tests.factories import finished_evaluation, log_forecasts, make_version, register_version


@pytest.fixture
def version(use_case, personas):
    return register_version(use_case, personas["data_scientist"], "2.0.0")


@pytest.fixture
def targets(use_case, personas, version):
    """ "kind:id" of one target of each kind on `use_case`."""
    from tests.promotions.factories import open_request

    schema, use_case.feature_schema = use_case.feature_schema, []  # a file of id and label
    evaluation = finished_evaluation(use_case, personas["data_scientist"], {}, version="3.0.0")
    use_case.feature_schema = schema
    request = open_request(use_case, personas, "4.0.0")
    logged = make_version(use_case, "5.0.0", personas["data_scientist"])
    log_forecasts(logged, 10)
    campaign = campaigns.create_campaign(
        use_case, by=personas["data_scientist"], name="Check", model_version=logged, sample_size=3
    )
    return {
        "use_case": f"use_case:{use_case.pk}",
        "version": f"version:{version.pk}",
        "evaluation": f"evaluation:{evaluation.pk}",
        "promotion": f"promotion:{request.pk}",
        "review_item": f"review_item:{campaign.items.first().pk}",
    }


def thread_url(use_case, target: str) -> str:
    return f"{reverse('collaboration:thread', args=[use_case.slug])}?on={target}"


def post(use_case, who, body: str, target: str | None = None, **kwargs):
    """A comment by `who` (a user) on `target` (default: the use case itself)."""
    target = target or f"use_case:{use_case.pk}"
    return comments.post_comment(use_case, by=who, target=target, body=body, **kwargs)
