"""Drift of a feature, or of the prediction, between a reference and one day of live traffic:
fixed reference bins, the population stability index (PSI), the Kolmogorov–Smirnov and
chi-square tests, and the share of missing values. Plain numpy and scipy, no Django, no ORM
(as reviews/stats.py), so the daily job can feed it either way:

- from PostgreSQL: counts per reference bin (width_bucket over `NumericBins.edges`, GROUP BY
  category), NULL counted as missing, and a bounded sample of the day for KS;
- from arrays: the reference dataset, the tests, the demo.

docs/monitoring.md, "Drift: formulas and bins", states every formula and rule used here; the
tests check them against scipy and a PSI computed by hand. Figures are None where undefined
(a side with no values, a table too small to test), never NaN: JSON has no NaN.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

DEFAULT_BINS = 10
# A numeric reference gets at most one bin per this many values (never fewer than 2 bins):
# quantiles of 15 values cut into 10 bins would be noise.
MIN_REFERENCE_PER_BIN = 10
# Added to every bin's count on both sides before PSI takes shares (Jeffreys' prior, the
# Krichevsky–Trofimov estimator): an empty bin gets a finite share, identical counts give 0.
SMOOTHING = 0.5
# A categorical reference keeps its most frequent categories as bins; rarer ones share one.
MAX_CATEGORIES = 20
# The chi-square test pools columns until every expected count is at least this.
MIN_EXPECTED = 5.0
# KS reads a sample of the day, not the day: ORDER BY random_key LIMIT this many.
KS_SAMPLE_SIZE = 100_000
# PSI under 0.1 is stable, 0.1–0.2 a moderate shift, over 0.2 a significant one: the credit-
# scoring rule of thumb (Siddiqi 2006: 0.1 and 0.25) with issue 14's alert line at 0.2.
# P_VALUE_LEVEL is the level at which a test reports drift.
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.2
P_VALUE_LEVEL = 0.01

# Numbers as they come: a numpy array, or any iterable with None for a missing value.
Numbers = Iterable[float | None] | np.ndarray
Counts = Sequence[int] | np.ndarray

OTHER_LABEL = "(other)"
UNSEEN_LABEL = "(unseen)"


# Bins


@dataclass(frozen=True)
class NumericBins:
    """Fixed bins of a numeric feature, cut at `edges` (strictly increasing).

    Bin 0 is (−∞, edges[0]), bin i is [edges[i−1], edges[i]), the last is [edges[−1], +∞):
    len(edges) + 1 bins, open at both ends, so every live number (±∞ included) falls in one.
    The bin of v is numpy's searchsorted(edges, v, side="right"), which is PostgreSQL's
    width_bucket(v, ARRAY[edges]): 0 below the first edge, i from edges[i−1] up.
    """

    edges: tuple[float, ...]

    def __post_init__(self):
        if any(not math.isfinite(e) for e in self.edges) or any(
            b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)
        ):
            raise ValueError(f"bin edges must be finite and increasing, got {self.edges}")

    @property
    def size(self) -> int:
        return len(self.edges) + 1

    def labels(self) -> list[str]:
        """Readable names of the bins, for charts: "< 3.5", "[3.5, 7)", "≥ 7"."""
        if not self.edges:
            return ["all values"]
        inner = [f"[{a:g}, {b:g})" for a, b in zip(self.edges, self.edges[1:], strict=False)]
        return [f"< {self.edges[0]:g}", *inner, f"≥ {self.edges[-1]:g}"]

    def to_dict(self) -> dict:
        return {"edges": list(self.edges)}

    @classmethod
    def from_dict(cls, data: Mapping) -> NumericBins:
        return cls(tuple(float(e) for e in data["edges"]))


@dataclass(frozen=True)
class CategoryBins:
    """Fixed bins of a categorical feature: one per category in `categories` (the reference's
    most frequent first), one "(other)" for the reference's rarer categories in `pooled` (only
    when there are some), and last one "(unseen)" for live categories the reference never had.
    Categories are text: a value is compared as str(value)."""

    categories: tuple[str, ...]
    pooled: frozenset[str] = field(default_factory=frozenset)

    @property
    def size(self) -> int:
        return len(self.categories) + bool(self.pooled) + 1

    def labels(self) -> list[str]:
        return [*self.categories, *([OTHER_LABEL] if self.pooled else []), UNSEEN_LABEL]

    def to_dict(self) -> dict:
        return {"categories": list(self.categories), "pooled": sorted(self.pooled)}

    @classmethod
    def from_dict(cls, data: Mapping) -> CategoryBins:
        return cls(tuple(data["categories"]), frozenset(data.get("pooled", ())))


def _floats(values: Numbers) -> np.ndarray:
    """`values` as a float array, missing ones (None) as NaN."""
    return np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)


def _present_numbers(values: Numbers) -> np.ndarray:
    """The numbers of `values` as floats, without the missing ones (None, NaN)."""
    x = _floats(values)
    return x[~np.isnan(x)]


def numeric_bins(reference: Numbers, bins: int = DEFAULT_BINS) -> NumericBins:
    """Quantile bins of a numeric reference: `bins` bins holding about as many reference
    values each, fewer where the data are tied or small.

    The cuts are the reference's quantiles at 1/k, …, (k−1)/k with numpy's default (linear)
    interpolation, the same as PostgreSQL's percentile_cont, so a reference window in the log
    can be cut in SQL alike. Then:

    - k = min(bins, n // MIN_REFERENCE_PER_BIN), at least 2: 15 values get 2 bins, not 10;
    - ties: equal cuts are kept once, and a cut at the minimum is dropped (the bin below it
      would be empty in the reference). If every cut is the minimum (most values tied
      there), one cut at the next distinct value separates the tie from the rest;
    - a constant reference c gets the cuts (c, next float after c): bins below c, exactly c,
      and above c, so a live day that moves at all is seen;
    - a reference with no numbers gets no cuts: one bin, PSI undefined (None).

    Infinite values do not choose cuts; they are counted in the end bins.
    """
    if bins < 2:
        raise ValueError(f"need at least 2 bins, got {bins}")
    x = _present_numbers(reference)
    x = x[np.isfinite(x)]
    if not x.size:
        return NumericBins(())
    low, high = float(x.min()), float(x.max())
    if low == high:
        return NumericBins((low, float(np.nextafter(low, np.inf))))
    k = min(bins, max(2, x.size // MIN_REFERENCE_PER_BIN))
    cuts = np.unique(np.quantile(x, np.arange(1, k) / k))
    cuts = cuts[cuts > low]
    if not cuts.size:
        cuts = np.array([x[x > low].min()])
    return NumericBins(tuple(float(c) for c in cuts))


def _is_missing(value: Hashable) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def count_categories(values: Iterable[Hashable]) -> dict[str | None, int]:
    """Counts per category (as str), missing values (None, NaN) under the key None: the shape
    of SELECT category, count(*) … GROUP BY category."""
    counts = Counter(None if _is_missing(v) else str(v) for v in values)
    return dict(counts)


def category_bins(
    reference_counts: Mapping[str | None, int], max_categories: int = MAX_CATEGORIES
) -> CategoryBins:
    """Category bins from the reference's counts per category (count_categories or SQL):
    the `max_categories` most frequent categories (ties by name) each get a bin; the rest
    share one, so a feature with thousands of rare values does not make PSI noise."""
    if max_categories < 1:
        raise ValueError(f"need at least 1 category bin, got {max_categories}")
    seen = sorted(
        ((str(c), n) for c, n in reference_counts.items() if c is not None and n > 0),
        key=lambda item: (-item[1], item[0]),
    )
    kept = tuple(c for c, _ in seen[:max_categories])
    return CategoryBins(kept, frozenset(c for c, _ in seen[max_categories:]))


# Histograms


@dataclass(frozen=True)
class Histogram:
    """One side's counts over fixed bins, and the rows with no value (not in any bin)."""

    counts: tuple[int, ...]
    missing: int = 0

    def __post_init__(self):
        if self.missing < 0 or any(c < 0 for c in self.counts):
            raise ValueError("counts cannot be negative")

    @property
    def present(self) -> int:
        """Rows with a value."""
        return sum(self.counts)

    @property
    def rows(self) -> int:
        return self.present + self.missing


def numeric_histogram(values: Numbers, bins: NumericBins) -> Histogram:
    """Counts of `values` over `bins`; None and NaN are missing."""
    x = _floats(values)
    present = ~np.isnan(x)
    index = np.searchsorted(np.asarray(bins.edges, dtype=float), x[present], side="right")
    counts = np.bincount(index, minlength=bins.size)
    return Histogram(tuple(int(c) for c in counts), missing=int(x.size - present.sum()))


def numeric_histogram_from_counts(
    counts_by_bucket: Mapping[int | None, int], bins: NumericBins
) -> Histogram:
    """A histogram from SQL: {width_bucket(v, ARRAY[edges]): count(*)} grouped by bucket, the
    NULL bucket (v IS NULL) as missing. Buckets with no rows may be left out."""
    counts, missing = [0] * bins.size, 0
    for bucket, n in counts_by_bucket.items():
        if bucket is None:
            missing += n
        elif 0 <= bucket < bins.size:
            counts[bucket] += n
        else:
            raise ValueError(f"bucket {bucket} is outside 0..{bins.size - 1}")
    return Histogram(tuple(counts), missing)


def category_histogram(
    counts_by_category: Mapping[str | None, int], bins: CategoryBins
) -> Histogram:
    """Counts per category (count_categories or SQL GROUP BY) over `bins`: a reference
    category to its bin, a pooled one to "(other)", any other to "(unseen)" (the last bin);
    the key None is missing."""
    index = {c: i for i, c in enumerate(bins.categories)}
    other, unseen = len(bins.categories), bins.size - 1
    counts, missing = [0] * bins.size, 0
    for category, n in counts_by_category.items():
        if category is None:
            missing += n
            continue
        name = str(category)
        if name in index:
            counts[index[name]] += n
        else:
            counts[other if name in bins.pooled else unseen] += n
    return Histogram(tuple(counts), missing)


# Statistics


def missing_share(histogram: Histogram) -> float | None:
    """Missing rows / rows; None without rows."""
    return histogram.missing / histogram.rows if histogram.rows else None


def smoothed_shares(counts: Counts) -> np.ndarray:
    """(count + ½) / (n + ½k) per bin: the shares PSI compares (see SMOOTHING)."""
    c = np.asarray(counts, dtype=float)
    return (c + SMOOTHING) / (c.sum() + SMOOTHING * c.size)


def psi(reference: Counts, live: Counts) -> float | None:
    """Population stability index of two histograms over the same bins.

        PSI = Σᵢ (aᵢ − eᵢ) · ln(aᵢ / eᵢ)

    eᵢ and aᵢ are the reference's and the live day's smoothed shares of bin i,
    (countᵢ + ½) / (n + ½k), so an empty bin counts without making PSI infinite. Each term
    is ≥ 0 (a − e and ln(a / e) share their sign); PSI is 0 for identical counts. Without
    drift its expectation is about (k − 1)(1/n_reference + 1/n_live). None when a side has
    no counts. Missing values are not a bin: their share is measured on its own.
    """
    e, a = np.asarray(reference), np.asarray(live)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"the histograms differ in bins: {e.shape} and {a.shape}")
    if (e < 0).any() or (a < 0).any():
        raise ValueError("counts cannot be negative")
    if e.sum() == 0 or a.sum() == 0:
        return None
    e, a = smoothed_shares(e), smoothed_shares(a)
    return float(np.sum((a - e) * np.log(a / e)))


