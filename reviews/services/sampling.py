"""Sampling predictions for a review campaign (reviews/services/campaigns.py creates it).

Sampling reads indexes, never ORDER BY random() over the prediction log (issue 4):
- uniform: the rows that follow a random point on the (model_version, random_key) index,
  wrapping around to the start. Keys are iid uniform, so their order is a random permutation
  of the rows and any run of n consecutive rows is a uniform sample of n.
- stratified: the same per segment on (model_version, segment, random_key); each segment
  gets its share (largest remainder) and at least one item. The shares come from the exact
  rows per segment in the window (`window_counts`: SegmentCount's whole days, the partial
  first and last days counted on an index); pairwise, from a uniform slice of up to
  STRATA_PROBE rows predicted by both versions (exact when there are fewer).
- lowest confidence: the head of (model_version, confidence).
- largest error: the head of (model_version, -error); needs outcomes.
- disagreement: a uniform pool of DISAGREEMENT_POOL × n requests both versions predicted
  (exact when there are fewer), ranked by disagreement (|Δscore|, else |Δprediction| for
  numbers, else whether the classes differ): a range of PredictionPair's pool index, which
  holds each such pair with its gaps, ranked in the database.
Pairwise mode keeps only requests both versions predicted (uniform: the same run, read from
PredictionPair's pool index), and draws for each item whether the other version is shown
as A. A sample larger than the pool it draws from (the window's predictions; with a
confidence or an outcome when the strategy ranks by one; requests both versions predicted
when two are compared) is refused with the pool's size.

On PostgreSQL the indexes walked carry every column the walk reads (predictions 0008; the
pool index holds them as key columns), so a sample is an index-only scan of about
RUN_FACTOR·n entries (DISAGREEMENT_POOL·n for disagreement) and reads no table page once
VACUUM has set the visibility map (issue 12).

"""

from __future__ import annotations

import datetime
import logging
import math
import random
from collections import Counter

from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum

from portal.errors import InvalidInput
from predictions.models import Prediction, PredictionPair, SegmentCount
from registry.models import ModelVersion
from reviews.models import ReviewCampaign

logger = logging.getLogger(__name__)

STRATA_PROBE = 50_000  # rows read to estimate segment shares
RUN_FACTOR = 4  # uniform sampling draws n of a run of RUN_FACTOR·n rows
DISAGREEMENT_POOL = 20  # candidates per requested item
DISAGREEMENT_POOL_MIN = 20_000
DISAGREEMENT_POOL_MAX = 200_000

Strategy = ReviewCampaign.Strategy
Mode = ReviewCampaign.Mode


def _in_window(
    rows: QuerySet, window_start: datetime.datetime | None, window_end: datetime.datetime | None
) -> QuerySet:
    if window_start:
        rows = rows.filter(predicted_at__gte=window_start)
    if window_end:
        rows = rows.filter(predicted_at__lt=window_end)
    return rows


def _with_other(rows: QuerySet, other: ModelVersion | None) -> QuerySet:
    """Annotate `other_id`: the other version's prediction of the same request (or None)."""
    if other is None:
        return rows
    twin = Prediction.objects.filter(model_version=other, request_id=OuterRef("request_id")).values(
        "id"
    )[:1]
    return rows.annotate(other_id=Subquery(twin))


def _random_run(rows: QuerySet, n: int, *, pairwise: bool, rng: random.Random) -> list[tuple]:
    """n rows drawn at random from the RUN_FACTOR·n rows following a random point of the
    random_key order (wrapping around once). Drawing from a longer run evens out the
    chances that the gaps between stored keys would give rows taken as one block, so that
    repeated campaigns do not keep picking the same rows."""
    if pairwise:
        return _run(rows.filter(other_id__isnull=False), n, ("id", "other_id"), rng)
    return [(pk, None) for (pk,) in _run(rows, n, ("id",), rng)]


