"""Alerts (issue 14, item 6): a deployed version crossing one of its use case's thresholds.

`evaluate_alerts(run)` runs inside store_day's transaction, so a day's figures and its
alerts are stored together. For each subject (a gating KPI, a feature, a rule, the flow of
predictions) the day either crosses the threshold, recovers, or says nothing (no value):

- crossing, with an active (open or acknowledged) alert: the alert is updated (its day
  range widened, its value the latest day's); otherwise a new alert opens, unless a
  finished one already covers the day (a re-run of an old day opens nothing again), or the
  subject's newest later stored day with a value is within the threshold (late outcomes
  re-running an old day do not raise a condition that has passed). The
  partial unique constraint keeps one active alert per (version, kind, subject): a
  concurrent run of another day that opened it first is absorbed in a savepoint.
- recovering on a day after the alert's last crossing day: an active alert closes by itself
  (closed_at); a resolved one is done already. An earlier day recovering (a backfill run out
  of order) changes nothing.

So re-running a day gives the same alerts, and a run never duplicates one. A new alert's
people (owner, experts, data scientists) are told once, after commit, through notify()
with the key `alert:<id>` that the notification centre keeps unique.

Rows refused at ingestion are counted for the whole use case (a refused row may name no
valid version), so every deployed version's run of a day holds the same figure. Only one
run reads it: that of the version leading the deployment (`refused_rows_reader`:
production, else canary, else the oldest shadow). Its REFUSED alert (subject "") is the use
case's: a later day updates or closes the active one whichever version opened it, so a new
production version carries on the alert rather than opening a second.

The policy's thresholds (`save_policy`, audited) apply from the next run on; alerts already
open keep the threshold they were opened with until a day updates them.
"""

from __future__ import annotations

import datetime
import logging
import math
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Max, Q, Value, When
from django.db.models.functions import Greatest, Least
from django.urls import reverse
from django.utils import timezone

from monitoring.models import (
    PREDICTION_FEATURE,
    Alert,
    DailyDrift,
    DailyKPI,
    DailyQuality,
    DailyRun,
    MonitoringPolicy,
)
from notifications.models import Notification
from notifications.services.notify import notify
from portal.errors import DomainError, InvalidFields, InvalidInput
from predictions.models import Prediction
from registry.models import ModelVersion
from usecases.models import KPI, Role, UseCase
from usecases.services import audit
from usecases.services.usecases import apply_changes, lock

logger = logging.getLogger(__name__)

Kind, Status = Alert.Kind, Alert.Status
NOTIFIED_ROLES = (Role.OWNER, Role.EXPERT, Role.DATA_SCIENTIST)
NOTE_LENGTH = 5000
# Kinds whose figure is the use case's, not a version's: one active alert per use case.
USE_CASE_KINDS = (Kind.REFUSED,)
Stage = ModelVersion.Stage


class AlertError(DomainError):
    pass


@dataclass(frozen=True)
class Reading:
    """One subject on one day: crossing its threshold or not (value None: nothing known)."""

    kind: str
    subject: str
    label: str
    value: float | None
    threshold: float | None
    is_crossing: bool


def policy_for(use_case: UseCase) -> MonitoringPolicy:
    """The use case's monitoring policy, created with the defaults on first use."""
    policy, _ = MonitoringPolicy.objects.get_or_create(use_case=use_case)
    return policy


# --- The policy people edit -----------------------------------------------------------------

