"""Browser pages and htmx fragments (the API is under /api/, in usecases/api/urls.py)."""

from django.urls import path

from usecases import views

app_name = "usecases"

use_case = "usecases/<slug:slug>/"
urlpatterns = [
    path("audit/", views.audit, name="audit"),
    path("audit/csv/", views.audit_csv, name="audit_csv"),
    path("usecases/", views.use_case_list, name="list"),
    path("usecases/new/", views.use_case_create, name="create"),
    path(use_case, views.detail, name="detail"),
    path(f"{use_case}edit/", views.use_case_edit, name="edit"),
    path(f"{use_case}delete/", views.use_case_delete, name="delete"),
    path(f"{use_case}history/", views.history, name="history"),
    path(f"{use_case}history/csv/", views.history_csv, name="history_csv"),
    path(f"{use_case}members/", views.members, name="members"),
    path(f"{use_case}members/<int:pk>/role/", views.member_role, name="member_role"),
    path(f"{use_case}members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(f"{use_case}members/<int:pk>/welcome/", views.member_welcome, name="member_welcome"),
    path(f"{use_case}kpis/new/", views.kpi_create, name="kpi_create"),
    path(f"{use_case}kpis/<int:pk>/edit/", views.kpi_edit, name="kpi_edit"),
    path(f"{use_case}kpis/<int:pk>/delete/", views.kpi_delete, name="kpi_delete"),
    path(f"{use_case}value-model/edit/", views.value_model_edit, name="value_model_edit"),
    path(f"{use_case}rules/new/", views.rule_create, name="rule_create"),
    path(f"{use_case}rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path(f"{use_case}rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
    path("account/tokens/<str:token_key>/revoke/", views.api_token_revoke, name="api_token_revoke"),
]
