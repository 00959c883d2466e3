"""reviews/stats.py checked against the reference implementations: scikit-learn's
cohen_kappa_score, the krippendorff package, statsmodels' Wilson interval and Fleiss' kappa
and scipy's binomial test, on generated data and on the edge cases."""

import math
import warnings

import krippendorff
import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from reviews import stats

SEEDS = range(12)


# Wilson interval


@pytest.mark.parametrize(
    ("successes", "n"),
    [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (1, 2), (50, 100), (999, 1000), (7, 13_000)],
)
@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(successes, n, confidence):
    low, high = stats.wilson_interval(successes, n, confidence)
    want = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert (low, high) == pytest.approx(want, abs=1e-12)
    assert 0 <= low <= successes / n <= high <= 1


@pytest.mark.parametrize("seed", SEEDS)
def test_wilson_interval_matches_statsmodels_and_scipy_on_random_counts(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    successes = int(rng.integers(0, n + 1))
    low, high = stats.wilson_interval(successes, n)
    assert (low, high) == pytest.approx(
        proportion_confint(successes, n, method="wilson"), abs=1e-12
    )
    scipy_ci = binomtest(successes, n).proportion_ci(method="wilson")
    assert (low, high) == pytest.approx((scipy_ci.low, scipy_ci.high), abs=1e-12)


def test_wilson_interval_is_none_without_data():
    assert stats.wilson_interval(0, 0) is None


def test_wilson_interval_of_no_success_still_has_width():
    low, high = stats.wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)


@pytest.mark.parametrize(("successes", "n"), [(-1, 5), (6, 5), (1, -1)])
def test_wilson_interval_refuses_impossible_counts(successes, n):
    with pytest.raises(ValueError):
        stats.wilson_interval(successes, n)


# Cohen's kappa


def sklearn_kappa(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns where kappa is undefined
        value = cohen_kappa_score(a, b)
    return None if math.isnan(value) else value


@pytest.mark.parametrize("seed", SEEDS)
def test_cohen_kappa_matches_scikit_learn_on_generated_labels(seed):
    rng = np.random.default_rng(seed)
    labels = ["correct", "incorrect", "unsure"][: int(rng.integers(2, 4))]
    n = int(rng.integers(2, 400))
    first = rng.choice(labels, n)
    # The second rater copies the first some of the time: agreement above chance.
    second = np.where(rng.random(n) < rng.random(), first, rng.choice(labels, n))
    assert stats.cohen_kappa(list(first), list(second)) == pytest.approx(
        sklearn_kappa(first, second), abs=1e-12
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (["correct", "incorrect"], ["correct", "incorrect"]),  # perfect: 1
        (["correct", "incorrect"], ["incorrect", "correct"]),  # opposite: −1
        (["correct"] * 3, ["correct", "correct", "incorrect"]),  # one rater constant: 0
        (["correct"] * 4, ["incorrect"] * 4),  # two constant raters who differ: 0
        ([1, 2, 3, 1], [1, 2, 3, 3]),  # numbers work too
    ],
)
def test_cohen_kappa_edge_cases_match_scikit_learn(a, b):
    assert stats.cohen_kappa(a, b) == pytest.approx(sklearn_kappa(a, b), abs=1e-12)


def test_cohen_kappa_is_undefined_when_both_raters_give_one_same_label():
    # scikit-learn answers NaN with a warning here; we answer None.
    assert sklearn_kappa(["correct"] * 5, ["correct"] * 5) is None
    assert stats.cohen_kappa(["correct"] * 5, ["correct"] * 5) is None


def test_cohen_kappa_is_none_without_units_and_refuses_unequal_lengths():
    assert stats.cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        stats.cohen_kappa(["correct"], ["correct", "incorrect"])


# Krippendorff's alpha


def reference_alpha(table):
    """krippendorff.alpha takes raters × units with NaN for missing values."""
    codes = {}
    matrix = np.array(
        [
            [np.nan if v is None else codes.setdefault(v, float(len(codes))) for v in row]
            for row in table
        ],
        dtype=float,
    )
    try:
        return krippendorff.alpha(reliability_data=matrix.T, level_of_measurement="nominal")
    except ValueError:  # one value in the domain, or no unit with two values
        return None


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("raters", [2, 3, 5])
def test_krippendorff_alpha_matches_the_krippendorff_package(seed, raters):
    rng = np.random.default_rng(seed)
    labels = ["correct", "incorrect", "unsure"]
    units = int(rng.integers(3, 200))
    truth = rng.choice(labels, units)
    table = []
    for label in truth:
        row = [str(label) if rng.random() < 0.7 else str(rng.choice(labels)) for _ in range(raters)]
        # Missing labels (a reviewer who did not see the unit), single-label units included.
        table.append([None if rng.random() < 0.25 else value for value in row])
    want = reference_alpha(table)
    got = stats.krippendorff_alpha(table)
    if want is None or math.isnan(want):
        assert got is None
    else:
        assert got == pytest.approx(want, abs=1e-10)