POLICY_FIELDS = (
    "psi_threshold",
    "is_p_value_alerting",
    "p_value_level",
    "max_violation_rate",
    "max_refused_rate",
    "silence_hours",
    "is_kpi_alerting",
    "reference_start",
    "reference_end",
)
WINDOW = ("reference_start", "reference_end")
WINDOW_MESSAGES = {
    "both": "Give the reference window's first and last day, or neither (the holdout).",
    "order": "The reference window's last day comes on or after its first.",
    "future": "The reference window is of days already logged: it ends yesterday at the latest.",
    "type": "A day, YYYY-MM-DD.",
}
FLAGS = ("is_p_value_alerting", "is_kpi_alerting")
MAX_SILENCE_HOURS = 24 * 365
POLICY_VERB = "monitoring_policy.changed"
SHARE_MESSAGE = "A share of rows is from 0 to 1 (0.05 is 5 %)."
POLICY_MESSAGES = {
    "psi_threshold": "The PSI threshold is a number above 0 (0.2 marks a significant shift).",
    "p_value_level": "The p-value level is between 0 and 1, both excluded (0.01 is usual).",
    "max_violation_rate": SHARE_MESSAGE,
    "max_refused_rate": SHARE_MESSAGE,
    "silence_hours": f"Hours without predictions: a whole number from 1 to {MAX_SILENCE_HOURS:,}.",
    **{flag: "Give true or false." for flag in FLAGS},
}


def current_policy(use_case: UseCase) -> MonitoringPolicy:
    """The saved policy, or an unsaved one holding the defaults (reading writes nothing)."""
    saved = MonitoringPolicy.objects.filter(use_case=use_case).first()
    return saved or MonitoringPolicy(use_case=use_case)


def _in_range(name: str, value) -> bool:
    if name in FLAGS:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if name == "silence_hours":
        return isinstance(value, int) and 1 <= value <= MAX_SILENCE_HOURS
    if not math.isfinite(value):
        return False
    if name == "psi_threshold":
        return value > 0
    if name == "p_value_level":
        return 0 < value < 1
    return 0 <= value <= 1  # the two shares of rows


def check_window(start, end, today: datetime.date) -> list[InvalidInput]:
    """The reference window as a whole: both days or neither, in order, in the past."""
    for name, value in (("reference_start", start), ("reference_end", end)):
        if value is not None and type(value) is not datetime.date:
            return [InvalidInput(WINDOW_MESSAGES["type"], field=name)]
    if (start is None) != (end is None):
        field = "reference_end" if end is None else "reference_start"
        return [InvalidInput(WINDOW_MESSAGES["both"], field=field)]
    if start is not None and start > end:
        return [InvalidInput(WINDOW_MESSAGES["order"], field="reference_end")]
    if end is not None and end >= today:
        return [InvalidInput(WINDOW_MESSAGES["future"], field="reference_end")]
    return []


def check_policy(values: dict) -> list[InvalidInput]:
    """One error per given threshold out of its range (the model's check constraint; at
    most a year of silence, within the column's integers), worded for shares (0.05 is 5 %)."""
    return [
        InvalidInput(POLICY_MESSAGES[name], field=name)
        for name, value in values.items()
        if name in POLICY_MESSAGES and not _in_range(name, value)
    ]


@transaction.atomic
def save_policy(use_case: UseCase, *, by, **fields) -> MonitoringPolicy:
    """Change the given thresholds of the use case's policy (the others stay), audited with
    what changed; nothing is written when nothing changes. The next runs use them."""
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"save_policy() got unexpected fields {sorted(unknown)}")
    errors = check_policy(fields)
    if errors:
        raise InvalidFields(errors)
    use_case = lock(use_case)  # use case first
    policy = MonitoringPolicy.objects.select_for_update().filter(use_case=use_case).first()
    policy = policy or MonitoringPolicy(use_case=use_case)
    before, after = apply_changes(policy, fields)
    if not after:
        return policy
    if set(after) & set(WINDOW):
        today = timezone.now().astimezone(datetime.UTC).date()
        errors = check_window(policy.reference_start, policy.reference_end, today)
        if errors:
            raise InvalidFields(errors)
    policy.save()
    audit.record(
        actor=by, verb=POLICY_VERB, target=policy, use_case=use_case, before=before, after=after
    )
    return policy


# --- Readings -------------------------------------------------------------------------------


def kpi_crosses(kpi: KPI, figure: DailyKPI) -> bool | None:
    """Whether the day's KPI value is on the wrong side of its gate; None when undefined.
    The point value, whatever the KPI's gate mode: the interval's worse end is the evidence a
    promotion must show, but a day's interval is wide, and reading its worse end would
    alert on a quiet day for its width alone, not for a decay."""
    if figure.value is None:
        return None
    if kpi.direction == KPI.Direction.HIGHER:
        return figure.value < kpi.gate_threshold
    return figure.value > kpi.gate_threshold


