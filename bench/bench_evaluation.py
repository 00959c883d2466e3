"""Worker time of one evaluation of 1,000,000 predictions with 20 segments, read from
PostgreSQL, and the accuracy of its intervals against a plain bootstrap.

Method. For a regression (forecast) and a binary use case: 1,000,000 generated rows in 20
segments, the dataset and one version's predictions stored as the app stores them (Parquet
blobs in PostgreSQL), a value model and a gating KPI. We time the service the Celery task
calls, `evaluations.run_evaluation()`: claim, read both blobs from the database, every
metric of the task type with 1,000-resample 95 % intervals, the same per segment, business
value (and the best threshold), chart data, KPI gates and the transaction that stores the
results. Best of 3 runs.

In the same run, on the same arrays in memory:
- "bare numpy": the same point metrics overall (no intervals, no segments, no database),
  the floor any implementation pays;
- "plain bootstrap": the textbook percentile bootstrap with numpy (draw 1,000,000 row
  indices 1,000 times, recompute the metrics), regression only (for ROC AUC it would take
  minutes), timed on 50 resamples and scaled to 1,000.

Accuracy: the interval ends of the service's method (batch-means bootstrap over 2,000 random
buckets, first-order expansion for ROC AUC and PR AUC; see registry/metrics.py) are
compared with a plain bootstrap's. The error is stated as a share of the plain interval's
width, next to the Monte-Carlo noise of the plain bootstrap itself (two plain bootstraps
with different seeds). Regression: 1,000,000 rows, 1,000 plain resamples of MAE, RMSE,
WAPE and bias. Binary: 100,000 rows, 300 plain resamples of ROC AUC, PR AUC, F1 and log
loss (scikit-learn), against the service's method on the same rows.

Run with `make bench` (needs PostgreSQL; DATABASE_URL defaults to a quorum_bench database
on 127.0.0.1:5432, created if missing).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

ROWS = 1_000_000
SEGMENTS = 20
RESAMPLES = 1000


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def regression_point(y, p) -> tuple:
    error = p - y
    absolute = np.abs(error)
    return (
        absolute.mean(),
        np.sqrt((error**2).mean()),
        (absolute / np.maximum(np.abs(y), np.finfo(float).eps)).mean(),
        absolute.sum() / np.abs(y).sum(),
        error.mean(),
    )


def binary_point(y, s, threshold=0.5) -> tuple:
    predicted = s >= threshold
    tp = np.sum(y & predicted)
    fp = np.sum(~y & predicted)
    fn = np.sum(y & ~predicted)
    order = np.argsort(-s, kind="stable")
    ranked_y = y[order]
    tps = np.cumsum(ranked_y)
    fps = np.cumsum(~ranked_y)
    clipped = np.clip(s, 1e-15, 1 - 1e-15)
    return (
        (tp + (len(y) - tp - fp - fn)) / len(y),
        tp / (tp + fp),
        tp / (tp + fn),
        2 * tp / (2 * tp + fp + fn),
        np.trapezoid(tps / tps[-1], fps / fps[-1]),
        np.sum(tps[ranked_y] / (tps[ranked_y] + fps[ranked_y])) / tps[-1],
        -np.mean(np.where(y, np.log(clipped), np.log1p(-clipped))),
        np.mean((s - y) ** 2),
    )


def best_time(function, runs=3) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times), times


def service_run(task_type: str, y, prediction, score, segments) -> tuple[float, list[float]]:
    from django.contrib.auth import get_user_model
    from tests.usecases.test_evaluations import make_dataset, make_predictions

    from registry.models import Evaluation
    from registry.services import evaluations, registering
    from usecases.models import KPI, UseCase
    from usecases.services import definitions
    from usecases.services import usecases as use_case_services

    user, _ = get_user_model().objects.get_or_create(username="bench")
    slug = f"bench-{task_type}"
    UseCase.objects.filter(slug=slug).delete()
    use_case = use_case_services.create_use_case(
        by=user, slug=slug, title=f"Bench {task_type}", task_type=task_type
    )
    if task_type == "regression":
        definitions.save_value_model(
            use_case, by=user, cost_per_unit_under=2.4, cost_per_unit_over=0.65
        )
        kpi = {"metric": "mae", "direction": "lower", "target": 1.0, "gate_threshold": 1.5}
    else:
        definitions.save_value_model(
            use_case,
            by=user,
            value_true_positive=120,
            value_true_negative=0,
            cost_false_positive=15,
            cost_false_negative=60,
        )
        kpi = {"metric": "roc_auc", "direction": "higher", "target": 0.8, "gate_threshold": 0.7}
    KPI.objects.create(use_case=use_case, name="Gate", gate_mode="bound", **kpi)
    dataset = make_dataset(use_case, user, y, segments)
    version = registering.register_version(use_case, by=user, version="1.0")
    make_predictions(version, dataset, user, prediction=prediction, score=score)
    evaluation = Evaluation.objects.create(
        use_case=use_case, model_version=version, dataset=dataset, requested_by=user
    )

    def run():
        Evaluation.objects.filter(pk=evaluation.pk).update(
            status="queued", attempts=0, claimed_by=""
        )
        assert evaluations.run_evaluation(evaluation.pk, task_id="bench")

    result = best_time(run)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    UseCase.objects.filter(pk=use_case.pk).delete()
    return result


def plain_bootstrap(function, arrays, resamples, seed) -> np.ndarray:
    """(resamples × metrics) of the textbook bootstrap: draw n indices, recompute."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    out = []
    for _ in range(resamples):
        rows = rng.integers(0, n, n)
        out.append(function(*(a[rows] for a in arrays)))
    return np.array(out, dtype=float)


