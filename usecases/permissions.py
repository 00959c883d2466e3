"""The one place that knows roles: who may do what on a use case (DESIGN.md, STYLE.md).

Pages, htmx fragments and API views ask `can()` or `get_use_case_for()`; nothing else
compares roles. Outsiders get 404 (they must not learn a use case exists), members who lack
the right get 403.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated

from portal.api import JSONOnly
from usecases.models import ADMIN_GROUP, MANAGER_GROUP, Role, UseCase, global_groups


class Action(StrEnum):
    VIEW = "view"
    EDIT = "edit"  # title, framing, KPIs, value model, data-quality rules
    CHANGE_PHASE = "change_phase"
    MANAGE_MEMBERS = "manage_members"
    DELETE = "delete"
    # Register versions, upload evaluation data and predictions, run evaluations, log
    # production predictions and their outcomes.
    MANAGE_MODELS = "manage_models"
    # Create, edit and close review campaigns.
    MANAGE_REVIEWS = "manage_reviews"
    # Review sampled predictions (the human in the loop).
    REVIEW = "review"
    # Open a promotion request for a version (and withdraw one's own).
    PROMOTE = "promote"
    # The promotion policy: reference dataset, gate thresholds, raised approval minimums,
    # the deployment webhook; and the monitoring policy's alert thresholds.
    SET_POLICY = "set_policy"
    # Return the previous production version.
    ROLLBACK = "rollback"
    # Let a promotion execute past a failed or incomplete gate, with a justification.
    OVERRIDE_GATE = "override_gate"
    # Acknowledge or resolve the use case's monitoring alerts: whoever works on its models
    # or its definition, and managers; not viewers.
    HANDLE_ALERTS = "handle_alerts"


# What each per-use-case role may do. Admins may do everything; Managers view everything,
# handle monitoring alerts, roll back and override a gate (with a justification, which no
# use-case role may).
# Approving a promotion is not an action here: the promotion's policy says whose approvals
# count (promotions/services/policy.py).
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action) - {Action.OVERRIDE_GATE},
    Role.EXPERT: frozenset(
        {Action.VIEW, Action.EDIT, Action.MANAGE_REVIEWS, Action.REVIEW, Action.HANDLE_ALERTS}
    ),
    Role.DATA_SCIENTIST: frozenset(
        {
            Action.VIEW,
            Action.MANAGE_MODELS,
            Action.MANAGE_REVIEWS,
            Action.PROMOTE,
            Action.HANDLE_ALERTS,
        }
    ),
    Role.VIEWER: frozenset({Action.VIEW}),
}
MANAGER_ACTIONS = frozenset(
    {Action.VIEW, Action.ROLLBACK, Action.OVERRIDE_GATE, Action.HANDLE_ALERTS}
)


def is_admin(user) -> bool:
    return ADMIN_GROUP in global_groups(user)


def is_manager(user) -> bool:
    return MANAGER_GROUP in global_groups(user)


def role_of(user, use_case: UseCase) -> str | None:
    """The user's role on the use case, or None; cached on the use case instance."""
    if not user.is_authenticated:
        return None
    cache = use_case.__dict__.setdefault("_quorum_roles", {})
    if user.pk not in cache:
        cache[user.pk] = use_case.members.filter(user=user).values_list("role", flat=True).first()
    return cache[user.pk]


def remember_role(user, use_case: UseCase, role: str | None) -> None:
    """Seed role_of's cache with the user's role read in bulk (a selector's annotation), so
    that can() over a list of use cases costs no query per row."""
    if user.is_authenticated:
        use_case.__dict__.setdefault("_quorum_roles", {})[user.pk] = role


def can(user, action: Action, use_case: UseCase) -> bool:
    """Whether `user` may perform `action` on `use_case`."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_admin(user):
        return True
    if action in MANAGER_ACTIONS and is_manager(user):
        return True
    role = role_of(user, use_case)
    return role is not None and action in ROLE_ACTIONS[role]


def can_view_audit_trail(user) -> bool:
    """The whole audit trail (every use case's events, and accounts' and tokens'):
    Managers and Admins."""
    return user.is_authenticated and user.is_active and (is_manager(user) or is_admin(user))


def can_create_use_case(user) -> bool:
    """Any active account may propose a use case; it becomes its owner."""
    return user.is_authenticated and user.is_active


def allowed_actions(user, use_case: UseCase) -> dict[str, bool]:
    """{action: allowed} for templates, which must not compare roles themselves."""
    return {action.value: can(user, action, use_case) for action in Action}


def get_use_case_for(request: HttpRequest, slug: str, action: Action) -> UseCase:
    """The visible use case `slug`: 404 for outsiders, PermissionDenied without `action`."""
    use_case = (
        UseCase.objects.visible_to(request.user).select_related("owner").filter(slug=slug).first()
    )
    if use_case is None:
        raise Http404("No such use case.")
    if not can(request.user, action, use_case):
        raise PermissionDenied(f"You may not {action.value.replace('_', ' ')} this use case.")
    return use_case


class UseCaseRole(BasePermission):
    """DRF permission: reads need VIEW, writes need the view's `write_action` (default EDIT).

    Views nested under /usecases/{slug}/ resolve the use case here (404/403 as above) and
    find it as `view.use_case`; the use case viewset itself is checked per object.
    """

    def has_permission(self, request, view) -> bool:
        slug = view.kwargs.get("use_case_slug")
        if slug is not None:
            view.use_case = get_use_case_for(request, slug, required_action(request, view))
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if isinstance(obj, UseCase) and not can(request.user, required_action(request, view), obj):
            raise PermissionDenied("You may not change this use case.")
        return True


def required_action(request, view) -> Action:
    if request.method in SAFE_METHODS:
        return Action.VIEW
    per_action = getattr(view, "write_actions", {})
    return per_action.get(getattr(view, "action", None), getattr(view, "write_action", Action.EDIT))


def page_context(request: HttpRequest, use_case: UseCase, **extra) -> dict:
    """What every page of a use case gives its template: the use case and the user's rights."""
    return {"use_case": use_case, "allowed": allowed_actions(request.user, use_case), **extra}


# The API's nested resources: every app's endpoints under /usecases/{use_case_slug}/.
NESTED = r"usecases/(?P<use_case_slug>[-a-zA-Z0-9_]+)"
USE_CASE_SLUG = OpenApiParameter(
    "use_case_slug", str, OpenApiParameter.PATH, description="The use case's slug."
)


class NestedUnderUseCase(JSONOnly):
    """For views under /usecases/{use_case_slug}/: UseCaseRole sets `self.use_case`, fetched
    through `UseCase.objects.visible_to(user)`, so querysets from it are scoped already."""

    permission_classes = [IsAuthenticated, UseCaseRole]
    use_case: UseCase

    not_found = "No such item on this use case."

    def is_schema_generation(self) -> bool:
        # drf-spectacular introspects views without a request's URL kwargs.
        return getattr(self, "swagger_fake_view", False)

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise Http404(self.not_found) from None