def _kpi_readings(run: DailyRun, policy: MonitoringPolicy) -> list[Reading]:
    if not policy.is_kpi_alerting:
        return []
    readings = []
    for figure in DailyKPI.objects.filter(run=run, kpi__is_gating=True).select_related("kpi"):
        kpi, crossing = figure.kpi, kpi_crosses(figure.kpi, figure)
        known = crossing is not None  # an undefined KPI neither crosses nor recovers
        readings.append(
            Reading(
                Kind.KPI_BELOW_GATE,
                str(kpi.pk),
                kpi.name,
                figure.value if known else None,
                kpi.gate_threshold,
                bool(crossing),
            )
        )
    return readings


def _drift_readings(run: DailyRun, policy: MonitoringPolicy) -> list[Reading]:
    readings = []
    for drift in DailyDrift.objects.filter(run=run):
        p_value = drift.ks_p_value if drift.kind == DailyDrift.Kind.NUMERIC else drift.chi2_p_value
        psi_over = drift.psi is not None and drift.psi > policy.psi_threshold
        p_under = (
            policy.is_p_value_alerting and p_value is not None and p_value < policy.p_value_level
        )
        label = "the prediction" if drift.feature == PREDICTION_FEATURE else drift.feature
        if drift.psi is None and p_value is None:
            readings.append(Reading(Kind.DRIFT, drift.feature, label, None, None, False))
        elif p_under and not psi_over:
            readings.append(
                Reading(Kind.DRIFT, drift.feature, label, p_value, policy.p_value_level, True)
            )
        else:
            readings.append(
                Reading(Kind.DRIFT, drift.feature, label, drift.psi, policy.psi_threshold, psi_over)
            )
    return readings


def _quality_readings(run: DailyRun, policy: MonitoringPolicy) -> list[Reading]:
    readings = []
    for figure in DailyQuality.objects.filter(run=run, rule__isnull=False):
        rate = figure.violation_rate
        readings.append(
            Reading(
                Kind.QUALITY,
                str(figure.rule_id),
                figure.rule_text,
                rate,
                policy.max_violation_rate,
                rate is not None and rate > policy.max_violation_rate,
            )
        )
    return readings


def refused_rows_reader(use_case_id: int) -> int | None:
    """The id of the version whose runs read the use case's refused rows: the one in
    production, else in canary, else the oldest in shadow; None when none is deployed."""
    lead = Case(When(stage=Stage.PRODUCTION, then=0), When(stage=Stage.CANARY, then=1), default=2)
    deployed = ModelVersion.objects.filter(
        use_case_id=use_case_id, stage__in=(Stage.PRODUCTION, Stage.CANARY, Stage.SHADOW)
    )
    return deployed.order_by(lead, "pk").values_list("pk", flat=True).first()


def _refused_readings(run: DailyRun, policy: MonitoringPolicy) -> list[Reading]:
    """The use case's share of rows refused at ingestion that day, read on the leading
    version's run only (see the module docstring); no rows received: nothing known."""
    if refused_rows_reader(run.model_version.use_case_id) != run.model_version_id:
        return []
    rate, limit = run.refused_rate, policy.max_refused_rate
    return [Reading(Kind.REFUSED, "", "", rate, limit, rate is not None and rate > limit)]


def silence_reading(
    version: ModelVersion, policy: MonitoringPolicy, *, at: datetime.datetime
) -> Reading:
    """Hours from the version's last prediction logged up to `at` (or, with none, from its
    deployment) to `at`; crossing from the policy's silence_hours."""
    last = Prediction.objects.filter(model_version=version, predicted_at__lte=at).aggregate(
        last=Max("predicted_at")
    )["last"]
    since = last or version.stage_changed_at or version.created_at
    hours = max((at - since).total_seconds() / 3600, 0.0)
    return Reading(
        Kind.SILENCE,
        "",
        "predictions",
        round(hours, 2),
        float(policy.silence_hours),
        hours >= policy.silence_hours,
    )


