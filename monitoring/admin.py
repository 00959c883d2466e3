"""Daily monitoring runs in the admin: read-mostly; "run again" calls the job's service."""

from __future__ import annotations

from django.contrib import admin, messages

from monitoring.models import DailyDrift, DailyKPI, DailyQuality, DailyRun
from monitoring.services import jobs


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
