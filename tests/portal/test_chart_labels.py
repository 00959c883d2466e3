"""Chart labels from user data are plain text (issue 10, item 11): plotly.js reads a subset of
HTML in labels, so a class, segment, tag or version named `<a href=…>` must reach it escaped.
Every string of every figure may hold only the markup our own code writes (<b>, <br>,
<extra>); the browser side is tests/e2e/test_xss_canaries.py."""

import copy
import json
import re

import pytest

from portal.plotting import plain
from registry import charts as registry_charts
from reviews import charts as review_charts
from tests.factories import binary_evaluation_results
from usecases import charts as usecase_charts

LINK = '<a href="javascript:alert(1)">x</a>'
ESCAPED_LINK = '&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;'
IMAGE = "<img src=x onerror=window.__xss=1>"
BOLD = "<b>loud</b> & clear"
OURS = {"b", "br", "extra"}  # the tags our own chart code writes
TAG = re.compile(r"<\s*/?\s*([a-zA-Z][\w-]*)")


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def assert_plain(figure) -> str:
    """No markup but ours in any string of the figure; returns the figure as JSON text."""
    for text in strings(figure):
        tags = set(TAG.findall(text))
        assert tags <= OURS, (tags - OURS, text)
    return json.dumps(figure)


def test_plain_escapes_what_plotly_reads_as_markup_and_nothing_else():
    assert plain(LINK) == ESCAPED_LINK
    assert plain(BOLD) == "&lt;b&gt;loud&lt;/b&gt; &amp; clear"
    assert plain("north") == "north"
    assert plain(3) == "3"
    assert plain('O\'Brien "quoted"') == 'O\'Brien "quoted"'  # plotly shows &quot; as is


def test_class_names_in_the_label_distribution_are_plain():
    figure = registry_charts.label_distribution_figure(
        {"kind": "categorical", "counts": {LINK: 3, IMAGE: 2, "ok": 1}}
    )
    assert figure["data"][0]["x"] == [ESCAPED_LINK, plain(IMAGE), "ok"]
    assert_plain(figure)


@pytest.fixture
def hostile_results():
    """A binary evaluation's results whose segments and classes are named with markup."""
    results = copy.deepcopy(binary_evaluation_results())
    segments = results["segments"]
    results["segments"] = {LINK: segments["business"], BOLD: segments["retail"]}
    results["confusion_matrix"]["labels"] = [IMAGE, LINK]
    return results


@pytest.mark.parametrize("task_type", ["binary", "multiclass"])
def test_segment_and_class_names_and_the_currency_in_evaluation_charts_are_plain(
    hostile_results, task_type
):
    hostile_results["task_type"] = task_type
    labels = {"roc_auc": "ROC AUC", "precision": "<i>Precision</i>"}
    figures = registry_charts.evaluation_figures(
        task_type, hostile_results, currency="<b>", metric_labels=labels
    )
    segments = figures["segments"]["figure"]
    bars = segments["data"][0]
    assert bars["x"] == [plain(BOLD), ESCAPED_LINK] or bars["x"] == [ESCAPED_LINK, plain(BOLD)]
    text = assert_plain(segments)
    assert "&lt;i&gt;Precision&lt;/i&gt;" in text
    confusion = next(c for c in figures["performance"] if c["id"] == "chart-confusion-matrix")
    heatmap = confusion["figure"]["data"][0]
    assert heatmap["x"] == heatmap["y"] == [plain(IMAGE), ESCAPED_LINK]
    assert any(ESCAPED_LINK in cell for row in heatmap["text"] for cell in row)
    for chart in figures["performance"]:
        assert_plain(chart["figure"])
    if figures["value"]:
        assert "(&lt;b&gt;)" in assert_plain(figures["value"]["figure"])


def test_segments_tags_and_versions_in_review_charts_are_plain():
    share = {"successes": 2, "n": 3, "rate": 2 / 3, "low": 0.2, "high": 0.9}
    results = {
        "acceptance": share,
        "segments": [{"segment": LINK, "acceptance": share}, {"segment": "", "acceptance": share}],
        "reason_tags": [
            {"tag": IMAGE, "reviews": 3, "verdicts": {"correct": 1, "incorrect": 1, "unsure": 1}}
        ],
        "pairwise": {
            "versions": [
                {"version": LINK, "wins": 2, "share": share},
                {"version": "%{x} <b>2.0</b>", "wins": 1, "share": share},
            ],
            "decisive": 3,
            "ties": 1,
            "p_value": 0.5,
        },
    }
    figures = review_charts.campaign_figures(results)
    acceptance = figures["acceptance"]["figure"]
    assert acceptance["data"][0]["x"] == [ESCAPED_LINK, "No segment"]
    assert figures["tags"]["figure"]["data"][0]["y"] == [plain(IMAGE)]
    preference = figures["preference"]["figure"]["data"]
    assert preference[0]["name"] == f"{ESCAPED_LINK} better (2)"
    # A version name goes in as data, never into the hover template, where %{…} would run.
    assert all("%{customdata}" in trace["hovertemplate"] for trace in preference)
    assert "%{x} &lt;b&gt;2.0&lt;/b&gt; better" in preference[2]["customdata"]
    for chart in figures.values():
        assert_plain(chart["figure"])
    assert LINK in figures["preference"]["caption"]  # Django escapes the caption, not plotly


def test_phase_labels_on_the_home_chart_are_plain():
    figure = usecase_charts.phase_counts_figure([("idea", "Idea", 2), ("poc", "<b>PoC</b>", 1)])
    assert figure["data"][0]["y"] == ["Idea", "&lt;b&gt;PoC&lt;/b&gt;"]
    assert_plain(figure)
