"""The daily monitoring job: one run per deployed model version and UTC day.

Delivery is at least once (acks_late + reject_on_worker_lost, STACK-NOTES §1.4); the effect
is once per (version, day) because
- a run starts by claiming its DailyRun row: the row is created if missing (INSERT … ON
  CONFLICT DO NOTHING, the unique (model_version, day)), then one conditional UPDATE takes
  it when it is queued or failed, or running with a heartbeat older than STALE, and its
  attempts are under MAX_ATTEMPTS; the row count says who won, so two workers never
  compute the same day at once, and the claim's token guards every later write;
- all of the day's results are written in one transaction that first deletes the run's
  previous ones and checks the token under the row's lock: a re-run replaces the day, a run
  killed mid-write leaves the previous day whole, a run that lost its claim writes nothing;
- the task's hard time limit (12 min) is under STALE (settings.MONITORING_STALE_SECONDS,
  15 min by default; only a test shortens it) and the heartbeat is refreshed between phases:
  a live run never looks stale.

Re-runs: `request_days` queues (version, day) pairs again (on demand, backfills, late
outcomes), one task each, so any number of workers split them. A request that arrives while
the day is running stamps `requested_at`; that run then ends queued, not succeeded, and the
day runs again with the new data.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from monitoring import tasks
from monitoring.drift import FeatureDrift
from monitoring.models import (
    DailyComparison,
    DailyDifference,
    DailyDrift,
    DailyKPI,
    DailyQuality,
    DailyRun,
)
from monitoring.services import alerts, weeks
from monitoring.services import comparison as comparison_service
from monitoring.services import kpis as kpi_service
from monitoring.services import quality as quality_service
from portal.errors import DomainError
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Over the task's hard time limit (monitoring/tasks.py) in production; read at import.
STALE = datetime.timedelta(seconds=settings.MONITORING_STALE_SECONDS)
DEPLOYED = (
    ModelVersion.Stage.PRODUCTION,
    ModelVersion.Stage.CANARY,
    ModelVersion.Stage.SHADOW,
)
MAX_DAYS_PER_REQUEST = 366
Status = DailyRun.Status


class MonitoringError(DomainError):
    pass


class RunBusy(Exception):
    """A live run elsewhere holds the day; try again once its heartbeat could be stale."""

    def __init__(self, run_id: int, retry_in: float) -> None:
        super().__init__(f"daily run {run_id} is running elsewhere")
        self.retry_in = retry_in


def utc_today() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


# --- Claiming -------------------------------------------------------------------------------


def _ensure_runs(version_id: int, days: Iterable[datetime.date]) -> None:
    """Create the missing rows as queued (ON CONFLICT DO NOTHING: a concurrent creator wins
    harmlessly), in day order so concurrent creators take the index locks in one order."""
    DailyRun.objects.bulk_create(
        [DailyRun(model_version_id=version_id, day=day) for day in sorted(set(days))],
        ignore_conflicts=True,
    )


def claim_run(version_id: int, day: datetime.date) -> str | None:
    """Queued or failed, or running with a stale heartbeat, becomes running here, attempts
    + 1 (capped); the claim's token, or None if the day is not ours to compute."""
    _ensure_runs(version_id, [day])
    now, token = timezone.now(), uuid.uuid4().hex
    claimable = Q(status__in=[Status.QUEUED, Status.FAILED]) | Q(
        status=Status.RUNNING, heartbeat_at__lt=now - STALE
    )
    rows = DailyRun.objects.filter(
        claimable, model_version_id=version_id, day=day, attempts__lt=MAX_ATTEMPTS
    )
    won = rows.update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        claimed_by=token,
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        error="",
    )
    if won:
        return token
    # A stale run out of attempts is given up, not left running for ever.
    DailyRun.objects.filter(
        model_version_id=version_id,
        day=day,
        status=Status.RUNNING,
        heartbeat_at__lt=now - STALE,
        attempts__gte=MAX_ATTEMPTS,
    ).update(
        status=Status.FAILED,
        finished_at=now,
        error=f"Given up after {MAX_ATTEMPTS} attempts.",
    )
    return None


def _mine(run_id: int, token: str):
    return DailyRun.objects.filter(pk=run_id, status=Status.RUNNING, claimed_by=token)


def _heartbeat(run_id: int, token: str) -> None:
    _mine(run_id, token).update(heartbeat_at=timezone.now())


def _fail(run_id: int, token: str, message: str) -> None:
    _mine(run_id, token).update(
        status=Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )


# --- The job --------------------------------------------------------------------------------