# --- Evaluation -----------------------------------------------------------------------------


def evaluate_alerts(run: DailyRun) -> list[Alert]:
    """Open, update or close the version's alerts from the run's stored day (see the module
    docstring); must run inside the transaction that stored it. The alerts opened."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("evaluate_alerts() must run inside the run's transaction")
    run = DailyRun.objects.select_related("model_version__use_case").get(pk=run.pk)
    version = run.model_version
    policy = policy_for(version.use_case)
    end_of_day = datetime.datetime.combine(
        run.day + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC
    )
    readings = [
        *_kpi_readings(run, policy),
        *_drift_readings(run, policy),
        *_quality_readings(run, policy),
        *_refused_readings(run, policy),
        silence_reading(version, policy, at=min(end_of_day, timezone.now())),
    ]
    return apply_readings(version, run.day, readings)


def check_silence(now: datetime.datetime | None = None) -> int:
    """The nightly check: a deployed version with nothing logged for its policy's
    silence_hours gets a silence alert (and one logging again has it closed). How many
    were opened."""
    from monitoring.services.jobs import DEPLOYED  # jobs calls this module: import late

    now = now or timezone.now()
    day = now.astimezone(datetime.UTC).date()
    opened = 0
    versions = ModelVersion.objects.filter(stage__in=DEPLOYED).select_related("use_case")
    for version in versions.order_by("pk"):
        with transaction.atomic():
            policy = policy_for(version.use_case)
            opened += len(apply_readings(version, day, [silence_reading(version, policy, at=now)]))
    return opened


def apply_readings(
    version: ModelVersion, day: datetime.date, readings: list[Reading]
) -> list[Alert]:
    """Apply one day's readings of a version to its alerts (and to the use case's, for
    USE_CASE_KINDS); the alerts opened."""
    opened = []
    mine = Q(model_version=version) | Q(use_case_id=version.use_case_id, kind__in=USE_CASE_KINDS)
    # Every active alert locked now, in pk order, before any audit event (whose chain lock
    # comes after an alert's in acknowledge_alert and resolve_alert): no lock-order cycle.
    locked = Alert.objects.filter(mine, status__in=Alert.ACTIVE).select_for_update(of=("self",))
    active = {(alert.kind, alert.subject): alert for alert in locked.order_by("pk")}
    for reading in readings:
        alert = active.get((reading.kind, reading.subject))
        if reading.is_crossing:
            if alert is not None:
                _seen_again(alert, day, reading)
            else:
                new = _open(version, day, reading)
                if new is not None:
                    opened.append(new)
        elif reading.value is not None and alert is not None:
            _close(alert, day, reading)
    return opened


def _seen_again(alert: Alert, day: datetime.date, reading: Reading) -> None:
    # In SQL, not from the row as read: runs of other days may update the alert at once.
    rows = Alert.objects.filter(pk=alert.pk)
    rows.filter(last_seen_day__lte=day).update(value=reading.value, threshold=reading.threshold)
    rows.update(
        day=Least(F("day"), Value(day)), last_seen_day=Greatest(F("last_seen_day"), Value(day))
    )


def _same_subject(version: ModelVersion, reading: Reading) -> dict:
    """Filters of the alerts about the reading's subject: the version's, or for
    USE_CASE_KINDS the use case's, whichever version holds them."""
    if reading.kind in USE_CASE_KINDS:
        scope = {"use_case_id": version.use_case_id}
    else:
        scope = {"model_version": version}
    return {**scope, "kind": reading.kind, "subject": reading.subject}


