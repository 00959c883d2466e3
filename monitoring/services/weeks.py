"""KPIs per week: every KPI of the use case on a week's predictions with an outcome (Monday to
Sunday, UTC days), computed over the week's rows with the evaluations' metric code and
intervals (services/kpis.range_kpis). A week is not an average of its days: ROC AUC, MAPE
and the rest do not average, and a week's interval is narrower than a day's.

When: a day's run that succeeds queues its week once the week is over (its Sunday is before
today, UTC), on commit, so the nightly run of a Sunday computes that week, and a backfill
or late outcomes that re-run a past day recompute its week. Idempotent:

- a week is computed only when none of its days is queued or running (the last day to
  finish queues it again) and its stored figures are older than its latest finished day,
  so seven days of a backfill finishing together compute the week once or twice, not seven
  times;
- the figures are replaced in one transaction under a lock on the version's row, stamped
  with the time the computation started: a day finishing meanwhile makes them stale and
  queues the week again.
"""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from monitoring import tasks
from monitoring.models import DailyRun, WeeklyKPI
from monitoring.services import kpis as kpi_service
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

WEEK = datetime.timedelta(days=7)
Status = DailyRun.Status


def monday_of(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def week_bounds(monday: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start, _ = kpi_service.day_bounds(monday)
    return start, start + WEEK


def is_over(monday: datetime.date, today: datetime.date) -> bool:
    """Whether the week's Sunday is a past UTC day."""
    return monday + WEEK <= today


def queue_week_of(version_id: int, day: datetime.date, today: datetime.date) -> bool:
    """Queue the week of `day` on commit if it is over; whether it was queued."""
    monday = monday_of(day)
    if not is_over(monday, today):
        return False
    tasks.run_week_task.delay_on_commit(version_id, monday.isoformat())
    return True


def run_week(version_id: int, monday: datetime.date) -> bool:
    """Compute and store the week's KPIs if they are due; whether they were stored."""
    if monday.weekday() != 0:
        raise ValueError(f"{monday} is not a Monday")
    version = (
        ModelVersion.objects.select_related("use_case__value_model").filter(pk=version_id).first()
    )
    if version is None or not _due(version_id, monday):
        return False
    started = timezone.now()
    figures = kpi_service.range_kpis(version, *week_bounds(monday))
    return _store(version, monday, figures, started)


def _due(version_id: int, monday: datetime.date) -> bool:
    runs = DailyRun.objects.filter(
        model_version_id=version_id, day__gte=monday, day__lt=monday + WEEK
    )
    if runs.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists():
        return False  # the last of them to finish queues the week again
    latest = runs.filter(status=Status.SUCCEEDED).aggregate(at=Max("finished_at"))["at"]
    if latest is None:
        return False
    stored = WeeklyKPI.objects.filter(model_version_id=version_id, week=monday)
    computed = stored.aggregate(at=Min("computed_at"))["at"]
    return computed is None or computed < latest


@transaction.atomic
def _store(
    version: ModelVersion, monday: datetime.date, figures: kpi_service.DayKPIs, started
) -> bool:
    # One writer a week; no_key: ingestion's foreign-key locks on the version go on.
    # of=self, no ordering: the version's Meta ordering joins the use case, which would be locked.
    ModelVersion.objects.select_for_update(no_key=True, of=("self",)).filter(
        pk=version.pk
    ).order_by().first()
    stored = WeeklyKPI.objects.filter(model_version=version, week=monday)
    newer = stored.filter(computed_at__gt=started)
    if newer.exists():  # another worker computed it from later data meanwhile
        return False
    stored.delete()
    WeeklyKPI.objects.bulk_create(
        WeeklyKPI(
            model_version=version,
            week=monday,
            kpi=value.kpi,
            value=value.value,
            low=value.low,
            high=value.high,
            n=value.n,
            computed_at=started,
        )
        for value in figures.values
    )
    logger.info("week of %s of version %s: %s KPIs", monday, version.pk, len(figures.values))
    return True
