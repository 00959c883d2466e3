"""REST API for use cases and their definition (/api/v1/): check → call one service → respond.

Roles are checked by `UseCaseRole` (usecases.permissions): views nested under
/usecases/{use_case_slug}/ find the use case as `self.use_case`, already fetched through
`visible_to()` (outsiders 404, members lacking the right 403). Services raise a DomainError
(portal/errors.py); portal.api's exception handler turns it into the one JSON error shape.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from portal.api import (
    CONFLICT_ERRORS,
    DELETE_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    JSONOnly,
    errors,
)
from usecases import selectors
from usecases.api import serializers as s
from usecases.models import KPI, AuditEvent, DataQualityRule, UseCase, UseCaseMember, ValueModel
from usecases.permissions import (
    USE_CASE_SLUG,
    Action,
    NestedUnderUseCase,
    UseCaseRole,
    can,
    can_create_use_case,
)
from usecases.services import definitions, usecases


@extend_schema(tags=["use cases"])
class UseCaseViewSet(JSONOnly, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Use cases the caller can see; writes need the role's action (UseCaseRole, per object)."""

    permission_classes = [IsAuthenticated, UseCaseRole]
    serializer_class = s.UseCaseSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    write_actions = {
        "partial_update": Action.EDIT,
        "destroy": Action.DELETE,
    }

    def get_queryset(self) -> QuerySet:
        # use_case_rows starts from UseCase.objects.visible_to(user) and adds the counts.
        filters = {}
        if self.action == "list":
            query = s.UseCaseFilter(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            filters = query.validated_data
        rows = selectors.use_case_rows(self.request.user, **filters)
        return rows.prefetch_related("milestones")  # one query for every row's milestones

    def get_object(self) -> UseCase:
        use_case = self.get_queryset().filter(slug=self.kwargs["slug"]).first()
        if use_case is None:
            raise Http404("No such use case.")
        self.check_object_permissions(self.request, use_case)
        return use_case

    def respond(self, use_case: UseCase, code: int = status.HTTP_200_OK) -> Response:
        """The use case as the list shows it (with its counts), after a write."""
        rows = selectors.use_case_rows(self.request.user).prefetch_related("milestones")
        fresh = rows.get(pk=use_case.pk)
        return Response(s.UseCaseSerializer(fresh).data, status=code)

    @extend_schema(
        description="The use cases the caller is a member of (Managers and Admins: all).",
        parameters=[s.UseCaseFilter],
        responses={200: s.UseCaseSerializer(many=True), **errors(400, 401, 404)},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.UseCaseSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.UseCaseCreateInput,
        responses={201: s.UseCaseSerializer, **errors(400, 401, 403, 413)},
        description="Propose a use case; the caller becomes an owner (and the owner, "
        "unless `owner` names someone else).",
    )
    def create(self, request):
        if not can_create_use_case(request.user):
            raise PermissionDenied("You may not create use cases.")
        data = s.UseCaseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        use_case = usecases.create_use_case(by=request.user, **data.validated_data)
        return self.respond(use_case, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.UseCaseUpdateInput, responses={200: s.UseCaseSerializer, **WRITE_ERRORS}
    )
    def partial_update(self, request, slug=None):
        use_case = self.get_object()
        data = s.UseCaseUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        new_owner = data.validated_data.get("owner")
        # Naming the owner hands over every right, so it takes the right to manage members.
        if (
            new_owner is not None
            and new_owner.pk != use_case.owner_id
            and not can(request.user, Action.MANAGE_MEMBERS, use_case)
        ):
            raise PermissionDenied("Only an owner or an admin may name another owner.")
        use_case = usecases.update_use_case(use_case, by=request.user, **data.validated_data)
        return self.respond(use_case)

    @extend_schema(responses={204: None, **DELETE_ERRORS})
    def destroy(self, request, slug=None):
        usecases.delete_use_case(self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["KPIs"], parameters=[USE_CASE_SLUG])
class KPIViewSet(NestedUnderUseCase, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """A use case's KPIs; writes need EDIT (owner, expert, admin)."""

    serializer_class = s.KPISerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such KPI on this use case."

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return KPI.objects.none()
        return self.use_case.kpis.all()

    @extend_schema(responses={200: s.KPISerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.KPISerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(responses={201: s.KPISerializer, **WRITE_ERRORS})
    def create(self, request, use_case_slug=None):
        data = s.KPISerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kpi = definitions.create_kpi(self.use_case, by=request.user, **data.validated_data)
        return Response(s.KPISerializer(kpi).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.KPISerializer, **WRITE_ERRORS})
    def partial_update(self, request, use_case_slug=None, pk=None):
        kpi = self.get_object()
        data = s.KPISerializer(kpi, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        kpi = definitions.update_kpi(kpi, by=request.user, **data.validated_data)
        return Response(s.KPISerializer(kpi).data)

    @extend_schema(responses={204: None, **DELETE_ERRORS})
    def destroy(self, request, use_case_slug=None, pk=None):
        definitions.delete_kpi(self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["value model"], parameters=[USE_CASE_SLUG])
class ValueModelView(NestedUnderUseCase, GenericAPIView):
    """The use case's one value model: how a prediction turns into money."""

    serializer_class = s.ValueModelSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return ValueModel.objects.none()
        return ValueModel.objects.filter(use_case=self.use_case)

    def get_object(self) -> ValueModel:
        value_model = self.get_queryset().first()
        if value_model is None:
            raise Http404("This use case has no value model yet; PUT one to create it.")
        return value_model

    @extend_schema(responses={200: s.ValueModelSerializer, **READ_ERRORS})
    def get(self, request, use_case_slug=None):
        return Response(s.ValueModelSerializer(self.get_object()).data)

    @extend_schema(
        request=s.ValueModelSerializer,
        responses={200: s.ValueModelSerializer, 201: s.ValueModelSerializer, **WRITE_ERRORS},
        description="Create (201) or replace (200) the value model. Classification needs the "
        "four outcome values, regression the two unit costs; omitted fields are cleared.",
    )
    def put(self, request, use_case_slug=None):
        data = s.ValueModelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = self.get_queryset().exists()
        value_model = definitions.save_value_model(
            self.use_case, by=request.user, **data.validated_data
        )
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(s.ValueModelSerializer(value_model).data, status=code)


@extend_schema(tags=["data-quality rules"], parameters=[USE_CASE_SLUG])
class DataQualityRuleViewSet(
    NestedUnderUseCase, ListModelMixin, RetrieveModelMixin, GenericViewSet
):
    """A use case's data-quality rules; writes need EDIT (owner, expert, admin)."""

    serializer_class = s.DataQualityRuleSerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such data-quality rule on this use case."

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return DataQualityRule.objects.none()
        return self.use_case.data_quality_rules.all()

    @extend_schema(responses={200: s.DataQualityRuleSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.DataQualityRuleSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(responses={201: s.DataQualityRuleSerializer, **WRITE_ERRORS})
    def create(self, request, use_case_slug=None):
        data = s.DataQualityRuleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = definitions.create_rule(self.use_case, by=request.user, **data.validated_data)
        return Response(s.DataQualityRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.DataQualityRuleSerializer, **WRITE_ERRORS})
    def partial_update(self, request, use_case_slug=None, pk=None):
        rule = self.get_object()
        data = s.DataQualityRuleSerializer(rule, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        rule = definitions.update_rule(rule, by=request.user, **data.validated_data)
        return Response(s.DataQualityRuleSerializer(rule).data)

    @extend_schema(responses={204: None, **DELETE_ERRORS})
    def destroy(self, request, use_case_slug=None, pk=None):
        definitions.delete_rule(self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"], parameters=[USE_CASE_SLUG])
class MemberViewSet(NestedUnderUseCase, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Who has which role on the use case; writes need MANAGE_MEMBERS (owner, admin)."""

    serializer_class = s.MemberSerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such member of this use case."
    write_action = Action.MANAGE_MEMBERS

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return UseCaseMember.objects.none()
        return self.use_case.members.select_related("user")

    @extend_schema(responses={200: s.MemberSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.MemberSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.MemberInput,
        responses={201: s.MemberSerializer, **CONFLICT_ERRORS},
        description="Give a user a role; 409 if they are already a member.",
    )
    def create(self, request, use_case_slug=None):
        data = s.MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = usecases.add_member(self.use_case, by=request.user, **data.validated_data)
        return Response(s.MemberSerializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.MemberRoleInput,
        responses={200: s.MemberSerializer, **CONFLICT_ERRORS},
        description="Change a member's role; 409 if that would leave the use case without "
        "its accountable owner.",
    )
    def partial_update(self, request, use_case_slug=None, pk=None):
        member = self.get_object()
        data = s.MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = usecases.change_member_role(member, by=request.user, **data.validated_data)
        return Response(s.MemberSerializer(member).data)

    @extend_schema(
        responses={204: None, **errors(401, 403, 404, 409)},
        description="Remove a member; 409 for the accountable owner or the last owner.",
    )
    def destroy(self, request, use_case_slug=None, pk=None):
        usecases.remove_member(self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["audit events"], parameters=[USE_CASE_SLUG])
class AuditEventViewSet(NestedUnderUseCase, ListModelMixin, GenericViewSet):
    """The use case's audit trail, newest first; read-only (the log is append-only)."""

    serializer_class = s.AuditEventSerializer

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return AuditEvent.objects.none()
        return selectors.use_case_history(self.use_case)

    @extend_schema(responses={200: s.AuditEventSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
