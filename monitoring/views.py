"""The Monitoring tab of a use case: one version's KPIs over time, drift heat map, data
quality and runs over a period (?version=&start=&end=), and a feature's drift drill-down.
Reads need VIEW; the figures come from monitoring.selectors, the charts from monitoring.charts."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring import charts, charts_comparison, selectors
from monitoring.drift import PSI_SIGNIFICANT
from monitoring.services.weeks import monday_of
from portal.formatting import format_number, format_p_value
from portal.plotting import chart_page
from portal.web import HtmxRequest
from registry.models import ModelVersion
from usecases.permissions import Action, get_use_case_for, page_context


def _chosen(versions: list[ModelVersion], name: str | None) -> ModelVersion | None:
    """The version asked for (404 if it is not monitored), else the first of the picker."""
    if not name:
        return versions[0] if versions else None
    for version in versions:
        if version.version == name:
            return version
    raise Http404("This version is not monitored.")


@chart_page
@require_GET
def monitoring_tab(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    versions = selectors.monitored_versions(use_case)
    version = _chosen(versions, request.GET.get("version"))
    period = selectors.period_from(request.GET.get("start"), request.GET.get("end"))
    context = page_context(request, use_case, versions=versions, version=version, period=period)
    if version is not None:
        data = selectors.monitoring(use_case, version, period)
        context["data"] = data
        context["alerts"] = selectors.version_alerts(version, period)
        context["features"] = selectors.feature_rows(data.drift_rows)
        context["weekly"] = weekly = request.GET.get("grain") == "week"
        context["charts"] = {
            "kpis": _kpi_charts(data, version, period, weekly),
            "drift": charts.drift_heatmap(data.drift_rows, period.days),
            "quality": charts.quality_chart(data.quality_rows, data.runs, period.days),
        }
        context.update(_comparison(data.kpis, version, period))
    return render(request, "monitoring/monitoring.html", context)


def _kpi_charts(data, version: ModelVersion, period: selectors.Period, weekly: bool) -> list:
    """Each KPI per day, or per week (?grain=week: the weeks overlapping the period, one
    more query)."""
    if not weekly:
        return charts.kpi_charts(data.kpis, data.kpi_rows, period.days)
    rows = selectors.weekly_kpi_rows(version, period)
    days = selectors.Period(monday_of(period.start), period.end).days
    return charts.kpi_charts(data.kpis, rows, days, weekly=True)


def _comparison(kpis: list, version: ModelVersion, period: selectors.Period) -> dict:
    """The challenger's days against production (two queries), for the comparison section."""
    compared = selectors.comparison(version, period)
    if not compared.days:
        return {"comparison": None}
    return {
        "comparison": compared,
        "comparison_summary": selectors.comparison_summary(kpis, compared),
        "comparison_charts": {
            "disagreement": charts_comparison.disagreement_chart(compared, period.days),
            "differences": charts_comparison.difference_charts(kpis, compared, period.days),
        },
    }


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _figures(row: dict, unseen_count: int | None) -> list[dict]:
    """The drill-down's figure cards: PSI, the feature's test, shares of missing (and unseen
    categories) and row counts, as text."""
    psi = row["psi"]
    figures = [
        {
            "id": "psi",
            "label": "PSI",
            "value": format_number(psi, 3),
            "bad": psi is not None and psi > PSI_SIGNIFICANT,
            "note": f"over {PSI_SIGNIFICANT} is a significant shift",
        }
    ]
    if row["kind"] == "numeric":
        test = ("ks", "Kolmogorov–Smirnov", row["ks_statistic"], row["ks_p_value"])
    else:
        test = ("chi2", "Chi-square", row["chi2_statistic"], row["chi2_p_value"])
    figures.append(
        {
            "id": test[0],
            "label": test[1],
            "value": format_number(test[2], 3),
            "note": f"p-value {format_p_value(test[3])}",
        }
    )
    if row["kind"] != "numeric":
        figures.append(
            {
                "id": "unseen",
                "label": "Unseen categories",
                "value": _share(row["unseen_share"]),
                "note": f"{unseen_count or 0:,} live rows",
            }
        )
    figures.append(
        {
            "id": "missing",
            "label": "Missing, live",
            "value": _share(row["missing_share"]),
            "note": f"reference: {_share(row['missing_share_reference'])}",
        }
    )
    figures.append(
        {
            "id": "rows",
            "label": "Rows, live",
            "value": f"{row['n_live']:,}",
            "note": f"reference: {row['n_reference']:,}",
        }
    )
    return figures


@chart_page
@require_GET
def drift_feature(request: HtmxRequest, slug: str, feature: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    version = _chosen(selectors.monitored_versions(use_case), request.GET.get("version"))
    if version is None:
        raise Http404("No version is monitored.")
    day = request.GET.get("day")
    period = selectors.period_from(request.GET.get("start"), request.GET.get("end") or day)
    rows = selectors.feature_drift(version, feature, period)
    row = next((r for r in rows if r["day"].isoformat() == day), rows[-1] if rows else None)
    histograms = selectors.drift_histograms(row["pk"]) if row else {}
    context = page_context(
        request, use_case, version=version, feature=feature, period=period, rows=rows, row=row
    )
    context["charts"] = {
        "histograms": charts.histogram_chart(histograms),
        "trend": charts.psi_trend(rows, period.days),
    }
    context["figures"] = _figures(row, histograms.get("unseen_count")) if row else []
    return render(request, "monitoring/drift_feature.html", context)
