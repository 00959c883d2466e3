"""Statistics of review campaigns: intervals, agreement and the pairwise test. Pure numpy and
scipy, no ORM (as registry/metrics.py).

Every function answers None where its figure is undefined (no data, or a zero denominator),
never NaN: callers show a dash, and JSON has no NaN. The tests check each figure against
scikit-learn, the krippendorff package, statsmodels and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
from scipy import stats

Interval = tuple[float, float]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval | None:
    """The Wilson score interval of a proportion `successes / n`; None when n == 0.

    With p̂ = k / n and z the two-sided normal quantile of `confidence` (1.96 at 95 %):

        centre = (p̂ + z² / 2n) / (1 + z² / n)
        half   = z / (1 + z² / n) · √(p̂ (1 − p̂) / n + z² / 4n²)
        (low, high) = (centre − half, centre + half), clipped to [0, 1]

    Unlike the normal ("Wald") interval it stays inside [0, 1] and keeps its coverage near
    0 and 1 and for small n: 0 successes out of 10 gives (0, 0.28), not (0, 0). The same as
    statsmodels' proportion_confint(k, n, method="wilson").
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 ≤ successes ≤ n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return None
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    # Exactly 0 (k = 0) and 1 (k = n) at the ends, where rounding would leave 1e-17 or
    # 0.9999999999999999; the interval always holds p̂.
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def _codes(values: Sequence[Hashable]) -> tuple[np.ndarray, int]:
    """Labels as integer codes 0..k−1 (None: −1), and k."""
    index: dict[Hashable, int] = {}
    codes = np.fromiter(
        (-1 if v is None else index.setdefault(v, len(index)) for v in values),
        dtype=np.int64,
        count=len(values),
    )
    return codes, len(index)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters who labelled the same units (`a[i]` and `b[i]`).

        κ = (p_o − p_e) / (1 − p_e)

    p_o is the share of units both gave the same label; p_e = Σ_c p_a(c) · p_b(c) the
    agreement expected by chance from each rater's own label shares. 1 is perfect agreement,
    0 chance level, below 0 worse than chance.

    None when there are no units, and, as scikit-learn's cohen_kappa_score (which answers
    NaN), when p_e = 1: both raters gave every unit one and the same label, so chance alone
    explains their agreement and kappa is undefined. Agreement on every unit with at least
    two labels in use is κ = 1.
    """
    if len(a) != len(b):
        raise ValueError(f"the raters labelled different numbers of units: {len(a)}, {len(b)}")
    if not len(a):
        return None
    codes, k = _codes(list(a) + list(b))
    if (codes < 0).any():
        raise ValueError("cohen_kappa needs a label for every unit from both raters")
    first, second = codes[: len(a)], codes[len(a) :]
    n = len(a)
    observed = float(np.mean(first == second))
    expected = float(np.bincount(first, minlength=k) @ np.bincount(second, minlength=k)) / n**2
    if math.isclose(1.0 - expected, 0.0, abs_tol=1e-12):
        return None
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha(units: Sequence[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha, nominal level, of a units × raters table; None marks a missing
    label (a rater who did not label that unit). Any number of raters, missing values allowed.

    Only units with at least two labels count ("pairable"). With n_uc the number of labels c
    in unit u and m_u its number of labels, the coincidence matrix is

        o_ck = Σ_u n_uc · (n_uk − [c = k]) / (m_u − 1),   n_c = Σ_k o_ck,   n = Σ_c n_c

    and, for nominal data (any two different labels disagree equally),

        α = 1 − D_o / D_e = 1 − (n − 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c · n_k

    1 is perfect agreement, 0 chance level. None when no unit has two labels, or when the
    pairable labels are all the same (D_e = 0: the krippendorff package raises there). The
    same as krippendorff.alpha(table.T, level_of_measurement="nominal"), which takes
    raters × units.
    """
    rows = [list(unit) for unit in units]
    if not rows:
        return None
    width = max(len(row) for row in rows)
    flat = [value for row in rows for value in row + [None] * (width - len(row))]
    codes, k = _codes(flat)
    if k == 0:
        return None
    codes = codes.reshape(len(rows), width)
    # counts[u, c]: how many raters gave unit u the label c.
    counts = np.zeros((len(rows), k), dtype=np.float64)
    unit_index, rater_index = np.nonzero(codes >= 0)
    np.add.at(counts, (unit_index, codes[unit_index, rater_index]), 1.0)
    labels_per_unit = counts.sum(axis=1)
    pairable = labels_per_unit >= 2
    if not pairable.any():
        return None
    counts, labels_per_unit = counts[pairable], labels_per_unit[pairable]
    weighted = counts / (labels_per_unit - 1)[:, None]
    coincidences = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    totals = coincidences.sum(axis=1)  # n_c
    n = totals.sum()
    observed_disagreement = coincidences.sum() - np.trace(coincidences)
    expected_pairs = totals.sum() ** 2 - (totals**2).sum()  # Σ_{c≠k} n_c · n_k
    if expected_pairs <= 0:
        return None
    return float(1.0 - (n - 1) * observed_disagreement / expected_pairs)


