"""The audit trail's filters (GET), with django-filter: a use case's history tab and the
global audit page share them; invalid input (a date that is not one) is a form error.

Dates are whole days in the site's TIME_ZONE, both ends included.
"""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from portal.web import DateInput
from usecases.audit_labels import KINDS, kind_choices
from usecases.models import AuditEvent, UseCase


def start_of_day(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the site's time zone (settings.TIME_ZONE)."""
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time.min), timezone.get_default_timezone()
    )


class HistoryFilterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first > last:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class HistoryFilter(django_filters.FilterSet):
    """Who, what kind (or exact verb) and when: the history tab's filters."""

    actor = django_filters.CharFilter(
        label="Actor",
        method="filter_actor",
        widget=forms.TextInput(attrs={"placeholder": "Username"}),
    )
    kind = django_filters.ChoiceFilter(
        label="Kind", choices=kind_choices, empty_label="All kinds", method="filter_kind"
    )
    date_from = django_filters.DateFilter(label="From", method="filter_from", widget=DateInput)
    date_to = django_filters.DateFilter(label="To", method="filter_to", widget=DateInput)

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = HistoryFilterForm

    def filter_actor(self, events: QuerySet, name: str, value: str) -> QuerySet:
        return events.filter(actor_name__iexact=value)  # as recorded; blank: not called

    def filter_kind(self, events: QuerySet, name: str, value: str) -> QuerySet:
        if value in KINDS:  # every verb of the kind: "promotion" is promotion.*
            return events.filter(verb__startswith=f"{value}.")
        return events.filter(verb=value)

    def filter_from(self, events: QuerySet, name: str, value: datetime.date) -> QuerySet:
        return events.filter(created_at__gte=start_of_day(value))

    def filter_to(self, events: QuerySet, name: str, value: datetime.date) -> QuerySet:
        return events.filter(created_at__lt=start_of_day(value + datetime.timedelta(days=1)))

    def events(self) -> QuerySet:
        """The matching events; none while the filters are invalid (the form says why)."""
        return self.qs if self.is_valid() else self.queryset.none()


class AuditFilter(HistoryFilter):
    """The global audit page's filters: the history tab's, plus the use case (by slug,
    among the use cases `user` sees)."""

    use_case = django_filters.ChoiceFilter(
        label="Use case", empty_label="All use cases", method="filter_use_case"
    )

    def __init__(self, data=None, queryset=None, *, user, **kwargs):
        super().__init__(data, queryset, **kwargs)
        visible = list(
            UseCase.objects.visible_to(user).order_by("title").values_list("pk", "slug", "title")
        )
        self.use_case_ids = {slug: pk for pk, slug, _ in visible}
        use_case = self.filters.pop("use_case")  # first in the form
        use_case.extra["choices"] = [(slug, f"{title} ({slug})") for _, slug, title in visible]
        self.filters = {"use_case": use_case, **self.filters}

    def filter_use_case(self, events: QuerySet, name: str, value: str) -> QuerySet:
        # By id: a deleted use case's slug may be reused by a newer one.
        return events.filter(use_case_id_ref=self.use_case_ids[value])