def _run(rows: QuerySet, n: int, fields: tuple[str, ...], rng: random.Random) -> list[tuple]:
    """`fields` of n rows drawn from the RUN_FACTOR·n following a random point of
    `rows`' random_key order, wrapping around (see _random_run)."""
    start = rng.random()
    run = RUN_FACTOR * n
    ahead = list(
        rows.filter(random_key__gte=start).order_by("random_key").values_list(*fields)[:run]
    )
    if len(ahead) < run:
        behind = rows.filter(random_key__lt=start).order_by("random_key")
        ahead += list(behind.values_list(*fields)[: run - len(ahead)])
    return rng.sample(ahead, min(n, len(ahead)))


def _uniform(rows, n, *, pairwise, rng, version, other, window, **_) -> list[tuple]:
    if pairwise:
        # The same run as over the version's rows that have a twin, read from the pairs:
        # PredictionPair holds them in the version's random_key order, with both ids.
        pairs = PredictionPair.objects.filter(model_version=version, other_version=other)
        fields = ("prediction_id", "other_prediction_id")
        return _run(_in_window(pairs, *window), n, fields, rng)
    return _random_run(rows, n, pairwise=pairwise, rng=rng)


def _shares(counts: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of n items (largest remainder), at least one per segment."""
    total = sum(counts.values())
    exact = {segment: n * count / total for segment, count in counts.items()}
    shares = {segment: max(1, math.floor(value)) for segment, value in exact.items()}
    # The rest goes by what each segment still lacks of its exact share: one lifted to the
    # minimum of one already has more than its share and gets no more.
    lacking = (s for s in counts if shares[s] < exact[s])
    by_remainder = sorted(lacking, key=lambda s: (exact[s] - shares[s], counts[s]))
    while sum(shares.values()) < n:
        segment = by_remainder.pop() if by_remainder else max(counts, key=counts.get)
        shares[segment] += 1
    while sum(shares.values()) > n:  # the minimum of one pushed us over: trim the largest
        segment = max((s for s in shares if shares[s] > 1), key=lambda s: shares[s] - exact[s])
        shares[segment] -= 1
    return shares


def _segment_counts(
    rows: QuerySet,
    version_id: int,
    *,
    pairwise: bool,
    rng: random.Random,
    window: tuple[datetime.datetime | None, datetime.datetime | None] = (None, None),
) -> dict[str, int]:
    """Rows per segment: exact from SegmentCount (single mode); pairwise, where a stratum
    is the requests both versions predicted, from a uniform slice of up to STRATA_PROBE
    rows (all, if fewer)."""
    if not pairwise:
        return window_counts(version_id, *window)
    rows = rows.filter(other_id__isnull=False)
    start = rng.random()
    probe = list(
        rows.filter(random_key__gte=start)
        .order_by("random_key")
        .values_list("segment")[:STRATA_PROBE]
    )
    if len(probe) < STRATA_PROBE:
        behind = rows.filter(random_key__lt=start).order_by("random_key")
        probe += list(behind.values_list("segment")[: STRATA_PROBE - len(probe)])
    counts = Counter(segment for (segment,) in probe)
    if len(probe) == STRATA_PROBE:
        # A segment too small to show up in the slice still gets its item (if the window
        # has rows of it; otherwise the top-up in _stratified fills its place).
        for segment in _segments(version_id):
            # Only segments with rows in the window (and, pairwise, predicted by both).
            if segment not in counts and rows.filter(segment=segment).exists():
                counts[segment] = 1
    return dict(counts)


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)


def window_counts(
    version_id: int, start: datetime.datetime | None, end: datetime.datetime | None
) -> dict[str, int]:
    """The version's predictions per segment made in [start, end), exactly: the window's
    whole UTC days summed from SegmentCount (a few rows per day), the rest of its first and
    last days counted on the (model_version, predicted_at) index. Segments without a row in
    the window are left out."""
    start = start.astimezone(datetime.UTC) if start else None
    end = end.astimezone(datetime.UTC) if end else None
    first = (
        None
        if start is None
        else start.date() + datetime.timedelta(days=start != _midnight(start.date()))
    )
    last = None if end is None else end.date()  # whole days are first <= day < last
    partial: list[tuple[datetime.datetime, datetime.datetime]] = []
    if first is not None and last is not None and first >= last:
        partial, first, last = [(start, end)], None, None  # no whole day inside
    else:
        if start is not None and start < _midnight(first):
            partial.append((start, _midnight(first)))
        if end is not None and _midnight(last) < end:
            partial.append((_midnight(last), end))
    counts: Counter[str] = Counter()
    if start is None or end is None or first is not None:
        days = SegmentCount.objects.filter(model_version_id=version_id)
        if first is not None:
            days = days.filter(day__gte=first)
        if last is not None:
            days = days.filter(day__lt=last)
        counts.update(dict(days.values_list("segment").annotate(n=Sum("rows")).order_by()))
    for low, high in partial:
        logged = Prediction.objects.filter(
            model_version_id=version_id, predicted_at__gte=low, predicted_at__lt=high
        )
        counts.update(dict(logged.values_list("segment").annotate(n=Count("*")).order_by()))
    return {segment: n for segment, n in counts.items() if n > 0}


def _segments(version_id: int) -> list[str]:
    """The version's distinct segments: on PostgreSQL a skip scan of the (model_version,
    segment, random_key) index, one probe per segment instead of reading every row."""
    if connection.vendor != "postgresql":
        rows = Prediction.objects.filter(model_version_id=version_id).order_by()
        return list(rows.values_list("segment", flat=True).distinct())
    table = Prediction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE segments(segment) AS (
                (SELECT segment FROM {table} WHERE model_version_id = %s
                 ORDER BY segment LIMIT 1)
                UNION ALL
                SELECT (SELECT p.segment FROM {table} p
                        WHERE p.model_version_id = %s AND p.segment > segments.segment
                        ORDER BY p.segment LIMIT 1)
                FROM segments WHERE segments.segment IS NOT NULL
            )
            SELECT segment FROM segments WHERE segment IS NOT NULL
            """,
            [version_id, version_id],
        )
        return [segment for (segment,) in cursor.fetchall()]


