"""The metric catalogue, intervals and segment figures against scikit-learn and numpy."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from registry import metrics

VALUE = {
    "value_true_positive": 40.0,
    "value_true_negative": 0.0,
    "cost_false_positive": 8.0,
    "cost_false_negative": 25.0,
}
COSTS = {"cost_per_unit_under": 3.0, "cost_per_unit_over": 1.0}


def regression_data(n, seed=1):
    rng = np.random.default_rng(seed)
    actual = rng.gamma(4.0, 10.0, n)
    predicted = actual + rng.normal(1.5, 6.0, n)
    segments = rng.choice(["north", "south", "east"], n)
    return actual, predicted, segments


def binary_data(n, seed=2):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    # Rounded scores: many ties, which AUC and AP must count as scikit-learn does.
    proba = np.clip(0.35 * y + rng.beta(2, 4, n), 0, 1).round(2)
    segments = rng.integers(1, 5, n)
    return y.astype(int), proba, segments


def multiclass_data(n, k=4, seed=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), truth] += rng.random(n)
    proba /= proba.sum(axis=1, keepdims=True)
    return truth, proba


def value(result, key):
    return result["overall"][key]["value"]


def test_regression_metrics_equal_scikit_learn_overall_and_per_segment():
    actual, predicted, segments = regression_data(3000)
    result = metrics.evaluate(
        "regression", actual, predicted, segments=segments, value_model=COSTS, n_resamples=50
    ).to_dict()

    def expected(a, p):
        return {
            "mae": skm.mean_absolute_error(a, p),
            "rmse": math.sqrt(skm.mean_squared_error(a, p)),
            "mape": skm.mean_absolute_percentage_error(a, p),
            "wape": np.abs(p - a).sum() / np.abs(a).sum(),
            "bias": (p - a).mean(),
            "business_value": -(
                3.0 * np.maximum(a - p, 0).sum() + 1.0 * np.maximum(p - a, 0).sum()
            ),
        }

    for key, number in expected(actual, predicted).items():
        assert value(result, key) == pytest.approx(number, rel=1e-9)
    assert set(result["segments"]) == {"east", "north", "south"}
    for name, segment in result["segments"].items():
        rows = segments == name
        assert segment["rows"] == rows.sum()
        for key, number in expected(actual[rows], predicted[rows]).items():
            assert segment["metrics"][key]["value"] == pytest.approx(number, rel=1e-9)
    assert result["business_value"]["per_row"]["value"] == pytest.approx(
        value(result, "business_value") / 3000
    )


def test_binary_metrics_equal_scikit_learn_with_tied_scores():
    y, proba, segments = binary_data(4000)
    result = metrics.evaluate(
        "binary",
        y,
        proba=proba,
        segments=segments,
        threshold=0.4,
        value_model=VALUE,
        n_resamples=50,
    ).to_dict()

    def expected(t, p):
        predicted = p >= 0.4
        tn, fp, fn, tp = skm.confusion_matrix(t, predicted).ravel()
        return {
            "accuracy": skm.accuracy_score(t, predicted),
            "precision": skm.precision_score(t, predicted),
            "recall": skm.recall_score(t, predicted),
            "f1": skm.f1_score(t, predicted),
            "roc_auc": skm.roc_auc_score(t, p),
            "pr_auc": skm.average_precision_score(t, p),
            "log_loss": skm.log_loss(t, p),
            "brier": skm.brier_score_loss(t, p),
            "business_value": 40.0 * tp - 8.0 * fp - 25.0 * fn,
        }

    for key, number in expected(y, proba).items():
        assert value(result, key) == pytest.approx(number, rel=1e-9), key
    for name, segment in result["segments"].items():
        rows = segments == int(name)
        for key, number in expected(y[rows], proba[rows]).items():
            assert segment["metrics"][key]["value"] == pytest.approx(number, rel=1e-9), key
    tn, fp, fn, tp = skm.confusion_matrix(y, proba >= 0.4).ravel()
    assert result["confusion_matrix"] == {"labels": ["0", "1"], "matrix": [[tn, fp], [fn, tp]]}


def test_the_best_threshold_maximises_the_business_value_over_every_cut():
    y, proba, _ = binary_data(2000)
    result = metrics.evaluate("binary", y, proba=proba, value_model=VALUE, n_resamples=0)

    def total(threshold):
        tn, fp, fn, tp = skm.confusion_matrix(y, proba >= threshold, labels=[0, 1]).ravel()
        return 40.0 * tp - 8.0 * fp - 25.0 * fn

    brute = max(total(t) for t in np.unique(proba))
    business = result.business_value
    assert business["best_total"] == pytest.approx(brute)
    assert total(business["best_threshold"]) == pytest.approx(brute)
    assert business["best_total"] >= business["total"].value


def test_multiclass_metrics_equal_scikit_learn_macro_averages():
    truth, proba = multiclass_data(3000)
    labels = np.array(["cat", "dog", "eel", "fox"])
    result = metrics.evaluate("multiclass", labels[truth], proba=proba, n_resamples=50).to_dict()
    predicted = labels[proba.argmax(axis=1)]
    actual = labels[truth]
    assert value(result, "accuracy") == pytest.approx(skm.accuracy_score(actual, predicted))
    for key, function in {
        "precision": skm.precision_score,
        "recall": skm.recall_score,
        "f1": skm.f1_score,
    }.items():
        assert value(result, key) == pytest.approx(function(actual, predicted, average="macro"))
    assert value(result, "log_loss") == pytest.approx(skm.log_loss(actual, proba, labels=labels))
    assert result["confusion_matrix"]["labels"] == labels.tolist()
    assert result["confusion_matrix"]["matrix"] == (
        skm.confusion_matrix(actual, predicted, labels=labels).tolist()
    )


def test_a_class_never_predicted_counts_zero_in_the_macro_average_as_in_scikit_learn():
    truth = np.array([0, 1, 2, 2, 1, 0, 2])
    predicted = np.array([0, 1, 1, 1, 1, 0, 1])
    result = metrics.evaluate("multiclass", truth, predicted, n_resamples=0).to_dict()
    with pytest.warns(skm._classification.UndefinedMetricWarning):
        expected = skm.precision_score(truth, predicted, average="macro")
    assert value(result, "precision") == pytest.approx(expected)
    assert value(result, "log_loss") is None  # no probabilities


def test_each_resample_equals_the_metric_recomputed_on_the_resampled_rows():
    """Up to EXACT_ROWS rows every resampled figure is the metric of the drawn rows."""
    y, proba, _ = binary_data(1500)
    y = y.astype(bool)
    model = metrics._BinaryModel(y, proba, True, 0.5, metrics.ValueModel(**VALUE), None)
    resampler = metrics._Resampler(len(y), 40, np.random.SeedSequence(5))
    figures = model.resampled(None, resampler, {None: "exact"})
    for r in range(0, 40, 7):
        w = resampler.weights[r].astype(float)
        predicted = proba >= 0.5
        samples = figures.samples
        assert samples["roc_auc"][r] == pytest.approx(skm.roc_auc_score(y, proba, sample_weight=w))
        assert samples["pr_auc"][r] == pytest.approx(
            skm.average_precision_score(y, proba, sample_weight=w)
        )
        assert samples["f1"][r] == pytest.approx(skm.f1_score(y, predicted, sample_weight=w))
        assert samples["log_loss"][r] == pytest.approx(skm.log_loss(y, proba, sample_weight=w))
        assert samples["brier"][r] == pytest.approx(skm.brier_score_loss(y, proba, sample_weight=w))
        assert w.sum() == len(y)  # a resample draws n rows


def plain_bootstrap(function, arrays, n_resamples, seed):
    """The textbook percentile bootstrap: draw n row indices, recompute, take percentiles."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    values = []
    for _ in range(n_resamples):
        rows = rng.integers(0, n, n)
        values.append(function(*(a[rows] for a in arrays)))
    return np.percentile(values, [2.5, 97.5])


