"""The demo's human-in-the-loop side: two weeks of logged churn predictions from the
production version and its shadow challenger, outcomes for the first week, and a review
campaign the experts have started. Seeded, and written through the services."""

from __future__ import annotations

import datetime

import numpy as np
from django.utils import timezone

from predictions.services import ingest
from reviews.models import ReviewCampaign
from reviews.services import campaigns, reviewing
from usecases.models import UseCase

CAMPAIGN = "Churn call list, week 47"
TAGS = ["recent complaint", "salary change", "data error", "already left"]


def load(users: dict) -> None:
    """Idempotent: does nothing once the campaign exists."""
    use_case = UseCase.objects.get(slug="bank-churn")
    if ReviewCampaign.objects.filter(use_case=use_case, name=CAMPAIGN).exists():
        return
    rng = np.random.default_rng(47)
    now = timezone.now().replace(microsecond=0)
    n = 1500
    customers, logit = _customers(rng, n)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    scientist, expert, second = users["dana"], users["erik"], users["eva"]
    rows = _logged_predictions(use_case, rng, customers, logit, now)
    ingest.log_predictions(use_case, by=scientist, rows=rows)
    known = [{"request_id": f"req-{i:05d}", "outcome": int(churned[i])} for i in range(n // 2)]
    ingest.attach_outcomes(use_case, by=scientist, rows=known)
    campaign = campaigns.create_campaign(
        use_case,
        by=expert,
        name=CAMPAIGN,
        model_version=use_case.versions.get(version="0.9.0"),
        strategy="stratified",
        sample_size=40,
        reviewers_per_item=2,
        instructions=(
            "Would you call this customer? Mark the prediction correct if the risk level "
            "matches what you know of such customers; correct it to 0 or 1 otherwise."
        ),
        reason_tags=TAGS,
        due_date=(now + datetime.timedelta(days=7)).date(),
    )
    # Both experts have started: 15 items each, mostly agreeing.
    for reviewer in (expert, second):
        _review(campaign, reviewer, 15, rng)


def _customers(rng: np.random.Generator, n: int) -> tuple[dict, np.ndarray]:
    """Bank customers and the log-odds of their churning."""
    customers = {
        "age": rng.integers(18, 90, n),
        "tenure_months": rng.integers(0, 240, n),
        "is_active_member": rng.random(n) < 0.55,
        "products": rng.integers(1, 5, n),
        "country": rng.choice(["FR", "DE", "ES"], n, p=[0.5, 0.25, 0.25]),
    }
    logit = (
        -1.5
        + 0.07 * (customers["age"] - 45)
        - 0.012 * customers["tenure_months"]
        - 1.6 * customers["is_active_member"]
        + 1.4 * (customers["products"] >= 3)
        + 0.9 * (customers["country"] == "DE")
    )
    return customers, logit


def _logged_predictions(use_case, rng, customers: dict, logit, now) -> list[dict]:
    """Every customer scored by the production version (noisier) and the candidate."""
    n, rows = len(logit), []
    for version, noise in (("0.9.0", 1.6), ("1.0.0", 0.5)):
        score = 1 / (1 + np.exp(-(logit + rng.normal(0, noise, n))))
        for i in range(n):
            features = {
                "age": int(customers["age"][i]),
                "tenure_months": int(customers["tenure_months"][i]),
                "balance": round(float(rng.gamma(2, 20000)), 2),
                "products": int(customers["products"][i]),
                "has_credit_card": bool(rng.random() < 0.7),
                "is_active_member": bool(customers["is_active_member"][i]),
                "country": str(customers["country"][i]),
                "salary": round(float(rng.uniform(15000, 150000)), 2),
            }
            rows.append(
                {
                    "version": version,
                    "request_id": f"req-{i:05d}",
                    "timestamp": (now - datetime.timedelta(minutes=13 * (n - i))).isoformat(),
                    "features": features,
                    "prediction": int(score[i] >= use_case.decision_threshold),
                    "score": round(float(score[i]), 4),
                    "segment": features["country"],
                }
            )
    return rows


def _review(campaign, reviewer, count: int, rng: np.random.Generator) -> None:
    """`reviewer` answers up to `count` items. The experts mostly agree: what is wrong
    depends on the item, and each of them sees it differently now and then."""
    for _ in range(count):
        slot = reviewing.claim_next(campaign, reviewer=reviewer)
        if slot is None:
            break
        prediction = slot.item.prediction
        draw = np.random.default_rng(prediction.pk).random()
        wrong = (draw < 0.3) != (rng.random() < 0.1)
        unsure = not wrong and draw > 0.95
        reviewing.submit_review(
            slot,
            reviewer=reviewer,
            verdict="incorrect" if wrong else ("unsure" if unsure else "correct"),
            corrected_value=(1 - int(prediction.prediction)) if wrong else None,
            reason_tags=[TAGS[int(rng.integers(0, len(TAGS)))]] if wrong else [],
            comment="Long-standing customer, just moved salary here." if wrong else "",
            seconds_spent=float(rng.uniform(4, 25)),
        )