def _stratified(rows, n, *, pairwise, rng, version, window, **_) -> list[tuple]:
    counts = _segment_counts(rows, version.pk, pairwise=pairwise, rng=rng, window=window)
    if not counts:
        return []
    if len(counts) > n:
        raise InvalidInput(
            f"These predictions fall in {len(counts)} segments and a stratified "
            f"sample takes at least one item from each; ask for at least {len(counts)} items.",
            field="sample_size",
        )
    picked: list[tuple] = []
    for segment, share in sorted(_shares(counts, n).items()):
        picked += _random_run(rows.filter(segment=segment), share, pairwise=pairwise, rng=rng)
    if len(picked) < n:  # a segment was smaller than its estimated share: top up uniformly
        have = {row[0] for row in picked}
        extra = _random_run(rows, n - len(picked) + len(have), pairwise=pairwise, rng=rng)
        picked += [row for row in extra if row[0] not in have][: n - len(picked)]
    return picked


def _head(rows, n, *, pairwise: bool, field: str, order: str, missing: str) -> list[tuple]:
    """The first n rows by `order` among those with `field` (InvalidInput `missing` when
    none has it): the head of a (model_version, field) index."""
    rows = rows.filter(**{f"{field}__isnull": False})
    if pairwise:
        rows = rows.filter(other_id__isnull=False)
    if not rows.exists():
        raise InvalidInput(missing, field="strategy")
    fields = ("id", "other_id") if pairwise else ("id",)
    found = rows.order_by(order).values_list(*fields)[:n]
    return [row if pairwise else (row[0], None) for row in found]


def _lowest_confidence(rows, n, *, pairwise, **_) -> list[tuple]:
    missing = (
        "These predictions carry no confidence (a regression, or logged without a score); "
        "choose another strategy."
    )
    return _head(
        rows, n, pairwise=pairwise, field="confidence", order="confidence", missing=missing
    )