def bounded_sample(values: Numbers, size: int = KS_SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """The numbers of `values` (missing dropped), or a seeded simple random sample of `size`
    of them when there are more: the array path's twin of ORDER BY random_key LIMIT size.
    The same input and seed give the same sample, so a re-run gives the same figures."""
    x = _present_numbers(values)
    if x.size <= size:
        return x
    return np.random.default_rng(seed).choice(x, size=size, replace=False)


def ks_test(reference: Numbers, live: Numbers) -> tuple[float | None, float | None]:
    """Two-sample Kolmogorov–Smirnov statistic and p-value of the present values:

        D = supₓ |F_reference(x) − F_live(x)|

    with F the empirical distribution functions; the p-value is scipy's ks_2samp, two-sided,
    method "auto" (exact up to 10,000 values a side, asymptotic beyond). It needs the values,
    not histograms (docs/monitoring.md): the job passes a bounded sample. With ties (a
    discrete feature) the p-value is conservative. (None, None) when a side is empty.
    """
    x, y = _present_numbers(reference), _present_numbers(live)
    if not x.size or not y.size:
        return None, None
    result = stats.ks_2samp(x, y)
    return float(result.statistic), float(result.pvalue)


def pooled_table(reference: Counts, live: Counts) -> np.ndarray | None:
    """The 2 × k table (reference, live) × bins that chi_square_test tests, after pooling.

    Columns empty on both sides are dropped. A column whose smaller expected count
    (row total × column total / N) is under MIN_EXPECTED joins one pooled column; if that
    pooled column is still under it, it is merged into the smallest kept column. Every
    expected count is then at least MIN_EXPECTED. None when a side is empty or fewer than
    two columns remain (nothing to compare).
    """
    table = np.array([reference, live], dtype=float)
    if table.ndim != 2 or table.shape[0] != 2:
        raise ValueError("need two histograms over the same bins")
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if (rows == 0).any():
        return None
    column_total = table.sum(axis=0)
    # The smaller row has the smaller expected counts: min over rows of R·C/N.
    sparse = column_total * rows.min() / rows.sum() < MIN_EXPECTED
    kept, pooled = table[:, ~sparse], table[:, sparse].sum(axis=1)
    if sparse.any():
        if pooled.sum() * rows.min() / rows.sum() >= MIN_EXPECTED or not kept.shape[1]:
            kept = np.column_stack([kept, pooled])
        else:
            kept[:, np.argmin(kept.sum(axis=0))] += pooled
    return kept if kept.shape[1] >= 2 else None


def chi_square_test(reference: Counts, live: Counts) -> tuple[float | None, float | None]:
    """Pearson's chi-square test of homogeneity on the pooled 2 × k table (pooled_table):

        χ² = Σ_{r,j} (O_rj − E_rj)² / E_rj,   E_rj = R_r · C_j / N,   k − 1 degrees of freedom

    scipy's chi2_contingency without Yates' correction (which only applies at k = 2 and is
    over-conservative; every expected count is ≥ 5 here). The unseen bin is a column like
    the others. (None, None) when pooled_table is None.
    """
    table = pooled_table(reference, live)
    if table is None:
        return None, None
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


# Summary per feature


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature (or of the prediction) for one live day against its reference.

    n_reference and n_live count rows, missing ones included; the shares of missing rows
    are over those rows, unseen_share over the live rows with a value. A numeric feature
    has KS figures, a categorical one chi-square and unseen figures; the others are None.
    """

    feature: str
    kind: str  # "numeric" or "categorical"
    n_reference: int
    n_live: int
    psi: float | None
    missing_share_reference: float | None
    missing_share_live: float | None
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    chi2_statistic: float | None = None
    chi2_p_value: float | None = None
    unseen_count: int | None = None
    unseen_share: float | None = None
    # For the drill-down's two histograms: the bins' labels and both sides' counts.
    labels: tuple[str, ...] = ()
    reference_counts: tuple[int, ...] = ()
    live_counts: tuple[int, ...] = ()

    @property
    def missing_share_change(self) -> float | None:
        """Live minus reference missing share (0.05 is five percentage points more)."""
        if self.missing_share_reference is None or self.missing_share_live is None:
            return None
        return self.missing_share_live - self.missing_share_reference

    @property
    def p_value(self) -> float | None:
        """The feature's test: KS for numbers, chi-square for categories."""
        return self.ks_p_value if self.kind == "numeric" else self.chi2_p_value

    def to_dict(self) -> dict:
        """Plain JSON (lists, numbers, None), as the job stores it."""
        data = asdict(self)
        for name in ("labels", "reference_counts", "live_counts"):
            data[name] = list(data[name])
        return {**data, "missing_share_change": self.missing_share_change}


def is_drifted(
    drift: FeatureDrift, *, psi_limit: float = PSI_SIGNIFICANT, level: float = P_VALUE_LEVEL
) -> bool:
    """Drift is reported when PSI is over `psi_limit` or the feature's p-value under `level`.
    The missing share is not part of it: a change there is a data-quality alert."""
    return (drift.psi is not None and drift.psi > psi_limit) or (
        drift.p_value is not None and drift.p_value < level
    )


def numeric_drift(
    feature: str,
    bins: NumericBins,
    reference: Histogram,
    live: Histogram,
    *,
    reference_sample: Numbers | None = None,
    live_sample: Numbers | None = None,
) -> FeatureDrift:
    """Drift of a numeric feature from both histograms over `bins` (PSI, missing shares) and,
    when given, a sample of each side's values (KS; None without them)."""
    _check_bins(bins.size, reference, live)
    ks_statistic, ks_p_value = (
        ks_test(reference_sample, live_sample)
        if reference_sample is not None and live_sample is not None
        else (None, None)
    )
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        n_reference=reference.rows,
        n_live=live.rows,
        psi=psi(reference.counts, live.counts),
        missing_share_reference=missing_share(reference),
        missing_share_live=missing_share(live),
        ks_statistic=ks_statistic,
        ks_p_value=ks_p_value,
        labels=tuple(bins.labels()),
        reference_counts=reference.counts,
        live_counts=live.counts,
    )


