"""Every role's home page, built around the tasks waiting for the person."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.plotting import chart_page
from portal.web import HtmxRequest
from usecases import charts, selectors


@chart_page
@require_GET
def home(request: HtmxRequest) -> HttpResponse:
    counts = selectors.phase_counts(request.user)
    context = {
        "total": sum(n for *_, n in counts),
        "phase_chart": charts.phase_counts_figure(counts),
        "my_use_cases": selectors.my_use_cases(request.user),
    }
    return render(request, "home.html", context)