def _largest_error(rows, n, *, pairwise, **_) -> list[tuple]:
    missing = (
        "No outcomes are known yet for these predictions, so there is no error to rank by; "
        "send outcomes first or choose another strategy."
    )
    return _head(rows, n, pairwise=pairwise, field="error", order="-error", missing=missing)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def disagreement(a: Prediction | dict, b: Prediction | dict, task_type: str = "binary") -> float:
    """How far two predictions of one request are apart. Regression: |Δprediction|. Binary:
    |Δscore| when both have a score, else 1 if the predicted classes differ. Multiclass: a
    different class first (1 + |Δscore|), the same class by |Δscore|."""
    get = (lambda row, key: row[key]) if isinstance(a, dict) else getattr
    score_a, score_b = get(a, "score"), get(b, "score")
    gap = abs(score_a - score_b) if score_a is not None and score_b is not None else 0.0
    pa, pb = _number(get(a, "prediction")), _number(get(b, "prediction"))
    if task_type == "regression" and pa is not None and pb is not None:
        return abs(pa - pb)
    differ = get(a, "prediction") != get(b, "prediction")
    if task_type == "multiclass":
        return (1.0 if differ else 0.0) + gap
    if score_a is not None and score_b is not None:
        return gap
    return 1.0 if differ else 0.0


# disagreement() of a pair, from its stored gaps (PredictionPair), per task type; binary
# (and any other) otherwise.
_RANKED_BY = {
    "regression": "COALESCE(value_gap, score_gap, CASE WHEN differ THEN 1.0 ELSE 0.0 END)",
    "multiclass": "CASE WHEN differ THEN 1.0 ELSE 0.0 END + COALESCE(score_gap, 0.0)",
}
_RANKED_BY_DEFAULT = "COALESCE(score_gap, CASE WHEN differ THEN 1.0 ELSE 0.0 END)"


def _disagreement(rows, n, *, rng, version, other, window, **_) -> list[tuple]:
    """The n most disagreeing pairs of a uniform pool: the pool_size pairs (version,
    other) that follow a random point of the version's random_key order, wrapping around,
    read from PredictionPair's pool index alone; ranked in the database, ties in pool
    order, so that only the n chosen come back."""
    pool_size = min(max(DISAGREEMENT_POOL * n, DISAGREEMENT_POOL_MIN), DISAGREEMENT_POOL_MAX)
    ranked_by = _RANKED_BY.get(version.use_case.task_type, _RANKED_BY_DEFAULT)
    where, window_params = "", []
    if window[0]:
        where += " AND predicted_at >= %s"
        window_params.append(connection.ops.adapt_datetimefield_value(window[0]))
    if window[1]:
        where += " AND predicted_at < %s"
        window_params.append(connection.ops.adapt_datetimefield_value(window[1]))
    pairs = PredictionPair._meta.db_table

    def part(number: int, condition: str) -> str:
        return f"""
            SELECT {number} AS part, random_key, prediction_id, other_prediction_id,
                   {ranked_by} AS gap
            FROM {pairs}
            WHERE model_version_id = %s AND other_version_id = %s
              AND random_key {condition} %s{where}
            ORDER BY random_key"""

    sql = f"""
        WITH ahead AS ({part(0, ">=")} LIMIT %s),
        behind AS ({part(1, "<")} LIMIT %s - (SELECT count(*) FROM ahead))
        SELECT prediction_id, other_prediction_id
        FROM (SELECT * FROM ahead UNION ALL SELECT * FROM behind) AS pool
        ORDER BY gap DESC, part, random_key
        LIMIT %s
    """
    start = rng.random()
    walk = [version.pk, other.pk, start, *window_params, pool_size]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*walk, *walk, n])
        return [tuple(row) for row in cursor.fetchall()]


SAMPLERS = {
    Strategy.UNIFORM: _uniform,
    Strategy.STRATIFIED: _stratified,
    Strategy.LOWEST_CONFIDENCE: _lowest_confidence,
    Strategy.LARGEST_ERROR: _largest_error,
    Strategy.DISAGREEMENT: _disagreement,
}


