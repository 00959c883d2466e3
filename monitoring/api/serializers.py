"""Monitoring's representations and inputs. Serializers validate; services write."""

from __future__ import annotations

import datetime

from rest_framework import serializers

from monitoring.models import Alert, DailyDrift, DailyKPI, DailyQuality, DailyRun, MonitoringPolicy
from monitoring.services import alerts
from monitoring.services.alerts import NOTE_LENGTH
from monitoring.services.jobs import MAX_DAYS_PER_REQUEST, utc_today
from portal.text import multi_line
from registry.api.serializers import UseCaseVersion

# Inputs ------------------------------------------------------------------------------------


class RangeFilter(serializers.Serializer):
    """Query parameters shared by the lists: a version and an inclusive range of UTC days."""

    version = UseCaseVersion(required=False, help_text="Only this version (its name).")
    start = serializers.DateField(required=False, help_text="From this UTC day (inclusive).")
    end = serializers.DateField(required=False, help_text="Up to this UTC day (inclusive).")

    def validate(self, attrs):
        if "start" in attrs and "end" in attrs and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": "The end comes before the start."})
        return attrs


class DriftFilter(RangeFilter):
    feature = serializers.CharField(
        required=False, max_length=200, help_text="Only this feature ((prediction): the score)."
    )


class AlertFilter(serializers.Serializer):
    version = UseCaseVersion(required=False, help_text="Only this version (its name).")
    status = serializers.ChoiceField(choices=Alert.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Alert.Kind.choices, required=False)


class RunFilter(RangeFilter):
    status = serializers.ChoiceField(choices=DailyRun.Status.choices, required=False)


class NoteInput(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=NOTE_LENGTH,
        validators=[multi_line],
        help_text="Kept on the alert with your name.",
    )


class RunInput(serializers.Serializer):
    version = UseCaseVersion(help_text="The version to monitor (its name).")
    days = serializers.ListField(
        child=serializers.DateField(),
        required=False,
        max_length=MAX_DAYS_PER_REQUEST,
        help_text="These UTC days; or give start and end.",
    )
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs):
        days, start, end = attrs.get("days"), attrs.get("start"), attrs.get("end")
        if days is not None and (start or end):
            raise serializers.ValidationError({"days": "Give days, or start and end, not both."})
        if days is None:
            if start is None or end is None:
                missing = "start" if start is None else "end"
                raise serializers.ValidationError({missing: "Give days, or both start and end."})
            if start > end:
                raise serializers.ValidationError({"end": "The end comes before the start."})
            count = (end - start).days + 1
            if count > MAX_DAYS_PER_REQUEST:
                raise serializers.ValidationError(
                    {"end": f"At most {MAX_DAYS_PER_REQUEST} days at a time."}
                )
            days = [start + datetime.timedelta(days=i) for i in range(count)]
        if not days:
            raise serializers.ValidationError({"days": "Give at least one day."})
        if max(days) > utc_today():
            field = "days" if "days" in attrs else "end"
            raise serializers.ValidationError(
                {field: "A day in the future has no predictions yet."}
            )
        return {"version": attrs["version"], "days": sorted(set(days))}


def _in_policy_range(name: str):
    """The service's own range check of one threshold, as a field validator (so each bad
    field gets its message, whatever the others hold)."""

    def check(value) -> None:
        errors = alerts.check_policy({name: value})
        if errors:
            raise serializers.ValidationError(errors[0].message)

    return check


