"""The Monitoring tab's figures, from the plain rows of monitoring.selectors: a KPI over time
(value, 95 % interval band, gate and target lines), the drift heat map (features × days,
coloured by PSI), data quality over time, and a feature's two histograms and PSI over time.
Days without a figure are gaps, never zeros. No ORM here."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

import plotly.graph_objects as go

from monitoring.drift import PSI_MODERATE, PSI_SIGNIFICANT
from portal.formatting import format_p_value
from portal.plotting import (
    ACCENT,
    BAD,
    GOOD,
    MUTED,
    SECOND,
    axis,
    chart,
    layout,
    legend,
    plain,
)
from usecases.catalogue import format_metric

PSI_CAP = 0.3  # the heat map's colour scale ends here: anything over is "major"
BAND = "rgba(48, 86, 211, 0.14)"  # ACCENT, light
MARGIN = {"l": 56, "r": 16, "t": 36, "b": 40}


def _iso(day: datetime.date) -> str:
    return day.isoformat()


def _date_axis(days: Sequence[datetime.date], **extra) -> dict:
    """The period as the x axis, half a day of air each side so end points show whole."""
    half = datetime.timedelta(hours=12)
    low = datetime.datetime.combine(days[0], datetime.time()) - half
    high = datetime.datetime.combine(days[-1], datetime.time()) + half
    return axis("", type="date", range=[low.isoformat(), high.isoformat()], **extra)


def _level(name: str, value: float, days, color: str, dash: str) -> go.Scatter:
    return go.Scatter(
        x=[_iso(days[0]), _iso(days[-1])],
        y=[value, value],
        mode="lines",
        name=name,
        line={"color": color, "dash": dash, "width": 1.5},
        hovertemplate=f"{name}<extra></extra>",
    )


# KPIs over time


def kpi_charts(
    kpis: Iterable, rows: Iterable[dict], days: Sequence[datetime.date], *, weekly: bool = False
) -> list[dict]:
    """One chart per KPI; `empty` when the period holds no value of it (no figure then).
    `weekly`: the rows are weeks (`day` their Monday)."""
    by_kpi: dict[int, list[dict]] = {}
    for row in rows:
        by_kpi.setdefault(row["kpi_id"], []).append(row)
    return [_kpi_chart(kpi, by_kpi.get(kpi.pk, []), days, weekly) for kpi in kpis]


def _kpi_chart(kpi, rows: list[dict], days, weekly: bool = False) -> dict:
    better = "≥" if kpi.direction == "higher" else "≤"
    caption = f"{kpi.get_metric_display()}{f' on segment {kpi.segment}' if kpi.segment else ''}"
    caption += f"; gate {better} {format_metric(kpi.metric, kpi.gate_threshold)}"
    caption += f", target {format_metric(kpi.metric, kpi.target)}."
    if not any(row["value"] is not None for row in rows):
        return {"id": f"chart-kpi-{kpi.pk}", "title": kpi.name, "caption": caption, "empty": True}
    x = [_iso(row["day"]) for row in rows]
    text = [
        f"{format_metric(kpi.metric, r['value'])} (95 %: "
        f"{format_metric(kpi.metric, r['low'])} to {format_metric(kpi.metric, r['high'])})"
        f"<br>{r['n']:,} rows with an outcome"
        for r in rows
    ]
    traces = [
        go.Scatter(
            x=x,
            y=[r["high"] for r in rows],
            mode="lines",
            line={"width": 0},
            showlegend=False,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=x,
            y=[r["low"] for r in rows],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND,
            name="95 % interval",
            hoverinfo="skip",
        ),
        go.Scatter(
            x=x,
            y=[r["value"] for r in rows],
            mode="lines+markers",
            name="Weekly value" if weekly else "Daily value",
            line={"color": ACCENT, "width": 2},
            marker={"size": 6},
            text=text,
            hovertemplate=("Week of " if weekly else "") + "%{x|%d %b %Y}: %{text}<extra></extra>",
        ),
        _level(
            f"Gate {better} {format_metric(kpi.metric, kpi.gate_threshold)}",
            kpi.gate_threshold,
            days,
            BAD,
            "dash",
        ),
        _level(f"Target {format_metric(kpi.metric, kpi.target)}", kpi.target, days, GOOD, "dot"),
    ]
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=_date_axis(days),
            yaxis=axis(kpi.get_metric_display()),
            legend=legend(),
            margin=MARGIN,
            height=300,
            hovermode="closest",
        ),
    )
    return chart(f"kpi-{kpi.pk}", kpi.name, caption, figure)


# Drift


def _test_text(row: dict) -> str:
    if row["kind"] == "numeric":
        return f"KS p-value {format_p_value(row['ks_p_value'])}"
    return f"χ² p-value {format_p_value(row['chi2_p_value'])}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def drift_heatmap(rows: Iterable[dict], days: Sequence[datetime.date]) -> dict | None:
    """Features (the prediction first) × days, coloured by PSI, capped at PSI_CAP."""
    cells: dict[str, dict[datetime.date, dict]] = {}
    for row in rows:
        cells.setdefault(row["feature"], {})[row["day"]] = row
    if not cells:
        return None
    features = sorted(cells, key=lambda name: (not name.startswith("("), name.lower()))
    z, hover = [], []
    for feature in features:
        z.append([(cells[feature].get(day) or {}).get("psi") for day in days])
        hover.append([_cell_text(cells[feature].get(day)) for day in days])
    scale = [
        [0, "#f8fafc"],
        [PSI_MODERATE / PSI_CAP, "#fde68a"],
        [PSI_SIGNIFICANT / PSI_CAP, "#f97316"],
        [1, "#b91c1c"],
    ]
    heatmap = go.Heatmap(
        x=[_iso(day) for day in days],
        y=[plain(name) for name in features],
        z=z,
        zmin=0,
        zmax=PSI_CAP,
        colorscale=scale,
        xgap=1,
        ygap=1,
        text=hover,
        hovertemplate="<b>%{y}</b> · %{x|%d %b %Y}<br>%{text}<extra></extra>",
        colorbar={
            "title": {"text": "PSI"},
            "tickvals": [0, PSI_MODERATE, PSI_SIGNIFICANT, PSI_CAP],
            "ticktext": ["0", "0.1", "0.2", "≥ 0.3"],
            "thickness": 12,
        },
    )
    figure = go.Figure(
        heatmap,
        layout=layout(
            xaxis=_date_axis(days, showgrid=False),
            yaxis=axis("", autorange="reversed", showgrid=False, type="category"),
            margin={"l": 140, "r": 16, "t": 16, "b": 40},
            height=80 + 24 * len(features),
        ),
    )
    return chart(
        "drift",
        "Drift by feature and day",
        f"Population stability index of each feature's live values against the reference: "
        f"under {PSI_MODERATE} stable, {PSI_MODERATE}–{PSI_SIGNIFICANT} a moderate shift, over "
        f"{PSI_SIGNIFICANT} a significant one. Blank: no figure that day.",
        figure,
    )


def _cell_text(row: dict | None) -> str:
    if row is None:
        return "No figure"
    psi = "—" if row["psi"] is None else f"{row['psi']:.3f}"
    text = f"PSI {psi}<br>{_test_text(row)}<br>Missing {_share(row['missing_share'])}"
    if row.get("unseen_share"):
        text += f"<br>Unseen categories {_share(row['unseen_share'])}"
    return text


def psi_trend(rows: Sequence[dict], days: Sequence[datetime.date]) -> dict | None:
    """One feature's PSI per day with the moderate and significant lines."""
    if not any(row["psi"] is not None for row in rows):
        return None
    line = go.Scatter(
        x=[_iso(row["day"]) for row in rows],
        y=[row["psi"] for row in rows],
        mode="lines+markers",
        name="PSI",
        line={"color": ACCENT, "width": 2},
        text=[_cell_text(row) for row in rows],
        hovertemplate="%{x|%d %b %Y}<br>%{text}<extra></extra>",
    )
    figure = go.Figure(
        [
            line,
            _level(f"Moderate ({PSI_MODERATE})", PSI_MODERATE, days, SECOND, "dot"),
            _level(f"Significant ({PSI_SIGNIFICANT})", PSI_SIGNIFICANT, days, BAD, "dash"),
        ],
        layout=layout(
            xaxis=_date_axis(days),
            yaxis=axis("PSI", rangemode="tozero"),
            legend=legend(),
            margin=MARGIN,
            height=280,
        ),
    )
    return chart(
        "psi-trend", "PSI over time", "The feature's PSI on each day of the period.", figure
    )


