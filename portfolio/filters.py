"""The roadmap's filters (GET, so they stay in the URL): owner, team, phase and risk in SQL;
health after it is computed (portfolio/health.py). Invalid values are form errors and
filter nothing out. They narrow the lists, not the portfolio's maturity and health counts,
which are of every use case the user sees (portfolio/views.py)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from portfolio.health import HEALTH_CHOICES
from usecases.models import UseCase

SQL_FILTERS = ("owner", "team", "phase", "risk")


class RoadmapFilterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RoadmapFilter(django_filters.FilterSet):
    owner = django_filters.ChoiceFilter(
        label="Owner", empty_label="All owners", field_name="owner__username"
    )
    team = django_filters.ChoiceFilter(label="Team", empty_label="All teams")
    phase = django_filters.ChoiceFilter(
        label="Phase", empty_label="All phases", choices=UseCase.Phase.choices
    )
    risk = django_filters.ChoiceFilter(
        label="Risk",
        empty_label="All risks",
        field_name="risk_tier",
        choices=UseCase.RiskTier.choices,
    )
    health = django_filters.ChoiceFilter(
        label="Health", empty_label="Any health", choices=HEALTH_CHOICES, method="keep_all"
    )

    class Meta:
        model = UseCase
        fields: list[str] = []
        form = RoadmapFilterForm

    def __init__(self, data=None, queryset=None, **kwargs):
        """`queryset`: the use cases the user sees; the owners and teams offered are theirs."""
        super().__init__(data, queryset, **kwargs)
        pairs = set(queryset.order_by().values_list("owner__username", "team"))
        owners = sorted({owner for owner, _ in pairs}, key=str.casefold)
        teams = sorted({team for _, team in pairs if team}, key=str.casefold)
        self.filters["owner"].extra["choices"] = [(o, o) for o in owners]
        self.filters["team"].extra["choices"] = [(t, t) for t in teams]

    def keep_all(self, use_cases: QuerySet, name: str, value: str) -> QuerySet:
        return use_cases  # health is known only once computed: selectors.narrow(health=…)

    def use_cases(self) -> QuerySet:
        """The use cases matching the SQL filters; all of them while the form is invalid."""
        return self.qs if self.is_valid() else self.queryset

    def matching_ids(self) -> set[int] | None:
        """The ids of the use cases the SQL filters keep, in one query; None when no SQL
        filter is set or the form is invalid (nothing is filtered out)."""
        if not self.is_valid() or not any(self.form.cleaned_data.get(n) for n in SQL_FILTERS):
            return None
        return set(self.qs.values_list("pk", flat=True))

    @property
    def wanted_health(self) -> str:
        return self.form.cleaned_data.get("health", "") if self.is_valid() else ""

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.filters)
