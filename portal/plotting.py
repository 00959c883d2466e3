"""The plotly look every app's charts share: colours, layout, axes, legends, and a chart as
the pages take it ({"id", "title", "caption", "figure"}, drawn by static/js/charts.js)."""

from __future__ import annotations

import html
import json

import plotly.graph_objects as go
from csp.decorators import csp_update

# Matches static/css/app.css (--accent, --text, --muted, --border).
ACCENT = "#3056d3"
TEXT = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
SECOND = "#f59e0b"  # a second series (the champion, a reference line)
GOOD = "#16a34a"
BAD = "#dc2626"

# The view decorator of every page that draws plotly charts, on top of the site's policy
# (settings.CONTENT_SECURITY_POLICY). plotly.js adds <style> rules and style attributes as it
# draws (plotly/plotly.js#2355; its strict-CSP mode breaks the mode bar, #7543), and draws
# heatmaps (the confusion matrix) as data: PNG images. Scripts stay 'self' only: the
# plotly.min.js that plotly 7 ships (plotly.js 4) needs no 'unsafe-eval' for our charts,
# checked in Chromium (tests/e2e/test_csp.py).
chart_page = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})


def plain(label) -> str:
    """User text (a class, segment, tag, version or currency) as plotly must get it to show it
    as typed: plotly.js reads a subset of HTML in every text it draws (tick labels, legend
    and trace names, hover labels, heatmap text, annotations, menu buttons), so
    `<a href=…>` would become a live link and `<b>` bold. It decodes &amp; &lt; &gt; (and
    numeric entities) back, but not &quot;, hence html.escape without quotes. Every charts.py
    passes user text through here; Django escapes what templates show (titles, captions)."""
    return html.escape(str(label), quote=False)


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
