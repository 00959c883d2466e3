"""The roadmap's pages: board, table, timeline, value against effort, and the CSV export.

Each shows the use cases the user sees (UseCase.objects.visible_to: Managers and Admins all
of them, everyone else those they are a member of), narrowed by the filters in the URL, with
the portfolio's maturity and health counts on top, of every use case the user sees whatever
the filters (as the home page's summary); each runs a fixed number of queries
(portfolio/selectors.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from django.http import HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.exports import csv_response
from portal.plotting import chart_page
from portal.web import HtmxRequest, page_of
from portfolio import charts, selectors
from portfolio import health as rules
from portfolio.filters import RoadmapFilter
from portfolio.health import LONG_IN_PHASE_DAYS, STALE_EVALUATION_DAYS
from promotions.models import PromotionRequest
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, is_admin, is_manager, page_context

TABLE_PAGE_SIZE = 50


def _roadmap(request: HtmxRequest, tab: str, **context) -> dict:
    """The filters, the filtered rows and what every tab shows above its own content."""
    visible = UseCase.objects.visible_to(request.user)
    filters = RoadmapFilter(request.GET or None, queryset=visible)
    every = selectors.roadmap_rows(visible)
    rows = selectors.narrow(every, ids=filters.matching_ids(), health=filters.wanted_health)
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "tab": tab,
        "filters": filters,
        "rows": rows,
        "maturity": selectors.maturity(every),
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
    # A bar per use case: two with the same title are told apart by their slugs.
    titles = Counter(r.use_case.title for r in dated)
    bars = [
        {
            "label": r.use_case.title
            if titles[r.use_case.title] == 1
            else f"{r.use_case.title} ({r.use_case.slug})",
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


# One use case's health: the roadmap's row for it, as a panel of its page

# A reason's kind (portfolio/health.py) → the link that fixes it: its label and its page in
# health_links(). The blocker (NEXT_PHASE) is fixed by promoting, below; open alerts are read
# on the Monitoring tab. tests/portfolio/test_health_panel.py checks every kind.
REASON_FIXES = {
    rules.EVALUATION_GATE: ("See the failing evaluation", "gates"),
    rules.TARGET_DATE: ("Change the target date", "plan"),
    rules.MILESTONES: ("See the milestones", "milestones"),
    rules.REVIEW_GATE: ("See the review results", "acceptance"),
    rules.STALE_EVALUATION: ("See the last evaluation", "evaluation"),
    rules.LONG_IN_PHASE: ("Move to another phase", "phase"),
    rules.ALERTS: ("See the alerts", "alerts"),
}


def health_links(row: selectors.RoadmapRow, *, allowed: dict[str, bool]) -> dict[str, str]:
    """Where each figure of `row` is looked into or fixed, among the pages the user may open
    (`allowed`: page_context's); at most one small query (a pending request's id)."""
    use_case, slug = row.use_case, row.use_case.slug
    links = {
        "milestones": f"{use_case.get_absolute_url()}#milestones",
        "promotions": reverse("promotions:use_case", args=[slug]),
        "alerts": reverse("monitoring:tab", args=[slug]),
    }
    if allowed[Action.CHANGE_PHASE]:
        links["phase"] = reverse("promotions:phase", args=[slug])
    if allowed[Action.EDIT]:
        links["plan"] = reverse("usecases:edit", args=[slug])
        links["milestones"] = f"{links['plan']}#milestones"
    if row.candidate:
        links["version"] = reverse("registry:version_detail", args=[slug, row.candidate])
    if row.gate is not None and row.gate.evaluation is not None:  # the evaluation it rests on
        links["gates"] = reverse("registry:evaluation_detail", args=[slug, row.gate.evaluation.pk])
    if row.last_evaluation_id is not None:
        links["evaluation"] = reverse(
            "registry:evaluation_detail", args=[slug, row.last_evaluation_id]
        )
    if row.acceptance is not None:
        links["acceptance"] = reverse(
            "reviews:campaign_detail", args=[slug, row.acceptance.campaign_id]
        )
    pending = row.pending_promotions == 1 and (
        PromotionRequest.objects.filter(use_case=use_case, status=PromotionRequest.Status.PENDING)
        .values_list("pk", flat=True)
        .first()
    )
    if pending:
        links["promotions"] = reverse("promotions:detail", args=[slug, pending])
    return links


def reasons_with_fixes(
    row: selectors.RoadmapRow, links: dict[str, str], *, may_promote: bool
) -> list[dict]:
    """The row's health reasons, each with the page where it is fixed when there is one."""
    found = []
    for reason in row.health.reasons:
        if reason.kind == rules.NEXT_PHASE:  # fixed by promoting a version: a request, or one
            fix = "Promote a version" if may_promote else "See the promotions"
            if row.pending_promotions:
                fix = "See the pending promotion" + pluralize(row.pending_promotions)
            url = links["promotions"]
        else:
            fix, name = REASON_FIXES.get(reason.kind, ("", ""))
            url = links.get(name)
        found.append(
            {
                "kind": reason.kind,
                "text": reason.text,
                "fix": fix if url else "",
                "url": url,
                "is_blocker": reason.kind == rules.NEXT_PHASE,
            }
        )
    return found


@require_GET
def health_panel(request: HtmxRequest, slug: str) -> HttpResponse:
    """A use case's health as the roadmap's table shows it (the same selector, narrowed to
    this use case): a panel of its page for htmx, a page of its own without JavaScript."""
    use_case = get_use_case_for(request, slug, Action.VIEW)
    (row,) = selectors.roadmap_rows(UseCase.objects.filter(pk=use_case.pk))
    context = page_context(request, use_case, row=row)
    links = context["links"] = health_links(row, allowed=context["allowed"])
    fixes = reasons_with_fixes(row, links, may_promote=context["allowed"][Action.PROMOTE])
    context["reasons"] = [reason for reason in fixes if not reason["is_blocker"]]
    context["blocker"] = next((reason for reason in fixes if reason["is_blocker"]), None)
    template = "portfolio/_health.html"
    if request.htmx:
        template += "#health-panel"
    return render(request, template, context)
