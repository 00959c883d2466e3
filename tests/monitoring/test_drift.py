"""monitoring/drift.py against a PSI computed by hand, a second PSI written here, and scipy's
KS and chi-square tests, on generated data with and without a known shift; the bins' rules
at the edges (out-of-range values, ties, a constant or tiny reference, an all-missing day).
No database."""

import bisect
import json
import math

import numpy as np
import pytest
from scipy import stats

from monitoring import drift

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # not among the dev extras: the property test is skipped without it
    given = None

SEEDS = range(12)
FALSE_ALARM_SEEDS = range(200)
LEVEL = drift.P_VALUE_LEVEL
# Under no drift, alarms over 200 seeds are Binomial(200, LEVEL); more than its 99.9 %
# quantile (8 at the 0.01 level) would mean the test rejects too often.
MAX_FALSE_ALARMS = int(stats.binom.ppf(0.999, len(FALSE_ALARM_SEEDS), LEVEL))
SHARES = [0.40, 0.25, 0.15, 0.10, 0.05, 0.03, 0.015, 0.005]  # the last two get pooled


def reference_psi(reference, live):
    """PSI written out bin by bin, without numpy: shares (count + ½) / (n + ½k)."""
    k = len(reference)
    n_reference, n_live = sum(reference), sum(live)
    total = 0.0
    for expected_count, actual_count in zip(reference, live, strict=True):
        expected = (expected_count + 0.5) / (n_reference + 0.5 * k)
        actual = (actual_count + 0.5) / (n_live + 0.5 * k)
        total += (actual - expected) * math.log(actual / expected)
    return total


def category_counts(rng, shares, n):
    """SQL's GROUP BY category as a dict: n rows drawn with `shares` over "c0", "c1", …"""
    return {f"c{i}": int(c) for i, c in enumerate(rng.multinomial(n, shares)) if c}


# PSI


def test_psi_matches_a_hand_computed_example():
    # reference [0, 30, 30, 40] (n = 100), live [12, 48, 60, 80] (n = 200), k = 4 bins.
    # e = (c + ½) / 102:  0.004902, 0.299020, 0.299020, 0.397059
    # a = (c + ½) / 202:  0.061881, 0.240099, 0.299505, 0.398515
    # (a − e)·ln(a / e): +0.056979·2.535581 = 0.144475
    #                    −0.058921·−0.219458 = 0.012931
    #                    +0.000485· 0.001622 = 0.000001
    #                    +0.001456· 0.003660 = 0.000005   sum = 0.157412
    # Without the ½ the empty first bin would make PSI infinite.
    assert drift.psi([0, 30, 30, 40], [12, 48, 60, 80]) == pytest.approx(0.157412, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_psi_matches_an_independent_implementation(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 25))
    reference = rng.integers(0, 500, size=k) * rng.integers(0, 2, size=k)  # some empty bins
    reference[0] += 1
    live = rng.integers(0, 5000, size=k)
    want = reference_psi(reference.tolist(), live.tolist())
    assert drift.psi(reference, live) == pytest.approx(want, rel=1e-12)


def test_psi_is_zero_for_identical_counts_and_none_without_counts():
    assert drift.psi([5, 0, 7], [5, 0, 7]) == 0
    assert drift.psi([0, 0, 0], [1, 2, 3]) is None
    assert drift.psi([1, 2, 3], [0, 0, 0]) is None


def test_psi_refuses_histograms_over_different_bins():
    with pytest.raises(ValueError):
        drift.psi([1, 2, 3], [1, 2])


if given is not None:

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=30)
    )
    def test_psi_is_never_negative_and_zero_for_the_same_counts(pairs):
        reference, live = [e for e, _ in pairs], [a for _, a in pairs]
        if sum(reference) and sum(live):
            assert drift.psi(reference, live) >= 0
        if sum(reference):
            assert drift.psi(reference, reference) == 0

else:

    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_psi_is_never_negative_and_zero_for_the_same_counts():
        pass


# KS and chi-square against scipy