def histogram_chart(histograms: dict) -> dict | None:
    """Reference and live shares per bin (the counts in the hover): both sides on one scale
    whatever their sizes. Missing values are in no bin (the figures above give their share)."""
    labels = histograms.get("labels") or []
    reference = histograms.get("reference_counts") or []
    live = histograms.get("live_counts") or []
    if not labels or len(reference) != len(labels) or len(live) != len(labels):
        return None
    traces = []
    for name, counts, color in (("Reference", reference, MUTED), ("Live", live, ACCENT)):
        total = sum(counts)
        traces.append(
            go.Bar(
                x=[plain(label) for label in labels],
                y=[count / total if total else None for count in counts],
                name=f"{name} ({total:,} values)",
                marker={"color": color},
                customdata=counts,
                hovertemplate=f"{name} · %{{x}}<br>%{{y:.1%}} (%{{customdata:,}} values)"
                "<extra></extra>",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=axis("", type="category", showgrid=False, automargin=True),
            yaxis=axis("Share of the values", tickformat=".0%"),
            barmode="group",
            bargap=0.25,
            legend=legend(),
            margin=MARGIN,
            height=360,
        ),
    )
    return chart(
        "histograms",
        "Reference and live distributions",
        "The share of each side's values in each bin of the reference; the bins are fixed "
        "by the reference.",
        figure,
    )


