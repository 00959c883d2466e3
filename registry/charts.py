"""The registry's figures: the dataset page's label distribution and the evaluation page's
charts, from the results JSON of docs/evaluation-results.md. Any part may be missing or null
(an old run, a metric undefined on the data): its chart is then left out, never drawn empty.
No ORM here."""

from __future__ import annotations

import plotly.graph_objects as go

from portal.formatting import format_money, natural_key
from portal.plotting import (
    ACCENT,
    GOOD,
    GRID,
    MUTED,
    SECOND,
    TEXT,
    axis,
    chart,
    diagonal,
    figure_json,
    finite,
    layout,
    legend,
    plain,
)
from usecases.catalogue import PERCENT_METRICS, format_metric


def label_distribution_figure(label_summary: dict) -> dict | None:
    """A numeric label's histogram (from its stored bins) or the count of each class."""
    kind = (label_summary or {}).get("kind")
    if kind == "numeric":
        histogram = label_summary["histogram"]
        edges, counts = histogram["edges"], histogram["counts"]
        trace = go.Bar(
            x=[(low + high) / 2 for low, high in zip(edges, edges[1:], strict=False)],
            y=counts,
            width=[high - low for low, high in zip(edges, edges[1:], strict=False)],
            marker={"color": ACCENT, "line": {"color": "#ffffff", "width": 1}},
            customdata=list(zip(edges, edges[1:], strict=False)),
            hovertemplate="%{customdata[0]:.4g} to %{customdata[1]:.4g}: %{y} rows<extra></extra>",
        )
        figure_layout = layout(xaxis=axis("Label"), yaxis=axis("Rows"), bargap=0)
    elif kind == "categorical":
        counts = label_summary["counts"]
        trace = go.Bar(
            x=[plain(name) for name in counts],
            y=list(counts.values()),
            marker={"color": ACCENT},
            text=list(counts.values()),
            textposition="outside",
            cliponaxis=False,
            hovertemplate="Class %{x}: %{y} rows<extra></extra>",
        )
        figure_layout = layout(
            xaxis=axis("Class", type="category", showgrid=False), yaxis=axis("Rows"), bargap=0.4
        )
    else:
        return None
    return figure_json(go.Figure(trace, layout=figure_layout))


def _predicted_actual(scatter: dict) -> dict | None:
    actual, predicted = scatter.get("actual") or [], scatter.get("predicted") or []
    values = finite(actual) + finite(predicted)
    if not values:
        return None
    low, high = min(values), max(values)
    points = go.Scatter(
        x=actual,
        y=predicted,
        mode="markers",
        name="Rows",
        marker={"color": ACCENT, "size": 6, "opacity": 0.45, "line": {"width": 0}},
        hovertemplate="Actual %{x:.4g}<br>Predicted %{y:.4g}<extra></extra>",
    )
    figure = go.Figure(
        [points, diagonal(low, high, "Perfect prediction")],
        layout=layout(
            xaxis=axis("Actual", showgrid=True),
            yaxis=axis("Predicted"),
            legend=legend(),
            margin={"l": 56, "r": 16, "t": 36, "b": 48},
            height=340,
        ),
    )
    sample = f"A sample of {len(actual):,} rows" if len(actual) >= 2000 else "Every row"
    return chart(
        "predicted-actual",
        "Predicted vs actual",
        f"{sample}; points on the dashed line are predicted exactly. Points above it are "
        "over-predicted, below it under-predicted.",
        figure,
    )


