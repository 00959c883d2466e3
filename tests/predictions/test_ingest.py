"""Bulk prediction logging and outcomes: idempotency, all-or-nothing and partial batches,
clear 400s naming the row and field, outcomes and their errors, permissions, and on
PostgreSQL the COPY path under concurrent re-sends."""

import io
import json
import threading

import pytest
from django.db import connection, connections
from knox.models import AuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from portal.parsers import JSONParser
from predictions.models import Prediction
from predictions.services import ingest, parse
from registry.models import ModelVersion
from reviews.api.campaigns import ReviewCampaignViewSet, ReviewInput
from tables import report
from tests.factories import RuleFactory, UseCaseFactory, UserFactory
from usecases.models import DataQualityRule, UseCase

URL = "/api/v1/usecases/demand-forecast/predictions"
OUTCOMES = "/api/v1/usecases/demand-forecast/outcomes"


@pytest.fixture
def api(personas):
    """api("data_scientist") sends that persona's real knox token; "anonymous" none."""

    def client_for(who) -> APIClient:
        client = APIClient()
        if who != "anonymous":
            _, token = AuthToken.objects.create(personas[who])
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return client_for


@pytest.fixture
def versions(use_case, personas):
    """Production 1.0 and shadow 2.0 of the demand forecast (regression: store, price)."""
    by = personas["owner"]
    return {
        name: ModelVersion.objects.create(use_case=use_case, version=name, registered_by=by)
        for name in ("1.0", "2.0")
    }


def row(n: int, **changes) -> dict:
    values = {
        "version": "1.0",
        "request_id": f"req-{n}",
        "timestamp": "2026-03-31T14:05:00Z",
        "features": {"store": "S01", "price": 2.5 + n},
        "prediction": 10.0 + n,
        "segment": "north",
    }
    values.update(changes)
    return values


def post(client, rows, url=URL, partial=None):
    query = "" if partial is None else f"?partial={partial}"
    return client.post(f"{url}{query}", json.dumps(rows), content_type="application/json")


def post_csv(client, text: str, url=URL):
    return client.post(url, text.encode(), content_type="text/csv")


def errors_of(response) -> list[tuple]:
    return [(e.get("row"), e.get("field")) for e in response.json()["errors"]]


# --- Idempotency, all or nothing, partial -------------------------------------------------


def test_the_same_batch_twice_leaves_one_copy(api, versions):
    client = api("data_scientist")
    batch = [row(n) for n in range(1, 6)]
    first = post(client, batch)
    assert first.status_code == 200, first.json()
    assert first.json() | {"rule_violations": []} == {
        "mode": "all_or_nothing",
        "rows": 5,
        "inserted": 5,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "counts": {},
        "rule_violations": [],
    }
    second = post(client, batch)
    assert second.status_code == 200
    assert (second.json()["inserted"], second.json()["duplicates"]) == (0, 5)
    assert Prediction.objects.count() == 5


def test_stored_rows_carry_confidence_random_key_and_the_use_case(use_case, personas, versions):
    use_case.task_type = UseCase.TaskType.BINARY
    use_case.decision_threshold = 0.3
    use_case.save()
    rows = [
        row(1, prediction=1, score=0.8),
        row(2, prediction=None, score=0.2),  # derived from the threshold: 0
        row(3, prediction=True, score=0.4, version="2.0"),
    ]
    ingest.log_predictions(use_case, by=personas["data_scientist"], rows=rows)
    stored = {p.request_id: p for p in Prediction.objects.all()}
    # Binary: the score's distance to the threshold (0.3), not max(score, 1 − score).
    assert stored["req-1"].confidence == pytest.approx(0.5)
    assert (stored["req-2"].prediction, stored["req-2"].confidence) == (0, pytest.approx(0.1))
    assert stored["req-3"].confidence == pytest.approx(0.1)
    assert stored["req-3"].model_version == versions["2.0"]
    assert all(0 <= p.random_key < 1 and p.use_case_id == use_case.pk for p in stored.values())
    assert stored["req-1"].predicted_at.isoformat() == "2026-03-31T14:05:00+00:00"


def test_a_batch_with_one_bad_row_stores_nothing(api, versions):
    batch = [row(1), row(2, features={"store": "S01", "price": "cheap"}), row(3)]
    response = post(api("data_scientist"), batch)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("1 bad row of 3: nothing was stored.")
    assert body["errors"] == [
        {"row": 2, "field": "features.price", "message": "“cheap” is not a number."}
    ]
    assert body["counts"] == {"features.price: not a number": 1}
    assert Prediction.objects.count() == 0