def _later_figure(version: ModelVersion, day: datetime.date, reading: Reading) -> Reading | None:
    """The subject's reading on the newest stored day after `day` with a known value (by the
    same rules as the day's own); None if none. Silence is read live, not from stored days."""
    runs = DailyRun.objects.filter(day__gt=day)
    if reading.kind == Kind.REFUSED:  # the use case's figure: every version's run holds it
        run = (
            runs.filter(model_version__use_case_id=version.use_case_id, rows_received__gt=0)
            .order_by("-day")
            .first()
        )
        if run is None:
            return None
        limit = policy_for(version.use_case).max_refused_rate
        return Reading(reading.kind, "", "", run.refused_rate, limit, run.refused_rate > limit)
    mine = {"run__model_version": version, "run__day__gt": day}
    if reading.kind == Kind.KPI_BELOW_GATE:
        figures, read = (
            DailyKPI.objects.filter(kpi_id=reading.subject, value__isnull=False),
            _kpi_readings,
        )
    elif reading.kind == Kind.DRIFT:
        known = Q(psi__isnull=False) | Q(ks_p_value__isnull=False) | Q(chi2_p_value__isnull=False)
        figures, read = DailyDrift.objects.filter(known, feature=reading.subject), _drift_readings
    elif reading.kind == Kind.QUALITY:
        figures = DailyQuality.objects.filter(rule_id=reading.subject, rows_checked__gt=0)
        read = _quality_readings
    else:
        return None
    run_id = figures.filter(**mine).order_by("-run__day").values_list("run", flat=True).first()
    if run_id is None:
        return None
    later = read(DailyRun.objects.get(pk=run_id), policy_for(version.use_case))
    same = [r for r in later if (r.kind, r.subject) == (reading.kind, reading.subject)]
    return same[0] if same and same[0].value is not None else None


def _recovered_later(version: ModelVersion, day: datetime.date, reading: Reading) -> bool:
    """Whether a later stored day of the subject is within its threshold: a day run out of
    order (late outcomes re-run old days) opens no alert for a condition that has passed."""
    later = _later_figure(version, day, reading)
    return later is not None and not later.is_crossing


def _open(version: ModelVersion, day: datetime.date, reading: Reading) -> Alert | None:
    same = _same_subject(version, reading)
    finished = Alert.objects.filter(**same, day__lte=day, last_seen_day__gte=day)
    if finished.exists():  # this day already raised an alert that has ended since
        return None
    if _recovered_later(version, day, reading):  # an old day run late: the past, not news
        return None
    try:
        with transaction.atomic():  # a concurrent run of another day may have opened it
            alert = Alert.objects.create(
                use_case_id=version.use_case_id,
                model_version=version,
                kind=reading.kind,
                subject=reading.subject,
                subject_label=reading.label[:300],
                value=reading.value,
                threshold=reading.threshold,
                day=day,
                last_seen_day=day,
            )
    except IntegrityError:
        active = Alert.objects.filter(**same, status__in=Alert.ACTIVE).first()
        if active is not None:
            _seen_again(active, day, reading)
        return None
    audit.record(actor=None, verb="alert.opened", target=alert, use_case=version.use_case)
    logger.info(
        "alert %s opened: version %s, %s %r", alert.pk, version.pk, alert.kind, alert.subject
    )
    transaction.on_commit(lambda: notify_opened(alert.pk))
    return alert


def _close(alert: Alert, day: datetime.date, reading: Reading) -> None:
    """Closed by a day after its last crossing one (an earlier day, run late, says nothing)."""
    closed = Alert.objects.filter(
        pk=alert.pk, status__in=Alert.ACTIVE, last_seen_day__lt=day
    ).update(status=Status.CLOSED, closed_at=timezone.now(), value=reading.value)
    if closed:
        alert.status = Status.CLOSED
        audit.record(actor=None, verb="alert.closed", target=alert, use_case=alert.use_case)
        logger.info("alert %s closed: the value recovered", alert.pk)