def interval_errors(names, ours: dict, plain: np.ndarray, other: np.ndarray) -> list[str]:
    lines = []
    for j, name in enumerate(names):
        low, high = np.percentile(plain[:, j], [2.5, 97.5])
        low2, high2 = np.percentile(other[:, j], [2.5, 97.5])
        width = high - low
        ours_low, ours_high = ours[name]["low"], ours[name]["high"]
        error = max(abs(ours_low - low), abs(ours_high - high)) / width
        noise = max(abs(low2 - low), abs(high2 - high)) / width
        lines.append(
            f"  {name:9} plain [{low:.5g}, {high:.5g}]  ours [{ours_low:.5g}, {ours_high:.5g}]"
            f"  largest end error {error:.1%} of the width (plain vs plain: {noise:.1%})"
        )
    return lines


def main() -> None:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from sklearn import metrics as skm

    from registry import metrics

    rng = np.random.default_rng(2026)
    names = np.array([f"S{n:02d}" for n in range(1, SEGMENTS + 1)])
    segments = names[rng.integers(0, SEGMENTS, ROWS)]
    print(f"rows: {ROWS:,}, segments: {SEGMENTS}, resamples: {RESAMPLES}")

    # Regression (forecast).
    y = rng.gamma(3, 4, ROWS) + 1.0
    p = y + rng.normal(0.3, 1.5, ROWS)
    service, runs = service_run("regression", y, p, None, segments)
    bare, _ = best_time(lambda: regression_point(y, p))
    started = time.perf_counter()
    plain_bootstrap(regression_point, (y, p), 50, seed=1)
    plain = (time.perf_counter() - started) * RESAMPLES / 50
    print("\nregression (MAE, RMSE, MAPE, WAPE, bias, business value; intervals; segments)")
    print(f"  run_evaluation, DB read included, best of 3: {service:.2f} s", end="")
    print(f" (runs: {', '.join(f'{t:.2f}' for t in runs)})")
    print(f"  bare numpy point metrics: {bare * 1000:.0f} ms; ratio {service / bare:.0f}x")
    print(f"  plain numpy bootstrap, overall only (scaled from 50 resamples): {plain:.0f} s;")
    print(f"  ratio run_evaluation / plain bootstrap: {service / plain:.3f}")
    print(f"  target: under 5 s of worker time: {'met' if service < 5 else 'NOT met'}")

    # Binary classification.
    labels = rng.random(ROWS) < 0.25
    score = np.clip(0.25 * labels + rng.beta(2, 3, ROWS), 0, 1)
    service, runs = service_run("binary", labels.astype(int), None, score, segments)
    bare, _ = best_time(lambda: binary_point(labels, score))
    print("\nbinary (accuracy … Brier, ROC AUC, PR AUC, business value and best threshold)")
    print(f"  run_evaluation, DB read included, best of 3: {service:.2f} s", end="")
    print(f" (runs: {', '.join(f'{t:.2f}' for t in runs)})")
    print(f"  bare numpy point metrics: {bare * 1000:.0f} ms; ratio {service / bare:.0f}x")
    print(f"  target: under 5 s of worker time: {'met' if service < 5 else 'NOT met'}")

    # Accuracy of the intervals.
    print("\ninterval accuracy, regression, 1,000,000 rows, 1,000 plain resamples:")
    ours = metrics.evaluate("regression", y, p, seed=7).to_dict()["overall"]
    keys = ["mae", "rmse", "wape", "bias"]

    def four(a, b):
        point = regression_point(a, b)
        return point[0], point[1], point[3], point[4]

    first = plain_bootstrap(four, (y, p), RESAMPLES, seed=1)
    second = plain_bootstrap(four, (y, p), RESAMPLES, seed=2)
    print("\n".join(interval_errors(keys, ours, first, second)))

    n = 100_000
    print(f"\ninterval accuracy, binary, {n:,} rows, 300 plain resamples (scikit-learn):")
    yb, sb = labels[:n], score[:n]
    ours = metrics.evaluate("binary", yb.astype(int), proba=sb, seed=7).to_dict()["overall"]
    keys = ["roc_auc", "pr_auc", "f1", "log_loss"]

    def sk(a, b):
        return (
            skm.roc_auc_score(a, b),
            skm.average_precision_score(a, b),
            skm.f1_score(a, b >= 0.5),
            skm.log_loss(a, b, labels=[False, True]),
        )

    first = plain_bootstrap(sk, (yb, sb), 300, seed=1)
    second = plain_bootstrap(sk, (yb, sb), 300, seed=2)
    print("\n".join(interval_errors(keys, ours, first, second)))


if __name__ == "__main__":
    main()