@pytest.mark.parametrize("seed", SEEDS)
def test_ks_test_equals_scipy_on_the_present_values(seed):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=int(rng.integers(50, 3000)))
    live = rng.normal(0.1, 1.2, size=int(rng.integers(50, 20_000)))
    with_gaps = live.copy()
    with_gaps[::7] = np.nan  # missing values are left out, not compared
    statistic, p_value = drift.ks_test(reference, with_gaps)
    want = stats.ks_2samp(reference, live[~np.isnan(with_gaps)])
    assert (statistic, p_value) == pytest.approx((want.statistic, want.pvalue), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_chi_square_equals_scipy_when_no_column_is_sparse(seed):
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(6)) * 0.8 + 0.2 / 6  # every share ≥ 3 %
    reference = rng.multinomial(int(rng.integers(1000, 5000)), shares)
    live = rng.multinomial(int(rng.integers(1000, 50_000)), rng.permutation(shares))
    statistic, p_value = drift.chi_square_test(reference, live)
    want = stats.chi2_contingency([reference, live], correction=False)
    assert (statistic, p_value) == pytest.approx((want.statistic, want.pvalue), rel=1e-12)


def test_chi_square_pools_sparse_columns_into_one():
    reference, live = [500, 300, 3, 2, 0, 0], [5000, 2900, 30, 20, 0, 10]
    table = drift.pooled_table(reference, live)
    # N = 8765, smaller row 805: a column is sparse under 5 · 8765 / 805 = 54.4 rows, so
    # columns 3, 4 and 6 (33, 22, 10 rows) pool into one of 65; column 5 (no rows) goes.
    assert table.tolist() == [[500, 300, 5], [5000, 2900, 60]]
    assert stats.contingency.expected_freq(table).min() >= drift.MIN_EXPECTED
    statistic, p_value = drift.chi_square_test(reference, live)
    want = stats.chi2_contingency(table, correction=False)
    assert (statistic, p_value) == (want.statistic, want.pvalue)


def test_chi_square_merges_a_still_sparse_pool_into_the_smallest_column():
    table = drift.pooled_table([500, 300, 3, 2], [5000, 2900, 25, 10])
    # 28 + 12 = 40 rows pooled, still under 5 · 8740 / 805 = 54.3: they join column 2.
    assert table.tolist() == [[500, 305], [5000, 2935]]


def test_chi_square_is_none_when_nothing_is_left_to_compare():
    assert drift.chi_square_test([10, 0], [40, 0]) == (None, None)  # one category
    assert drift.chi_square_test([2, 1], [1, 2]) == (None, None)  # too few rows
    assert drift.chi_square_test([10, 20], [0, 0]) == (None, None)  # no live values


# A known shift is detected; no shift is (almost) never reported


def test_a_mean_shift_of_half_a_standard_deviation_is_detected():
    rng = np.random.default_rng(1)
    result = drift.numeric_drift_from_values(
        "age", rng.normal(40, 10, size=5000), rng.normal(45, 10, size=5000)
    )
    assert result.psi > drift.PSI_SIGNIFICANT
    assert result.ks_p_value < LEVEL
    assert drift.is_drifted(result)


def test_a_moved_category_share_is_detected():
    rng = np.random.default_rng(1)
    reference = rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=5000)
    live = rng.choice(["a", "b", "c"], p=[0.3, 0.3, 0.4], size=5000)
    result = drift.categorical_drift_from_values("plan", reference, live)
    assert result.psi > drift.PSI_SIGNIFICANT
    assert result.chi2_p_value < LEVEL
    assert drift.is_drifted(result)