def run_day(version_id: int, day: datetime.date) -> bool:
    """Claim, compute and store one version's day. False when there is nothing to do (done,
    given up, version gone); raises RunBusy while another live run holds it (the task
    retries), and re-raises a failure after marking the run failed (a retry can take it)."""
    if not ModelVersion.objects.filter(pk=version_id).exists():
        return False
    token = claim_run(version_id, day)
    run = DailyRun.objects.filter(model_version_id=version_id, day=day).first()
    if token is None:
        if run is not None and run.status == Status.RUNNING:
            stale_at = (run.heartbeat_at or timezone.now()) + STALE
            retry_in = max((stale_at - timezone.now()).total_seconds(), 1.0) + 1.0
            raise RunBusy(run.pk, retry_in)
        logger.info("daily run of version %s day %s: not claimable, nothing to do", version_id, day)
        return False
    try:
        version = ModelVersion.objects.select_related("use_case__value_model").get(pk=version_id)
        day_kpis = kpi_service.day_kpis(version, day)
        _heartbeat(run.pk, token)
        day_quality = quality_service.day_quality(version, day)
        drifts = day_drifts(version, day)
        _heartbeat(run.pk, token)
        compared = comparison_service.day_comparison(version, day)
        _heartbeat(run.pk, token)
        stored = store_day(
            run.pk, token, kpis=day_kpis, quality=day_quality, drifts=drifts, compared=compared
        )
    except Exception as error:
        logger.exception("daily run %s (version %s, day %s) failed", run.pk, version_id, day)
        _fail(run.pk, token, f"{type(error).__name__}: {error}")
        raise
    return stored


def day_drifts(version: ModelVersion, day: datetime.date) -> list[FeatureDrift]:
    """Every feature's and the prediction's drift (monitoring.services.drift_data); none
    while that module is not there, or when the version has no reference yet (no succeeded
    evaluation nor a chosen window): its KPIs and data quality still count."""
    try:
        from monitoring.services import drift_data
    except ImportError:
        logger.info("drift of version %s day %s skipped: no drift_data module", version.pk, day)
        return []
    try:
        return list(drift_data.day_drift(version, day))
    except drift_data.NoReference as missing:
        logger.info("drift of version %s day %s skipped: %s", version.pk, day, missing.message)
        return []


@transaction.atomic
def store_day(
    run_id: int,
    token: str,
    *,
    kpis: kpi_service.DayKPIs,
    quality: quality_service.DayQuality,
    drifts: list[FeatureDrift],
    compared: comparison_service.DayComparison | None = None,
) -> bool:
    """Replace the run's results with these and end it, in one transaction, only while the
    claim is ours (False, nothing written, when it was lost)."""
    # Only the run's row (of=self, no ordering): a join to the version and use case would lock
    # them too, and ingestion's inserts for the use case (KEY SHARE) would wait the whole store.
    run = _mine(run_id, token).select_for_update(of=("self",)).order_by().first()
    if run is None:
        logger.warning("daily run %s: claim lost before storing; results discarded", run_id)
        return False
    DailyKPI.objects.filter(run=run).delete()
    DailyDrift.objects.filter(run=run).delete()
    DailyQuality.objects.filter(run=run).delete()
    DailyComparison.objects.filter(run=run).delete()  # its differences go with it
    DailyKPI.objects.bulk_create(
        DailyKPI(run=run, kpi=v.kpi, value=v.value, low=v.low, high=v.high, n=v.n)
        for v in kpis.values
    )
    DailyQuality.objects.bulk_create(
        DailyQuality(
            run=run,
            rule=figure.rule,
            rule_text=str(figure.rule)[:300],
            rows_checked=figure.rows_checked,
            rows_violating=figure.rows_violating,
        )
        for figure in quality.rules
    )
    DailyDrift.objects.bulk_create(_drift_row(run, drift) for drift in drifts)
    if compared is not None:
        _store_comparison(run, compared)
    # Asked for again while running: end queued, and run again with the newer data.
    again = Q(requested_at__gt=F("started_at"))
    DailyRun.objects.filter(pk=run.pk).update(
        status=Case(When(again, then=Value(Status.QUEUED)), default=Value(Status.SUCCEEDED)),
        attempts=Case(
            When(again, then=Value(0)),
            default=F("attempts"),
            output_field=DailyRun._meta.get_field("attempts"),
        ),
        finished_at=timezone.now(),
        stored_at=timezone.now(),
        heartbeat_at=timezone.now(),
        error="",
        n_predictions=kpis.n_predictions,
        n_with_outcome=kpis.n_with_outcome,
        rows_checked=quality.rows_checked,
        rows_violating=min(quality.rows_violating, quality.rows_checked),
        rows_received=quality.rows_received,
        rows_refused=min(quality.rows_refused, quality.rows_received),
    )
    # The day's alerts, from the figures just stored and in the same transaction.
    alerts.evaluate_alerts(run)
    if DailyRun.objects.filter(pk=run.pk, status=Status.QUEUED).exists():
        tasks.run_day_task.delay_on_commit(run.model_version_id, run.day.isoformat())
    else:  # its week's KPIs, once the week is over (services/weeks.py)
        weeks.queue_week_of(run.model_version_id, run.day, utc_today())
    logger.info(
        "daily run %s (version %s, day %s) stored: %s KPIs, %s rules, %s features",
        run.pk,
        run.model_version_id,
        run.day,
        len(kpis.values),
        len(quality.rules),
        len(drifts),
    )
    return True