def sample_predictions(
    version: ModelVersion,
    *,
    other_version: ModelVersion | None = None,
    mode: str = "single",
    strategy: str = "uniform",
    sample_size: int,
    window_start: datetime.datetime | None = None,
    window_end: datetime.datetime | None = None,
    rng: random.Random | None = None,
) -> list[tuple[int, int | None]]:
    """[(prediction id, the other version's prediction id or None)] chosen by `strategy`,
    exactly sample_size; reads only (create_campaign stores them). Clear InvalidInput when
    nothing can be sampled, or fewer than sample_size (saying how many there are)."""
    rng = rng or random.SystemRandom()
    other = other_version
    rows = _in_window(Prediction.objects.filter(model_version=version), window_start, window_end)
    if not rows.exists():
        where = " in this time window" if window_start or window_end else ""
        raise InvalidInput(
            f"Version {version.version} has no predictions{where}.", field="model_version"
        )
    needs_other = mode == Mode.PAIRWISE or strategy == Strategy.DISAGREEMENT
    rows = _with_other(rows, other if needs_other else None)
    if needs_other and not rows.filter(other_id__isnull=False).exists():
        raise InvalidInput(
            f"Versions {version.version} and {other.version} have no request "
            "in common" + (" in this time window." if window_start or window_end else "."),
            field="other_version",
        )
    picked = SAMPLERS[strategy](
        rows,
        sample_size,
        pairwise=needs_other,
        rng=rng,
        version=version,
        other=other,
        window=(window_start, window_end),
    )
    if not picked:
        raise InvalidInput("No predictions match; nothing to review.", field="sample_size")
    if len(picked) < sample_size:
        # Every sampler reads its whole pool when the pool is smaller than the sample, so a
        # short sample is the usual sign; the count (at most sample_size rows read) says it.
        available = _pool(rows, strategy=strategy, pairwise=needs_other)[:sample_size].count()
        if available < sample_size:
            raise InvalidInput(
                _too_few(
                    available,
                    version,
                    other if needs_other else None,
                    strategy,
                    window=bool(window_start or window_end),
                ),
                field="sample_size",
            )
        logger.warning(
            "version %s: %s of %s sampled from a pool of at least %s",
            version.pk,
            len(picked),
            sample_size,
            available,
        )
    return picked


def _pool(rows: QuerySet, *, strategy: str, pairwise: bool) -> QuerySet:
    """The rows `strategy` draws from, filtered as its sampler filters them."""
    if pairwise:  # disagreement too: the requests both versions predicted
        rows = rows.filter(other_id__isnull=False)
    if strategy == Strategy.LOWEST_CONFIDENCE:
        rows = rows.filter(confidence__isnull=False)
    elif strategy == Strategy.LARGEST_ERROR:
        rows = rows.filter(error__isnull=False)
    return rows.order_by().values("pk")


def _too_few(
    available: int,
    version: ModelVersion,
    other: ModelVersion | None,
    strategy: str,
    *,
    window: bool,
) -> str:
    """“The window holds 312 logged predictions of version 2.1: choose at most 312.”"""
    count = f"{available:,}"
    having = {
        Strategy.LOWEST_CONFIDENCE: " with a confidence",
        Strategy.LARGEST_ERROR: " with an outcome",
    }.get(strategy, "")
    if other is not None:
        requests = "request" if available == 1 else "requests"
        what = f"{count} {requests} predicted by both versions {version.version} and "
        what += f"{other.version}{having}"
        held = f"The window holds {what}" if window else f"There are {what}"
    else:
        predictions = "prediction" if available == 1 else "predictions"
        what = f"{count} logged {predictions}"
        if window:
            held = f"The window holds {what} of version {version.version}{having}"
        else:
            held = f"Version {version.version} has {what}{having}"
    return f"{held}: choose at most {count}."
