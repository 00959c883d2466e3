"""Plotly figures of a review campaign's results (reviews.selectors.campaign_results), as
plain JSON for `json_script`; static/js/charts.js draws them. No ORM here.

Each function returns a chart {"id", "title", "caption", "figure"} as the evaluation page's
charts do (registry/charts.py), or None when there is nothing to draw: a chart is left out,
never drawn empty.
"""

from __future__ import annotations

import plotly.graph_objects as go

from portal.formatting import format_p_value
from portal.plotting import (
    ACCENT,
    BAD,
    GOOD,
    MUTED,
    SECOND,
    TEXT,
    axis,
    chart,
    layout,
    legend,
    plain,
)

NO_SEGMENT = "No segment"
VERDICT_STYLE = (  # stacking order, colour, legend label
    ("correct", GOOD, "Correct"),
    ("incorrect", BAD, "Incorrect"),
    ("unsure", MUTED, "Unsure"),
)


def _percent(value: float | None) -> str:
    """A share in whole percent, rounded as the results page rounds it (Django's widthratio:
    round(value × 100)), so that the summary and the charts never read differently."""
    return "—" if value is None else f"{round(value * 100)} %"


def _p(value: float | None) -> str:
    text = format_p_value(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _interval_text(share: dict) -> str:
    if share.get("rate") is None:
        return "no verdict yet"
    return (
        f"{_percent(share['rate'])} ({share['successes']:,} of {share['n']:,}), 95 % interval "
        f"{_percent(share['low'])} to {_percent(share['high'])}"
    )


def acceptance_by_segment_figure(results: dict) -> dict | None:
    """Acceptance per segment with its Wilson 95 % interval as error bars, and the whole
    campaign's as a dashed line; None without a judged review."""
    segments = [s for s in results.get("segments") or [] if s["acceptance"]["n"]]
    if not segments:
        return None
    names = [plain(s["segment"] or NO_SEGMENT) for s in segments]  # user data, as all below
    shares = [s["acceptance"] for s in segments]
    bars = go.Bar(
        x=names,
        y=[share["rate"] * 100 for share in shares],
        marker={"color": ACCENT},
        name="Acceptance",
        showlegend=False,
        error_y={
            "type": "data",
            "array": [(share["high"] - share["rate"]) * 100 for share in shares],
            "arrayminus": [(share["rate"] - share["low"]) * 100 for share in shares],
            "color": TEXT,
            "thickness": 1.2,
            "width": 3,
        },
        customdata=[_interval_text(share) for share in shares],
        hovertemplate="<b>%{x}</b><br>%{customdata}<extra></extra>",
    )
    traces = [bars]
    overall = (results.get("acceptance") or {}).get("rate")
    if overall is not None:
        traces.append(
            go.Scatter(
                x=names,
                y=[overall * 100] * len(names),
                mode="lines",
                name=f"All reviews: {_percent(overall)}",
                line={"color": SECOND, "dash": "dash", "width": 2},
                hoverinfo="skip",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=axis(
                "Segment", type="category", showgrid=False, tickangle=-30 if len(names) > 8 else 0
            ),
            yaxis=axis("Accepted (%)", range=[0, 105]),
            legend=legend(x=1, xanchor="right"),
            bargap=0.35,
            margin={"l": 64, "r": 16, "t": 36, "b": 72},
            height=340,
        ),
    )
    return chart(
        "acceptance-segments",
        "Acceptance by segment",
        "The share of predictions the experts judged correct, with its 95 % (Wilson) interval; "
        "“unsure” verdicts are left out. The dashed line is the whole campaign.",
        figure,
    )


def verdicts_by_tag_figure(results: dict) -> dict | None:
    """Horizontal stacked bars: each reason tag's reviews by verdict; None without a tagged
    review."""
    tags = [t for t in results.get("reason_tags") or [] if t["reviews"]]
    if not tags:
        return None
    names = [plain(t["tag"]) for t in tags]
    traces = []
    for verdict, colour, label in VERDICT_STYLE:
        counts = [t["verdicts"][verdict] for t in tags]
        if not any(counts):
            continue
        traces.append(
            go.Bar(
                x=counts,
                y=names,
                orientation="h",
                name=label,
                marker={"color": colour},
                hovertemplate=f"%{{y}}: %{{x:,}} {label.lower()}<extra></extra>",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            barmode="stack",
            bargap=0.35,
            xaxis=axis("Reviews", dtick=max(1, -(-max(t["reviews"] for t in tags) // 5))),
            yaxis={"autorange": "reversed", "tickfont": {"color": TEXT}, "ticksuffix": "  "},
            legend=legend(),
            margin={"l": 140, "r": 16, "t": 36, "b": 48},
            height=max(220, 60 + 36 * len(names)),
        ),
    )
    return chart(
        "verdicts-tags",
        "Verdicts by reason tag",
        "How many reviews gave each reason, by verdict. A review may give several reasons.",
        figure,
    )


def preference_figure(results: dict) -> dict | None:
    """One stacked bar of a pairwise campaign: first version preferred, equal, second version
    preferred, with the binomial test in the caption; None before any pairwise review."""
    pairwise = results.get("pairwise")
    if not pairwise or not (pairwise["decisive"] or pairwise["ties"]):
        return None
    first, second = pairwise["versions"]
    total = pairwise["decisive"] + pairwise["ties"]
    parts = (  # version names are user data: plain, and kept out of the hover template
        (f"{plain(first['version'])} better", first["wins"], ACCENT),
        ("Equally good", pairwise["ties"], MUTED),
        (f"{plain(second['version'])} better", second["wins"], SECOND),
    )
    traces = [
        go.Bar(
            x=[count / total * 100],
            y=["Preference"],
            orientation="h",
            name=f"{label} ({count:,})",
            marker={"color": colour},
            text=[f"{count / total * 100:.0f} %" if count else ""],
            textposition="inside",
            insidetextanchor="middle",
            customdata=[label],
            hovertemplate=f"%{{customdata}}: {count:,} of {total:,} reviews (%{{x:.1f}} %)"
            "<extra></extra>",
        )
        for label, count, colour in parts
    ]
    figure = go.Figure(
        traces,
        layout=layout(
            barmode="stack",
            xaxis=axis("Share of reviews (%)", range=[0, 100]),
            yaxis={"visible": False},
            legend=legend(),
            margin={"l": 16, "r": 16, "t": 40, "b": 48},
            height=180,
        ),
    )
    share = first["share"]
    caption = (
        f"Blind comparison of {total:,} pairs. Among the {pairwise['decisive']:,} with a "
        f"preference, {first['version']} won {_interval_text(share)}; binomial test of equal "
        f"preference (ties left out): {_p(pairwise['p_value'])}."
        if pairwise["decisive"]
        else f"Blind comparison of {total:,} pairs, all judged equally good."
    )
    return chart("preference", "Pairwise preference", caption, figure)


def campaign_figures(results: dict) -> dict[str, dict | None]:
    """The results page's charts by name: acceptance, tags, preference (each may be None)."""
    return {
        "acceptance": acceptance_by_segment_figure(results),
        "tags": verdicts_by_tag_figure(results),
        "preference": preference_figure(results),
    }
