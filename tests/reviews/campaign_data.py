"""Predictions for campaign and claim tests, created directly with the ORM."""

from __future__ import annotations

import datetime
import random

from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from predictions.models import Prediction
from registry.models import ModelVersion

T0 = timezone.make_aware(datetime.datetime(2026, 1, 1))


def make_version(use_case, name: str, by) -> ModelVersion:
    return ModelVersion.objects.create(use_case=use_case, version=name, registered_by=by)


def make_predictions(
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
    """`count` predictions of requests r{first}…; segments as {name: rows} (in that order)."""
    rng = random.Random(seed)
    names = [name for name, rows in (segments or {"": count}).items() for _ in range(rows)]
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
                prediction=int(score >= 0.5),
                score=score,
                segment=names[i],
                confidence=max(score, 1 - score) if confidence else None,
                random_key=rng.random(),
                outcome=None if error is None else int(rng.random() < 0.5),
                error=error,
            )
        )
    return Prediction.objects.bulk_create(rows)


def api_client(personas, who: str) -> APIClient:
    """An APIClient sending a real knox token of persona `who` (none for anonymous)."""
    client = APIClient()
    if who != "anonymous":
        _, token = AuthToken.objects.create(personas[who])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client