@pytest.mark.parametrize(
    ("key", "function", "kind"),
    [
        ("mae", skm.mean_absolute_error, "regression"),
        ("rmse", lambda a, p: math.sqrt(skm.mean_squared_error(a, p)), "regression"),
        ("roc_auc", skm.roc_auc_score, "binary"),
        ("pr_auc", skm.average_precision_score, "binary"),
        ("log_loss", skm.log_loss, "binary"),
    ],
)
def test_bucketed_intervals_agree_with_a_plain_bootstrap(key, function, kind):
    """Above EXACT_ROWS rows the buckets and first-order expansions give intervals whose ends
    lie within a fifth of the interval's width of a plain bootstrap's (Monte-Carlo noise of
    300 plain resamples alone moves them by about a tenth)."""
    n = 30_000
    assert n > metrics.EXACT_ROWS
    if kind == "regression":
        actual, predicted, _ = regression_data(n)
        result = metrics.evaluate("regression", actual, predicted, seed=11).to_dict()
        plain = plain_bootstrap(function, (actual, predicted), 300, seed=12)
    else:
        y, proba, _ = binary_data(n)
        result = metrics.evaluate("binary", y, proba=proba, seed=11).to_dict()
        plain = plain_bootstrap(function, (y, proba), 300, seed=12)
    assert result["method"]["scheme"] == "buckets"
    estimate = result["overall"][key]
    width = plain[1] - plain[0]
    assert estimate["low"] == pytest.approx(plain[0], abs=0.2 * width)
    assert estimate["high"] == pytest.approx(plain[1], abs=0.2 * width)
    assert estimate["low"] < estimate["value"] < estimate["high"]


