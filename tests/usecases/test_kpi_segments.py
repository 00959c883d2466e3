"""A KPI's segment is chosen from the segments seen in the use case's datasets and prediction
logs; one that matches none is saved with a warning and flagged in the KPI table."""

import pytest

from tests.conftest import login
from tests.factories import KPIFactory, log_predictions, make_version, upload_dataset
from usecases import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def seen(use_case, personas):
    """A dataset with segments S01–S03 (tests/factories.dataset_csv) and a log with EU, US
    and rows without a segment."""
    upload_dataset(use_case, personas["owner"], rows=6)
    version = make_version(use_case, "1.0", personas["owner"])
    log_predictions(version, 6, segments={"EU": 2, "US": 2, "": 2})
    return use_case


def test_the_known_segments_come_from_the_datasets_and_the_logs(seen, use_case):
    assert selectors.known_segments(use_case) == ["EU", "S01", "S02", "S03", "US"]


def test_another_use_cases_segments_are_not_offered(seen, personas):
    from tests.factories import UseCaseFactory

    other = UseCaseFactory(slug="other", owner=personas["owner"])
    assert selectors.known_segments(other) == []


def test_the_kpi_form_offers_the_seen_segments(client, personas, seen, use_case):
    html = login(client, personas, "owner").get(f"/usecases/{use_case.slug}/kpis/new/")
    page = html.content.decode()
    assert 'list="kpi-segment-options"' in page
    for segment in ("EU", "S01", "S03", "US"):
        assert f'<option value="{segment}"></option>' in page


@pytest.mark.parametrize(
    ("segment", "warned"), [("S02", False), ("", False), ("S2", True), ("eu", True)]
)
def test_a_segment_that_matches_no_data_is_saved_with_a_warning(
    client, personas, seen, use_case, segment, warned
):
    client = login(client, personas, "owner")
    data = {
        "name": "MAE in segment",
        "metric": "mae",
        "target": "1",
        "gate_threshold": "2",
        "gate_mode": "point",
        "is_gating": "on",
        "segment": segment,
    }
    response = client.post(f"/usecases/{use_case.slug}/kpis/new/", data, follow=True)
    page = response.content.decode()
    assert use_case.kpis.get().segment == segment  # saved either way: a segment to come
    assert ("matches no segment seen" in page) is warned
    assert ("matches no data yet" in page) is warned  # the KPI table's flag


def test_without_any_segment_in_the_data_the_warning_says_so(client, personas, use_case):
    KPIFactory(use_case=use_case, segment="EU")
    page = login(client, personas, "viewer").get(use_case.get_absolute_url()).content.decode()
    assert "matches no data yet" in page
    assert selectors.segment_warning("EU", []).startswith("No dataset or prediction log")


def test_the_page_reads_the_segments_in_as_many_queries_however_many_versions(
    client, personas, seen, use_case
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    KPIFactory(use_case=use_case, segment="EU")
    browser = login(client, personas, "viewer")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(use_case.get_absolute_url()).status_code == 200
        return len(captured)

    few = queries()
    for name in ("2.0", "3.0", "4.0"):
        log_predictions(make_version(use_case, name, personas["owner"]), 3, segments={"X": 3})
    assert queries() == few
    assert "X" in selectors.known_segments(use_case)


def test_a_feature_without_allowed_values_lists_none(client, personas, use_case):
    """The schema table says "one of …" only for a feature with allowed values (a dict's
    missing key must not fall through to dict.values() in the template)."""
    use_case.feature_schema = [
        {"name": "store", "type": "category", "values": ["S01", "S02"]},
        {"name": "price", "type": "number", "unit": "EUR"},
    ]
    use_case.save(update_fields=["feature_schema"])
    page = login(client, personas, "viewer").get(use_case.get_absolute_url()).content.decode()
    assert "one of S01, S02" in page
    assert "one of price" not in page and page.count('small">one of ') == 1