class _Number(serializers.FloatField):
    """A JSON number: true and false are not 1 and 0 here."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class _WholeNumber(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class PolicySerializer(serializers.ModelSerializer):
    """The use case's alert thresholds, read and written alike: PUT gives every field, PATCH
    some. Shares of rows are from 0 to 1 (0.05 is 5 %)."""

    psi_threshold = _Number(
        validators=[_in_policy_range("psi_threshold")],
        help_text="A feature's (or the prediction's) PSI above this opens a drift alert; "
        "above 0 (0.2 marks a significant shift).",
    )
    is_p_value_alerting = serializers.BooleanField(
        help_text="Whether a KS or chi-square p-value under p_value_level opens a drift alert "
        "too (off by default: with many rows, tiny shifts have tiny p-values)."
    )
    p_value_level = _Number(
        validators=[_in_policy_range("p_value_level")],
        help_text="Between 0 and 1, both excluded (0.01).",
    )
    max_violation_rate = _Number(
        validators=[_in_policy_range("max_violation_rate")],
        help_text="A data-quality rule broken by a larger share of a day's predictions opens "
        "an alert; 0 to 1.",
    )
    max_refused_rate = _Number(
        validators=[_in_policy_range("max_refused_rate")],
        help_text="A larger share of the rows the use case received in a day refused at "
        "ingestion opens an alert (one for the use case); 0 to 1.",
    )
    silence_hours = _WholeNumber(
        validators=[_in_policy_range("silence_hours")],
        help_text="A deployed version with no prediction logged for this many hours opens an "
        f"alert; 1 to {alerts.MAX_SILENCE_HOURS}.",
    )
    is_kpi_alerting = serializers.BooleanField(
        help_text="Whether a gating KPI on the wrong side of its gate on a day opens an alert."
    )
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Last change; null while on the defaults."
    )

    reference_start = serializers.DateField(
        allow_null=True,
        required=False,
        default=None,
        help_text="Drift's reference window, first UTC day (with reference_end; both null: "
        "the holdout of each version's last evaluation).",
    )
    reference_end = serializers.DateField(
        allow_null=True,
        required=False,
        default=None,
        help_text="The window's last UTC day, inclusive; yesterday at the latest.",
    )

    class Meta:
        model = MonitoringPolicy
        fields = [*alerts.POLICY_FIELDS, "updated_at"]


# Representations ---------------------------------------------------------------------------


class DayKPISerializer(serializers.ModelSerializer):
    kpi = serializers.IntegerField(source="kpi_id")
    name = serializers.CharField(source="kpi.name")
    metric = serializers.CharField(source="kpi.metric")
    gate_threshold = serializers.FloatField(source="kpi.gate_threshold")

    class Meta:
        model = DailyKPI
        fields = ["kpi", "name", "metric", "value", "low", "high", "n", "gate_threshold"]


class DayQualitySerializer(serializers.ModelSerializer):
    rule = serializers.IntegerField(source="rule_id", allow_null=True)
    violation_rate = serializers.FloatField(allow_null=True)

    class Meta:
        model = DailyQuality
        fields = ["rule", "rule_text", "rows_checked", "rows_violating", "violation_rate"]


class DaySerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version")
    kpis = DayKPISerializer(many=True, help_text="Each KPI with its 95 % interval.")
    quality = DayQualitySerializer(many=True)
    violation_rate = serializers.FloatField(allow_null=True)
    refused_rate = serializers.FloatField(allow_null=True)

    class Meta:
        model = DailyRun
        fields = [
            "version",
            "day",
            "n_predictions",
            "n_with_outcome",
            "kpis",
            "rows_checked",
            "rows_violating",
            "violation_rate",
            "rows_received",
            "rows_refused",
            "refused_rate",
            "quality",
            "finished_at",
            "stored_at",
        ]


class DriftSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="run.model_version.version")
    day = serializers.DateField(source="run.day")

    class Meta:
        model = DailyDrift
        fields = [
            "version",
            "day",
            "feature",
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
            "histograms",
        ]


class AlertSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
    )
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None
    )
    kind = serializers.CharField(
        help_text="kpi_below_gate, drift, quality, refused (rows refused at ingestion: one "
        "for the use case, on the version leading its deployment) or silence."
    )
    status = serializers.CharField(help_text="open, acknowledged, resolved or closed.")
    subject = serializers.CharField(
        help_text="The KPI's id, the feature's name or the rule's id; empty for refused and "
        "silence."
    )
    value = serializers.FloatField(allow_null=True, help_text="The latest day's (silence: hours).")

    class Meta:
        model = Alert
        fields = [
            "id",
            "version",
            "kind",
            "subject",
            "subject_label",
            "value",
            "threshold",
            "day",
            "last_seen_day",
            "status",
            "opened_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "closed_at",
            "note",
        ]


class RunSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version")
    status = serializers.CharField(help_text="queued, running, succeeded or failed.")

    class Meta:
        model = DailyRun
        fields = [
            "id",
            "version",
            "day",
            "status",
            "attempts",
            "started_at",
            "finished_at",
            "error",
            "n_predictions",
            "n_with_outcome",
        ]


class RunsQueued(serializers.Serializer):
    queued = serializers.IntegerField(help_text="How many days were queued.")
    runs = RunSerializer(many=True)