def _residuals(histogram: dict) -> dict | None:
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    if len(edges) != len(counts) + 1 or not counts:
        return None
    bins = list(zip(edges, edges[1:], counts, strict=False))
    traces = []
    for name, color, keep in (
        ("Under-predicted (predicted < actual)", SECOND, lambda low, high: low + high < 0),
        ("Over-predicted (predicted > actual)", ACCENT, lambda low, high: low + high >= 0),
    ):
        chosen = [(low, high, n) for low, high, n in bins if keep(low, high)]
        if not chosen:
            continue
        traces.append(
            go.Bar(
                x=[(low + high) / 2 for low, high, _ in chosen],
                y=[n for _, _, n in chosen],
                width=[high - low for low, high, _ in chosen],
                name=name,
                marker={"color": color, "line": {"color": "#ffffff", "width": 1}},
                customdata=[[low, high] for low, high, _ in chosen],
                hovertemplate="Error %{customdata[0]:.4g} to %{customdata[1]:.4g}: "
                "%{y} rows<extra></extra>",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=axis("Error: predicted − actual"),
            yaxis=axis("Rows"),
            bargap=0,
            barmode="overlay",
            legend=legend(),
            margin={"l": 56, "r": 16, "t": 36, "b": 48},
            height=340,
            shapes=[
                {
                    "type": "line",
                    "x0": 0,
                    "x1": 0,
                    "xref": "x",
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"color": TEXT, "width": 1.5, "dash": "dot"},
                }
            ],
        ),
    )
    return chart(
        "residuals",
        "Prediction errors",
        "How far predictions miss, over all rows. A narrow peak at 0 is good; a peak off 0 "
        "means the model is biased.",
        figure,
    )


def _metric_value(results: dict, metric: str) -> float | None:
    return ((results.get("overall") or {}).get(metric) or {}).get("value")


def _roc(roc: dict, auc: float | None) -> dict | None:
    fpr, tpr = roc.get("fpr") or [], roc.get("tpr") or []
    if not fpr or len(fpr) != len(tpr):
        return None
    curve = go.Scatter(
        x=fpr,
        y=tpr,
        mode="lines",
        name=f"This version (AUC {format_metric('roc_auc', auc)})",
        line={"color": ACCENT, "width": 2.5},
        fill="tozeroy",
        fillcolor="rgba(48, 86, 211, 0.08)",
        hovertemplate="False positive rate %{x:.3f}<br>True positive rate %{y:.3f}<extra></extra>",
    )
    figure = go.Figure(
        [curve, diagonal(0, 1, "Random guess")],
        layout=layout(
            xaxis=axis("False positive rate", range=[0, 1], showgrid=True),
            yaxis=axis("True positive rate (recall)", range=[0, 1.02]),
            legend=legend(),
            margin={"l": 56, "r": 16, "t": 36, "b": 48},
            height=340,
        ),
    )
    return chart(
        "roc",
        "ROC curve",
        "Each point is a decision threshold: the share of positives found against the share "
        "of negatives wrongly flagged. The closer to the top-left corner, the better.",
        figure,
    )


def _precision_recall(pr: dict, auc: float | None, positive_rate: float | None) -> dict | None:
    recall, precision = pr.get("recall") or [], pr.get("precision") or []
    if not recall or len(recall) != len(precision):
        return None
    traces = [
        go.Scatter(
            x=recall,
            y=precision,
            mode="lines",
            name=f"This version (PR AUC {format_metric('pr_auc', auc)})",
            line={"color": ACCENT, "width": 2.5},
            hovertemplate="Recall %{x:.3f}<br>Precision %{y:.3f}<extra></extra>",
        )
    ]
    if positive_rate is not None:
        traces.append(
            go.Scatter(
                x=[0, 1],
                y=[positive_rate, positive_rate],
                mode="lines",
                name=f"Random guess ({positive_rate:.0%} positives)",
                line={"color": MUTED, "dash": "dash", "width": 1.5},
                hoverinfo="skip",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=axis("Recall: share of positives found", range=[0, 1], showgrid=True),
            yaxis=axis("Precision", range=[0, 1.02]),
            legend=legend(),
            margin={"l": 56, "r": 16, "t": 36, "b": 48},
            height=340,
        ),
    )
    return chart(
        "precision-recall",
        "Precision and recall",
        "Finding more positives (recall) usually costs precision: how many of the flagged "
        "rows are really positive.",
        figure,
    )