@transaction.atomic
def close_undeployed_alerts(use_case_id: int, version_ids: list[int]) -> int:
    """Close, audited as the job closes them, the active alerts of those versions that are no
    longer deployed (archived, or back to registered): no run will read them again. The use
    case's own alerts (USE_CASE_KINDS) stay while a version is deployed, which carries them
    on. How many were closed."""
    use_case = UseCase.objects.select_for_update(no_key=True).filter(pk=use_case_id).first()
    if use_case is None:
        return 0
    gone = Q(model_version_id__in=version_ids) & ~Q(
        model_version__stage__in=(Stage.PRODUCTION, Stage.CANARY, Stage.SHADOW)
    )
    if refused_rows_reader(use_case_id) is not None:
        gone &= ~Q(kind__in=USE_CASE_KINDS)
    active = Alert.objects.filter(gone, use_case_id=use_case_id, status__in=Alert.ACTIVE)
    closed = 0
    for alert in active.select_for_update(of=("self",)).order_by("pk"):
        alert.status, alert.closed_at = Status.CLOSED, timezone.now()
        alert.save(update_fields=["status", "closed_at"])
        audit.record(actor=None, verb="alert.closed", target=alert, use_case=use_case)
        logger.info("alert %s closed: version %s left deployment", alert.pk, alert.model_version_id)
        closed += 1
    return closed


def notify_opened(alert_id: int) -> int:
    """Tell the use case's owner, experts and data scientists of a new alert; the key makes
    a second call tell no one again. How many were told."""
    alert = (
        Alert.objects.select_related("use_case__owner", "model_version").filter(pk=alert_id).first()
    )
    if alert is None:
        return 0
    use_case = alert.use_case
    people = {use_case.owner_id: use_case.owner} if use_case.owner_id else {}
    for member in use_case.members.filter(role__in=NOTIFIED_ROLES).select_related("user"):
        people.setdefault(member.user_id, member.user)
    text = f"Alert on {use_case.title}, version {alert.model_version.version}: {alert}"
    url = reverse("monitoring:tab", kwargs={"slug": use_case.slug})
    told = 0
    for user in people.values():
        key = f"alert:{alert.pk}"
        if notify(
            user, kind=Notification.Kind.ALERT, text=text, url=url, use_case=use_case, key=key
        ):
            told += 1
    return told


# --- People acting on an alert --------------------------------------------------------------


def _locked(alert: Alert) -> Alert:
    # Use case first, FOR NO KEY UPDATE (as promotions' lock_use_case): the job, holding this
    # alert's row, may insert another alert meanwhile, whose foreign-key check takes KEY SHARE
    # on the use case; FOR UPDATE here would deadlock with it.
    UseCase.objects.select_for_update(no_key=True).get(pk=alert.use_case_id)
    return Alert.objects.select_for_update().get(pk=alert.pk)


def _noted(alert: Alert, by, note: str) -> str:
    if not note:
        return alert.note
    line = f"{by.get_username()}: {note}"
    return f"{alert.note}\n{line}" if alert.note else line


@transaction.atomic
def acknowledge_alert(alert: Alert, *, by, note: str = "") -> Alert:
    """An open alert becomes acknowledged by `by` (it stays until it recovers or is
    resolved); anything else is a conflict."""
    alert = _locked(alert)
    if alert.status != Status.OPEN:
        raise AlertError(
            f"This alert is {alert.get_status_display().lower()}; only an open one can be "
            "acknowledged.",
            code="conflict",
        )
    alert.status = Status.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = by, timezone.now()
    alert.note = _noted(alert, by, note)
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "note"])
    audit.record(actor=by, verb="alert.acknowledged", target=alert, use_case=alert.use_case)
    return alert


@transaction.atomic
def resolve_alert(alert: Alert, *, by, note: str = "") -> Alert:
    """An open or acknowledged alert becomes resolved by `by`; if the value still crosses
    on a later day, that day opens a new alert."""
    alert = _locked(alert)
    if alert.status not in Alert.ACTIVE:
        raise AlertError(
            f"This alert is {alert.get_status_display().lower()} already.", code="conflict"
        )
    alert.status = Status.RESOLVED
    alert.resolved_by, alert.resolved_at = by, timezone.now()
    alert.note = _noted(alert, by, note)
    alert.save(update_fields=["status", "resolved_by", "resolved_at", "note"])
    audit.record(actor=by, verb="alert.resolved", target=alert, use_case=alert.use_case)
    return alert
