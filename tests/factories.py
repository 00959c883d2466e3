"""factory_boy factories with valid defaults, and the data builders tests share."""

import datetime
import functools
import hashlib
import io
import json
import random

import factory
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from predictions.models import Prediction
from registry import metrics
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet, StoredTable
from registry.services import evaluations, registering
from usecases.models import KPI, DataQualityRule, Role, UseCase, UseCaseMember, ValueModel

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or ():
            self.groups.add(
                Group.objects.get_or_create(name=name)[0]
            )  # flushed by transactional tests
        if create:
            self.save()


class UseCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"use-case-{n}")
    title = factory.Sequence(lambda n: f"Use case {n}")
    problem_statement = "Forecast daily demand per store and product."
    owner = factory.SubFactory(UserFactory)
    task_type = UseCase.TaskType.REGRESSION
    feature_schema = factory.LazyFunction(
        lambda: [{"name": "store", "type": "category"}, {"name": "price", "type": "number"}]
    )

    @factory.post_generation
    def owner_member(self, create, extracted, **kwargs):
        if create:
            UseCaseMember.objects.get_or_create(
                use_case=self, user=self.owner, defaults={"role": Role.OWNER}
            )


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UseCaseMember

    use_case = factory.SubFactory(UseCaseFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class KPIFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPI

    use_case = factory.SubFactory(UseCaseFactory)
    name = factory.Sequence(lambda n: f"KPI {n}")
    metric = "mae"
    direction = KPI.Direction.LOWER
    target = 10.0
    gate_threshold = 12.0


class ValueModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ValueModel

    use_case = factory.SubFactory(UseCaseFactory)
    cost_per_unit_under = "2.50"
    cost_per_unit_over = "0.80"


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataQualityRule

    use_case = factory.SubFactory(UseCaseFactory)
    field = "price"
    kind = DataQualityRule.Kind.RANGE
    params = factory.LazyFunction(lambda: {"min": 0, "max": 1000})


# Registry files for the `use_case` fixture (store: category, price: number, a numeric label
# for regression, and a segment). Two shapes: small files whose predictions miss by exactly 0.5
# (the API tests), and 60-row files with a chosen error (the page tests).


def csv_upload(content: bytes, name: str = "holdout.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def dataset_csv(rows: int = 6, *, bad: dict[int, dict] | None = None) -> bytes:
    """A valid CSV of `rows` rows, label 10 + n; `bad` replaces cells of some (1-based) rows."""
    lines = ["id,store,price,label,segment"]
    for n in range(1, rows + 1):
        row = {
            "id": f"r{n}",
            "store": f"S0{n % 3 + 1}",
            "price": f"{1 + n / 10:.2f}",
            "label": f"{10 + n}",
            "segment": f"S0{n % 3 + 1}",
        }
        row.update((bad or {}).get(n, {}))
        lines.append(",".join(row.values()))
    return ("\n".join(lines) + "\n").encode()


def predictions_csv(ids, *, score: bool = False) -> bytes:
    """Predictions for dataset_csv()'s ids: each 0.5 under its label."""
    header = "id,prediction,score" if score else "id,prediction"
    lines = [header] + [
        f"{i},{10.5 + n}" + (f",{0.5:.1f}" if score else "") for n, i in enumerate(ids)
    ]
    return ("\n".join(lines) + "\n").encode()


def register_version(use_case, by, version: str = "1.4.0") -> ModelVersion:
    return registering.register_version(use_case, by=by, version=version)


def upload_dataset(use_case, by, name: str = "holdout", rows: int = 6) -> EvaluationDataset:
    """dataset_csv(rows) uploaded through the service."""
    return registering.upload_dataset(
        use_case, by=by, name=name, source=io.BytesIO(dataset_csv(rows)), filename=f"{name}.csv"
    )


def upload_predictions(version, dataset, by) -> PredictionSet:
    """predictions_csv() for every row of an upload_dataset() dataset."""
    ids = [f"r{n}" for n in range(1, dataset.row_count + 1)]
    return registering.upload_predictions(
        version, by=by, dataset=dataset, source=io.BytesIO(predictions_csv(ids)), filename="p.csv"
    )


STORES = ("S01", "S02", "S03")


def holdout_label(i: int) -> float:
    return 10 + (i * 7) % 13


def holdout_csv(rows: int = 60, *, bad_price_rows=(), header="id,store,price,label,segment"):
    """A 60-row dataset, segments S01-S03; `bad_price_rows` get the price “cheap”."""
    lines = [header]
    for i in range(1, rows + 1):
        store = STORES[i % 3]
        price = "cheap" if i in bad_price_rows else f"{1 + i % 7}.5"
        lines.append(f"r{i},{store},{price},{holdout_label(i)},{store}")
    return ("\n".join(lines) + "\n").encode()


def holdout_predictions_csv(rows: int = 60, *, error: float = 1.5, skip=()) -> bytes:
    """Predictions for holdout_csv(): odd rows `error` over, even rows `error / 2` under."""
    lines = ["id,prediction"]
    for i in range(1, rows + 1):
        if i not in skip:
            lines.append(f"r{i},{holdout_label(i) + (error if i % 2 else -error / 2)}")
    return ("\n".join(lines) + "\n").encode()


def upload_holdout(use_case, by, name: str = "holdout", rows: int = 60) -> EvaluationDataset:
    return registering.upload_dataset(
        use_case, by=by, name=name, source=io.BytesIO(holdout_csv(rows)), filename=f"{name}.csv"
    )


def upload_holdout_predictions(version, dataset, by, rows: int = 60, error: float = 1.5):
    return registering.upload_predictions(
        version,
        by=by,
        dataset=dataset,
        source=io.BytesIO(holdout_predictions_csv(rows, error=error)),
        filename="predictions.csv",
    )


# Datasets and predictions from arrays, stored as the uploads store them (no CSV parsing).


def stored_table(table: pa.Table) -> StoredTable:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()
    return StoredTable.objects.create(
        parquet=data, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def evaluation_dataset(use_case, user, y_true, segments=None, name="holdout") -> EvaluationDataset:
    columns = {"id": pa.array([f"r{i}" for i in range(len(y_true))]), "label": pa.array(y_true)}
    if segments is not None:
        columns["segment"] = pa.array(segments)
    return EvaluationDataset.objects.create(
        use_case=use_case,
        name=name,
        file_format="parquet",
        row_count=len(y_true),
        columns=list(columns),
        has_segment=segments is not None,
        table=stored_table(pa.table(columns)),
        uploaded_by=user,
    )


def prediction_set(version, dataset, user, prediction=None, score=None, **extra) -> PredictionSet:
    columns = {name: pa.array(values) for name, values in extra.items()}
    if prediction is not None:
        columns["prediction"] = pa.array(prediction)
    if score is not None:
        columns["score"] = pa.array(score)
    return PredictionSet.objects.create(
        use_case=version.use_case,
        model_version=version,
        dataset=dataset,
        row_count=dataset.row_count,
        has_score=score is not None,
        table=stored_table(pa.table(columns)),
        uploaded_by=user,
    )


# A binary evaluation's results as the service stores them, computed by the metrics engine.

CHURN_VALUE_MODEL = {
    "value_true_positive": 120.0,
    "value_true_negative": 0.0,
    "cost_false_positive": 15.0,
    "cost_false_negative": 90.0,
}


@functools.cache
def _binary_evaluation_results(probabilities: bool, champion: bool) -> str:
    rng = np.random.default_rng(20261203)
    n = 200
    business = rng.random(n) < 0.3
    segments = np.where(business, "business", "retail")
    y = (rng.random(n) < 0.3).astype(int)
    # Churners stand out clearly among retail clients and barely among business ones.
    logit = np.where(business, 0.35, 1.6) * (2 * y - 1) + 0.2 + rng.normal(0, 1.0, n)
    probability = 1 / (1 + np.exp(-logit))
    # The champion flags 4 % of rows the other way, and ranks at random within each side.
    other = np.random.default_rng(0)
    side = (probability >= 0.5) ^ (other.random(n) < 0.04)
    champion_probability = np.where(side, 0.5 + 0.5 * other.random(n), 0.5 * other.random(n))

    def score(p):
        # The same ranking and the same side of 0.5 as the probability, but not a probability.
        return p if probabilities else np.log(p / (1 - p)) + 0.5

    result = metrics.evaluate(
        "binary",
        y,
        score=score(probability),
        segments=segments,
        threshold=0.5,
        value_model=CHURN_VALUE_MODEL,
        n_resamples=evaluations.N_RESAMPLES,
        seed=evaluations.SEED,
        champion={"score": score(champion_probability)} if champion else None,
    ).to_dict()
    return json.dumps(result)


def binary_evaluation_results(*, probabilities: bool = True, champion: bool = False) -> dict:
    """The `results` of a binary evaluation of 200 seeded rows in segments “business” and
    “retail”, valued with CHURN_VALUE_MODEL at threshold 0.5, as evaluations.run_evaluation
    computes them. Scores are probabilities unless `probabilities=False` (then log loss, Brier
    and the calibration chart are undefined); `champion` adds the comparison with a worse
    ranker that flags almost the same rows."""
    return json.loads(_binary_evaluation_results(probabilities, champion))


def finished_evaluation(use_case, by, results: dict, *, version: str = "2.0.0", champion=None):
    """A succeeded evaluation with `results` and the gates the service derives from them."""
    content = b"id,label\n" + b"".join(f"r{i},{i % 2}\n".encode() for i in range(10))
    dataset = registering.upload_dataset(
        use_case, by=by, name=f"holdout {version}", source=io.BytesIO(content), filename="d.csv"
    )
    model_version = registering.register_version(use_case, by=by, version=version)
    gates = evaluations.kpi_gates(use_case, results) if results else []
    gating = [gate["passed"] for gate in gates if gate["is_gating"]]
    return Evaluation.objects.create(
        use_case=use_case,
        model_version=model_version,
        dataset=dataset,
        requested_by=by,
        status=Evaluation.Status.SUCCEEDED,
        progress=100,
        results=results,
        gates=gates,
        passed_gates=all(g is True for g in gating) if gating else None,
        threshold=0.5 if results.get("task_type") == "binary" else None,
        finished_at=timezone.now(),
        champion=champion,
        worker_seconds=1.234,
    )


# Logged predictions (the prediction log), created directly with the ORM.

T0 = timezone.make_aware(datetime.datetime(2026, 1, 1))


def make_version(use_case, name: str, by) -> ModelVersion:
    """A version row without the registration service (no audit event)."""
    return ModelVersion.objects.create(use_case=use_case, version=name, registered_by=by)


def log_predictions(
    version: ModelVersion,
    count: int,
    *,
    first: int = 0,
    segments: dict[str, int] | None = None,
    scores: list[float] | None = None,
    errors: list[float | None] | None = None,
    confidence: bool = True,
    seed: int = 1,
) -> list[Prediction]:
    """`count` binary predictions of requests r{first}…, one an hour from T0; segments as
    {name: rows} (in that order); an outcome only where `errors` gives an error."""
    rng = random.Random(seed)
    names = [name for name, rows in (segments or {"": count}).items() for _ in range(rows)]
    threshold = version.use_case.decision_threshold
    rows = []
    for i in range(count):
        score = scores[i] if scores is not None else rng.random()
        error = errors[i] if errors is not None else None
        rows.append(
            Prediction(
                use_case_id=version.use_case_id,
                model_version=version,
                request_id=f"r{first + i}",
                predicted_at=T0 + datetime.timedelta(hours=first + i),
                features={"store": f"S{i % 7}", "price": round(rng.uniform(1, 9), 2)},
                prediction=int(score >= threshold),
                score=score,
                segment=names[i],
                confidence=abs(score - threshold) if confidence else None,
                random_key=rng.random(),
                outcome=None if error is None else int(rng.random() < 0.5),
                error=error,
            )
        )
    return Prediction.objects.bulk_create(rows)


def log_forecasts(version: ModelVersion, n: int, *, seed: int = 1, prefix: str = "r") -> None:
    """n logged demand forecasts of `version`, request ids r0…, newest first, segments north
    and south, outcomes on half."""
    rng = random.Random(seed)
    now = timezone.now()
    Prediction.objects.bulk_create(
        Prediction(
            use_case_id=version.use_case_id,
            model_version=version,
            request_id=f"{prefix}{i}",
            predicted_at=now - datetime.timedelta(minutes=i),
            features={"store": f"S0{i % 3}", "price": round(1 + rng.random() * 4, 2)},
            prediction=round(10 + rng.random() * 30, 1),
            segment="north" if i % 2 else "south",
            random_key=rng.random(),
            outcome=20.0 if i % 2 else None,
            error=abs(20.0 - 10) if i % 2 else None,
        )
        for i in range(n)
    )
