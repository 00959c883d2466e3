"""The roadmap's pages: board, table, timeline, value against effort, and the CSV export.

Each shows the use cases the user sees (UseCase.objects.visible_to: Managers and Admins all
of them, everyone else those they are a member of), narrowed by the filters in the URL, with
the portfolio's maturity on top; each runs a fixed number of queries (portfolio/selectors.py).
"""

from __future__ import annotations

from collections import defaultdict

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.exports import csv_response
from portal.plotting import chart_page
from portal.web import HtmxRequest, page_of
from portfolio import charts, selectors
from portfolio.filters import RoadmapFilter
from portfolio.health import LONG_IN_PHASE_DAYS, STALE_EVALUATION_DAYS
from usecases.models import UseCase
from usecases.permissions import is_admin, is_manager

TABLE_PAGE_SIZE = 50


def _roadmap(request: HtmxRequest, tab: str, **context) -> dict:
    """The filters, the filtered rows and what every tab shows above its own content."""
    filters = RoadmapFilter(request.GET or None, queryset=UseCase.objects.visible_to(request.user))
    rows = selectors.roadmap_rows(filters.use_cases(), health=filters.wanted_health)
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "tab": tab,
        "filters": filters,
        "rows": rows,
        "maturity": selectors.maturity(rows),
        "query": query.urlencode(),
        "sees_all": is_manager(request.user) or is_admin(request.user),
        "stale_days": STALE_EVALUATION_DAYS,
        "long_days": LONG_IN_PHASE_DAYS,
        **context,
    }


@require_GET
def roadmap(request: HtmxRequest) -> HttpResponse:
    context = _roadmap(request, "board")
    context["columns"] = selectors.board(context["rows"])
    return render(request, "portfolio/roadmap.html", context)


@require_GET
def roadmap_table(request: HtmxRequest) -> HttpResponse:
    context = _roadmap(request, "table")
    context["page"] = page_of(request, context["rows"], per_page=TABLE_PAGE_SIZE)
    return render(request, "portfolio/roadmap_table.html", context)


@chart_page
@require_GET
def roadmap_timeline(request: HtmxRequest) -> HttpResponse:
    context = _roadmap(request, "timeline")
    rows, today = context["rows"], timezone.localdate()
    milestones = selectors.milestones_of(rows)
    dated = [r for r in rows if r.use_case.start_date and r.use_case.target_date]
    bars = [
        {
            "title": r.use_case.title,
            "phase": r.use_case.phase,
            "phase_label": r.use_case.get_phase_display(),
            "start": r.use_case.start_date,
            "target": r.use_case.target_date,
            "milestones": [
                {"name": m.name, "due": m.due_date, "done": m.is_done}
                for m in milestones[r.use_case.pk]
            ],
        }
        for r in sorted(dated, key=lambda r: (r.use_case.start_date, r.use_case.title))
    ]
    dated_ids = {r.use_case.pk for r in dated}
    context["undated"] = [r for r in rows if r.use_case.pk not in dated_ids]
    context["timeline"] = charts.timeline_figure(bars, today=today) if bars else None
    context["milestone_count"] = sum(len(bar["milestones"]) for bar in bars)
    return render(request, "portfolio/roadmap_timeline.html", context)


@chart_page
@require_GET
def roadmap_value(request: HtmxRequest) -> HttpResponse:
    context = _roadmap(request, "value")
    by_currency = defaultdict(list)
    context["unplotted"] = []
    for row in context["rows"]:
        uc = row.use_case
        if uc.expected_value_per_year is None or uc.effort_person_days is None:
            context["unplotted"].append(row)
            continue
        by_currency[uc.expected_value_currency].append(
            {
                "title": uc.title,
                "value": uc.expected_value_per_year,
                "effort_weeks": uc.effort_person_weeks,
                "priority": uc.priority,
                "priority_label": uc.get_priority_display(),
                "risk": uc.risk_tier,
                "risk_label": uc.get_risk_tier_display(),
            }
        )
    # One chart per currency, the one with most use cases first: values never mix.
    ordered = sorted(by_currency.items(), key=lambda item: (-len(item[1]), item[0]))
    context["value_charts"] = [
        {
            "currency": currency,
            "count": len(points),
            "id": f"value-chart-{i}",
            "data_id": f"value-chart-{i}-data",
            "figure": charts.value_effort_figure(points, currency=currency),
        }
        for i, (currency, points) in enumerate(ordered)
    ]
    return render(request, "portfolio/roadmap_value.html", context)


@require_GET
def roadmap_csv(request: HtmxRequest) -> HttpResponse:
    rows = _roadmap(request, "csv")["rows"]
    day = timezone.localdate().isoformat()
    return csv_response(
        selectors.CSV_HEADER, selectors.csv_rows(rows), filename=f"roadmap-{day}.csv"
    )