def test_partial_mode_stores_the_good_rows_and_reports_the_bad(api, versions):
    batch = [row(1), row(2, score=1.5), row(3), row(4, version="9.9")]
    response = post(api("data_scientist"), batch, partial="true")
    assert response.status_code == 200
    body = response.json()
    assert (body["mode"], body["inserted"], body["rejected"]) == ("partial", 2, 2)
    assert errors_of(response) == [(2, "score"), (4, "version")]
    assert sorted(Prediction.objects.values_list("request_id", flat=True)) == ["req-1", "req-3"]


def test_rows_repeated_within_a_batch_are_stored_once(api, versions):
    response = post(api("data_scientist"), [row(1), row(1), row(1, version="2.0")])
    assert (response.json()["inserted"], response.json()["duplicates"]) == (2, 1)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"version": "9.9"}, "version", "“9.9” is not a registered version of this use case."),
        ({"request_id": ""}, "request_id", "The request id is missing."),
        ({"timestamp": "31/03/2026"}, "timestamp", "“31/03/2026” is not an ISO 8601"),
        ({"features": [1, 2]}, "features", "The features must be a JSON object."),
        ({"features": {"colour": "red"}}, "features.colour", "“colour” is not a feature"),
        ({"prediction": "high"}, "prediction", "“high” is not a number"),
        ({"score": -0.1}, "score", "-0.1 is not a number between 0 and 1."),
        ({"segment": 7}, "segment", "7 is not a segment"),
    ],
)
def test_each_wrong_value_is_a_400_naming_its_row_and_field(api, versions, changes, field, message):
    response = post(api("data_scientist"), [row(1), row(2, **changes)])
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, field)
    assert error["message"].startswith(message)
    assert Prediction.objects.count() == 0


def test_binary_and_multiclass_predictions_must_fit_the_task_type(use_case, personas, versions):
    use_case.task_type = UseCase.TaskType.MULTICLASS
    use_case.save()
    with pytest.raises(Exception) as refused:
        ingest.log_predictions(
            use_case, by=personas["owner"], rows=[row(1, prediction="apple"), row(2)]
        )
    assert [(p.row, p.column) for p in refused.value.problems] == [(2, "prediction")]


def test_a_body_that_is_not_a_json_array_is_a_clear_400(api, versions):
    client = api("data_scientist")
    broken = client.post(URL, b'[{"version": "1.0",', content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["detail"].startswith("The body is not valid JSON")
    not_a_list = post(client, {"version": "1.0"})
    assert not_a_list.status_code == 400
    assert "JSON array" in not_a_list.json()["detail"]
    empty = post(client, [])
    assert (empty.status_code, empty.json()["detail"]) == (400, "The batch has no rows.")
    not_objects = post(client, [row(1), "oops"])
    assert errors_of(not_objects) == [(2, None)]


def test_an_oversized_batch_is_refused_with_413(api, versions, monkeypatch):
    monkeypatch.setattr(parse, "MAX_ROWS", 3)  # the limit lives where it is enforced
    response = post(api("data_scientist"), [row(n) for n in range(4)])
    assert response.status_code == 413
    assert "more than the limit of 3" in response.json()["detail"]
    assert Prediction.objects.count() == 0


def test_a_body_over_the_byte_limit_is_refused_before_it_is_read(api, versions, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_BODY_BYTES", 100)
    response = post(api("data_scientist"), [row(n) for n in range(4)])
    assert response.status_code == 413
    assert "smaller batches" in response.json()["detail"]


def test_partial_must_be_true_or_false(api, versions):
    response = post(api("data_scientist"), [row(1)], partial="maybe")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "partial", "message": "Use partial=true or partial=false."}
    ]


# --- CSV ----------------------------------------------------------------------------------

CSV = (
    "version,request_id,timestamp,store,price,prediction,segment\n"
    "1.0,a,2026-03-31T14:05:00+02:00,S01,2.5,11.5,north\n"
    "1.0,b,2026-03-31 15:00:00,S02,,12,\n"
)


