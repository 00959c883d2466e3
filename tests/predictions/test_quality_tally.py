"""Each model version's data-quality tally: kept by every batch (JSON and CSV, SQLite and the
PostgreSQL COPY path), never counting a re-sent row twice, exact under concurrent batches,
rebuilt by `manage.py recount_quality`, and read by `predictions.selectors.violation_rate`
(the promotion gate's figure)."""

import io
import json
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from predictions.models import Prediction, QualityTally
from predictions.selectors import violation_rate
from predictions.services import ingest, tally
from predictions.tasks import recount_quality_task
from registry.models import ModelVersion
from tests.factories import RuleFactory, UseCaseFactory
from usecases.models import DataQualityRule
from usecases.services import definitions

URL = "/api/v1/usecases/demand-forecast/predictions"
Kind, Severity = DataQualityRule.Kind, DataQualityRule.Severity

BACKENDS = [
    pytest.param("any", id="any-database"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def check_backend(backend: str) -> None:
    if backend == "postgresql":
        assert connection.vendor == "postgresql"


@pytest.fixture
def versions(use_case, personas):
    """Versions 1.0 and 2.0 of the demand forecast (regression; features store, price)."""
    by = personas["owner"]
    return {
        name: ModelVersion.objects.create(use_case=use_case, version=name, registered_by=by)
        for name in ("1.0", "2.0")
    }


@pytest.fixture
def rules(use_case):
    """Two row-level error rules, a warning one and a column-level max_null_rate rule."""
    return {
        "price range": RuleFactory(use_case=use_case, field="price", params={"min": 0, "max": 5}),
        "segment set": RuleFactory(
            use_case=use_case, field="segment", kind=Kind.NOT_NULL, params={}
        ),
        "known store": RuleFactory(
            use_case=use_case,
            field="store",
            kind=Kind.ALLOWED_VALUES,
            params={"values": ["S01", "S02"]},
            severity=Severity.WARNING,
        ),
        "price logged": RuleFactory(
            use_case=use_case, field="price", kind=Kind.MAX_NULL_RATE, params={"max_rate": 0.1}
        ),
    }


def row(n, *, version="1.0", price=1.0, segment="north", store="S01") -> dict:
    return {
        "version": version,
        "request_id": f"req-{n}",
        "timestamp": "2026-03-31T14:05:00Z",
        "features": {"store": store, "price": price},
        "prediction": 10.0,
        "segment": segment,
    }


# Five rows: clean; out of range; out of range and no segment (one violating row, not two);
# an unknown store (a warning: not violating); no price (max_null_rate: counted apart).
BATCH = [
    row(1),
    row(2, price=9.0),
    row(3, price=9.0, segment=""),
    row(4, store="S99"),
    row(5, price=None),
]
CSV = (
    "version,request_id,timestamp,store,price,prediction,segment\n"
    "1.0,req-1,2026-03-31T14:05:00Z,S01,1,10,north\n"
    "1.0,req-2,2026-03-31T14:05:00Z,S01,9,10,north\n"
    "1.0,req-3,2026-03-31T14:05:00Z,S01,9,10,\n"
    "1.0,req-4,2026-03-31T14:05:00Z,S99,1,10,north\n"
    "1.0,req-5,2026-03-31T14:05:00Z,S01,,10,north\n"
)


def expected_counts(rules, **counts) -> dict:
    """rule_counts as stored: {rule id as text: rows}, for the rules named in `counts`."""
    return {str(rules[name].pk): count for name, count in counts.items()}


FIVE_ROWS = {"price range": 2, "segment set": 1, "known store": 1, "price logged": 1}


def tally_of(version) -> tuple[int, int, dict]:
    tally = QualityTally.objects.get(model_version=version)
    return tally.rows_checked, tally.rows_violating, tally.rule_counts


def post(client, rows):
    return client.post(URL, json.dumps(rows), content_type="application/json")


# --- What a batch adds ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("body", ["json", "csv"])
def test_a_batch_adds_its_rows_and_its_violating_rows_to_the_versions_tally(
    api, versions, rules, backend, body
):
    check_backend(backend)
    client = api("data_scientist")
    if body == "json":
        response = post(client, BATCH)
    else:
        response = client.post(URL, CSV.encode(), content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert response.json()["inserted"] == 5
    assert tally_of(versions["1.0"]) == (5, 2, expected_counts(rules, **FIVE_ROWS))
    assert not QualityTally.objects.filter(model_version=versions["2.0"]).exists()
    assert violation_rate(versions["1.0"]) == {
        "rows": 5,
        "violating": 2,
        "rate": 0.4,
        "rules_changed_at": None,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_warning_rules_never_make_a_row_violating(use_case, personas, versions, rules, backend):
    check_backend(backend)
    rows = [row(n, store="S99") for n in range(1, 5)]
    ingest.log_predictions(use_case, by=personas["owner"], rows=rows)
    assert tally_of(versions["1.0"]) == (4, 0, expected_counts(rules, **{"known store": 4}))
    assert violation_rate(versions["1.0"])["rate"] == 0.0


def test_a_rule_turned_into_a_warning_stops_counting_for_later_batches(
    use_case, personas, versions, rules
):
    ingest.log_predictions(use_case, by=personas["owner"], rows=[row(1, price=9.0)])
    DataQualityRule.objects.filter(pk=rules["price range"].pk).update(severity=Severity.WARNING)
    ingest.log_predictions(use_case, by=personas["owner"], rows=[row(2, price=9.0)])
    assert tally_of(versions["1.0"]) == (2, 1, expected_counts(rules, **{"price range": 2}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_re_sent_rows_are_not_counted_twice(api, versions, rules, backend):
    check_backend(backend)
    client = api("data_scientist")
    assert post(client, BATCH).status_code == 200
    again = post(client, BATCH)
    assert (again.json()["inserted"], again.json()["duplicates"]) == (0, 5)
    # Three stored ones again, one new violating row, and a repeat within the batch whose
    # second copy breaks a rule: only the first copy of a request id is stored.
    overlap = BATCH[1:4] + [row(6, price=-1.0), row(7), row(7, price=9.0)]
    answer = post(client, overlap).json()
    assert (answer["inserted"], answer["duplicates"]) == (2, 4)
    counts = FIVE_ROWS | {"price range": 3}
    assert tally_of(versions["1.0"]) == (7, 3, expected_counts(rules, **counts))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_of_two_versions_adds_to_each_its_own_rows(
    use_case, personas, versions, rules, backend
):
    check_backend(backend)
    by = personas["owner"]
    ingest.log_predictions(use_case, by=by, rows=[row(1, version="2.0", price=9.0)])
    rows = [row(1, price=9.0), row(2), row(1, version="2.0", price=9.0), row(2, version="2.0")]
    result = ingest.log_predictions(use_case, by=by, rows=rows)
    assert (result.inserted, result.duplicates) == (3, 1)
    assert tally_of(versions["1.0"]) == (2, 1, expected_counts(rules, **{"price range": 1}))
    assert tally_of(versions["2.0"]) == (2, 1, expected_counts(rules, **{"price range": 1}))


def test_a_refused_batch_adds_nothing_and_a_partial_one_only_its_good_rows(api, versions, rules):
    client = api("data_scientist")
    bad = row(9, version="9.9")
    assert post(client, [row(1, price=9.0), bad]).status_code == 400
    assert not QualityTally.objects.exists()
    response = client.post(
        f"{URL}?partial=true", json.dumps([row(1, price=9.0), bad]), content_type="application/json"
    )
    assert response.json()["inserted"] == 1
    assert tally_of(versions["1.0"]) == (1, 1, expected_counts(rules, **{"price range": 1}))


def test_a_rule_on_a_field_that_is_not_logged_counts_nothing(use_case, personas, versions):
    RuleFactory(use_case=use_case, field="age", kind=Kind.NOT_NULL, params={})
    ingest.log_predictions(use_case, by=personas["owner"], rows=[row(1), row(2)])
    assert tally_of(versions["1.0"]) == (2, 0, {})


def test_without_rules_every_row_is_checked_and_none_violates(use_case, personas, versions):
    ingest.log_predictions(use_case, by=personas["owner"], rows=[row(1, price=9.0)])
    assert violation_rate(versions["1.0"]) == {
        "rows": 1,
        "violating": 0,
        "rate": 0.0,
        "rules_changed_at": None,
    }


def test_a_version_that_logged_nothing_has_no_rate(versions, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert violation_rate(versions["1.0"]) == {
            "rows": 0,
            "violating": 0,
            "rate": None,
            "rules_changed_at": None,
        }


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------


def violates(n: int) -> bool:
    return n % 7 == 0 or n % 11 == 0


def numbered(n: int, version: str) -> dict:
    return row(
        n, version=version, price=9.0 if n % 7 == 0 else 1.0, segment="" if n % 11 == 0 else "n"
    )


def run_together(*calls) -> list[Exception]:
    """Run the calls in threads started together; the exceptions they raised."""
    failures = []
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as error:  # noqa: BLE001 - reported by the caller's assertion
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_give_exact_totals(use_case, personas, versions, rules):
    # Four batches of 900 request ids, each overlapping the next by 600, each with rows of
    # both versions; two send theirs in reverse order.
    batches = []
    for i in range(4):
        keys = range(300 * i, 300 * i + 900)
        rows = [numbered(n, name) for n in keys for name in ("1.0", "2.0")]
        batches.append(rows if i % 2 else list(reversed(rows)))

    def send(rows):
        return lambda: ingest.log_predictions(use_case, by=personas["owner"], rows=rows)

    assert run_together(*(send(rows) for rows in batches)) == []
    keys = range(1800)
    expected = (1800, sum(violates(n) for n in keys))
    for version in versions.values():
        assert tally_of(version)[:2] == expected
        assert Prediction.objects.filter(model_version=version).count() == 1800
    price = str(rules["price range"].pk)
    assert tally_of(versions["1.0"])[2][price] == sum(n % 7 == 0 for n in keys)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_recount_while_batches_arrive_loses_and_doubles_nothing(
    use_case, personas, versions, rules
):
    by = personas["owner"]
    ingest.log_predictions(use_case, by=by, rows=[numbered(n, "1.0") for n in range(2000)])
    QualityTally.objects.update(rows_checked=0, rows_violating=0, rule_counts={})

    def send(start):
        rows = [numbered(n, "1.0") for n in range(start, start + 500)]
        return lambda: ingest.log_predictions(use_case, by=by, rows=rows)

    def recount():
        call_command("recount_quality", chunk_size=300, stdout=io.StringIO())

    # Two new batches and one half re-sent, while the recount reads the log in chunks.
    assert run_together(recount, send(2000), send(2500), send(1800)) == []
    keys = range(3000)
    assert tally_of(versions["1.0"])[:2] == (3000, sum(violates(n) for n in keys))


# --- Recounting -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_recount_matches_the_live_tally(use_case, personas, versions, rules, backend):
    check_backend(backend)
    by = personas["owner"]
    ingest.log_predictions(use_case, by=by, rows=BATCH)
    ingest.log_predictions(use_case, by=by, rows=BATCH[2:] + [row(6, version="2.0", price=-2.0)])
    ingest.log_predictions(use_case, by=by, rows=[numbered(n, "2.0") for n in range(10, 40)])
    live = {version: tally_of(version) for version in versions.values()}
    QualityTally.objects.all().delete()
    output = io.StringIO()
    call_command("recount_quality", chunk_size=4, stdout=output)
    assert {version: tally_of(version) for version in versions.values()} == live
    assert "demand-forecast 1.0: 2 of 5 rows violating (40.00%)" in output.getvalue()
    assert "Recounted 2 model version(s)." in output.getvalue()


def test_the_recount_uses_the_rules_as_they_stand_now(use_case, personas, versions, rules):
    ingest.log_predictions(use_case, by=personas["owner"], rows=BATCH)
    DataQualityRule.objects.filter(pk=rules["price range"].pk).update(params={"min": 0, "max": 10})
    call_command("recount_quality", use_case="demand-forecast", stdout=io.StringIO())
    now_counts = {name: count for name, count in FIVE_ROWS.items() if name != "price range"}
    assert tally_of(versions["1.0"]) == (5, 1, expected_counts(rules, **now_counts))
    assert tally_of(versions["2.0"]) == (0, 0, {})


def test_the_recount_of_one_use_case_leaves_the_others_alone(use_case, personas, versions):
    other = UseCaseFactory(slug="churn", owner=personas["owner"])
    version = ModelVersion.objects.create(use_case=other, version="1.0", registered_by=other.owner)
    QualityTally.objects.create(model_version=version, use_case=other, rows_checked=7)
    call_command("recount_quality", use_case="demand-forecast", stdout=io.StringIO())
    assert QualityTally.objects.get(model_version=version).rows_checked == 7
    assert set(QualityTally.objects.values_list("model_version__use_case__slug", flat=True)) == {
        "demand-forecast",
        "churn",
    }


def test_the_recount_refuses_an_unknown_use_case(db):
    with pytest.raises(CommandError, match="No use case with the slug"):
        call_command("recount_quality", use_case="nope", stdout=io.StringIO())


# --- A rule changes: the tally is stale until a worker recounts it ---------------------------


@pytest.fixture
def recounts(monkeypatch):
    """The use case ids whose recount was sent to the broker (nothing is sent)."""
    sent = []
    monkeypatch.setattr(recount_quality_task, "delay", sent.append)
    return sent


def test_a_rule_change_makes_the_tally_stale_until_the_worker_recounts(
    use_case, personas, versions, rules, recounts, django_capture_on_commit_callbacks
):
    ingest.log_predictions(use_case, by=personas["owner"], rows=BATCH)
    assert violation_rate(versions["1.0"])["rules_changed_at"] is None
    with django_capture_on_commit_callbacks(execute=True):
        definitions.update_rule(
            rules["price range"], by=personas["owner"], params={"min": 0, "max": 10}
        )
    assert recounts == [use_case.pk]
    stale = violation_rate(versions["1.0"])
    use_case.refresh_from_db()
    assert stale["rules_changed_at"] == use_case.rules_changed_at is not None
    assert stale["violating"] == 2  # still counted with the old range

    recount_quality_task.apply(args=[use_case.pk])  # what the worker does
    assert violation_rate(versions["1.0"]) == {
        "rows": 5,
        "violating": 1,
        "rate": 0.2,
        "rules_changed_at": None,
    }
    assert not QualityTally.objects.filter(model_version=versions["2.0"]).exists()


def test_adding_or_deleting_a_rule_makes_the_tally_stale(
    use_case, personas, versions, rules, recounts, django_capture_on_commit_callbacks
):
    ingest.log_predictions(use_case, by=personas["owner"], rows=BATCH)
    with django_capture_on_commit_callbacks(execute=True):
        definitions.delete_rule(rules["segment set"], by=personas["owner"])
    assert violation_rate(versions["1.0"])["rules_changed_at"] is not None
    tally.recount_use_case(use_case.pk)
    assert violation_rate(versions["1.0"])["rules_changed_at"] is None
    with django_capture_on_commit_callbacks(execute=True):
        definitions.create_rule(
            use_case, by=personas["owner"], field="store", kind=Kind.NOT_NULL, params={}
        )
    assert violation_rate(versions["1.0"])["rules_changed_at"] is not None
    assert recounts == [use_case.pk, use_case.pk]


def test_a_new_description_changes_nothing_counted(
    use_case, personas, versions, rules, recounts, django_capture_on_commit_callbacks
):
    ingest.log_predictions(use_case, by=personas["owner"], rows=BATCH)
    with django_capture_on_commit_callbacks(execute=True):
        definitions.update_rule(
            rules["price range"], by=personas["owner"], description="Prices in euros."
        )
    assert violation_rate(versions["1.0"])["rules_changed_at"] is None
    assert recounts == []


def test_a_tally_first_counted_after_the_change_is_current(
    use_case, personas, versions, rules, recounts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        definitions.update_rule(
            rules["price range"], by=personas["owner"], params={"min": 0, "max": 10}
        )
    ingest.log_predictions(use_case, by=personas["owner"], rows=BATCH)
    assert violation_rate(versions["1.0"])["rules_changed_at"] is None


def test_a_recount_is_as_of_the_rule_change_it_saw_not_the_workers_clock(
    use_case, personas, versions, rules
):
    """A change stamped on a host whose clock runs ahead (or stamped before, committed
    after, the recount's rules were read): the recount records the change it read, so the
    tally is fresh for that change and stale for any later one, whatever the clocks say."""
    import datetime

    from django.utils import timezone

    from usecases.models import UseCase

    ingest.log_predictions(use_case, by=personas["owner"], rows=BATCH)
    ahead = timezone.now() + datetime.timedelta(hours=1)
    UseCase.objects.filter(pk=use_case.pk).update(rules_changed_at=ahead)
    assert violation_rate(versions["1.0"])["rules_changed_at"] == ahead  # stale
    tally.recount_version(versions["1.0"])
    assert QualityTally.objects.get(model_version=versions["1.0"]).rules_as_of == ahead
    assert violation_rate(versions["1.0"])["rules_changed_at"] is None  # fresh
    assert tally.recount_use_case(use_case.pk) == 0  # nothing stale is left to recount
    later = ahead + datetime.timedelta(seconds=1)
    UseCase.objects.filter(pk=use_case.pk).update(rules_changed_at=later)
    assert violation_rate(versions["1.0"])["rules_changed_at"] == later