def _calibration(calibration: dict) -> dict | None:
    predicted, observed = calibration.get("predicted") or [], calibration.get("observed") or []
    rows = calibration.get("rows") or [None] * len(predicted)
    if not finite(predicted) or len(predicted) != len(observed):
        return None
    curve = go.Scatter(
        x=predicted,
        y=observed,
        mode="lines+markers",
        name="This version",
        line={"color": ACCENT, "width": 2},
        marker={"size": 8},
        customdata=rows,
        hovertemplate="Predicted %{x:.2f}<br>Observed %{y:.2f}<br>%{customdata:,} rows"
        "<extra></extra>",
    )
    figure = go.Figure(
        [curve, diagonal(0, 1, "Perfectly calibrated")],
        layout=layout(
            xaxis=axis("Predicted probability", range=[0, 1], showgrid=True),
            yaxis=axis("Observed share of positives", range=[0, 1.02]),
            legend=legend(),
            margin={"l": 56, "r": 16, "t": 36, "b": 48},
            height=340,
        ),
    )
    return chart(
        "calibration",
        "Calibration",
        "Rows grouped by predicted probability: when the model says 70 %, about 70 % should "
        "be positive (the dashed line).",
        figure,
    )


def _confusion(confusion: dict, task_type: str, names: dict[str, str]) -> dict | None:
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if not labels or len(matrix) != len(labels):
        return None
    # class names (binary 1/0 by the use case's labels): user data
    labels = [plain(names.get(str(label), str(label))) for label in labels]
    total = sum(sum(row) for row in matrix) or 1
    text = [
        [f"{count:,}<br>{count / (sum(row) or 1):.0%} of actual {labels[i]}" for count in row]
        for i, row in enumerate(matrix)
    ]
    if task_type == "binary" and len(labels) == 2:
        names = [["True negatives", "False positives"], ["False negatives", "True positives"]]
        text = [
            [f"<b>{names[i][j]}</b><br>{cell}" for j, cell in enumerate(row)]
            for i, row in enumerate(text)
        ]
    heatmap = go.Heatmap(
        z=matrix,
        x=labels,
        y=labels,
        text=text,
        texttemplate="%{text}",
        textfont={"size": 12 if len(labels) <= 6 else 10},
        colorscale=[[0, "#f8faff"], [1, ACCENT]],
        showscale=False,
        xgap=2,
        ygap=2,
        customdata=[[count / total for count in row] for row in matrix],
        hovertemplate="Actual %{y}, predicted %{x}: %{z:,} rows (%{customdata:.1%} of all)"
        "<extra></extra>",
    )
    size = max(300, min(620, 90 * len(labels) + 120))
    figure = go.Figure(
        heatmap,
        layout=layout(
            xaxis=axis("Predicted", type="category", side="bottom", showgrid=False),
            yaxis=axis("Actual", type="category", autorange="reversed", showgrid=False),
            margin={"l": 72, "r": 16, "t": 16, "b": 56},
            height=size,
        ),
    )
    return chart(
        "confusion-matrix",
        "Confusion matrix",
        "Rows are the actual classes, columns the predicted ones: the diagonal holds the right "
        "predictions.",
        figure,
    )


def _value_by_threshold(results: dict, currency: str) -> dict | None:
    curve = (results.get("charts") or {}).get("value_by_threshold") or {}
    thresholds, totals = curve.get("threshold") or [], curve.get("total") or []
    if not thresholds or len(thresholds) != len(totals):
        return None
    business = results.get("business_value") or {}
    unit = f" ({currency})" if currency else ""
    traces = [
        go.Scatter(
            x=thresholds,
            y=totals,
            mode="lines",
            name="Estimated value",
            line={"color": ACCENT, "width": 2.5},
            hovertemplate=f"Threshold %{{x:.2f}}: %{{y:,.0f}}{unit}<extra></extra>",
        )
    ]
    markers = (
        ("Threshold used", business.get("threshold"), (business.get("total") or {}).get("value")),
        ("Best threshold", business.get("best_threshold"), business.get("best_total")),
    )
    for (name, x, y), color, symbol in zip(
        markers, (TEXT, GOOD), ("circle-open", "star"), strict=True
    ):
        if x is not None and y is not None:
            traces.append(
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers",
                    name=f"{name}: {x:.2f}",
                    marker={"color": color, "size": 13, "symbol": symbol, "line": {"width": 2}},
                    hovertemplate=f"{name} %{{x:.2f}}: %{{y:,.0f}}{unit}<extra></extra>",
                )
            )
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis=axis("Decision threshold", range=[0, 1], showgrid=True),
            yaxis=axis(f"Estimated value{unit}", separatethousands=True),
            legend=legend(),
            margin={"l": 72, "r": 16, "t": 36, "b": 48},
            height=320,
        ),
    )
    return chart(
        "value-by-threshold",
        "Value by decision threshold",
        "The estimated business value over the evaluated rows if positives were flagged above "
        "each threshold.",
        figure,
    )