def test_csv_rows_are_typed_by_the_feature_schema(api, versions):
    response = post_csv(api("data_scientist"), CSV)
    assert response.status_code == 200, response.json()
    assert response.json()["inserted"] == 2
    a, b = Prediction.objects.order_by("request_id")
    assert (a.features, a.prediction, a.segment) == ({"store": "S01", "price": 2.5}, 11.5, "north")
    assert (b.features, b.segment) == ({"store": "S02", "price": None}, "")
    assert a.predicted_at.isoformat() == "2026-03-31T12:05:00+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CSV.replace("S01,2.5", "S01,abc"), [(1, "features.price")]),
        (CSV + "1.0,c,2026-03-31T00:00:00Z,S01\n", [(3, None)]),  # too few values
        ("version;request_id;timestamp\n1.0;a;2026-03-31\n", [(None, "body")]),
        ('version,request_id,timestamp\n1.0,"a\n', [(None, "body")]),  # unclosed quote
    ],
)
def test_a_malformed_csv_is_a_clear_400(api, versions, text, expected):
    response = post_csv(api("data_scientist"), text)
    assert response.status_code == 400
    assert errors_of(response) == expected
    assert Prediction.objects.count() == 0


# --- Data-quality rules -------------------------------------------------------------------


def test_rule_violations_are_counted_per_rule_not_refused(api, use_case, versions):
    rule = RuleFactory(use_case=use_case, field="price", params={"min": 0, "max": 5})
    response = post(api("data_scientist"), [row(1), row(2), row(3)])  # prices 3.5, 4.5, 5.5
    assert response.status_code == 200
    assert response.json()["inserted"] == 3
    (violation,) = response.json()["rule_violations"]
    assert (violation["rule"], violation["violations"], violation["checked"]) == (rule.pk, 1, True)


# --- Outcomes -----------------------------------------------------------------------------


def test_outcomes_attach_to_every_versions_prediction_and_compute_the_error(api, versions):
    client = api("data_scientist")
    post(client, [row(1), row(1, version="2.0", prediction=14.0), row(2)])
    outcomes = [
        {"request_id": "req-1", "outcome": 12.5, "timestamp": "2026-04-02T08:00:00Z"},
        {"request_id": "nobody", "outcome": 3},
    ]
    response = post(client, outcomes, url=OUTCOMES)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["matched"], body["updated_predictions"], body["unknown"]) == (1, 2, 1)
    assert body["unknown_request_ids"] == ["nobody"]
    errors = dict(
        Prediction.objects.filter(request_id="req-1").values_list("model_version__version", "error")
    )
    assert errors == {"1.0": pytest.approx(1.5), "2.0": pytest.approx(1.5)}
    again = post(client, outcomes, url=OUTCOMES)  # idempotent
    assert again.json()["updated_predictions"] == 2
    assert Prediction.objects.get(request_id="req-2").outcome is None


@pytest.mark.parametrize(
    ("task", "prediction", "score", "outcome", "error"),
    [
        ("regression", 10.0, None, 7, 3.0),
        ("binary", 1, 0.9, 0, 0.9),
        ("binary", 1, None, 0, 1.0),
        ("binary", 0, None, 0, 0.0),
        ("multiclass", "apple", 0.7, "apple", 0.0),
        ("multiclass", "apple", 0.7, "pear", 1.0),
    ],
)
def test_outcome_error_follows_the_task_type(task, prediction, score, outcome, error):
    assert ingest.outcome_error(task, prediction, score, outcome) == pytest.approx(error)


def test_a_bad_outcome_row_refuses_the_batch_by_default(api, versions):
    client = api("data_scientist")
    post(client, [row(1)])
    response = post(
        client,
        [{"request_id": "req-1", "outcome": 3}, {"request_id": "req-1", "outcome": "x"}],
        url=OUTCOMES,
    )
    assert response.status_code == 400
    assert errors_of(response) == [(2, "outcome")]
    assert Prediction.objects.get().outcome is None


def test_outcomes_as_csv(api, versions):
    client = api("data_scientist")
    post(client, [row(1)])
    response = post_csv(client, "request_id,outcome\nreq-1,9\n", url=OUTCOMES)
    assert response.status_code == 200, response.json()
    assert Prediction.objects.get().error == pytest.approx(2.0)


# --- Reading the log ----------------------------------------------------------------------


