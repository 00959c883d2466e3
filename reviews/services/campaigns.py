"""Review campaigns: sample predictions into items and lay out their claimable slots.

Sampling reads indexes, never ORDER BY random() over the prediction log (issue 4):
- uniform: the rows that follow a random point on the (model_version, random_key) index,
  wrapping around to the start. Keys are iid uniform, so their order is a random permutation
  of the rows and any run of n consecutive rows is a uniform sample of n.
- stratified: the same per segment on (model_version, segment, random_key); each segment
  gets its share (largest remainder) and at least one item. The shares come from a uniform
  slice of up to STRATA_PROBE rows (exact when the version has fewer).
- lowest confidence: the head of (model_version, confidence).
- largest error: the head of (model_version, -error); needs outcomes.
- disagreement: a uniform pool of DISAGREEMENT_POOL × n requests (exact when the version
  has fewer), each joined to the other version's prediction of the same request, ranked by
  disagreement (|Δscore|, else |Δprediction| for numbers, else whether the classes differ).
Pairwise mode keeps only requests both versions predicted, and draws for each item whether
the other version is shown as A. A sample larger than the pool it draws from (the window's
predictions; with a confidence or an outcome when the strategy ranks by one; requests both
versions predicted when two are compared) is refused with the pool's size.

Items get shuffled positions; item p's reviewers_per_item slots are positions p·r … p·r+r−1,
so reviewers moving through the queue together finish an item's reviews close in time.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from portal.errors import DomainError, InvalidInput
from predictions.models import Prediction
from registry.models import ModelVersion
from reviews.models import ReviewCampaign, ReviewItem, ReviewSlot
from usecases.models import UseCase
from usecases.services import audit
from usecases.services.usecases import lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MAX_SAMPLE_SIZE = 10_000  # as the reviews_campaign_sample_size constraint
MAX_REVIEWERS_PER_ITEM = 5
STRATA_PROBE = 50_000  # rows read to estimate segment shares
RUN_FACTOR = 4  # uniform sampling draws n of a run of RUN_FACTOR·n rows
DISAGREEMENT_POOL = 20  # candidates per requested item
DISAGREEMENT_POOL_MIN = 20_000
DISAGREEMENT_POOL_MAX = 200_000
BATCH = 2_000

Strategy = ReviewCampaign.Strategy
Mode = ReviewCampaign.Mode


class CampaignError(DomainError):
    pass


def _check_versions(
    use_case: UseCase,
    version: ModelVersion,
    other: ModelVersion | None,
    *,
    mode: str,
    strategy: str,
) -> None:
    """Both versions are this use case's and differ; pairwise and disagreement have a second."""
    _check_belongs(use_case, version, "model_version")
    if other is not None:
        _check_belongs(use_case, other, "other_version")
        if other.pk == version.pk:
            raise InvalidInput("Choose a different version to compare with.", field="other_version")
    if mode == Mode.PAIRWISE and other is None:
        raise InvalidInput("Blind pairwise review compares two versions.", field="other_version")
    if strategy == Strategy.DISAGREEMENT and other is None:
        raise InvalidInput(
            "Disagreement sampling needs the version to compare with (the champion).",
            field="other_version",
        )


def _check_belongs(use_case: UseCase, version: ModelVersion, field: str) -> None:
    if version.use_case_id != use_case.pk:
        raise InvalidInput("That version belongs to another use case.", field=field)


