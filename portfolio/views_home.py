"""Every role's home page, built around the tasks waiting for the person (portfolio/home.py
gathers them); Managers and Admins also get the portfolio's summary and its week."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.plotting import chart_page
from portal.web import HtmxRequest
from portfolio import home as tasks
from usecases import charts


@chart_page
@require_GET
def home(request: HtmxRequest) -> HttpResponse:
    context = tasks.home_page(request.user)
    if context["sees_portfolio"]:
        context["phase_chart"] = charts.phase_counts_figure(context["portfolio"].phases)
    return render(request, "home.html", context)