# Data quality


def quality_chart(
    quality_rows: Iterable[dict], runs: Iterable, days: Sequence[datetime.date]
) -> dict | None:
    """Each rule's violation rate per day, and the rate of rows refused at ingestion."""
    series: dict[str, list[tuple[str, float | None, str]]] = {}
    for row in quality_rows:
        rate = row["rows_violating"] / row["rows_checked"] if row["rows_checked"] else None
        counts = f"{row['rows_violating']:,} of {row['rows_checked']:,} rows"
        series.setdefault(row["rule_text"], []).append((_iso(row["day"]), rate, counts))
    refused = [
        (_iso(run.day), run.refused_rate, f"{run.rows_refused:,} of {run.rows_received:,} rows")
        for run in sorted(runs, key=lambda run: run.day)
        if run.rows_received
    ]
    if not series and not refused:
        return None
    traces = [_rate_trace(plain(name), points) for name, points in series.items()]
    if refused:
        traces.append(_rate_trace("Refused at ingestion", refused, color=BAD, dash="dash"))
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=_date_axis(days),
            yaxis=axis("Share of rows", tickformat=".1%", rangemode="tozero"),
            legend=legend(),
            margin=MARGIN,
            height=320,
        ),
    )
    return chart(
        "quality",
        "Data quality over time",
        "The share of the version's rows breaking each rule, and of the use case's rows "
        "refused at ingestion, per day.",
        figure,
    )


def _rate_trace(name: str, points, *, color: str | None = None, dash: str = "solid"):
    line = {"width": 2, "dash": dash} | ({"color": color} if color else {})
    return go.Scatter(
        x=[day for day, _, _ in points],
        y=[rate for _, rate, _ in points],
        mode="lines+markers",
        name=name,
        line=line,
        marker={"size": 5},
        text=[counts for _, _, counts in points],
        hovertemplate=f"{name} · %{{x|%d %b %Y}}<br>%{{y:.2%}} (%{{text}})<extra></extra>",
    )