def test_krippendorff_alpha_of_the_textbook_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example:
    # 4 coders × 12 units with missing values, α = 0.743.
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [list(unit) for unit in zip(*coders, strict=True)]
    assert stats.krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)
    assert stats.krippendorff_alpha(units) == pytest.approx(reference_alpha(units), abs=1e-12)


def test_krippendorff_alpha_agrees_with_cohen_kappa_in_the_limit_of_two_raters():
    # For two raters and no missing value, α = κ computed with pooled marginals, which
    # approaches Cohen's κ; on this data they are close, not equal.
    a = ["correct", "correct", "incorrect", "unsure", "correct", "incorrect"] * 20
    b = ["correct", "incorrect", "incorrect", "unsure", "correct", "correct"] * 20
    alpha = stats.krippendorff_alpha([list(pair) for pair in zip(a, b, strict=True)])
    assert alpha == pytest.approx(stats.cohen_kappa(a, b), abs=0.02)


@pytest.mark.parametrize(
    "table",
    [
        [],  # no units
        [[None, None], [None, None]],  # no labels
        [["correct", None], [None, "incorrect"]],  # no unit labelled twice
        [["correct", "correct"], ["correct", "correct", "correct"]],  # one value only
        [["correct", "correct"], ["incorrect", None]],  # pairable labels all the same
    ],
)
def test_krippendorff_alpha_is_none_where_undefined(table):
    assert stats.krippendorff_alpha(table) is None


def test_krippendorff_alpha_of_perfect_agreement_is_one():
    table = [["correct"] * 3, ["incorrect", "incorrect", None], ["unsure", None, "unsure"]]
    assert stats.krippendorff_alpha(table) == pytest.approx(1.0)
    assert reference_alpha(table) == pytest.approx(1.0)


# Fleiss' kappa


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("raters", [2, 3, 5])
def test_fleiss_kappa_matches_statsmodels(seed, raters):
    rng = np.random.default_rng(seed)
    labels = ["correct", "incorrect", "unsure"]
    units = []
    for _ in range(int(rng.integers(5, 80))):
        truth = rng.choice(labels)
        units.append(
            [str(truth if rng.random() < 0.7 else rng.choice(labels)) for _ in range(raters)]
        )
    table, _ = aggregate_raters([[labels.index(v) for v in unit] for unit in units])
    assert stats.fleiss_kappa(units) == pytest.approx(fleiss_kappa(table, method="fleiss"))


def test_fleiss_kappa_of_fleiss_1971_example():
    """Fleiss (1971), table 1 as Wikipedia reproduces it: 10 subjects, 14 raters, κ ≈ 0.210."""
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    units = [[c for c, n in enumerate(row) for _ in range(n)] for row in counts]
    assert stats.fleiss_kappa(units) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_undefined_and_refused_cases():
    assert stats.fleiss_kappa([]) is None
    assert stats.fleiss_kappa([["correct", "correct"], ["correct", "correct"]]) is None
    assert stats.fleiss_kappa([["correct", "incorrect"], ["incorrect", "correct"]]) == -1.0
    with pytest.raises(ValueError, match="same number"):
        stats.fleiss_kappa([["correct", "correct"], ["correct", "correct", "unsure"]])
    with pytest.raises(ValueError, match="same number"):
        stats.fleiss_kappa([["correct"]])


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (None, None),
        (-0.3, "poor"),
        (-1e-9, "poor"),
        (0.0, "slight"),
        (0.2, "slight"),
        (0.21, "fair"),
        (0.4, "fair"),
        (0.5, "moderate"),
        (0.6, "moderate"),
        (0.61, "substantial"),
        (0.8, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
    ],
)
def test_landis_and_koch_bands(value, band):
    assert stats.landis_koch(value) == band


# Binomial test


@pytest.mark.parametrize("seed", SEEDS)
def test_binomial_test_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    wins_a, wins_b = (int(x) for x in rng.integers(0, 300, size=2))
    if wins_a + wins_b == 0:
        wins_a = 1
    want = binomtest(wins_a, wins_a + wins_b, 0.5, alternative="two-sided").pvalue
    assert stats.binomial_test(wins_a, wins_b) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("wins_a", "wins_b", "p_value"),
    [
        (5, 5, 1.0),
        (10, 0, 2 * 0.5**10),
        (0, 1, 1.0),
        (60, 40, binomtest(60, 100).pvalue),
    ],
)
def test_binomial_test_known_values(wins_a, wins_b, p_value):
    assert stats.binomial_test(wins_a, wins_b) == pytest.approx(p_value, rel=1e-12)


def test_binomial_test_is_symmetric_and_none_without_decisive_comparisons():
    assert stats.binomial_test(17, 30) == pytest.approx(stats.binomial_test(30, 17))
    assert stats.binomial_test(0, 0) is None
    with pytest.raises(ValueError):
        stats.binomial_test(-1, 3)