def test_false_alarm_rate_over_200_seeds_is_within_a_binomial_bound_of_the_level(capsys):
    """The figure docs/monitoring.md states: run with -s to see it."""
    ks_alarms = chi2_alarms = drifted = 0
    largest_psi = 0.0
    for seed in FALSE_ALARM_SEEDS:
        rng = np.random.default_rng(seed)
        numeric = drift.numeric_drift_from_values("x", rng.normal(size=2000), rng.normal(size=3000))
        bins = drift.category_bins(category_counts(rng, SHARES, 2000))
        categorical = drift.categorical_drift(
            "c",
            bins,
            drift.category_histogram(category_counts(rng, SHARES, 2000), bins),
            drift.category_histogram(category_counts(rng, SHARES, 3000), bins),
        )
        ks_alarms += numeric.ks_p_value < LEVEL
        chi2_alarms += categorical.chi2_p_value < LEVEL
        drifted += drift.is_drifted(numeric) + drift.is_drifted(categorical)
        reference = rng.normal(size=10_000)
        cuts = drift.numeric_bins(reference)
        psi = drift.psi(
            drift.numeric_histogram(reference, cuts).counts,
            drift.numeric_histogram(rng.normal(size=10_000), cuts).counts,
        )
        largest_psi = max(largest_psi, psi)
    n = len(FALSE_ALARM_SEEDS)
    with capsys.disabled():
        print(
            f"\nfalse alarms at level {LEVEL} over {n} seeds: KS {ks_alarms}/{n}, "
            f"chi-square {chi2_alarms}/{n}, is_drifted {drifted}/{2 * n} features; "
            f"largest PSI at n = 10,000: {largest_psi:.4f}"
        )
    assert ks_alarms <= MAX_FALSE_ALARMS
    assert chi2_alarms <= MAX_FALSE_ALARMS
    assert largest_psi < drift.PSI_MODERATE


# Bins


def test_open_ended_bins_catch_values_outside_the_reference_range():
    bins = drift.numeric_bins(np.arange(100.0))
    histogram = drift.numeric_histogram([-1e9, -np.inf, 1e9, np.inf, 50.0], bins)
    assert histogram.counts[0] == 2 and histogram.counts[-1] == 2
    assert histogram.present == 5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_value_falls_in_the_bin_postgresql_width_bucket_gives(seed):
    rng = np.random.default_rng(seed)
    bins = drift.numeric_bins(rng.lognormal(size=500))
    values = np.concatenate([rng.lognormal(size=300), bins.edges, [0.0, 1e6]])
    histogram = drift.numeric_histogram(values, bins)
    # width_bucket(v, thresholds): the number of thresholds ≤ v, i.e. bisect_right.
    buckets = [bisect.bisect_right(bins.edges, v) for v in values.tolist()] + [None] * 4
    from_sql = {b: buckets.count(b) for b in set(buckets)}
    assert drift.numeric_histogram_from_counts(from_sql, bins) == drift.Histogram(
        histogram.counts, missing=4
    )


def test_counts_from_sql_outside_the_bins_are_refused():
    with pytest.raises(ValueError):
        drift.numeric_histogram_from_counts({3: 1}, drift.NumericBins((1.0, 2.0)))


def test_quantile_bins_hold_about_a_tenth_of_the_reference_each():
    values = np.random.default_rng(0).normal(size=10_000)
    bins = drift.numeric_bins(values)
    assert bins.size == 10
    assert set(drift.numeric_histogram(values, bins).counts) == {1000}


def test_ties_and_discrete_values_keep_each_cut_once():
    values = np.random.default_rng(0).integers(0, 4, size=1000)
    assert drift.numeric_bins(values).edges == (1.0, 2.0, 3.0)  # 0, 1, 2, 3 each a bin
    assert drift.numeric_bins([0.0] * 95 + [1.0, 2.0, 3.0, 4.0, 5.0]).edges == (1.0,)
    assert drift.numeric_bins([0.0] + [1.0] * 99).edges == (1.0,)


def test_a_constant_reference_gets_bins_below_at_and_above_it():
    bins = drift.numeric_bins([3.0] * 50)
    assert bins.size == 3
    assert drift.numeric_histogram([2.9, 3.0, 3.0, 3.1], bins).counts == (1, 2, 1)
    same = drift.numeric_drift_from_values("flag", [3.0] * 50, [3.0] * 80)
    moved = drift.numeric_drift_from_values("flag", [3.0] * 50, [3.0] * 60 + [4.0] * 20)
    assert same.psi < 0.01 and not drift.is_drifted(same)
    assert moved.psi > drift.PSI_SIGNIFICANT


def test_a_tiny_reference_gets_fewer_bins():
    assert drift.numeric_bins(np.arange(15.0)).size == 2  # 15 values: a median cut
    assert drift.numeric_bins(np.arange(45.0)).size == 4  # one bin per 10 values
    assert drift.numeric_bins([7.0]).size == 3  # one value: the constant rule


