"""Reads of the registry's pages and endpoints. List pages never load a Parquet blob: the
blobs live in StoredTable, reached only through `table_id`."""

from __future__ import annotations

from django.db.models import Count, FloatField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from portal.formatting import format_money, format_p_value, natural_key
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet
from usecases.catalogue import LOWER_IS_BETTER, Metric, format_difference, format_metric
from usecases.models import KPI, UseCase, ValueModel

# Precision, recall and F1 of a multiclass evaluation are macro averages (the results contract).
MACRO_AVERAGED = {Metric.PRECISION, Metric.RECALL, Metric.F1}

# The leaderboard's metric when no KPI gates promotion: the usual headline of each task type.
DEFAULT_RANKING_METRIC = {
    UseCase.TaskType.REGRESSION: Metric.MAE,
    UseCase.TaskType.BINARY: Metric.ROC_AUC,
    UseCase.TaskType.MULTICLASS: Metric.F1,
}


def version_rows(use_case: UseCase) -> QuerySet:
    """The use case's model versions, newest first, each with its latest current evaluation's
    id, status, dataset and gate result, and its number of prediction sets."""
    latest = (
        Evaluation.objects.current()
        .filter(model_version=OuterRef("pk"))
        .order_by("-queued_at", "-pk")
    )
    prediction_sets = (
        PredictionSet.objects.filter(model_version=OuterRef("pk"))
        .order_by()
        .values("model_version")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        ModelVersion.objects.filter(use_case=use_case)
        .select_related("registered_by")
        .annotate(
            latest_evaluation_id=Subquery(latest.values("pk")[:1]),
            latest_status=Subquery(latest.values("status")[:1]),
            latest_passed_gates=Subquery(latest.values("passed_gates")[:1]),
            latest_dataset=Subquery(latest.values("dataset__name")[:1]),
            prediction_set_count=Coalesce(Subquery(prediction_sets), 0),
        )
        .order_by("-created_at", "-pk")
    )


def dataset_rows(use_case: UseCase) -> QuerySet:
    """The use case's evaluation datasets, newest first, with their prediction-set and
    current-evaluation counts; the label summary and rule report are left in the database."""
    current = Q(evaluations__superseded_at__isnull=True)
    return (
        EvaluationDataset.objects.filter(use_case=use_case)
        .select_related("uploaded_by")
        .defer("label_summary", "rule_violations")
        .annotate(
            prediction_set_count=Count("prediction_sets", distinct=True),
            evaluation_count=Count("evaluations", filter=current, distinct=True),
        )
        .order_by("-created_at", "-pk")
    )


def evaluation_rows(use_case: UseCase) -> QuerySet:
    """The use case's current evaluations (not superseded by a later run), most recently
    queued first, without their results."""
    return (
        Evaluation.objects.current()
        .filter(use_case=use_case)
        .select_related("model_version", "dataset", "requested_by")
        .defer("results", "dataset__label_summary", "dataset__rule_violations")
        .order_by("-queued_at", "-pk")
    )


def latest_succeeded_evaluation(
    model_version: ModelVersion, dataset: EvaluationDataset
) -> Evaluation | None:
    """The current evaluation of `model_version` on `dataset` if it succeeded, else None (none
    yet, failed, or a re-run still queued or running: its predecessor is superseded)."""
    return (
        Evaluation.objects.current()
        .filter(model_version=model_version, dataset=dataset, status=Evaluation.Status.SUCCEEDED)
        .first()
    )


def reference_dataset(use_case: UseCase) -> EvaluationDataset | None:
    """The dataset the owner marked as the reference for promotion, else the newest one,
    else None. One query."""
    return (
        EvaluationDataset.objects.filter(use_case=use_case)
        .order_by("-is_reference", "-created_at", "-pk")
        .first()
    )


def ranking_metric(use_case: UseCase, kpis=None) -> dict:
    """The metric the leaderboard ranks by: the first gating KPI's (over all rows, bias
    aside), else the task type's default; {"metric", "label", "direction", "kpi"}."""
    kpis = use_case.kpis.order_by("name") if kpis is None else kpis
    # Bias is best at 0, not at an end of the scale: it cannot rank versions on its own.
    kpi = next((k for k in kpis if k.is_gating and not k.segment and k.metric != Metric.BIAS), None)
    if kpi is not None:
        metric, direction = kpi.metric, kpi.direction
    else:
        metric = DEFAULT_RANKING_METRIC[use_case.task_type]
        direction = KPI.Direction.LOWER if metric in LOWER_IS_BETTER else KPI.Direction.HIGHER
    return {
        "metric": metric,
        "label": Metric(metric).label,
        "direction": direction,
        "better": _better(metric),
        "kpi": kpi.name if kpi is not None else "",
    }