def _unit(metric: str, currency: str) -> str:
    if metric in PERCENT_METRICS:
        return " (%)"
    return f" ({currency})" if metric == "business_value" and currency else ""


def _bars_with_errors(estimates: list[dict], scale: float):
    """Bar heights and error-bar lengths above and below, in the axis unit (None: no bar)."""
    values, plus, minus = [], [], []
    for e in estimates:
        value, low, high = e.get("value"), e.get("low"), e.get("high")
        values.append(None if value is None else value * scale)
        plus.append(None if value is None or high is None else (high - value) * scale)
        minus.append(None if value is None or low is None else (value - low) * scale)
    return values, plus, minus


def _segment_traces(
    results: dict, names: list[str], key: str, label: str, currency: str, *, visible: bool
) -> list:
    """One metric's bars per segment (with their intervals) and its line over all rows."""
    segments = results["segments"]
    estimates = [(segments[name].get("metrics") or {}).get(key) or {} for name in names]
    values, plus, minus = _bars_with_errors(estimates, 100 if key in PERCENT_METRICS else 1)
    hover = [
        f"{format_metric(key, e.get('value'), currency)}<br>95 % interval "
        f"{format_metric(key, e.get('low'), currency, like=e.get('value'))} to "
        f"{format_metric(key, e.get('high'), currency, like=e.get('value'))}<br>"
        f"{segments[name].get('rows', 0):,} rows"
        for name, e in zip(names, estimates, strict=True)
    ]
    bars = go.Bar(
        x=[plain(name) for name in names],  # segment names: user data
        y=values,
        name=label,
        visible=visible,
        marker={"color": ACCENT},
        error_y={
            "type": "data",
            "array": plus,
            "arrayminus": minus,
            "color": TEXT,
            "thickness": 1.2,
            "width": 3,
        },
        customdata=hover,
        hovertemplate="<b>%{x}</b><br>%{customdata}<extra></extra>",
    )
    overall = _metric_value(results, key)
    if key == "business_value":
        return [bars, _value_reference(results, names, overall, currency, visible=visible)]
    line = go.Scatter(
        x=[plain(name) for name in names],
        y=[overall * 100 if overall is not None and key in PERCENT_METRICS else overall]
        * len(names),
        mode="lines",
        name=f"All rows: {format_metric(key, overall, currency)}",
        visible=visible,
        line={"color": SECOND, "dash": "dash", "width": 2},
        hoverinfo="skip",
    )
    return [bars, line]


def _value_reference(results: dict, names: list[str], total, currency: str, *, visible: bool):
    """A segment's business value is a sum over its rows, so the whole campaign's total is
    no yardstick for it: each segment's reference is what its rows would earn at the average
    value per row over all rows (total × segment rows ÷ all rows)."""
    rows = results.get("rows") or 0
    per_row = total / rows if total is not None and rows else None
    segments = results["segments"]
    expected = [
        None if per_row is None else per_row * (segments[name].get("rows") or 0) for name in names
    ]
    return go.Scatter(
        x=[plain(name) for name in names],
        y=expected,
        mode="markers",
        marker={"symbol": "line-ew-open", "size": 28, "line": {"width": 3, "color": SECOND}},
        name=f"At the average of all rows ({format_money(per_row, currency)} a row)",
        visible=visible,
        customdata=[format_money(value, currency) for value in expected],
        hovertemplate="<b>%{x}</b><br>at the average per row: %{customdata}<extra></extra>",
    )