def test_a_reference_without_numbers_gives_no_psi():
    bins = drift.numeric_bins([None, np.nan])
    assert bins.size == 1
    result = drift.numeric_drift_from_values("x", [None, np.nan], [1.0, 2.0])
    assert result.psi is None and result.ks_p_value is None
    assert result.missing_share_reference == 1.0


def test_bins_survive_a_round_trip_through_json():
    numeric = drift.numeric_bins(np.random.default_rng(0).normal(size=1000))
    categories = drift.category_bins({"a": 5, "b": 3, "c": 1}, max_categories=2)
    assert drift.NumericBins.from_dict(json.loads(json.dumps(numeric.to_dict()))) == numeric
    assert drift.CategoryBins.from_dict(json.loads(json.dumps(categories.to_dict()))) == categories


# Categories: unseen and pooled


def test_unseen_categories_are_counted_in_their_own_bin():
    reference = ["a"] * 60 + ["b"] * 40
    live = ["a"] * 50 + ["b"] * 30 + ["z"] * 15 + ["y"] * 5 + [None] * 10
    result = drift.categorical_drift_from_values("plan", reference, live)
    assert result.labels == ("a", "b", drift.UNSEEN_LABEL)
    assert result.live_counts == (50, 30, 20)
    assert result.unseen_count == 20
    assert result.unseen_share == pytest.approx(0.2)  # of the 100 live values present
    want = stats.chi2_contingency([[60, 40, 0], [50, 30, 20]], correction=False)
    assert result.chi2_p_value == pytest.approx(want.pvalue, rel=1e-12)
    assert result.chi2_p_value < LEVEL and result.psi > drift.PSI_SIGNIFICANT


def test_rare_reference_categories_share_one_bin_and_are_not_unseen():
    reference = {"a": 500, "b": 300, "c": 10, "d": 5, None: 7}
    bins = drift.category_bins(reference, max_categories=2)
    assert bins.labels() == ["a", "b", drift.OTHER_LABEL, drift.UNSEEN_LABEL]
    histogram = drift.category_histogram({"a": 1, "c": 2, "d": 3, "e": 4, None: 5}, bins)
    assert histogram == drift.Histogram((1, 0, 5, 4), missing=5)


def test_categories_are_compared_as_text():
    result = drift.categorical_drift_from_values("code", [1, 2, 2], ["1", "2", 2.0])
    assert result.live_counts == (1, 1, 1)  # "2.0" is not "2": unseen


# Missing values and the summary


def test_missing_share_is_a_share_of_rows():
    assert drift.missing_share(drift.Histogram((30, 50), missing=20)) == 0.2
    assert drift.missing_share(drift.Histogram((0, 0))) is None


def test_an_all_missing_live_day_reports_its_missing_share_not_drift():
    rng = np.random.default_rng(0)
    numeric = drift.numeric_drift_from_values("age", rng.normal(size=1000), [None] * 500)
    categorical = drift.categorical_drift_from_values("plan", ["a", "b"] * 50, [None] * 500)
    for result in (numeric, categorical):
        assert result.n_live == 500 and result.missing_share_live == 1.0
        assert result.missing_share_change == 1.0
        assert result.psi is None and result.p_value is None
        assert not drift.is_drifted(result)
    assert categorical.unseen_count == 0 and categorical.unseen_share is None


def test_the_summary_is_plain_json():
    rng = np.random.default_rng(0)
    reference = np.where(rng.random(2000) < 0.1, np.nan, rng.normal(size=2000))
    result = drift.numeric_drift_from_values("score", reference, rng.normal(size=3000))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["n_reference"] == 2000 and data["n_live"] == 3000
    assert data["missing_share_live"] == 0.0
    assert data["missing_share_change"] == pytest.approx(-data["missing_share_reference"])
    assert data["chi2_p_value"] is None and data["unseen_count"] is None
    assert len(data["labels"]) == len(data["reference_counts"]) == len(data["live_counts"]) == 10
    assert sum(data["reference_counts"]) + round(2000 * data["missing_share_reference"]) == 2000


def test_the_ks_sample_is_bounded_and_repeatable():
    values = np.arange(1000.0)
    sample = drift.bounded_sample(values, size=100)
    assert sample.size == 100 and np.array_equal(sample, drift.bounded_sample(values, size=100))
    assert drift.bounded_sample([1.0, None, 3.0]).tolist() == [1.0, 3.0]
