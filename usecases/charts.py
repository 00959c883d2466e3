"""The use cases' charts (the home page's phase bars), as plain JSON for `json_script`."""

from __future__ import annotations

import plotly.graph_objects as go

from portal.plotting import ACCENT, GRID, MUTED, TEXT, figure_json, layout, plain

# The dot colours of the roadmap columns (app.css `.dot.phase-*`).
PHASE_COLORS = {
    "idea": "#9ca3af",
    "scoping": "#8b5cf6",
    "data": "#0ea5e9",
    "poc": "#f59e0b",
    "pilot": "#f97316",
    "production": "#22c55e",
    "retired": "#6b7280",
}


def phase_counts_figure(counts: list[tuple[str, str, int]]) -> dict:
    """Horizontal bars of use cases per phase, lifecycle order top to bottom; (phase, label, n)."""
    values = [n for _, _, n in counts]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=[plain(label) for _, label, _ in counts],
            orientation="h",
            marker={"color": [PHASE_COLORS.get(phase, ACCENT) for phase, _, _ in counts]},
            text=values,
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x} use case(s)<extra></extra>",
        ),
        layout=layout(
            margin={"l": 120, "r": 32, "t": 8, "b": 32},
            bargap=0.35,
            xaxis={
                "gridcolor": GRID,
                "zeroline": False,
                "tickfont": {"color": MUTED},
                "range": [0, max(values, default=0) * 1.15 or 1],  # room for the labels
                "dtick": max(1, -(-max(values, default=1) // 5)),  # whole numbers, ~5 grid lines
            },
            yaxis={"autorange": "reversed", "tickfont": {"color": TEXT}, "ticksuffix": "  "},
        ),
    )
    return figure_json(figure)