def test_the_log_lists_predictions_newest_first_with_filters(api, versions):
    post(api("data_scientist"), [row(n, segment="north" if n % 2 else "south") for n in range(5)])
    post(api("data_scientist"), [row(9, version="2.0")])
    client = api("viewer")
    page = client.get(URL, {"page_size": 2})
    assert page.status_code == 200
    assert [p["request_id"] for p in page.json()["results"]] == ["req-9", "req-4"]
    rest = client.get(page.json()["next"]).json()
    assert [p["request_id"] for p in rest["results"]] == ["req-3", "req-2"]
    north = client.get(URL, {"segment": "north", "version": "1.0"}).json()["results"]
    assert sorted(p["request_id"] for p in north) == ["req-1", "req-3"]
    assert client.get(URL, {"until": "2026-03-31T00:00:00Z"}).json()["results"] == []
    assert client.get(URL, {"since": "yesterday"}).status_code == 400
    assert page.json()["results"][0]["version"] == "2.0"


# --- Permissions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("viewer", 403),
        ("expert", 403),
        ("manager", 403),
        ("data_scientist", 200),
        ("owner", 200),
        ("admin", 200),
    ],
)
@pytest.mark.parametrize("url", [URL, OUTCOMES])
def test_who_may_log_predictions_and_outcomes(api, versions, who, status, url):
    rows = [row(1)] if url == URL else [{"request_id": "req-1", "outcome": 1}]
    assert post(api(who), rows, url=url).status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 401), ("outsider", 404), ("viewer", 200), ("manager", 200)]
)
def test_who_may_read_the_log(api, versions, who, status):
    assert api(who).get(URL).status_code == status


def test_another_use_cases_version_is_unknown_here(api, versions, personas):
    other = UseCaseFactory(slug="churn", owner=UserFactory(username="zed"))
    ModelVersion.objects.create(use_case=other, version="7.0", registered_by=other.owner)
    response = post(api("data_scientist"), [row(1, version="7.0")])
    assert errors_of(response) == [(1, "version")]


# --- PostgreSQL: COPY and concurrent re-sends ---------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_of_one_batch_leave_one_copy(use_case, personas, versions):
    batch = [row(n) for n in range(2000)] + [row(n, version="2.0") for n in range(2000)]
    results, failures = [], []
    barrier = threading.Barrier(2)

    def send(rows):
        try:
            barrier.wait()
            results.append(ingest.log_predictions(use_case, by=personas["owner"], rows=rows))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)
        finally:
            connections.close_all()

    # The second thread sends the rows in the reverse order: locks are taken sorted anyway.
    threads = [
        threading.Thread(target=send, args=(rows,)) for rows in (batch, list(reversed(batch)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(r.inserted for r in results) == [0, 4000]
    assert sorted(r.duplicates for r in results) == [0, 4000]
    assert Prediction.objects.count() == 4000


@pytest.mark.postgres
def test_the_copy_path_stores_json_and_text_that_need_escaping(use_case, personas, versions):
    rows = [
        row(1, request_id="tab\there", segment="back\\slash", features={"store": 'q"uote\n'}),
        row(2, request_id="ünïcødé"),
    ]
    result = ingest.log_predictions(use_case, by=personas["owner"], rows=rows)
    assert result.inserted == 2
    assert connection.vendor == "postgresql"
    stored = Prediction.objects.get(request_id="tab\there")
    assert (stored.segment, stored.features) == ("back\\slash", {"store": 'q"uote\n'})
    again = ingest.log_predictions(use_case, by=personas["owner"], rows=rows)
    assert (again.inserted, again.duplicates) == (0, 2)


# --- Values PostgreSQL cannot store, times out of range, huge numbers, late predictions ----

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored."


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_id": "a\x00b"}, "request_id"),
        ({"segment": "no\x00rth"}, "segment"),
        ({"features": {"store": "S\x00", "price": 1.0}}, "features.store"),
        ({"features": {"st\x00ore": "S01"}}, "features"),
    ],
)
def test_a_nul_character_is_a_row_error_and_partial_mode_skips_just_that_row(
    api, versions, changes, field
):
    response = post(api("data_scientist"), [row(1), row(2, **changes)], partial="true")
    assert response.status_code == 200, response.json()
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, field)
    assert error["message"].endswith(NUL_MESSAGE)
    assert list(Prediction.objects.values_list("request_id", flat=True)) == ["req-1"]


