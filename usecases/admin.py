"""Admin for inspection only: every change goes through the services, so it is audited."""

from django.contrib import admin

from usecases.models import KPI, AuditEvent, DataQualityRule, UseCase, UseCaseMember, ValueModel


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberInline(admin.TabularInline):
    model = UseCaseMember
    extra = 0
    readonly_fields = ("user", "role")

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UseCase)
class UseCaseAdmin(ReadOnlyAdmin):
    list_display = ("title", "slug", "phase", "owner", "risk_tier")
    list_filter = ("phase", "risk_tier", "task_type")
    search_fields = ("title", "slug")
    inlines = [MemberInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "actor_name", "verb", "use_case_slug", "target_repr")
    list_filter = ("verb",)
    search_fields = ("use_case_slug", "actor_name", "target_repr")


for model in (KPI, ValueModel, DataQualityRule):
    admin.site.register(model, ReadOnlyAdmin)
