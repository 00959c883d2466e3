"""day_drift: one day of a version's prediction log against its reference dataset or a
reference window, read with aggregate queries on PostgreSQL and one Python pass elsewhere.

The figures must be drift.py's on the same arrays (the SQL aggregation is exact) and the
same on both paths: on PostgreSQL the tests run the SQL path and the Python path on the same
rows and compare. Run this file on SQLite and on PostgreSQL (DATABASE_URL=postgres://…)."""

import datetime

import numpy as np
import pyarrow as pa
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import drift
from monitoring.services import log_reads
from monitoring.services.drift_data import (
    NoReference,
    day_bounds,
    day_drift,
    reference_from_dataset,
    reference_from_window,
)
from monitoring.services.log_reads import PREDICTION, SCORE
from predictions.models import Prediction
from registry.models import Evaluation, EvaluationDataset
from tests.factories import UseCaseFactory, make_version, prediction_set, stored_table
from usecases.models import UseCase

SCHEMA = [
    {"name": "age", "type": "number"},
    {"name": "visits", "type": "integer"},
    {"name": "plan", "type": "category"},
    {"name": "active", "type": "boolean"},
    {"name": "city", "type": "string"},
]
DAY = datetime.date(2026, 3, 10)
PLANS = ["basic", "plus", "pro"]
CITIES = ["Lyon", "Lille", "Nantes", "Paris"]
BAD_AGES = ["forty", True, {"years": 40}, [40], None]  # not numbers: missing


@pytest.fixture
def version(personas):
    use_case = UseCaseFactory(
        owner=personas["owner"], task_type=UseCase.TaskType.BINARY, feature_schema=SCHEMA
    )
    return make_version(use_case, "1.0.0", personas["owner"])


def _columns(n: int, rng, *, shift: bool) -> dict[str, list]:
    """Generated features; `shift` moves age by half a standard deviation and the plans
    from 50/30/20 % to 30/30/40 %."""
    age = rng.normal(45 if shift else 40, 10, n).round(1).tolist()
    plan_shares = [0.3, 0.3, 0.4] if shift else [0.5, 0.3, 0.2]
    return {
        "age": age,
        "visits": rng.poisson(3, n).tolist(),
        "plan": rng.choice(PLANS, n, p=plan_shares).tolist(),
        "active": (rng.random(n) < 0.7).tolist(),
        "city": rng.choice(CITIES, n).tolist(),
        "score": rng.random(n).round(4).tolist(),
    }


def _reference_dataset(version, user, n: int = 2000, seed: int = 1) -> tuple[dict, object]:
    """A holdout of n rows (a few ages and plans missing), the version's predictions on it
    and a succeeded evaluation; returns the columns as lists and the dataset."""
    columns = _columns(n, np.random.default_rng(seed), shift=False)
    for i in range(0, n, 97):
        columns["age"][i] = None
        columns["plan"][i] = None
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "age": pa.array(columns["age"], pa.float64()),
            "visits": pa.array(columns["visits"], pa.int64()),
            "plan": pa.array(columns["plan"], pa.string()).dictionary_encode(),
            "active": pa.array(columns["active"], pa.bool_()),
            "city": pa.array(columns["city"], pa.string()),
            "label": pa.array([i % 2 for i in range(n)], pa.int64()),
        }
    )
    dataset = EvaluationDataset.objects.create(
        use_case=version.use_case,
        name="holdout",
        file_format="parquet",
        row_count=n,
        columns=table.column_names,
        table=stored_table(table),
        uploaded_by=user,
    )
    scores = columns["score"]
    prediction_set(version, dataset, user, prediction=[int(s >= 0.5) for s in scores], score=scores)
    Evaluation.objects.create(
        use_case=version.use_case,
        model_version=version,
        dataset=dataset,
        requested_by=user,
        status=Evaluation.Status.SUCCEEDED,
        progress=100,
        threshold=0.5,
        finished_at=timezone.now(),
    )
    return columns, dataset


