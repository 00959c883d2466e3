"""The Monitoring tab's comparison of a challenger (shadow or canary) with production, from
monitoring.selectors.comparison's plain rows: the daily disagreement rate, and per KPI the
daily paired difference (challenger − production) with its 95 % interval as error bars,
coloured by whether the interval lies wholly on the better side. Days without a figure are
gaps. No ORM here."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import plotly.graph_objects as go

from monitoring.charts import MARGIN, _date_axis, _iso, _level
from monitoring.selectors import Comparison, verdict
from portal.formatting import format_p_value
from portal.plotting import ACCENT, BAD, GOOD, MUTED, axis, chart, layout, legend, plain
from usecases.catalogue import format_difference, format_metric

COLOURS = {"better": GOOD, "worse": BAD, "unclear": MUTED}


def disagreement_chart(data: Comparison, days: Sequence[datetime.date]) -> dict | None:
    """The share of paired requests on which the two versions disagree, per day."""
    rows = [row for row in data.days if row["rate"] is not None]
    if not rows:
        return None
    text = []
    for row in rows:
        line = f"{row['n_disagree']:,} of {row['n_paired']:,} paired requests"
        if row["mean_abs_difference"] is not None:
            line += f"<br>mean gap {row['mean_abs_difference']:,.4g}"
        text.append(f"{line}<br>against {plain(row['baseline_label'])}")  # a version's name
    figure = go.Figure(
        go.Scatter(
            x=[_iso(row["day"]) for row in rows],
            y=[row["rate"] for row in rows],
            mode="lines+markers",
            name="Disagreement",
            line={"color": ACCENT, "width": 2},
            text=text,
            hovertemplate="%{x|%d %b %Y}: %{y:.1%}<br>%{text}<extra></extra>",
        ),
        layout=layout(
            xaxis=_date_axis(days),
            yaxis=axis("Share of paired requests", tickformat=".0%", rangemode="tozero"),
            margin=MARGIN,
            height=260,
            hovermode="closest",
        ),
    )
    return chart(
        "disagreement",
        "Disagreement with production",
        "Share of the requests both versions answered on which their predictions differ "
        "(another class; for numbers, more than 5 % apart). Needs no outcome.",
        figure,
    )


def difference_charts(kpis: Sequence, data: Comparison, days) -> list[dict]:
    """One chart per KPI; `empty` when no day of the period has a difference for it."""
    by_kpi: dict[int, list[dict]] = {}
    for row in data.differences:
        if row["difference"] is not None:
            by_kpi.setdefault(row["kpi_id"], []).append(row)
    return [_difference_chart(kpi, by_kpi.get(kpi.pk, []), days) for kpi in kpis]


def _difference_chart(kpi, rows: list[dict], days) -> dict:
    side = "above" if kpi.direction == "higher" else "below"
    segment = f" on segment {kpi.segment}" if kpi.segment else ""
    caption = (
        f"{kpi.get_metric_display()}{segment}: challenger − production on the same requests "
        f"with an outcome, with the paired 95 % interval. Better is {side} zero; green or red "
        "where the interval excludes zero."
    )
    if not rows:
        return {"id": f"chart-diff-{kpi.pk}", "title": kpi.name, "caption": caption, "empty": True}
    verdicts = [verdict(kpi, row) for row in rows]
    text = [
        f"{format_metric(kpi.metric, r['challenger'])} vs "
        f"{format_metric(kpi.metric, r['baseline'])} in production"
        f"<br>95 %: {format_difference(kpi.metric, r['low'])} to "
        f"{format_difference(kpi.metric, r['high'])}, "
        f"p {format_p_value(r['p_value'])}<br>{r['n']:,} paired rows · {v}"
        for r, v in zip(rows, verdicts, strict=True)
    ]
    points = go.Scatter(
        x=[_iso(row["day"]) for row in rows],
        y=[row["difference"] for row in rows],
        mode="markers",
        name="Difference",
        marker={"color": [COLOURS[v] for v in verdicts], "size": 8},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [_gap(r["high"], r["difference"]) for r in rows],
            "arrayminus": [_gap(r["difference"], r["low"]) for r in rows],
            "color": MUTED,
            "thickness": 1.2,
            "width": 3,
        },
        text=text,
        hovertemplate="%{x|%d %b %Y}: %{y:+.4g}<br>%{text}<extra></extra>",
    )
    figure = go.Figure(
        [points, _level("No difference", 0.0, days, MUTED, "dash")],
        layout=layout(
            xaxis=_date_axis(days),
            yaxis=axis(f"Δ {kpi.get_metric_display()}", zeroline=False),
            legend=legend(),
            margin=MARGIN,
            height=280,
            hovermode="closest",
        ),
    )
    return chart(f"diff-{kpi.pk}", kpi.name, caption, figure)


def _gap(upper: float | None, lower: float | None) -> float:
    return 0.0 if upper is None or lower is None else max(upper - lower, 0.0)