def fleiss_kappa(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa of units that each got the same number m ≥ 2 of labels, from raters who
    need not be the same people from unit to unit.

    With N units, n_uc the number of labels c in unit u:

        P_u = (Σ_c n_uc² − m) / (m (m − 1))      agreement within unit u
        p_c = Σ_u n_uc / (N m)                   share of label c overall
        κ   = (mean_u P_u − Σ_c p_c²) / (1 − Σ_c p_c²)

    None when there is no unit, or when every label is the same one (Σ p_c² = 1: chance
    alone explains the agreement). The same as statsmodels' fleiss_kappa(table,
    method="fleiss") on the units × labels count table.
    """
    rows = [list(unit) for unit in units]
    if not rows:
        return None
    m = len(rows[0])
    if m < 2 or any(len(row) != m for row in rows):
        raise ValueError("fleiss_kappa needs the same number (≥ 2) of labels on every unit")
    codes, k = _codes([value for row in rows for value in row])
    if (codes < 0).any():
        raise ValueError("fleiss_kappa needs every label (no None)")
    counts = np.zeros((len(rows), k), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(len(rows)), m), codes), 1.0)
    agreement = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    shares = counts.sum(axis=0) / (len(rows) * m)
    expected = float((shares**2).sum())
    if math.isclose(1.0 - expected, 0.0, abs_tol=1e-12):
        return None
    return (float(agreement.mean()) - expected) / (1.0 - expected)


# Landis and Koch (1977), "The measurement of observer agreement for categorical data": the
# upper end of each band from 0, and its name; below 0 is "poor", above 0.80 "almost perfect".
LANDIS_KOCH = ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"))


def landis_koch(value: float | None) -> str | None:
    """The Landis and Koch band of an agreement coefficient (kappa or alpha): below 0 poor,
    up to 0.20 slight, 0.40 fair, 0.60 moderate, 0.80 substantial, above almost perfect."""
    if value is None:
        return None
    if value < 0:
        return "poor"
    return next((name for upper, name in LANDIS_KOCH if value <= upper), "almost perfect")


def binomial_test(wins_a: int, wins_b: int) -> float | None:
    """Two-sided p-value that A and B are preferred equally often (exact binomial test).

    Ties ("equally good") are excluded: they say nothing about which is better, so the test
    runs on the n = wins_a + wins_b decisive comparisons, wins_a ~ Binomial(n, ½) under the
    null hypothesis. scipy.stats.binomtest(wins_a, n, 0.5).pvalue; None when n == 0.
    """
    if wins_a < 0 or wins_b < 0:
        raise ValueError(f"wins cannot be negative: {wins_a}, {wins_b}")
    n = wins_a + wins_b
    if n == 0:
        return None
    return float(stats.binomtest(wins_a, n, 0.5, alternative="two-sided").pvalue)
