"""The demo's monitoring: 30 UTC days of the churn use case's live traffic, ending yesterday,
logged by its production version (0.9.0) and, on the same requests, by its shadow challenger
(1.0.0); the outcomes of the days old enough; then the daily monitoring job run on every day
of each deployed version, as the nightly schedule would have run it.

The story the Monitoring tab tells:

- the customers scored are drawn as the holdout's were (_demo_data.churn), so no feature
  drifts from the versions' reference (the holdout of their last evaluation) ...
- ... until day DRIFT_FROM_DAY, when 0.9.0's scoring job starts reading the estimated salary
  from the CRM's new export, which gives gross salaries where the old one gave net ones
  (× GROSS_FROM_NET, the mean up by about 1.3 standard deviations): the salary's PSI jumps
  over 0.2 and opens one drift alert, which the later days keep open. 1.0.0 is fed by the
  feature store, which still gives net salaries, so it has no such alert; and neither model
  uses the salary, so neither the predictions nor the KPIs move;
- outcomes (the customer closed every account, or not) are known for the days that ended at
  least OUTCOME_LAG_DAYS ago, so those days have KPIs, over the gates for both versions,
  1.0.0 ahead of 0.9.0 on the same requests.

Two departures from the holdout, so that the drift is the demo's one alert:

- 0.9.0 ranks live customers better than it ranked the holdout (ROC AUC about 0.93 a day
  against 0.80). At its holdout quality, a day's ROC AUC would sit on the 0.80 gate and fall
  under it on about half the days with outcomes, each opening or keeping a KPI alert;
- live churn follows the customers' risk more sharply than the holdout's (SHARPNESS), at the
  same rate of about one customer in five, so that a day of ~300 outcomes gives values
  steady enough for the gates (the promotion gates read their intervals' lower bounds).

Everything goes through the services the API uses (ingestion with its tallies, outcomes,
the daily job), seeded per day, so the figures are the same whenever the demo is loaded.
Idempotent: the traffic is logged once; the days of the traffic found are run again, which
does nothing for a day already done (and finishes one a failed load left undone).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from monitoring.services import jobs
from predictions.models import Prediction
from predictions.services import ingest
from promotions.models import StageChange
from registry.models import ModelVersion
from usecases.models import UseCase

SLUG = "bank-churn"
DAYS = 30
DRIFT_FROM_DAY = 20  # the first day (1 to DAYS) of the drift
DRIFTED_FEATURE = "salary"
GROSS_FROM_NET = 1.6
# Days 1–25. The review campaign's log (_demo_reviews) has outcomes up to ~6.8 days back:
# every day with some of those must have this traffic's too, or a day of ~100 outcomes
# would have intervals too wide for the gates.
OUTCOME_LAG_DAYS = 5
# Drawn per day, bounds included: about the fewest that keep a day's intervals narrow
# enough. Loading the demo takes ~30 s longer on SQLite with it, half of that the daily job
# (~0.3 s per day and version: the KPIs' and the comparison's 1,000 resamples).
REQUESTS_PER_DAY = (290, 310)
REQUEST_PREFIX = "live-"  # request ids: live-<yyyymmdd>-<n>
SEED = 2026


@dataclass(frozen=True)
class Scorer:
    """A version's churn score, sigmoid(slope × risk + noise), where `risk` is the log-odds of
    the holdout's generator (_demo_data.churn); on the holdout both versions' slope was 1,
    their noise 1.6 (0.9.0) and 0.5 (1.0.0)."""

    slope: float
    noise: float
    drifts: bool  # reads the salary from the new export from DRIFT_FROM_DAY on


SCORERS = {
    # A steeper slope keeps 0.9.0's scores spread as on the holdout (no drift of its score).
    "0.9.0": Scorer(slope=1.15, noise=0.8, drifts=True),
    "1.0.0": Scorer(slope=1.0, noise=0.5, drifts=False),
}
# Live churn follows the risk more sharply than the holdout's: P(churn) = sigmoid(SHARPNESS
# × risk + CHURN_OFFSET), still about one customer in five.
SHARPNESS = 2.0
CHURN_OFFSET = 0.7


def load(users: dict) -> None:
    """Log the traffic and its outcomes once, then run the daily job on each of its days for
    every deployed version of the churn use case."""
    use_case = UseCase.objects.get(slug=SLUG)
    versions = list(
        use_case.versions.filter(stage__in=jobs.DEPLOYED, version__in=SCORERS).order_by("pk")
    )
    if not versions:
        return
    logged = Prediction.objects.filter(use_case=use_case, request_id__startswith=REQUEST_PREFIX)
    if not logged.exists():
        first = jobs.utc_today() - datetime.timedelta(days=DAYS)
        # Whole or not at all; committed before any day runs, so that the outcomes' signal
        # finds no day to queue again.
        with transaction.atomic():
            _log_traffic(use_case, users["dana"], versions, first)
    days = _days(logged)
    _stages_before(use_case, days[0])
    for version in versions:
        for day in days:
            jobs.run_day(version.pk, day)  # a day already done is left as it is


def _stages_before(use_case: UseCase, first: datetime.date) -> None:
    """The demo's promotions ran at load time; the traffic says the versions served before
    it. Move the use case's stage history back, in one step keeping its order, to end an
    hour before the traffic's first day: the comparison's baseline of a day is the version
    in production then (monitoring/services/comparison.py)."""
    changes = StageChange.objects.filter(use_case=use_case)
    start = datetime.datetime.combine(first, datetime.time(), tzinfo=datetime.UTC)
    latest = changes.aggregate(at=Max("changed_at"))["at"]
    if latest is not None and latest >= start:
        changes.update(changed_at=F("changed_at") - (latest - start + datetime.timedelta(hours=1)))


def _days(logged) -> list[datetime.date]:
    """Every UTC day from the first to the last of the logged traffic."""
    span = logged.aggregate(first=Min("predicted_at"), last=Max("predicted_at"))
    first, last = (span[end].astimezone(datetime.UTC).date() for end in ("first", "last"))
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def _log_traffic(use_case, scientist, versions: list[ModelVersion], first: datetime.date):
    """One batch a day, as serving sends them, then the outcomes known by now in one."""
    known_before = timezone.now() - datetime.timedelta(days=OUTCOME_LAG_DAYS)
    outcomes = []
    for number in range(1, DAYS + 1):
        day = first + datetime.timedelta(days=number - 1)
        rows, churned = _day_rows(use_case, versions, number, day)
        ingest.log_predictions(use_case, by=scientist, rows=rows)
        day_end = datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC
        )
        if day_end <= known_before:
            outcomes += [
                {"request_id": request_id, "outcome": int(outcome)}
                for request_id, outcome in churned.items()
            ]
    ingest.attach_outcomes(use_case, by=scientist, rows=outcomes)


def _customers(rng: np.random.Generator, n: int) -> tuple[dict, np.ndarray]:
    """`n` customers drawn as the holdout's, and their churn log-odds."""
    customers = {
        "age": rng.integers(18, 90, n),
        "tenure_months": rng.integers(0, 240, n),
        "balance": np.round(np.maximum(0, rng.normal(40000, 30000, n)), 2),
        "products": rng.integers(1, 5, n),
        "has_credit_card": rng.random(n) < 0.7,
        "is_active_member": rng.random(n) < 0.55,
        "country": rng.choice(["FR", "DE", "ES"], n, p=[0.5, 0.25, 0.25]),
        DRIFTED_FEATURE: np.round(rng.uniform(15000, 150000, n), 2),
    }
    risk = (
        -1.5
        + 0.07 * (customers["age"] - 45)
        - 0.012 * customers["tenure_months"]
        - 1.6 * customers["is_active_member"]
        + 1.4 * (customers["products"] >= 3)
        + 0.9 * (customers["country"] == "DE")
    )
    return customers, risk