def leaderboard(use_case: UseCase) -> dict:
    """Current succeeded evaluations ranked per dataset by `ranking_metric` (best first); rows
    without the metric come last; `on_other_kpis` marks a row whose gates were measured on
    other gating KPIs than the use case's now. Reads one number per evaluation, not its
    results."""
    ranking = ranking_metric(use_case)
    currency = _currency(use_case.pk) if ranking["metric"] == Metric.BUSINESS_VALUE else ""
    # Versions compare on the same gating KPIs: those the use case has now, unchanged since
    # the evaluation started; a row measured on others says so instead of a gate count.
    gating_now = dict(use_case.kpis.filter(is_gating=True).values_list("pk", "updated_at"))
    last_change = max(gating_now.values(), default=None)
    path = f"results__overall__{ranking['metric']}"
    rows = (
        Evaluation.objects.current()
        .filter(use_case=use_case, status=Evaluation.Status.SUCCEEDED)
        .select_related("model_version", "dataset")
        .only(
            "pk",
            "created_at",
            "gates",
            "passed_gates",
            "finished_at",
            "model_version__version",
            "model_version__stage",
            "model_version__use_case_id",
            "dataset__name",
            "dataset__row_count",
        )
        .annotate(
            score=Cast(KT(f"{path}__value"), FloatField()),
            score_low=Cast(KT(f"{path}__low"), FloatField()),
            score_high=Cast(KT(f"{path}__high"), FloatField()),
        )
        .order_by("dataset__name", "dataset_id")
    )
    lower = ranking["direction"] == KPI.Direction.LOWER
    # Bias is best at zero (see LOWER_IS_BETTER): rank by its size.
    size = abs if ranking["metric"] == Metric.BIAS else (lambda value: value)
    boards: dict[int, dict] = {}
    for row in rows:
        board = boards.setdefault(row.dataset_id, {"dataset": row.dataset, "rows": []})
        gating = [gate for gate in row.gates or [] if gate.get("is_gating")]
        row.gates_passed = sum(gate.get("passed") is True for gate in gating)
        row.gates_total = len(gating)
        row.on_other_kpis = {gate.get("kpi") for gate in gating} != set(gating_now) or (
            last_change is not None and row.created_at < last_change
        )
        estimate = {"value": row.score, "low": row.score_low, "high": row.score_high}
        row.score_text = format_metric(ranking["metric"], row.score, currency)
        row.interval_text = _interval(ranking["metric"], estimate, currency)
        board["rows"].append(row)
    for board in boards.values():
        board["rows"].sort(
            key=lambda r: (
                r.score is None,
                0 if r.score is None else size(r.score) if lower else -r.score,
            )
        )
        for rank, row in enumerate(board["rows"], start=1):
            row.rank = rank if row.score is not None else None
    return {"ranking": ranking, "boards": list(boards.values())}


def _interval(metric: str, estimate: dict, currency: str = "") -> str:
    """ "3.388 – 3.708": the bounds with their estimate's decimals; "" when not computed."""
    low, high, value = estimate.get("low"), estimate.get("high"), estimate.get("value")
    if low is None or high is None:
        return ""
    bounds = (format_metric(metric, bound, currency, like=value) for bound in (low, high))
    return " – ".join(bounds)


def _currency(use_case_id: int) -> str:
    values = ValueModel.objects.filter(use_case_id=use_case_id).values_list("currency", flat=True)
    return values.first() or ""


def _metric_label(metric: str, task_type: str) -> str:
    label = Metric(metric).label if metric in Metric.values else metric
    if task_type == UseCase.TaskType.MULTICLASS and metric in MACRO_AVERAGED:
        label += " (macro)"
    return label


def _better(metric: str) -> str:
    if metric == Metric.BIAS:
        return "best at 0"
    return "lower is better" if metric in LOWER_IS_BETTER else "higher is better"


def _gate_row(gate: dict, task_type: str, currency: str) -> dict:
    metric = gate.get("metric") or ""
    label = _metric_label(metric, task_type)
    threshold, direction = gate.get("threshold"), gate.get("direction")
    compared = f"|{label}|" if metric == Metric.BIAS else label
    rule = ""
    if threshold is not None and direction in KPI.Direction.values:
        sign = "≤" if direction == KPI.Direction.LOWER else "≥"
        rule = f"{compared} {sign} {format_metric(metric, threshold, currency)}"
    bound = gate.get("mode") == KPI.GateMode.CONFIDENCE_BOUND
    return {
        "name": gate.get("name") or label,
        "metric": label,
        "segment": gate.get("segment") or "",
        "value": format_metric(metric, gate.get("value"), currency),
        "interval": _interval(metric, gate, currency),
        "rule": rule,
        "mode": "on the worse end of the 95 % interval" if bound else "on the value",
        "target": format_metric(metric, gate.get("target"), currency),
        "is_gating": bool(gate.get("is_gating")),
        "passed": gate.get("passed"),
        # The service may fail a gate whose metric is undefined rather than leave it null.
        "reason": gate.get("reason")
        or ("not measured on this data" if gate.get("value") is None else ""),
    }


