"""Review campaigns: sample predictions into items (reviews/services/sampling.py) and lay out
their claimable slots.

Items get shuffled positions; item p's reviewers_per_item slots are positions p·r … p·r+r−1,
so reviewers moving through the queue together finish an item's reviews close in time.
"""

from __future__ import annotations

import datetime
import logging
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.db import connection, transaction

from portal.errors import DomainError, InvalidInput
from registry.models import ModelVersion
from reviews.models import ReviewCampaign, ReviewItem, ReviewSlot
from reviews.services.sampling import sample_predictions
from usecases.models import UseCase
from usecases.services import audit
from usecases.services.usecases import lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MAX_SAMPLE_SIZE = 10_000  # as the reviews_campaign_sample_size constraint
MAX_REVIEWERS_PER_ITEM = 5
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
    reviewers_per_item slots per item at positions p·r … p·r+r−1. On PostgreSQL one
    statement writes both, each with one multi-row INSERT; elsewhere bulk_create."""
    pairwise = campaign.mode == Mode.PAIRWISE
    positions = list(range(len(picked)))
    rng.shuffle(positions)
    shown_first = [pairwise and rng.random() < 0.5 for _ in picked]
    if connection.vendor == "postgresql":
        _insert_items_and_slots(campaign, picked, positions, shown_first)
        return
    items = ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                campaign=campaign,
                position=position,
                prediction_id=prediction_id,
                other_prediction_id=other_id,
                other_shown_first=first,
            )
            for position, (prediction_id, other_id), first in zip(
                positions, picked, shown_first, strict=True
            )
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


def _other_columns(model, given: set[str]) -> tuple[list[str], list[str], list]:
    """The columns of `model` other than its primary key and `given`, with their defaults
    as (columns, typed placeholders, values): what bulk_create would write for them."""
    columns, placeholders, values = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in given:
            continue
        columns.append(connection.ops.quote_name(field.column))
        placeholders.append(f"CAST(%s AS {field.db_type(connection)})")
        values.append(field.get_db_prep_save(field.get_default(), connection))
    return columns, placeholders, values


def _insert_items_and_slots(
    campaign: ReviewCampaign,
    picked: list[tuple[int, int | None]],
    positions: list[int],
    shown_first: list[bool],
) -> None:
    """One statement: the items from arrays (unnest) and, from the ids it returns, their
    slots (a cross join with generate_series): two multi-row INSERTs, no row built in
    Python. Columns neither sets get their model defaults, as bulk_create would."""
    item_fixed = {"campaign_id", "position", "prediction_id", "other_prediction_id"}
    item_fixed.add("other_shown_first")
    slot_fixed = {"campaign_id", "item_id", "position"}
    item_columns, item_placeholders, item_values = _other_columns(ReviewItem, item_fixed)
    slot_columns, slot_placeholders, slot_values = _other_columns(ReviewSlot, slot_fixed)
    items, slots = ReviewItem._meta.db_table, ReviewSlot._meta.db_table
    item_more, item_defaults = ", ".join(["", *item_columns]), ", ".join(["", *item_placeholders])
    slot_more, slot_defaults = ", ".join(["", *slot_columns]), ", ".join(["", *slot_placeholders])
    sql = f"""
        WITH new_items AS (
            INSERT INTO {items} (
                campaign_id, position, prediction_id, other_prediction_id, other_shown_first
                {item_more}
            )
            SELECT %s, p, prediction, other, shown {item_defaults}
            FROM unnest(%s::integer[], %s::bigint[], %s::bigint[], %s::boolean[])
                AS t(p, prediction, other, shown)
            RETURNING id, position
        )
        INSERT INTO {slots} (campaign_id, item_id, position {slot_more})
        SELECT %s, id, position * %s + n {slot_defaults}
        FROM new_items CROSS JOIN generate_series(0, %s - 1) AS n
    """
    params = [
        campaign.pk,
        *item_values,
        positions,
        [prediction_id for prediction_id, _ in picked],
        [other_id for _, other_id in picked],
        shown_first,
        campaign.pk,
        campaign.reviewers_per_item,
        *slot_values,
        campaign.reviewers_per_item,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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