def _reason_tags(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidInput("Give a list of short tags, e.g. ['wrong unit'].", field="reason_tags")
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidInput("Every tag must be non-empty text.", field="reason_tags")
        if len(tag.strip()) > 50:
            raise InvalidInput(f"{tag.strip()[:50]!r}… is over 50 characters.", field="reason_tags")
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    if len(cleaned) > 30:
        raise InvalidInput("At most 30 tags.", field="reason_tags")
    return cleaned


def _check(
    *, name, mode, strategy, sample_size, reviewers_per_item, window_start, window_end
) -> None:
    if not name or not str(name).strip():
        raise InvalidInput("Give the campaign a name.", field="name")
    if mode not in Mode.values:
        raise InvalidInput(f"Choose one of {', '.join(Mode.values)}.", field="mode")
    if strategy not in Strategy.values:
        raise InvalidInput(f"Choose one of {', '.join(Strategy.values)}.", field="strategy")
    if not isinstance(sample_size, int) or not 1 <= sample_size <= MAX_SAMPLE_SIZE:
        raise InvalidInput(f"Between 1 and {MAX_SAMPLE_SIZE:,} items.", field="sample_size")
    if not isinstance(reviewers_per_item, int) or not (
        1 <= reviewers_per_item <= MAX_REVIEWERS_PER_ITEM
    ):
        raise InvalidInput(f"Between 1 and {MAX_REVIEWERS_PER_ITEM}.", field="reviewers_per_item")
    if window_start and window_end and window_start >= window_end:
        raise InvalidInput("The window must end after it starts.", field="window_end")


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
    start = rng.random()
    fields = ("id", "other_id") if pairwise else ("id",)
    if pairwise:
        rows = rows.filter(other_id__isnull=False)
    run = RUN_FACTOR * n
    ahead = list(
        rows.filter(random_key__gte=start).order_by("random_key").values_list(*fields)[:run]
    )
    if len(ahead) < run:
        behind = rows.filter(random_key__lt=start).order_by("random_key")
        ahead += list(behind.values_list(*fields)[: run - len(ahead)])
    picked = rng.sample(ahead, min(n, len(ahead)))
    return [row if pairwise else (row[0], None) for row in picked]


def _uniform(rows, n, *, pairwise, rng, **_) -> list[tuple]:
    return _random_run(rows, n, pairwise=pairwise, rng=rng)


def _shares(counts: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of n items (largest remainder), at least one per segment."""
    total = sum(counts.values())
    exact = {segment: n * count / total for segment, count in counts.items()}
    shares = {segment: max(1, math.floor(value)) for segment, value in exact.items()}
    by_remainder = sorted(counts, key=lambda s: (exact[s] - math.floor(exact[s]), counts[s]))
    while sum(shares.values()) < n:
        segment = by_remainder.pop() if by_remainder else max(counts, key=counts.get)
        shares[segment] += 1
    while sum(shares.values()) > n:  # the minimum of one pushed us over: trim the largest
        segment = max((s for s in shares if shares[s] > 1), key=lambda s: shares[s] - exact[s])
        shares[segment] -= 1
    return shares


def _segment_counts(
    rows: QuerySet, version_id: int, *, pairwise: bool, rng: random.Random
) -> dict[str, int]:
    """Rows per segment in a uniform slice of up to STRATA_PROBE rows (all, if fewer)."""
    if pairwise:
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


def _stratified(rows, n, *, pairwise, rng, version, **_) -> list[tuple]:
    counts = _segment_counts(rows, version.pk, pairwise=pairwise, rng=rng)
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


def _lowest_confidence(rows, n, *, pairwise, **_) -> list[tuple]:
    rows = rows.filter(confidence__isnull=False)
    if pairwise:
        rows = rows.filter(other_id__isnull=False)
    if not rows.exists():
        raise InvalidInput(
            "These predictions carry no confidence (a regression, or logged "
            "without a score); choose another strategy.",
            field="strategy",
        )
    fields = ("id", "other_id") if pairwise else ("id",)
    found = rows.order_by("confidence").values_list(*fields)[:n]
    return [row if pairwise else (row[0], None) for row in found]


def _largest_error(rows, n, *, pairwise, **_) -> list[tuple]:
    rows = rows.filter(error__isnull=False)
    if pairwise:
        rows = rows.filter(other_id__isnull=False)
    if not rows.exists():
        raise InvalidInput(
            "No outcomes are known yet for these predictions, so there is no "
            "error to rank by; send outcomes first or choose another strategy.",
            field="strategy",
        )
    fields = ("id", "other_id") if pairwise else ("id",)
    found = rows.order_by("-error").values_list(*fields)[:n]
    return [row if pairwise else (row[0], None) for row in found]


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


def _disagreement(rows, n, *, rng, version, other, window, **_) -> list[tuple]:
    pool_size = min(max(DISAGREEMENT_POOL * n, DISAGREEMENT_POOL_MIN), DISAGREEMENT_POOL_MAX)
    start = rng.random()
    pool = _pairs(version, other, window, "a.random_key >= %s", start, pool_size)
    if len(pool) < pool_size:
        pool += _pairs(version, other, window, "a.random_key < %s", start, pool_size - len(pool))
    task = version.use_case.task_type
    ranked = sorted(pool, key=lambda pair: -disagreement(pair[2], pair[3], task))
    return [(mine["id"], theirs["id"]) for _, _, mine, theirs in ranked[:n]]


def _pairs(version, other, window, condition: str, start: float, limit: int) -> list[tuple]:
    """(random_key, id, mine, theirs) of up to `limit` requests both versions predicted, in
    random_key order: one walk of (model_version, random_key), each row joined through the
    unique (model_version, request_id) index. One query instead of a subquery per row."""
    table = Prediction._meta.db_table
    where, params = [condition], [start]
    if window[0]:
        where.append("a.predicted_at >= %s")
        params.append(window[0])
    if window[1]:
        where.append("a.predicted_at < %s")
        params.append(window[1])
    sql = f"""
        SELECT a.random_key, a.id, a.score, a.prediction, b.id, b.score, b.prediction
        FROM {table} a JOIN {table} b
          ON b.model_version_id = %s AND b.request_id = a.request_id
        WHERE a.model_version_id = %s AND {" AND ".join(where)}
        ORDER BY a.random_key LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [other.pk, version.pk, *params, limit])
        found = cursor.fetchall()
    return [
        (
            key,
            None,
            {"id": a_id, "score": a_score, "prediction": _json(a_prediction)},
            {"id": b_id, "score": b_score, "prediction": _json(b_prediction)},
        )
        for key, a_id, a_score, a_prediction, b_id, b_score, b_prediction in found
    ]


def _json(value):
    """A JSON column from a raw cursor: parsed by psycopg, text on SQLite."""
    return json.loads(value) if isinstance(value, str) else value


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


@transaction.atomic
def create_campaign(
    use_case: UseCase,
    *,
    by: User,
    name: str,
    model_version: ModelVersion,
    mode: str = "single",
    strategy: str = "uniform",
    sample_size: int,
    reviewers_per_item: int = 1,
    other_version: ModelVersion | None = None,
    instructions: str = "",
    reason_tags: Sequence[str] | None = None,
    due_date: datetime.date | None = None,
    window_start: datetime.datetime | None = None,
    window_end: datetime.datetime | None = None,
) -> ReviewCampaign:
    """Sample the items and lay out their slots, all or nothing; item_count = items sampled."""
    _check(
        name=name,
        mode=mode,
        strategy=strategy,
        sample_size=sample_size,
        reviewers_per_item=reviewers_per_item,
        window_start=window_start,
        window_end=window_end,
    )
    use_case = lock(use_case)
    _check_versions(use_case, model_version, other_version, mode=mode, strategy=strategy)
    tags = _reason_tags(reason_tags)
    rng = random.SystemRandom()
    picked = sample_predictions(
        model_version,
        other_version=other_version,
        mode=mode,
        strategy=strategy,
        sample_size=sample_size,
        window_start=window_start,
        window_end=window_end,
        rng=rng,
    )
    campaign = ReviewCampaign.objects.create(
        use_case=use_case,
        name=str(name).strip(),
        model_version=model_version,
        other_version=other_version,
        mode=mode,
        strategy=strategy,
        sample_size=sample_size,
        reviewers_per_item=reviewers_per_item,
        instructions=instructions or "",
        reason_tags=tags,
        due_date=due_date,
        window_start=window_start,
        window_end=window_end,
        item_count=len(picked),
        created_by=by,
    )
    _write_items_and_slots(campaign, picked, rng=rng)
    _record_creation(campaign, by=by)
    return campaign


def _write_items_and_slots(
    campaign: ReviewCampaign, picked: list[tuple[int, int | None]], *, rng: random.Random
) -> None:
    """The items at shuffled positions (pairwise: a coin decides which version is A), then
    reviewers_per_item slots per item at positions p·r … p·r+r−1."""
    pairwise = campaign.mode == Mode.PAIRWISE
    positions = list(range(len(picked)))
    rng.shuffle(positions)
    items = ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                campaign=campaign,
                position=position,
                prediction_id=prediction_id,
                other_prediction_id=other_id,
                other_shown_first=pairwise and rng.random() < 0.5,
            )
            for position, (prediction_id, other_id) in zip(positions, picked, strict=True)
        ],
        batch_size=BATCH,
    )
    if any(item.pk is None for item in items):  # a backend without RETURNING
        ids = dict(campaign.items.values_list("position", "id"))
        for item in items:
            item.pk = ids[item.position]
    ReviewSlot.objects.bulk_create(
        [
            ReviewSlot(
                campaign=campaign,
                item_id=item.pk,
                position=item.position * campaign.reviewers_per_item + copy,
            )
            for item in items
            for copy in range(campaign.reviewers_per_item)
        ],
        batch_size=BATCH,
    )