def _business(business: dict | None, currency: str) -> dict | None:
    if not business:
        return None
    total, per_row = business.get("total") or {}, business.get("per_row") or {}
    report = {
        "total": format_money(total.get("value"), currency),
        "total_interval": _interval("business_value", total, currency),
        "is_loss": (total.get("value") or 0) < 0,
        "per_row": format_money(per_row.get("value"), currency),
        "per_row_interval": _interval("business_value", per_row, currency),
        "threshold": business.get("threshold"),
        "best_threshold": business.get("best_threshold"),
        "best_total": format_money(business.get("best_total"), currency),
        "gain": "",
    }
    best, current = business.get("best_total"), total.get("value")
    if best is not None and current is not None and best > current:
        report["gain"] = format_money(best - current, currency)
    return report


def _comparison_row(
    metric: str, entry: dict, task_type: str, currency: str, p_floor: float | None = None
) -> dict:
    challenger, champion = entry.get("challenger"), entry.get("champion")
    difference, p_value = entry.get("difference"), entry.get("p_value")
    low, high = entry.get("low"), entry.get("high")
    clear = (p_value is not None and p_value < 0.05) or (
        low is not None and high is not None and (low > 0 or high < 0)
    )
    verdict = "unknown"
    if difference is not None and challenger is not None and champion is not None:
        if metric == Metric.BIAS:
            improved = abs(challenger) < abs(champion)
        elif metric in LOWER_IS_BETTER:
            improved = difference < 0
        else:
            improved = difference > 0
        verdict = ("better" if improved else "worse") if clear and difference != 0 else "same"
    interval = ""
    if low is not None and high is not None:
        interval = (
            f"{format_difference(metric, low, currency, like=difference)} to "
            f"{format_difference(metric, high, currency, like=difference)}"
        )
    return {
        "label": _metric_label(metric, task_type),
        "challenger": format_metric(metric, challenger, currency),
        "champion": format_metric(metric, champion, currency),
        "difference": format_difference(metric, difference, currency),
        "interval": interval,
        "p_value": format_p_value(p_value, floor=p_floor),
        "verdict": verdict,
    }


def _method(method: dict, worker_seconds: float | None) -> str:
    parts = []
    if method.get("resamples"):
        confidence = method.get("confidence") or 0.95
        scheme = " over buckets of rows" if method.get("scheme") == "buckets" else ""
        parts.append(
            f"{confidence * 100:.0f} % intervals: {method.get('intervals') or 'bootstrap'}, "
            f"{method['resamples']:,} resamples{scheme}, seed {method.get('seed', 0)}"
        )
    if worker_seconds is not None:
        parts.append(f"computed in {worker_seconds:.1f} s of worker time")
    return "; ".join(parts)


def definitions_changed(evaluation: Evaluation) -> list[str]:
    """What of the use case's definitions changed since the evaluation started, in words: "the
    KPIs" (one added, edited or removed), "the value model", "the decision threshold"
    (binary). Empty while its results still mean what they say. Two queries."""
    use_case = evaluation.use_case
    kpis = list(use_case.kpis.values_list("pk", "updated_at"))
    return changed_since(
        evaluation.created_at,
        measured={gate.get("kpi") for gate in evaluation.gates or []},
        kpi_ids={pk for pk, _ in kpis},
        kpis_saved_at=max((at for _, at in kpis), default=None),
        value_model_at=ValueModel.objects.filter(use_case=use_case)
        .values_list("updated_at", flat=True)
        .first(),
        binary=use_case.task_type == UseCase.TaskType.BINARY,
        threshold=evaluation.threshold,
        decision_threshold=use_case.decision_threshold,
    )


def changed_since(
    started,
    *,
    measured: set,
    kpi_ids: set,
    kpis_saved_at,
    value_model_at,
    binary: bool,
    threshold: float | None,
    decision_threshold: float | None,
) -> list[str]:
    """The rule of definitions_changed on plain values, for callers that read them in bulk
    (promotions/services/gates.py): the KPIs measured are not the KPIs now, or one was saved
    after the evaluation started; the value model was saved after it; a binary evaluation's
    threshold is not the use case's."""
    changed = []
    if kpi_ids != measured or (kpis_saved_at is not None and kpis_saved_at > started):
        changed.append("the KPIs")
    if value_model_at is not None and value_model_at > started:
        changed.append("the value model")
    if binary and threshold is not None and threshold != decision_threshold:
        changed.append("the decision threshold")
    return changed