def test_segment_intervals_cover_their_own_estimate_and_widen_as_segments_shrink():
    actual, predicted, _ = regression_data(40_000)
    segments = np.where(np.arange(40_000) < 36_000, "big", "small")
    result = metrics.evaluate("regression", actual, predicted, segments=segments).to_dict()

    def width(name):
        mae = result["segments"][name]["metrics"]["mae"]
        assert mae["low"] < mae["value"] < mae["high"]
        return mae["high"] - mae["low"]

    # The standard error scales with 1/√rows: the small segment's interval is about 3× wider.
    assert width("small") / width("big") == pytest.approx(3.0, rel=0.25)


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others():
    y, proba, segments = binary_data(3000)
    first = metrics.evaluate("binary", y, proba=proba, segments=segments, seed=7).to_dict()
    again = metrics.evaluate("binary", y, proba=proba, segments=segments, seed=7).to_dict()
    other = metrics.evaluate("binary", y, proba=proba, segments=segments, seed=8).to_dict()
    assert first == again
    assert first["overall"]["f1"]["low"] != other["overall"]["f1"]["low"]
    assert first["overall"]["f1"]["value"] == other["overall"]["f1"]["value"]


@pytest.mark.parametrize("n", [3_000, 30_000])
def test_a_champion_identical_to_the_challenger_differs_by_nothing(n):
    y, proba, _ = binary_data(n)
    result = metrics.evaluate(
        "binary", y, proba=proba, champion={"proba": proba}, n_resamples=200
    ).to_dict()
    for key in ("f1", "roc_auc", "pr_auc", "log_loss"):
        difference = result["comparison"][key]
        assert difference["difference"] == 0
        assert difference["low"] == pytest.approx(0, abs=1e-12)
        assert difference["high"] == pytest.approx(0, abs=1e-12)
        assert difference["p_value"] == 1


@pytest.mark.parametrize("n", [3_000, 30_000])
def test_a_clearly_better_challenger_has_a_small_p_value_and_a_matching_paired_interval(n):
    actual, predicted, _ = regression_data(n)
    rng = np.random.default_rng(4)
    worse = predicted + rng.normal(0, 4.0, n)
    result = metrics.evaluate(
        "regression", actual, predicted, champion={"y_pred": worse}, seed=3
    ).to_dict()
    mae = result["comparison"]["mae"]
    expected = skm.mean_absolute_error(actual, predicted) - skm.mean_absolute_error(actual, worse)
    assert mae["difference"] == pytest.approx(expected)
    assert mae["high"] < 0  # the interval of the paired difference excludes 0
    assert mae["p_value"] == pytest.approx(2 / 1001)

    def paired(a, p, w):
        return skm.mean_absolute_error(a, p) - skm.mean_absolute_error(a, w)

    plain = plain_bootstrap(paired, (actual, predicted, worse), 300, seed=9)
    width = plain[1] - plain[0]
    assert mae["low"] == pytest.approx(plain[0], abs=0.2 * width)
    assert mae["high"] == pytest.approx(plain[1], abs=0.2 * width)


def test_chart_data_is_small_and_matches_the_rows():
    y, proba, _ = binary_data(50_000)
    charts = metrics.evaluate("binary", y, proba=proba, value_model=VALUE, n_resamples=0).charts
    fpr, tpr, _ = skm.roc_curve(y, proba)
    assert len(charts["roc"]["fpr"]) <= metrics.CURVE_POINTS
    assert np.trapezoid(charts["roc"]["tpr"], charts["roc"]["fpr"]) == pytest.approx(
        skm.roc_auc_score(y, proba), abs=1e-3
    )
    assert sum(charts["calibration"]["rows"]) == 50_000
    assert len(charts["value_by_threshold"]["total"]) <= metrics.CURVE_POINTS
    actual, predicted, _ = regression_data(10_000)
    charts = metrics.evaluate("regression", actual, predicted, n_resamples=0).charts
    assert len(charts["scatter"]["actual"]) == metrics.SCATTER_POINTS
    assert sum(charts["residuals"]["counts"]) == 10_000