def test_nul_characters_in_nested_features_class_names_and_outcomes_are_refused(
    api, use_case, versions
):
    use_case.task_type = UseCase.TaskType.MULTICLASS
    use_case.feature_schema = []  # any JSON features: NUL is looked for at every depth
    use_case.save()
    client = api("data_scientist")
    response = post(
        client,
        [
            row(1, prediction="apple", features={"a": [{"b": "c\x00"}]}),
            row(2, prediction="pe\x00ar", features={}),
            row(3, prediction="apple", features={}),
        ],
        partial="true",
    )
    assert response.status_code == 200, response.json()
    assert errors_of(response) == [(1, "features.a"), (2, "prediction")]
    outcomes = [
        {"request_id": "req-3", "outcome": "pe\x00ar"},
        {"request_id": "req-\x003", "outcome": "apple"},
    ]
    response = post(client, outcomes, url=OUTCOMES)
    assert response.status_code == 400
    assert errors_of(response) == [(1, "outcome"), (2, "request_id")]
    assert all(e["message"].endswith(NUL_MESSAGE) for e in response.json()["errors"])
    assert Prediction.objects.get().outcome is None


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("no\x00te", "corrected_value"),
        ({"k\x00": 1}, "corrected_value"),
        ([1, {"a": ["\x00"]}], "corrected_value[1].a[0]"),
    ],
)
def test_a_corrected_value_with_a_nul_character_is_refused_by_the_parser(value, path):
    """The review endpoint reads its body with the API's parser only (JSONOnly), which
    refuses the NUL before ReviewInput sees it (tests/reviews/test_corrected_values.py
    sends it to the endpoint)."""
    assert ReviewCampaignViewSet.parser_classes == [JSONParser]
    body = json.dumps({"slot": 1, "verdict": "incorrect", "corrected_value": value})
    with pytest.raises(ValidationError) as refused:
        JSONParser().parse(io.BytesIO(body.encode()))
    ((where, (message,)),) = refused.value.detail.items()
    assert (where, "NUL" in message) == (path, True)
    ok = json.dumps({"slot": 1, "corrected_value": {"a": ["ok"]}}).encode()
    assert ReviewInput(data=JSONParser().parse(io.BytesIO(ok))).is_valid()


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00+05:00",  # overflowed once in UTC (500 on SQLite)
        "9999-12-31T23:00:00-05:00",
        "0001-01-02T00:00:00Z",  # a BC-free but pre-1970 time
        "1969-12-31T23:59:59Z",
        "2999-01-01T00:00:00Z",
    ],
)
def test_timestamps_outside_1970_to_tomorrow_are_row_errors(api, versions, timestamp):
    client = api("data_scientist")
    response = post(client, [row(1), row(2, timestamp=timestamp)])
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, "timestamp")
    assert "from 1970-01-01 to one day from now" in error["message"]
    assert Prediction.objects.count() == 0
    post(client, [row(1)])
    outcome = {"request_id": "req-1", "outcome": 1.0, "timestamp": timestamp}
    response = post(client, [outcome], url=OUTCOMES)
    assert response.status_code == 400
    assert errors_of(response) == [(1, "timestamp")]
    assert "from 1970-01-01" in response.json()["errors"][0]["message"]


def test_timestamps_with_an_offset_are_stored_in_utc(use_case, personas, versions):
    rows = [row(1, timestamp="1970-01-01T05:00:00+05:00")]
    ingest.log_predictions(use_case, by=personas["owner"], rows=rows)
    assert Prediction.objects.get().predicted_at.isoformat() == "1970-01-01T00:00:00+00:00"


@pytest.mark.postgres
def test_out_of_range_times_and_nul_characters_leave_the_log_readable(api, versions):
    client = api("data_scientist")
    batch = [row(1), row(2, timestamp="0001-01-01T00:00:00+05:00"), row(3, segment="\x00")]
    response = post(client, batch, partial="true")
    assert response.status_code == 200, response.json()
    assert response.json()["inserted"] == 1
    listing = api("viewer").get(URL)
    assert listing.status_code == 200
    assert [p["request_id"] for p in listing.json()["results"]] == ["req-1"]