def _store_comparison(run: DailyRun, compared: comparison_service.DayComparison) -> None:
    stored = DailyComparison.objects.create(
        run=run,
        baseline=compared.baseline,
        baseline_label=compared.baseline.version[:200],
        n_paired=compared.n_paired,
        n_disagree=compared.n_disagree,
        n_with_outcome=compared.n_with_outcome,
        mean_abs_difference=compared.mean_abs_difference,
    )
    DailyDifference.objects.bulk_create(
        DailyDifference(
            comparison=stored,
            kpi=d.kpi,
            challenger=d.challenger,
            baseline=d.baseline,
            difference=d.difference,
            low=d.low,
            high=d.high,
            p_value=d.p_value,
            n=d.n,
        )
        for d in compared.differences
    )


def _drift_row(run: DailyRun, drift: FeatureDrift) -> DailyDrift:
    data = drift.to_dict()
    return DailyDrift(
        run=run,
        feature=drift.feature[:200],
        kind=drift.kind,
        psi=drift.psi,
        ks_statistic=drift.ks_statistic,
        ks_p_value=drift.ks_p_value,
        chi2_statistic=drift.chi2_statistic,
        chi2_p_value=drift.chi2_p_value,
        missing_share=drift.missing_share_live,
        missing_share_reference=drift.missing_share_reference,
        unseen_share=drift.unseen_share,
        n_reference=drift.n_reference,
        n_live=drift.n_live,
        histograms={
            "labels": data["labels"],
            "reference_counts": data["reference_counts"],
            "live_counts": data["live_counts"],
            "unseen_count": data["unseen_count"],
        },
    )


# --- Scheduling -----------------------------------------------------------------------------


def request_days(version: ModelVersion, days: Iterable[datetime.date]) -> int:
    """Queue the version's days (on demand, backfills): one task per day, enqueued on
    commit; a finished day is queued again, a running one re-runs once it ends. How many."""
    days = sorted(set(days))
    if not days:
        return 0
    if len(days) > MAX_DAYS_PER_REQUEST:
        raise MonitoringError(
            f"At most {MAX_DAYS_PER_REQUEST} days at a time.", field="days", code="too_many"
        )
    if days[-1] > utc_today():
        raise MonitoringError("A day in the future has no predictions yet.", field="days")
    _queue_days(version.pk, days)
    return len(days)


@transaction.atomic
def _queue_days(version_id: int, days: list[datetime.date]) -> None:
    now = timezone.now()
    _ensure_runs(version_id, days)
    runs = DailyRun.objects.filter(model_version_id=version_id, day__in=days)
    runs.filter(status__in=DailyRun.TERMINAL).update(
        status=Status.QUEUED, attempts=0, error="", requested_at=now
    )
    runs.exclude(status__in=DailyRun.TERMINAL).update(requested_at=now)
    for day in days:
        tasks.run_day_task.delay_on_commit(version_id, day.isoformat())


def schedule_nightly(today: datetime.date | None = None) -> int:
    """Queue yesterday (UTC) for every version in production, canary or shadow; how many."""
    yesterday = (today or utc_today()) - datetime.timedelta(days=1)
    count = 0
    for version in ModelVersion.objects.filter(stage__in=DEPLOYED).order_by("pk"):
        count += request_days(version, [yesterday])
    logger.info("nightly monitoring of %s: %s versions queued", yesterday, count)
    return count


def request_late_days(pairs: Iterable[tuple[int, datetime.date]]) -> int:
    """Late outcomes (or predictions) changed these (version id, day) pairs: queue again the
    past days that monitoring has already taken on (a day it never ran is computed when it is
    asked for, and today by tomorrow's nightly run). How many."""
    today = utc_today()
    wanted: dict[int, set[datetime.date]] = {}
    for version_id, day in set(pairs):
        if day < today:
            wanted.setdefault(version_id, set()).add(day)
    count = 0
    for version_id, days in sorted(wanted.items()):
        known = sorted(
            DailyRun.objects.filter(model_version_id=version_id, day__in=days).values_list(
                "day", flat=True
            )
        )
        if known:
            _queue_days(version_id, known)
            count += len(known)
    return count