def categorical_drift(
    feature: str, bins: CategoryBins, reference: Histogram, live: Histogram
) -> FeatureDrift:
    """Drift of a categorical feature (or the predicted class) from both histograms over
    `bins`: PSI, chi-square, missing shares, and the live rows in unseen categories."""
    _check_bins(bins.size, reference, live)
    chi2_statistic, chi2_p_value = chi_square_test(reference.counts, live.counts)
    unseen = live.counts[-1]
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        n_reference=reference.rows,
        n_live=live.rows,
        psi=psi(reference.counts, live.counts),
        missing_share_reference=missing_share(reference),
        missing_share_live=missing_share(live),
        chi2_statistic=chi2_statistic,
        chi2_p_value=chi2_p_value,
        unseen_count=unseen,
        unseen_share=unseen / live.present if live.present else None,
        labels=tuple(bins.labels()),
        reference_counts=reference.counts,
        live_counts=live.counts,
    )


def _check_bins(size: int, reference: Histogram, live: Histogram) -> None:
    if len(reference.counts) != size or len(live.counts) != size:
        raise ValueError(
            f"the histograms have {len(reference.counts)} and {len(live.counts)} bins, "
            f"the bins {size}"
        )


def numeric_drift_from_values(
    feature: str,
    reference: Numbers,
    live: Numbers,
    *,
    bins: int = DEFAULT_BINS,
    sample_size: int = KS_SAMPLE_SIZE,
) -> FeatureDrift:
    """numeric_drift on arrays: quantile bins of the reference, both histograms, and KS on
    at most `sample_size` values a side, as the job reads them."""
    x, y = _floats(reference), _floats(live)
    cuts = numeric_bins(x, bins)
    return numeric_drift(
        feature,
        cuts,
        numeric_histogram(x, cuts),
        numeric_histogram(y, cuts),
        reference_sample=bounded_sample(x, sample_size),
        live_sample=bounded_sample(y, sample_size),
    )


def categorical_drift_from_values(
    feature: str,
    reference: Iterable[Hashable],
    live: Iterable[Hashable],
    *,
    max_categories: int = MAX_CATEGORIES,
) -> FeatureDrift:
    """categorical_drift on sequences of values (None and NaN missing)."""
    reference_counts = count_categories(reference)
    bins = category_bins(reference_counts, max_categories)
    return categorical_drift(
        feature,
        bins,
        category_histogram(reference_counts, bins),
        category_histogram(count_categories(live), bins),
    )