def _day_rows(use_case, versions, number: int, day: datetime.date) -> tuple[list, dict]:
    """Day `number`'s requests, scored by each version: the rows to log, and each request's
    outcome."""
    rng = np.random.default_rng(SEED + number)
    low, high = REQUESTS_PER_DAY
    n = int(rng.integers(low, high + 1))
    customers, risk = _customers(rng, n)
    churned = rng.random(n) < 1 / (1 + np.exp(-(SHARPNESS * risk + CHURN_OFFSET)))
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    seconds = np.sort(rng.integers(0, 24 * 3600, n))
    ids = [f"{REQUEST_PREFIX}{day:%Y%m%d}-{i:04d}" for i in range(n)]
    times = [(start + datetime.timedelta(seconds=int(s))).isoformat() for s in seconds]
    columns = {name: values.tolist() for name, values in customers.items()}
    net = customers[DRIFTED_FEATURE]
    gross = np.round(net * GROSS_FROM_NET, 2)
    threshold = use_case.decision_threshold
    rows = []
    for version in versions:
        scorer = SCORERS[version.version]
        noise = rng.normal(0, scorer.noise, n)
        score = np.round(1 / (1 + np.exp(-(scorer.slope * risk + noise))), 4).tolist()
        salary = (gross if scorer.drifts and number >= DRIFT_FROM_DAY else net).tolist()
        for i in range(n):
            features = {name: values[i] for name, values in columns.items()}
            features[DRIFTED_FEATURE] = salary[i]
            rows.append(
                {
                    "version": version.version,
                    "request_id": ids[i],
                    "timestamp": times[i],
                    "features": features,
                    "prediction": int(score[i] >= threshold),
                    "score": score[i],
                    "segment": columns["country"][i],
                }
            )
    return rows, dict(zip(ids, churned.tolist(), strict=True))
