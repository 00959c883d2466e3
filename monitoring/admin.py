"""Monitoring in the admin: daily runs read-mostly ("run again" calls the job's service),
alerts read-only (members act on them in the app), policies saved through the service (so
the change is checked and audited, as on the policy page)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from monitoring.models import Alert, DailyDrift, DailyKPI, DailyQuality, DailyRun, MonitoringPolicy
from monitoring.services import alerts, jobs


class DailyKPIInline(admin.TabularInline):
    model = DailyKPI
    extra = 0
    can_delete = False
    readonly_fields = ("kpi", "value", "low", "high", "n")


class DailyQualityInline(admin.TabularInline):
    model = DailyQuality
    extra = 0
    can_delete = False
    readonly_fields = ("rule", "rule_text", "rows_checked", "rows_violating")


class DailyDriftInline(admin.TabularInline):
    model = DailyDrift
    extra = 0
    can_delete = False
    fields = ("feature", "kind", "psi", "ks_p_value", "chi2_p_value", "missing_share", "n_live")
    readonly_fields = fields


@admin.register(DailyRun)
class DailyRunAdmin(admin.ModelAdmin):
    list_display = ("model_version", "day", "status", "attempts", "n_predictions", "finished_at")
    list_filter = ("status", "day")
    search_fields = ("model_version__version", "model_version__use_case__slug")
    date_hierarchy = "day"
    list_select_related = ("model_version",)
    readonly_fields = [f.name for f in DailyRun._meta.fields]
    inlines = [DailyKPIInline, DailyQualityInline, DailyDriftInline]
    actions = ["run_again"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Run the selected days again")
    def run_again(self, request, queryset) -> None:
        count = 0
        for run in queryset.select_related("model_version"):
            count += jobs.request_days(run.model_version, [run.day])
        self.message_user(request, f"{count} days queued.", messages.SUCCESS)


class PolicyAdminForm(forms.ModelForm):
    class Meta:
        model = MonitoringPolicy
        fields = ("use_case", *alerts.POLICY_FIELDS)

    def clean(self):
        data = super().clean()
        given = {name: data[name] for name in alerts.POLICY_FIELDS if name in data}
        errors = alerts.check_policy(given)
        window = [data.get(name) for name in alerts.WINDOW]
        if not any(name in self.errors for name in alerts.WINDOW):
            # The service checks it too, but its error would be a 500 from save_model.
            errors += alerts.check_window(*window, jobs.utc_today())
        for error in errors:
            self.add_error(error.field, error.message)
        return data


@admin.register(MonitoringPolicy)
class MonitoringPolicyAdmin(admin.ModelAdmin):
    form = PolicyAdminForm
    list_display = ("use_case", *alerts.POLICY_FIELDS, "updated_at")
    search_fields = ("use_case__slug", "use_case__title")
    list_select_related = ("use_case",)
    autocomplete_fields = ("use_case",)

    def get_readonly_fields(self, request, obj=None):
        return ("use_case", "updated_at") if obj is not None else ("updated_at",)

    def save_model(self, request, obj, form, change) -> None:
        fields = {name: form.cleaned_data[name] for name in alerts.POLICY_FIELDS}
        saved = alerts.save_policy(obj.use_case, by=request.user, **fields)
        obj.pk = saved.pk


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("__str__", "use_case", "kind", "status", "day", "last_seen_day", "value")
    list_filter = ("status", "kind")
    search_fields = ("use_case__slug", "model_version__version", "subject", "subject_label")
    date_hierarchy = "day"
    list_select_related = ("use_case", "model_version")
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
