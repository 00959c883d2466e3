"""Reads of the Monitoring tab: the versions it can show, and one version's daily figures over
a period. A fixed number of queries whatever the number of days or features: every list is
one query over the period (the drift rows without their histograms)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Q

from monitoring.drift import PSI_SIGNIFICANT
from monitoring.models import (
    Alert,
    DailyComparison,
    DailyDifference,
    DailyDrift,
    DailyKPI,
    DailyQuality,
    DailyRun,
    WeeklyKPI,
)
from monitoring.services.alerts import USE_CASE_KINDS
from monitoring.services.jobs import utc_today
from monitoring.services.weeks import monday_of
from portal.formatting import format_p_value
from registry.models import ModelVersion
from usecases.catalogue import format_difference, format_metric
from usecases.models import UseCase

Stage = ModelVersion.Stage
DEPLOYED_ORDER = (Stage.PRODUCTION, Stage.CANARY, Stage.SHADOW)  # the picker's order
DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date

    @property
    def days(self) -> list[datetime.date]:
        count = (self.end - self.start).days + 1
        return [self.start + datetime.timedelta(days=i) for i in range(count)]


def period_from(start: str | None, end: str | None) -> Period:
    """The period of the query string: DEFAULT_DAYS days up to `end`, by default up to
    yesterday (UTC), the last day the nightly job computed; dates that do not parse are
    ignored, reversed ones swapped, the span capped at MAX_DAYS."""
    last = _date(end) or utc_today() - datetime.timedelta(days=1)
    first = _date(start) or last - datetime.timedelta(days=DEFAULT_DAYS - 1)
    first, last = min(first, last), max(first, last)
    first = max(first, last - datetime.timedelta(days=MAX_DAYS - 1))
    return Period(first, last)


# Dates asked for are kept within these, far from the calendar's ends (the period's
# arithmetic, a week's Monday, would overflow at year 1 or 9999).
FIRST_DAY, LAST_DAY = datetime.date(1970, 1, 1), datetime.date(9000, 12, 31)


def _date(text: str | None) -> datetime.date | None:
    try:
        day = datetime.date.fromisoformat(text) if text else None
    except ValueError:
        return None
    return min(max(day, FIRST_DAY), LAST_DAY) if day else None


def monitored_versions(use_case: UseCase) -> list[ModelVersion]:
    """Deployed versions first (production, canary, shadow), then the others with runs,
    newest first: the version picker's choices."""
    has_runs = Exists(DailyRun.objects.filter(model_version=OuterRef("pk")))
    versions = list(
        ModelVersion.objects.filter(use_case=use_case)
        .filter(Q(stage__in=DEPLOYED_ORDER) | Q(has_runs))
        .only("pk", "use_case_id", "version", "stage", "created_at")
        .order_by("-created_at", "-pk")
    )
    rank = {stage: i for i, stage in enumerate(DEPLOYED_ORDER)}
    return sorted(versions, key=lambda v: rank.get(v.stage, len(rank)))


@dataclass
class Monitoring:
    """One version's figures over a period, as plain rows for the page and its charts."""

    period: Period
    runs: list[DailyRun] = field(default_factory=list)
    kpis: list = field(default_factory=list)  # the use case's KPIs
    kpi_rows: list[dict] = field(default_factory=list)  # day, kpi_id, value, low, high, n
    drift_rows: list[dict] = field(default_factory=list)  # day, feature, psi, p-values…
    quality_rows: list[dict] = field(default_factory=list)  # day, rule_id, rule_text, counts


def monitoring(use_case: UseCase, version: ModelVersion, period: Period) -> Monitoring:
    """Five queries: the runs, the KPIs, and the day's KPI values, drift and rule figures."""
    runs = DailyRun.objects.filter(
        model_version=version, day__gte=period.start, day__lte=period.end
    )
    of_runs = {"run__in": runs.values("pk")}
    return Monitoring(
        period=period,
        runs=list(runs.order_by("-day")),
        kpis=list(use_case.kpis.order_by("name")),
        kpi_rows=list(
            DailyKPI.objects.filter(**of_runs)
            .order_by("run__day")
            .values("kpi_id", "value", "low", "high", "n", day=F("run__day"))
        ),
        drift_rows=list(
            DailyDrift.objects.filter(**of_runs)
            .order_by("feature", "run__day")
            .values(
                "feature",
                "kind",
                "psi",
                "ks_p_value",
                "chi2_p_value",
                "missing_share",
                "unseen_share",
                day=F("run__day"),
            )
        ),
        quality_rows=list(
            DailyQuality.objects.filter(**of_runs)
            .order_by("rule_text", "run__day")
            .values("rule_id", "rule_text", "rows_checked", "rows_violating", day=F("run__day"))
        ),
    )


def weekly_kpi_rows(version: ModelVersion, period: Period) -> list[dict]:
    """The KPIs of the weeks that overlap the period (`day`: the week's Monday), one query."""
    first = monday_of(period.start)
    return list(
        WeeklyKPI.objects.filter(model_version=version, week__gte=first, week__lte=period.end)
        .order_by("week")
        .values("kpi_id", "value", "low", "high", "n", day=F("week"))
    )