def _record_creation(campaign: ReviewCampaign, *, by: User) -> None:
    """The audit event of a new campaign (in its transaction), and the log line."""
    other = campaign.other_version
    audit.record(
        actor=by,
        verb="review_campaign.created",
        target=campaign,
        use_case=campaign.use_case,
        after={
            "name": campaign.name,
            "model_version": campaign.model_version.version,
            "other_version": other.version if other else None,
            "mode": campaign.mode,
            "strategy": campaign.strategy,
            "sample_size": campaign.sample_size,
            "item_count": campaign.item_count,
            "reviewers_per_item": campaign.reviewers_per_item,
        },
    )
    logger.info(
        "campaign %s created on use case %s: %s items (%s, %s)",
        campaign.pk,
        campaign.use_case_id,
        campaign.item_count,
        campaign.strategy,
        campaign.mode,
    )


@transaction.atomic
def close_campaign(campaign: ReviewCampaign, *, by: User) -> ReviewCampaign:
    """Close the campaign: no more claims or reviews; the reviews given stay."""
    lock(campaign.use_case)
    campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status == ReviewCampaign.Status.CLOSED:
        raise CampaignError("This campaign is already closed.")
    campaign.status = ReviewCampaign.Status.CLOSED
    campaign.save(update_fields=["status"])
    audit.record(
        actor=by,
        verb="review_campaign.closed",
        target=campaign,
        use_case=campaign.use_case,
        before={"status": ReviewCampaign.Status.OPEN},
        after={"status": ReviewCampaign.Status.CLOSED},
    )
    logger.info("campaign %s closed", campaign.pk)
    return campaign