def test_undefined_metrics_are_none_not_zero():
    y = np.array([0, 0, 1, 1])
    result = metrics.evaluate("binary", y, proba=[0.1, 0.2, 0.3, 0.4], n_resamples=20).to_dict()
    assert value(result, "precision") is None  # nothing scored ≥ 0.5
    assert value(result, "recall") == 0
    one_class = metrics.evaluate("binary", [1, 1, 1], proba=[0.2, 0.6, 0.9]).to_dict()
    assert value(one_class, "roc_auc") is None
    assert one_class["overall"]["roc_auc"]["low"] is None


def test_progress_is_reported_in_increasing_percentages_up_to_100():
    seen = []
    actual, predicted, segments = regression_data(500)
    metrics.evaluate("regression", actual, predicted, segments=segments, progress=seen.append)
    assert seen == sorted(set(seen))
    assert seen[-1] == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_type": "binary", "y_true": [], "y_pred": []}, "No rows to evaluate"),
        ({"task_type": "binary", "y_true": [0, 2], "proba": [0.1, 0.2]}, "must be 0 or 1"),
        ({"task_type": "regression", "y_true": [1.0, 2.0], "y_pred": [1.0]}, "lengths must match"),
        (
            {"task_type": "regression", "y_true": [1.0, float("nan")], "y_pred": [1.0, 2.0]},
            "missing or infinite value",
        ),
        ({"task_type": "binary", "y_true": [0, 1], "proba": [0.1, 1.2]}, "must lie in [0, 1]"),
        ({"task_type": "ranking", "y_true": [0, 1], "y_pred": [0, 1]}, "Unknown task type"),
    ],
)
def test_malformed_input_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        metrics.evaluate(**kwargs)


@pytest.mark.parametrize(
    ("direction", "mode", "metric", "value", "interval", "threshold", "passes"),
    [
        ("higher", "point", "roc_auc", 0.81, (0.78, 0.84), 0.8, True),
        ("higher", "bound", "roc_auc", 0.81, (0.78, 0.84), 0.8, False),
        ("lower", "point", "mae", 4.0, (3.8, 4.3), 4.1, True),
        ("lower", "bound", "mae", 4.0, (3.8, 4.3), 4.1, False),
        ("lower", "point", "bias", -0.5, (-0.9, -0.1), 0.6, True),
        ("lower", "bound", "bias", -0.5, (-0.9, -0.1), 0.6, False),
        ("higher", "bound", "f1", 0.7, None, 0.5, False),
        ("higher", "point", "f1", None, None, 0.5, False),
    ],
)
def test_gates_use_the_point_or_the_conservative_bound(
    direction, mode, metric, value, interval, threshold, passes
):
    assert metrics.gate_passes(direction, threshold, value, interval, mode, metric) is passes


def test_mape_skips_rows_whose_actual_is_zero_and_says_how_many():
    actual = np.array([0.0, 10.0, 20.0, 0.0, 40.0])
    predicted = np.array([3.0, 12.0, 15.0, 1.0, 44.0])
    result = metrics.evaluate("regression", actual, predicted, n_resamples=0).to_dict()
    nonzero = actual != 0
    assert value(result, "mape") == pytest.approx(
        skm.mean_absolute_percentage_error(actual[nonzero], predicted[nonzero])
    )
    assert result["method"]["mape_rows_without_actual"] == 2
    assert value(result, "mae") == pytest.approx(skm.mean_absolute_error(actual, predicted))


def test_few_positives_in_a_large_table_get_exact_rank_intervals_inside_0_and_1():
    rng = np.random.default_rng(6)
    n = 50_000
    y = np.zeros(n, dtype=int)
    y[:8] = 1
    score = rng.random(n) * 0.9
    score[:7] = 0.95 + rng.random(7) * 0.05  # seven positives on top, one in the middle
    result = metrics.evaluate("binary", y, proba=score).to_dict()
    assert result["method"]["rank_metrics"] == {"overall": "exact"}
    for key in ("roc_auc", "pr_auc"):
        estimate = result["overall"][key]
        assert 0 <= estimate["low"] <= estimate["value"] <= estimate["high"] <= 1


def test_hard_zero_one_predictions_get_no_log_loss_brier_or_calibration():
    y, proba, _ = binary_data(2000)
    hard = (proba >= 0.5).astype(int)
    result = metrics.evaluate("binary", y, hard, n_resamples=0).to_dict()
    assert value(result, "log_loss") is None and value(result, "brier") is None
    assert "calibration" not in result["charts"]
    assert value(result, "roc_auc") == pytest.approx(skm.roc_auc_score(y, hard))


def test_too_many_segments_are_refused_with_a_clear_message():
    n = metrics.MAX_SEGMENTS + 1
    with pytest.raises(ValueError, match="distinct values"):
        metrics.evaluate("regression", np.ones(n), np.ones(n), segments=np.arange(n))