def feature_drift(version: ModelVersion, feature: str, period: Period) -> list[dict]:
    """The feature's drift per day of the period (no histograms), oldest first."""
    return list(
        DailyDrift.objects.filter(
            run__model_version=version,
            run__day__gte=period.start,
            run__day__lte=period.end,
            feature=feature,
        )
        .order_by("run__day")
        .values(
            "pk",
            "kind",
            "psi",
            "ks_statistic",
            "ks_p_value",
            "chi2_statistic",
            "chi2_p_value",
            "missing_share",
            "missing_share_reference",
            "unseen_share",
            "n_reference",
            "n_live",
            day=F("run__day"),
        )
    )


def drift_histograms(pk: int) -> dict:
    return DailyDrift.objects.filter(pk=pk).values_list("histograms", flat=True).first() or {}


MAX_ALERTS = 50


def version_alerts(version: ModelVersion, period: Period) -> list[Alert]:
    """The version's open and acknowledged alerts, and the others seen in the period, with
    the use case's own (USE_CASE_KINDS: refused rows, whichever version's run opened them),
    most recent first (one query)."""
    active = Q(status__in=Alert.ACTIVE)
    seen = Q(last_seen_day__gte=period.start, day__lte=period.end)
    mine = Q(model_version=version) | Q(use_case_id=version.use_case_id, kind__in=USE_CASE_KINDS)
    alerts = Alert.objects.filter(active | seen).filter(mine)
    return list(alerts.order_by("-last_seen_day", "-pk")[:MAX_ALERTS])


def feature_rows(drift_rows: list[dict]) -> list[dict]:
    """Per feature (the prediction first): its latest day with a figure, that day's PSI and
    the period's highest, for the list of drill-down links under the heat map."""
    features: dict[str, dict] = {}
    for row in drift_rows:  # ordered by feature, then day
        entry = features.setdefault(row["feature"], {"feature": row["feature"], "worst": None})
        entry["day"], entry["psi"] = row["day"], row["psi"]
        if row["psi"] is not None and (entry["worst"] is None or row["psi"] > entry["worst"]):
            entry["worst"] = row["psi"]
    for entry in features.values():
        entry["drifted"] = entry["worst"] is not None and entry["worst"] > PSI_SIGNIFICANT
    return sorted(
        features.values(), key=lambda e: (not e["feature"].startswith("("), e["feature"].lower())
    )


@dataclass
class Comparison:
    """A challenger's days against production over a period: one row per day (day, baseline,
    counts, disagreement rate) and the KPIs' paired differences (day, kpi_id, figures)."""

    days: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)

    @property
    def baselines(self) -> list[str]:
        return sorted({row["baseline_label"] for row in self.days})


def comparison(version: ModelVersion, period: Period) -> Comparison:
    """Two queries: the version's compared days in the period and their KPI differences."""
    compared = DailyComparison.objects.filter(
        run__model_version=version, run__day__gte=period.start, run__day__lte=period.end
    )
    days = list(
        compared.order_by("run__day").values(
            "pk",
            "baseline_label",
            "n_paired",
            "n_disagree",
            "n_with_outcome",
            "mean_abs_difference",
            day=F("run__day"),
        )
    )
    for row in days:
        row["rate"] = row["n_disagree"] / row["n_paired"] if row["n_paired"] else None
    differences = list(
        DailyDifference.objects.filter(comparison__in=compared.values("pk"))
        .order_by("comparison__run__day")
        .values(
            "kpi_id",
            "challenger",
            "baseline",
            "difference",
            "low",
            "high",
            "p_value",
            "n",
            day=F("comparison__run__day"),
        )
    )
    return Comparison(days=days, differences=differences)


def verdict(kpi, row: dict) -> str:
    """ "better", "worse" or "unclear": whether the day's 95 % interval of the difference lies
    wholly on the side the KPI's direction calls better."""
    low, high = row.get("low"), row.get("high")
    if low is None or high is None:
        return "unclear"
    if low > 0 or high < 0:
        above = low > 0
        return "better" if above == (kpi.direction == "higher") else "worse"
    return "unclear"


def comparison_summary(kpis: list, data: Comparison) -> list[dict]:
    """Per KPI: the latest day with a difference, and how many days of the period the
    challenger was better, worse, or not distinguishable from production."""
    summary = []
    for kpi in kpis:
        rows = [
            r for r in data.differences if r["kpi_id"] == kpi.pk and r["difference"] is not None
        ]
        counts = {"better": 0, "worse": 0, "unclear": 0}
        for row in rows:
            counts[verdict(kpi, row)] += 1
        latest = rows[-1] if rows else None
        entry = {"kpi": kpi, "latest": latest, **counts}
        if latest:
            entry.update(
                verdict=verdict(kpi, latest),
                challenger=format_metric(kpi.metric, latest["challenger"]),
                baseline=format_metric(kpi.metric, latest["baseline"]),
                difference=format_difference(kpi.metric, latest["difference"]),
                interval=f"{format_difference(kpi.metric, latest['low'])} to "
                f"{format_difference(kpi.metric, latest['high'])}",
                p_value=format_p_value(latest["p_value"]),
            )
        summary.append(entry)
    return summary