def _log_day(version, day, n: int, *, seed: int = 2, shift: bool = False, extra=True) -> dict:
    """n predictions spread over `day` (UTC); with `extra`, some bad ages, a missing plan, an
    unseen city and a feature outside the schema. Returns the features as logged."""
    rng = np.random.default_rng(seed)
    columns = _columns(n, rng, shift=shift)
    start, _ = day_bounds(day)
    rows, logged = [], []
    for i in range(n):
        features = {name: columns[name][i] for name in ("age", "visits", "plan", "active", "city")}
        if extra:
            features["zip"] = "69001"  # not in the schema: ignored
            if i % 50 == 0:
                features["age"] = BAD_AGES[(i // 50) % len(BAD_AGES)]
            if i % 40 == 1:
                del features["plan"]
            if i % 30 == 2:
                features["city"] = "Atlantis"
        logged.append(features)
        score = columns["score"][i]
        rows.append(
            Prediction(
                use_case_id=version.use_case_id,
                model_version=version,
                request_id=f"{day}-{i}",
                predicted_at=start + datetime.timedelta(seconds=int(rng.integers(0, 86400))),
                features=features,
                prediction=int(score >= 0.5),
                score=score,
                random_key=float(rng.random()),
            )
        )
    Prediction.objects.bulk_create(rows, batch_size=1000)
    return {"features": logged, "score": columns["score"]}


def _live(logged: dict, name: str) -> list:
    """A feature's live values as the rules read them (log_reads.number_of/text_of)."""
    column = log_reads.feature_column(name, {s["name"]: s["type"] for s in SCHEMA}[name])
    if column.kind == log_reads.NUMERIC:
        return [log_reads.number_of(column, f, None, None) for f in logged["features"]]
    return [log_reads.text_of(column, f, None) for f in logged["features"]]


def _by_name(drifts) -> dict[str, drift.FeatureDrift]:
    return {d.feature: d for d in drifts}


@pytest.fixture
def python_path(monkeypatch):
    """Force the Python pass (the SQLite path) on any database."""

    def use():
        monkeypatch.setattr(log_reads, "uses_sql", lambda: False)

    return use


def test_a_known_shift_is_flagged_and_the_rest_is_not(version, personas):
    _reference_dataset(version, personas["owner"])
    _log_day(version, DAY, 3000, shift=True, extra=False)  # no unseen city: no drift there
    drifts = _by_name(day_drift(version, DAY))
    assert list(drifts) == ["age", "visits", "plan", "active", "city", PREDICTION, SCORE]
    assert drifts["age"].psi > drift.PSI_SIGNIFICANT and drifts["age"].ks_p_value < 1e-10
    assert drifts["plan"].psi > drift.PSI_SIGNIFICANT and drifts["plan"].chi2_p_value < 1e-10
    for name in ("visits", "active", "city", PREDICTION, SCORE):
        assert drifts[name].psi < drift.PSI_MODERATE, name
    assert drifts["age"].kind == "numeric" and drifts["plan"].kind == "categorical"
    assert drifts[PREDICTION].labels[:2] in (("0", "1"), ("1", "0"))


def test_figures_equal_drift_functions_on_the_same_arrays(version, personas):
    reference, _ = _reference_dataset(version, personas["owner"])
    logged = _log_day(version, DAY, 3000, shift=True)
    drifts = _by_name(day_drift(version, DAY))
    for name in ("age", "visits"):
        expected = drift.numeric_drift_from_values(name, reference[name], _live(logged, name))
        assert drifts[name] == expected, name
    for name in ("plan", "city"):
        expected = drift.categorical_drift_from_values(name, reference[name], _live(logged, name))
        assert drifts[name] == expected, name
    expected = drift.numeric_drift_from_values(SCORE, reference["score"], logged["score"])
    assert drifts[SCORE] == expected
    # The bad ages (one row in 50) are missing, not a crash and not a bin.
    assert drifts["age"].missing_share_live == pytest.approx(60 / 3000)


def test_unseen_categories_are_counted(version, personas):
    _reference_dataset(version, personas["owner"])
    logged = _log_day(version, DAY, 600)
    city = _by_name(day_drift(version, DAY))["city"]
    atlantis = sum(f["city"] == "Atlantis" for f in logged["features"])
    assert city.unseen_count == atlantis == 20
    assert city.labels[-1] == drift.UNSEEN_LABEL and city.live_counts[-1] == atlantis
    assert city.unseen_share == pytest.approx(atlantis / 600)


def test_sql_and_python_paths_give_the_same_figures(version, personas, python_path):
    _reference_dataset(version, personas["owner"])
    _log_day(version, DAY, 2500, shift=True)
    reference = reference_from_dataset(version.use_case.datasets.get(), version=version)
    first = day_drift(version, DAY, reference=reference)
    python_path()
    assert day_drift(version, DAY, reference=reference) == first


def test_a_ks_sample_smaller_than_the_day_is_the_same_both_ways(version, python_path):
    _log_day(version, DAY, 400)
    start, end = day_bounds(DAY)
    columns = [log_reads.feature_column("age", "number"), log_reads.SCORE_COLUMN]
    first = log_reads.read_log(version.pk, start, end, sample=columns, sample_size=57)
    python_path()
    again = log_reads.read_log(version.pk, start, end, sample=columns, sample_size=57)
    assert len(again.samples[SCORE]) == 57 and 50 <= len(again.samples["age"]) <= 57
    for name in ("age", SCORE):
        assert first.samples[name].tolist() == again.samples[name].tolist(), name


def test_empty_day_and_absent_feature(version, personas):
    _reference_dataset(version, personas["owner"])
    for d in day_drift(version, DAY):
        assert d.n_live == 0 and d.psi is None and d.p_value is None, d.feature
        assert d.missing_share_live is None and sum(d.live_counts) == 0
    rows = Prediction.objects.bulk_create(
        Prediction(
            use_case_id=version.use_case_id,
            model_version=version,
            request_id=f"x{i}",
            predicted_at=day_bounds(DAY)[0] + datetime.timedelta(hours=i),
            features={"age": 40 + i, "other": 1},
            prediction=1,
            random_key=i / 10,
        )
        for i in range(10)
    )
    drifts = _by_name(day_drift(version, DAY))
    assert "other" not in drifts
    assert drifts["plan"].missing_share_live == 1 and drifts["plan"].psi is None
    assert drifts["age"].n_live == len(rows) and drifts["age"].missing_share_live == 0
    assert drifts[SCORE].missing_share_live == 1 and drifts[SCORE].ks_p_value is None


def test_rows_outside_the_day_or_version_are_not_read(version, personas):
    _reference_dataset(version, personas["owner"])
    _log_day(version, DAY, 300)
    _log_day(version, DAY + datetime.timedelta(days=1), 200, seed=3)
    _log_day(version, DAY - datetime.timedelta(days=1), 100, seed=4)
    other = make_version(version.use_case, "2.0.0", personas["owner"])
    _log_day(other, DAY, 50, seed=5)
    assert {d.n_live for d in day_drift(version, DAY)} == {300}


def test_a_reference_window_instead_of_the_dataset(version, personas, python_path):
    window = _log_day(version, DAY - datetime.timedelta(days=1), 2000, seed=7)
    logged = _log_day(version, DAY, 1500, shift=True)
    start, _ = day_bounds(DAY - datetime.timedelta(days=1))
    reference = reference_from_window(version, start, start + datetime.timedelta(days=1))
    drifts = _by_name(day_drift(version, DAY, reference=reference))
    for name in ("age", "visits"):
        expected = drift.numeric_drift_from_values(name, _live(window, name), _live(logged, name))
        assert drifts[name] == expected, name
    expected = drift.categorical_drift_from_values(
        "plan", _live(window, "plan"), _live(logged, "plan")
    )
    assert drifts["plan"] == expected
    assert drifts["age"].psi > drift.PSI_SIGNIFICANT and drifts["visits"].psi < drift.PSI_MODERATE
    python_path()
    again = reference_from_window(version, start, start + datetime.timedelta(days=1))
    assert day_drift(version, DAY, reference=again) == list(drifts.values())


def test_without_an_evaluation_there_is_no_default_reference(version):
    with pytest.raises(NoReference):
        day_drift(version, DAY)


def test_query_count_is_constant_in_the_number_of_rows(version, personas):
    _reference_dataset(version, personas["owner"])
    reference = reference_from_dataset(version.use_case.datasets.get(), version=version)
    counts = []
    for n, day in ((20, DAY), (400, DAY + datetime.timedelta(days=1))):
        _log_day(version, day, n, seed=n)
        with CaptureQueriesContext(connection) as queries:
            day_drift(version, day, reference=reference)
        reads = [q for q in queries if "reviews_prediction" in q["sql"]]
        counts.append((len(reads), len(queries)))
    # PostgreSQL: numeric histograms, category counts, KS sample (each in a transaction of its
    # own settings: savepoint, settings, read, settings back, release); elsewhere one pass.
    assert counts[0] == counts[1]
    assert counts[0][0] == (3 if connection.vendor == "postgresql" else 1)


@pytest.mark.postgres
def test_bins_are_width_bucket_value_by_value(db):
    rng = np.random.default_rng(3)
    bins = drift.numeric_bins(rng.normal(0, 1, 500))
    edges = list(bins.edges)
    values = [
        *edges,
        *rng.normal(0, 2, 2000).tolist(),
        -1e300,
        1e300,
        *[np.nextafter(e, -np.inf) for e in edges],
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT width_bucket(v, %s::float8[]) FROM unnest(%s::float8[]) WITH ORDINALITY "
            "AS u(v, i) ORDER BY i",
            [edges, [float(v) for v in values]],
        )
        buckets = [row[0] for row in cursor.fetchall()]
    assert buckets == np.searchsorted(edges, values, side="right").tolist()
    infinities = ["-Infinity", "Infinity"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT width_bucket(v::float8, %s::float8[]) FROM unnest(%s::text[]) AS v",
            [edges, infinities],
        )
        assert [row[0] for row in cursor.fetchall()] == [0, bins.size - 1]


@pytest.mark.postgres
@pytest.mark.parametrize(("work_mem", "during"), [("5MB", "64MB"), ("128MB", "128MB")])
def test_a_read_has_its_settings_and_puts_them_back(db, work_mem, during):
    names = "current_setting('enable_seqscan'), current_setting('jit'), current_setting('work_mem')"
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{work_mem}'")
        cursor.execute(f"SELECT {names}")
        before = cursor.fetchone()
    with log_reads.day_read() as cursor:
        cursor.execute(f"SELECT {names}")
        assert cursor.fetchone() == ("off", "off", during)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {names}")
        assert cursor.fetchone() == before
    assert before[2] == work_mem