@pytest.mark.parametrize("value", [1e30, 2**63, 2**64 - 1, -1e19])
def test_integer_features_beyond_64_bits_are_row_errors(api, use_case, versions, value):
    use_case.feature_schema = [
        {"name": "store", "type": "category"},
        {"name": "qty", "type": "integer"},
    ]
    use_case.save()
    RuleFactory(use_case=use_case, field="qty", kind=DataQualityRule.Kind.RANGE, params={"max": 9})
    good = row(1, features={"store": "S01", "qty": 3.0})
    response = post(api("data_scientist"), [good, row(2, features={"store": "S01", "qty": value})])
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, "features.qty")
    assert "outside the 64-bit integer range" in error["message"]
    response = post(api("data_scientist"), [good])
    assert response.status_code == 200
    assert response.json()["rule_violations"][0]["checked"] is True


def test_a_csv_integer_of_1e30_is_a_row_error(api, use_case, versions):
    use_case.feature_schema = [
        {"name": "store", "type": "category"},
        {"name": "qty", "type": "integer"},
    ]
    use_case.save()
    text = (
        "version,request_id,timestamp,prediction,store,qty\n"
        "1.0,r1,2026-01-01T00:00:00Z,3.5,S1,1e30\n"
    )
    response = post_csv(api("data_scientist"), text)
    assert response.status_code == 400
    assert errors_of(response) == [(1, "features.qty")]


@pytest.mark.parametrize("price", [2**64 - 1, 2**53 + 1, 1e300])
def test_numbers_arrow_cannot_take_exactly_are_still_checked_by_the_rules(
    api, use_case, versions, price
):
    rule = RuleFactory(use_case=use_case, field="price", params={"min": 0, "max": 5})
    response = post(api("data_scientist"), [row(1, features={"store": "S01", "price": price})])
    assert response.status_code == 200, response.json()
    (violation,) = response.json()["rule_violations"]
    assert (violation["rule"], violation["violations"], violation["checked"]) == (rule.pk, 1, True)


def test_an_integer_past_2_53_is_compared_with_a_range_rule_not_a_500(api, use_case, versions):
    use_case.feature_schema = [
        {"name": "store", "type": "category"},
        {"name": "qty", "type": "integer"},
    ]
    use_case.save()
    # -2^63 fits int64 but no float exactly: the rule compares it as the nearest float, as
    # its bound is one (Arrow's own cast would refuse it, past 2^53).
    rule = RuleFactory(
        use_case=use_case, field="qty", kind=DataQualityRule.Kind.RANGE, params={"min": -9}
    )
    other = RuleFactory(use_case=use_case, field="segment", kind=DataQualityRule.Kind.NOT_NULL)
    response = post(api("data_scientist"), [row(1, features={"store": "S01", "qty": -(2**63)})])
    assert response.status_code == 200, response.json()
    violations = response.json()["rule_violations"]
    checked = {v["rule"]: (v["checked"], v["violations"]) for v in violations}
    assert checked == {rule.pk: (True, 1), other.pk: (True, 0)}
    assert Prediction.objects.get().features["qty"] == -(2**63)


def test_a_service_callers_integer_beyond_64_bits_is_a_row_error(use_case, personas, versions):
    with pytest.raises(report.TableRejected) as refused:
        ingest.log_predictions(use_case, by=personas["owner"], rows=[row(1, prediction=10**30)])
    assert [(p.row, p.column) for p in refused.value.problems] == [(1, "prediction")]


def test_a_prediction_logged_after_its_outcome_gets_it(api, versions):
    client = api("data_scientist")
    post(client, [row(1), row(2)])
    outcome = {"request_id": "req-1", "outcome": 12.5, "timestamp": "2026-04-02T08:00:00Z"}
    assert post(client, [outcome], url=OUTCOMES).status_code == 200
    # The shadow version's predictions arrive late; req-3 has no outcome anywhere yet.
    late = [row(1, version="2.0", prediction=14.0), row(2, version="2.0"), row(3, version="2.0")]
    response = post(client, late)
    assert response.json()["inserted"] == 3
    shadow = {p.request_id: p for p in Prediction.objects.filter(model_version=versions["2.0"])}
    first = shadow["req-1"]
    assert (first.outcome, first.error) == (12.5, pytest.approx(1.5))
    assert first.outcome_at.isoformat() == "2026-04-02T08:00:00+00:00"
    assert [shadow[r].outcome for r in ("req-2", "req-3")] == [None, None]
    again = post(client, late)  # a re-send changes nothing
    assert (again.json()["inserted"], again.json()["duplicates"]) == (0, 3)
    assert Prediction.objects.filter(outcome__isnull=False).count() == 2
