"""The roadmap's charts, from plain data (no ORM), as plotly JSON for `json_script`.

- timeline: a bar per use case from its start to its target date, coloured by phase, its
  milestones as markers (done: filled, open: hollow) and a line at today;
- value against effort: a bubble per use case with both figures, sized by priority and
  coloured by risk tier; one currency per chart, never mixing currencies on one axis.
"""

from __future__ import annotations

import datetime

import plotly.graph_objects as go

from portal.plotting import BAD, GOOD, GRID, MUTED, TEXT, axis, figure_json, layout, legend, plain
from usecases.charts import PHASE_COLORS

DAY_MS = 24 * 3600 * 1000
PRIORITY_SIZES = {"low": 12, "medium": 20, "high": 30, "critical": 42}
RISK_COLORS = {"low": GOOD, "medium": "#f59e0b", "high": BAD}
ROW_HEIGHT = 28
LABELLED_POINTS = 30


def timeline_figure(bars: list[dict], *, today: datetime.date) -> dict:
    """bars: {"label", "phase", "phase_label", "start", "target", "milestones": [{"name",
    "due", "done"}]}, top to bottom; every bar has both dates. The labels are the rows' keys
    on the axis: each must be unique (two bars of one label would be drawn as one row)."""
    titles = [plain(bar["label"]) for bar in bars]
    traces = []
    for phase, color in PHASE_COLORS.items():
        mine = [bar for bar in bars if bar["phase"] == phase]
        if not mine:
            continue
        traces.append(
            go.Bar(
                name=plain(mine[0]["phase_label"]),
                orientation="h",
                y=[plain(bar["label"]) for bar in mine],
                base=[bar["start"].isoformat() for bar in mine],
                # plotly's date axes measure a horizontal bar's length in milliseconds
                x=[((bar["target"] - bar["start"]).days + 1) * DAY_MS for bar in mine],
                marker={"color": color},
                customdata=[[bar["start"].isoformat(), bar["target"].isoformat()] for bar in mine],
                hovertemplate="%{y}<br>%{customdata[0]} → %{customdata[1]}<extra></extra>",
            )
        )
    for done in (True, False):
        points = [(bar, m) for bar in bars for m in bar["milestones"] if m["done"] is done]
        if not points:
            continue
        traces.append(
            go.Scatter(
                name="Milestone done" if done else "Milestone to come",
                mode="markers",
                x=[m["due"].isoformat() for _, m in points],
                y=[plain(bar["label"]) for bar, _ in points],
                text=[plain(m["name"]) for _, m in points],
                marker={
                    "symbol": "diamond" if done else "diamond-open",
                    "size": 12,
                    "color": TEXT,
                    "line": {"width": 2, "color": TEXT},
                },
                hovertemplate="%{text}<br>%{x|%d %b %Y}<extra></extra>",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            barmode="overlay",
            height=max(180, 130 + ROW_HEIGHT * len(bars)),
            margin={"l": 200, "r": 24, "t": 24, "b": 90},
            # below the chart: the "today" label takes the top edge
            legend=legend(yref="container", y=0, yanchor="bottom"),
            xaxis={"type": "date", "gridcolor": GRID, "tickfont": {"color": MUTED}},
            yaxis={
                "categoryorder": "array",
                "categoryarray": titles,
                "autorange": "reversed",
                "tickfont": {"color": TEXT},
                "automargin": True,
            },
            shapes=[
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": today.isoformat(),
                    "x1": today.isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": BAD, "dash": "dot", "width": 1.5},
                }
            ],
            annotations=[
                {
                    "x": today.isoformat(),
                    "y": 1,
                    "xref": "x",
                    "yref": "paper",
                    "yanchor": "bottom",
                    "text": "today",
                    "showarrow": False,
                    "font": {"color": BAD, "size": 11},
                }
            ],
        ),
    )
    return figure_json(figure)


def _top(values) -> float:
    return (max(values, default=0) or 1) * 1.25


def value_effort_figure(points: list[dict], *, currency: str) -> dict:
    """points: {"title", "value", "effort_weeks", "priority", "priority_label", "risk",
    "risk_label"}, every one in `currency`."""
    traces = []
    labelled = len(points) <= LABELLED_POINTS  # beyond, names only on hover
    for risk, color in RISK_COLORS.items():
        mine = [p for p in points if p["risk"] == risk]
        if not mine:
            continue
        traces.append(
            go.Scatter(
                name=f"{plain(mine[0]['risk_label'])} risk",
                mode="markers+text" if labelled else "markers",
                x=[p["effort_weeks"] for p in mine],
                y=[float(p["value"]) for p in mine],
                text=[plain(p["title"]) for p in mine],
                textposition="top center",
                textfont={"size": 11, "color": MUTED},
                cliponaxis=False,
                customdata=[plain(p["priority_label"]) for p in mine],
                marker={
                    "size": [PRIORITY_SIZES.get(p["priority"], 16) for p in mine],
                    "color": color,
                    "opacity": 0.75,
                    "line": {"width": 1, "color": "#ffffff"},
                },
                hovertemplate=(
                    "%{text}<br>%{y:,.0f} "
                    + plain(currency)
                    + " / year<br>%{x:.1f} person-weeks<br>%{customdata} priority<extra></extra>"
                ),
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            height=380,
            margin={"l": 72, "r": 24, "t": 40, "b": 56},
            legend=legend(),
            # From zero, with room past the largest bubble (one use case alone sits mid-chart)
            xaxis=axis("Effort (person-weeks)", range=[0, _top(p["effort_weeks"] for p in points)]),
            yaxis=axis(
                f"Expected value / year ({plain(currency)})",
                range=[0, _top(float(p["value"]) for p in points)],
            ),
        ),
    )
    return figure_json(figure)