def evaluation_report(evaluation: Evaluation) -> dict:
    """A finished evaluation's results (docs/evaluation-results.md) as the page shows them:
    texts in each metric's unit, "—" where a number is missing. One query (the currency)."""
    results = evaluation.results or {}
    task_type = results.get("task_type") or evaluation.use_case.task_type
    currency = _currency(evaluation.use_case_id)
    overall = results.get("overall") or {}
    keys = list(overall)
    labels = {key: _metric_label(key, task_type) for key in keys}
    metrics = [
        {
            "key": key,
            "label": labels[key],
            "value": format_metric(key, (overall[key] or {}).get("value"), currency),
            "interval": _interval(key, overall[key] or {}, currency),
            "better": _better(key),
        }
        for key in keys
    ]
    gates = [_gate_row(gate, task_type, currency) for gate in evaluation.gates or []]
    gating = [gate for gate in gates if gate["is_gating"]]
    segments = results.get("segments") or {}
    segment_rows = []
    for name in sorted(segments, key=natural_key):
        segment = segments[name] or {}
        estimates = segment.get("metrics") or {}
        cells = [
            {
                "value": format_metric(key, (estimates.get(key) or {}).get("value"), currency),
                "interval": _interval(key, estimates.get(key) or {}, currency),
            }
            for key in keys
        ]
        segment_rows.append({"name": name, "rows": segment.get("rows"), "cells": cells})
    comparison = results.get("comparison")
    resamples = (results.get("method") or {}).get("resamples")
    # The paired bootstrap's smallest two-sided p-value (registry/metrics.py).
    p_floor = 2 / (resamples + 1) if resamples else None
    headline = next(
        (
            g["metric"]
            for g in evaluation.gates or []
            if g.get("is_gating") and not g.get("segment") and g.get("metric") in overall
        ),
        DEFAULT_RANKING_METRIC.get(task_type),
    )
    return {
        "task_type": task_type,
        "rows": results.get("rows"),
        "currency": currency,
        "labels": labels,
        "headline": headline,
        "metrics": metrics,
        "gates": gates,
        "gates_gating": len(gating),
        "gates_failed": sum(gate["passed"] is False for gate in gating),
        "gates_unmeasured": sum(gate["passed"] is None for gate in gating),
        "business": _business(results.get("business_value"), currency),
        "segment_columns": [labels[key] for key in keys],
        "segments": segment_rows,
        "comparison": (
            [
                _comparison_row(key, comparison[key] or {}, task_type, currency, p_floor)
                for key in comparison
            ]
            if comparison
            else None
        ),
        "method": _method(results.get("method") or {}, evaluation.worker_seconds),
    }


def gate_result(gate: dict) -> str:
    """A KPI gate's state in words: passed, failed, incomplete (not measurable on the data),
    or, for an informational KPI, "misses target" (it never blocks)."""
    if gate.get("passed") is None:
        return "incomplete"
    if gate["passed"]:
        return "passed"
    return "failed" if gate.get("is_gating") else "misses target"


def evaluation_display(evaluation: Evaluation) -> dict:
    """A succeeded evaluation's figures as the page writes them (units, currency, intervals,
    p-values at the bootstrap's floor), for clients that print them (the CLI): one formatter
    for pages, charts, exports and the command line. One query."""
    report = evaluation_report(evaluation)
    comparison_keys = list((evaluation.results or {}).get("comparison") or {})
    business = report["business"]
    return {
        "currency": report["currency"],
        "metrics": {
            metric["key"]: {
                "label": metric["label"],
                "value": metric["value"],
                "interval": metric["interval"],
            }
            for metric in report["metrics"]
        },
        "comparison": (
            dict(zip(comparison_keys, report["comparison"], strict=True))
            if report["comparison"]
            else None
        ),
        "gates": [
            {
                "name": gate["name"],
                "metric": gate["metric"],
                "segment": gate["segment"],
                "value": gate["value"],
                "rule": gate["rule"],
                "result": gate_result(raw),
            }
            for gate, raw in zip(report["gates"], evaluation.gates or [], strict=True)
        ],
        "business_value": (
            {"total": business["total"], "interval": business["total_interval"]}
            if business
            else None
        ),
    }


def violations_by_severity(rule_violations: list[dict]) -> list[dict]:
    """A dataset's rule counts per severity, errors first: {"severity", "rules", "violations"
    (rows, over its checked rules), "unchecked" (rules that could not be checked)}."""
    rows: dict[str, dict] = {}
    for entry in rule_violations or []:
        severity = entry.get("severity") or "error"
        row = rows.setdefault(
            severity, {"severity": severity, "rules": 0, "violations": 0, "unchecked": 0}
        )
        row["rules"] += 1
        if entry.get("checked") is False:
            row["unchecked"] += 1
        else:
            row["violations"] += entry.get("violations") or 0
    order = {"error": 0, "warning": 1}
    return sorted(rows.values(), key=lambda row: order.get(row["severity"], 2))