def _metric_menu(keys: list[str], shown: str, labels: dict[str, str], currency: str) -> list:
    """The dropdown that shows one metric's pair of traces at a time (none for one metric)."""
    if len(keys) < 2:
        return []
    buttons = [
        {
            "label": labels.get(key, key),
            "method": "update",
            "args": [
                {"visible": [k == key for k in keys for _ in (0, 1)]},
                {"yaxis.title.text": labels.get(key, key) + _unit(key, currency)},
            ],
        }
        for key in keys
    ]
    menu = {
        "type": "dropdown",
        "buttons": buttons,
        "active": keys.index(shown),
        "x": 0,  # top left: the mode bar takes the top right on hover
        "xanchor": "left",
        "y": 1.03,
        "yanchor": "bottom",
        "showactive": True,
        "bgcolor": "#ffffff",
        "bordercolor": GRID,
        "font": {"size": 12},
    }
    return [menu]


def _segments(results: dict, metric: str | None, labels: dict[str, str], currency: str):
    segments = results.get("segments") or {}
    if not segments:
        return None
    names = sorted(segments, key=natural_key)
    keys = list(results.get("overall") or {}) or list(
        (segments[names[0]].get("metrics") or {}).keys()
    )
    if not keys:
        return None
    shown = metric if metric in keys else keys[0]
    traces = [
        trace
        for key in keys
        for trace in _segment_traces(
            results, names, key, labels.get(key, key), currency, visible=key == shown
        )
    ]
    figure_layout = layout(
        xaxis=axis(
            "Segment", type="category", showgrid=False, tickangle=-30 if len(names) > 8 else 0
        ),
        yaxis=axis(labels.get(shown, shown) + _unit(shown, currency)),
        legend=legend(x=1, xanchor="right", y=1.03),
        bargap=0.35,
        margin={"l": 64, "r": 16, "t": 48, "b": 72},
        height=380,
        updatemenus=_metric_menu(keys, shown, labels, currency),
    )
    return chart(
        "segments",
        "Metric by segment",
        "Each bar is one segment with its 95 % interval; the dashed line is the value over all "
        "rows (business value, a sum over a segment's rows: the mark is what the segment's rows "
        "would earn at the average of all rows). Choose the metric in the menu.",
        go.Figure(traces, layout=figure_layout),
    )


def evaluation_figures(
    task_type: str,
    results: dict,
    *,
    segment_metric: str | None = None,
    metric_labels: dict[str, str] | None = None,
    currency: str = "",
    class_names: dict[str, str] | None = None,
) -> dict:
    """The evaluation page's charts: {"performance": [chart…], "value": chart|None,
    "segments": chart|None}; a chart is {"id", "title", "caption", "figure"}. `class_names`
    names the classes shown ({"1": "will churn", "0": "stays"})."""
    results = results or {}
    task_type = results.get("task_type") or task_type
    data = results.get("charts") or {}
    labels = {key: plain(label) for key, label in (metric_labels or {}).items()}
    currency = plain(currency)  # the value model's, typed by its owner
    performance: list[dict | None] = []
    if task_type == "regression":
        performance += [
            _predicted_actual(data.get("scatter") or {}),
            _residuals(data.get("residuals") or {}),
        ]
    confusion = results.get("confusion_matrix") or {}
    if task_type == "binary":
        matrix = confusion.get("matrix") or []
        positives = sum(matrix[1]) if len(matrix) == 2 else None
        total = sum(sum(row) for row in matrix)
        performance += [
            _roc(data.get("roc") or {}, _metric_value(results, "roc_auc")),
            _precision_recall(
                data.get("pr") or {},
                _metric_value(results, "pr_auc"),
                positives / total if positives is not None and total else None,
            ),
            _calibration(data.get("calibration") or {}),
        ]
    if task_type in ("binary", "multiclass"):
        performance.append(_confusion(confusion, task_type, class_names or {}))
    return {
        "performance": [chart for chart in performance if chart is not None],
        "value": _value_by_threshold(results, currency) if task_type == "binary" else None,
        "segments": _segments(results, segment_metric, labels, currency),
    }
