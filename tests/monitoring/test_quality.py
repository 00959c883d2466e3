"""Live data quality per day: ingestion counts each version's rows of each UTC day against
the rules, and the use case's rows received and refused, in the batch's transaction; the
daily job reads those counts into each rule's violation rate and the refused rate."""

import datetime

import pytest

from monitoring.models import DailyRun
from monitoring.services import jobs
from predictions.models import DailyTally
from predictions.services import ingest
from registry.models import ModelVersion
from tables.report import TableRejected
from tests.factories import RuleFactory
from usecases.models import DataQualityRule

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 3, 31)


@pytest.fixture
def version(use_case, personas):
    return ModelVersion.objects.create(
        use_case=use_case, version="1.0", registered_by=personas["owner"], stage="production"
    )


@pytest.fixture
def rules(use_case):
    return {
        "price": RuleFactory(use_case=use_case, field="price", params={"min": 0, "max": 5}),
        "store": RuleFactory(
            use_case=use_case,
            field="store",
            kind=DataQualityRule.Kind.ALLOWED_VALUES,
            params={"values": ["S01", "S02"]},
            severity=DataQualityRule.Severity.WARNING,
        ),
    }


def row(n, *, day=DAY, price=1.0, store="S01", version="1.0") -> dict:
    return {
        "version": version,
        "request_id": f"req-{n}",
        "timestamp": f"{day.isoformat()}T23:30:00Z",
        "features": {"store": store, "price": price},
        "prediction": 10.0,
        "segment": "north",
    }


def test_each_rules_daily_violation_rate_matches_the_rows_ingested(
    use_case, version, rules, personas, enqueued
):
    next_day = DAY + datetime.timedelta(days=1)
    batch = [row(1), row(2, price=9.0), row(3, price=7.0, store="S99"), row(4, store="S99")]
    batch += [row(10, day=next_day, price=8.0), row(11, day=next_day)]
    ingest.log_predictions(use_case, by=personas["owner"], rows=batch)
    ingest.log_predictions(use_case, by=personas["owner"], rows=batch[:2])  # re-sent: not again
    tally = DailyTally.objects.get(model_version=version, day=DAY)
    assert (tally.rows_checked, tally.rows_violating) == (4, 2)
    jobs.run_day(version.pk, DAY)
    run = DailyRun.objects.get(day=DAY)
    assert (run.rows_checked, run.rows_violating, run.violation_rate) == (4, 2, 0.5)
    rates = {q.rule_id: (q.rows_checked, q.rows_violating) for q in run.quality.all()}
    assert rates == {rules["price"].pk: (4, 2), rules["store"].pk: (4, 2)}
    jobs.run_day(version.pk, next_day)
    later = DailyRun.objects.get(day=next_day)
    assert (later.rows_checked, later.rows_violating) == (2, 1)
    assert {q.rule_id: q.rows_violating for q in later.quality.all()} == {
        rules["price"].pk: 1,
        rules["store"].pk: 0,
    }


def test_refused_rows_are_counted_per_use_case_and_day_of_receipt(
    use_case, version, personas, enqueued
):
    by = personas["owner"]
    good, bad = [row(1), row(2)], [row(3, version="9.9")]  # an unknown version
    with pytest.raises(TableRejected):  # all or nothing: the whole batch is refused
        ingest.log_predictions(use_case, by=by, rows=good + bad)
    ingest.log_predictions(use_case, by=by, rows=[row(4), row(5)] + bad, partial=True)
    today = jobs.utc_today()
    received = DailyTally.objects.get(use_case=use_case, model_version=None, day=today)
    assert (received.rows_received, received.rows_refused) == (6, 4)
    jobs.run_day(version.pk, today)
    run = DailyRun.objects.get(day=today)
    assert (run.rows_received, run.rows_refused) == (6, 4)
    assert run.refused_rate == pytest.approx(4 / 6)
