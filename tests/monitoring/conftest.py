"""Monitoring fixtures: a deployed churn version with a day of logged predictions, and the
tasks the job enqueues, recorded instead of sent."""

from __future__ import annotations

import datetime
import random

import pytest

from monitoring import tasks
from predictions.models import Prediction
from registry.models import ModelVersion
from tests.factories import make_version

DAY = datetime.date(2026, 3, 10)
T0 = datetime.datetime.combine(DAY, datetime.time(), tzinfo=datetime.UTC)


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """(version id, day) of each monitoring.run_day enqueued with delay_on_commit."""
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.run_day_task, "delay_on_commit", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def deployed(churn, personas) -> ModelVersion:
    version = make_version(churn, "1.0.0", personas["owner"])
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    version.refresh_from_db()
    return version


def log_day(
    version: ModelVersion,
    n: int,
    *,
    day: datetime.date = DAY,
    with_outcome: float = 0.8,
    seed: int = 3,
    prefix: str = "q",
) -> list[Prediction]:
    """n binary predictions spread over the UTC day (and one just outside each end), segments
    business/retail, an outcome on a share of them; scores informative of the outcome."""
    rng = random.Random(seed)
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    rows = []
    for i in range(n):
        label = int(rng.random() < 0.4)
        score = min(max(rng.gauss(0.65 if label else 0.35, 0.2), 0.0), 1.0)
        known = rng.random() < with_outcome
        rows.append(
            Prediction(
                use_case_id=version.use_case_id,
                model_version=version,
                request_id=f"{prefix}{i}",
                predicted_at=start + datetime.timedelta(seconds=i * 86_400 // n),
                features={"price": round(rng.uniform(1, 9), 2)},
                prediction=int(score >= 0.5),
                score=score,
                segment="business" if i % 3 == 0 else "retail",
                random_key=rng.random(),
                outcome=label if known else None,
                error=abs(score - label) if known else None,
            )
        )
    for offset, name in ((-1, "before"), (86_400, "after")):  # outside the day
        rows.append(
            Prediction(
                use_case_id=version.use_case_id,
                model_version=version,
                request_id=f"{prefix}-{name}",
                predicted_at=start + datetime.timedelta(seconds=offset),
                features={},
                prediction=1,
                score=0.9,
                random_key=0.5,
                outcome=0,
                error=0.9,
            )
        )
    return Prediction.objects.bulk_create(rows)
