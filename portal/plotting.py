"""The plotly look every app's charts share: colours, layout, axes, legends, and a chart as
the pages take it ({"id", "title", "caption", "figure"}, drawn by static/js/charts.js)."""

from __future__ import annotations

import json

import plotly.graph_objects as go

# Matches static/css/app.css (--accent, --text, --muted, --border).
ACCENT = "#3056d3"
TEXT = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
SECOND = "#f59e0b"  # a second series (the champion, a reference line)
GOOD = "#16a34a"
BAD = "#dc2626"


def layout(**overrides) -> dict:
    layout = {
        "template": "none",  # no default template: a smaller payload, our own look
        "font": {"family": FONT, "size": 13, "color": TEXT},
        "margin": {"l": 48, "r": 16, "t": 16, "b": 48},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {"showgrid": False, "linecolor": GRID, "tickfont": {"color": MUTED}},
        "yaxis": {"gridcolor": GRID, "zeroline": False, "tickfont": {"color": MUTED}},
        "hoverlabel": {"font": {"family": FONT}},
        "height": 300,
    }
    layout.update(overrides)
    return layout


def axis(title: str, **extra) -> dict:
    axis = {"title": {"text": title}, "gridcolor": GRID, "zeroline": False}
    axis["tickfont"] = {"color": MUTED}
    return axis | extra


def chart(chart_id: str, title: str, caption: str, figure: go.Figure) -> dict:
    return {
        "id": f"chart-{chart_id}",
        "title": title,
        "caption": caption,
        "figure": json.loads(figure.to_json()),
    }


def finite(values) -> list[float]:
    return [float(v) for v in values or [] if v is not None]


def diagonal(low: float, high: float, name: str) -> go.Scatter:
    return go.Scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        name=name,
        line={"color": MUTED, "dash": "dash", "width": 1.5},
        hoverinfo="skip",
    )


def legend(**extra) -> dict:
    legend = {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": 12}}
    return legend | extra


def figure_json(figure: go.Figure) -> dict:
    """A figure as plain JSON for `json_script`."""
    return json.loads(figure.to_json())
