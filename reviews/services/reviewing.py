"""The claim queue: hand each reviewer the next item, take their review, let them skip.

A campaign's work is its fixed ReviewSlot rows, one per item and review it needs, numbered
by position (see reviews/models.py). A claim walks the unique (campaign, position) index from
the reviewer's own cursor and takes the first slot that is not done, not held under an
unexpired lease, and whose item the reviewer has not reviewed, with SELECT … FOR UPDATE SKIP
LOCKED (FOR NO KEY UPDATE: nothing references a slot's key changing). Two reviewers never
take the same slot: one waits for no one, the other skips the locked row, and PostgreSQL
re-checks a row changed since the snapshot before locking it. A reviewer's submission must
hold the slot's unexpired lease, marks it done and is the slot's one Review (OneToOne), so an
item gets at most reviewers_per_item reviews; the unique (item, reviewer) keeps one reviewer
from reviewing an item twice.

Why the cost stays flat: a claim and a submission update only unindexed columns of the
slot and of ReviewerProgress (HOT updates, fillfactor 50), so the walked index never grows
dead entries; a walk passes only the slots finished or held since the reviewer's last claim,
about one per concurrent reviewer. The walk reads bounded windows of positions (64, then
512, 4096…), so a plan chosen on stale statistics cannot read the whole campaign, and it
checks "already reviewed by me" with one probe of the unique (item, reviewer) index per
candidate (never a join over all of the reviewer's reviews). Only when nothing is left ahead
does it wrap around to the start (once), to pick up skipped and expired items.

One round trip each on PostgreSQL (issue 12), the statements in statements.py: a claim is
one statement (CLAIM: the progress row locked, the held claim or the first free slot of the
first window locked with SKIP LOCKED, both rows updated) and a submission is one (SUBMIT:
the slot locked, the campaign FOR SHARE, the review inserted, the slot marked done, the
progress counted), each its own transaction in autocommit. The claim statement reads its
candidates in the snapshot taken when it started, which is older than its lock on the
progress row when it had to wait for one: then another request of the same reviewer (a
second tab) changed their progress meanwhile, and the claim changes nothing and says so
("stale"); as when the first window holds nothing free or the reviewer has no progress row
yet, the claim then runs the general path below (a transaction of statements, each with a
fresh snapshot, walking every window and wrapping around). The answer's checks that need no
database run before the submission's statement; a refused claim is still reported before a
refused answer, as the general path does.

On SQLite select_for_update is a no-op; SQLite serialises writers, which is enough there.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from collections.abc import Sequence

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, When
from django.utils import timezone

from portal.db import prepared_cursor
from portal.errors import DomainError, InvalidInput
from reviews.models import Review, ReviewCampaign, ReviewerProgress, ReviewItem, ReviewSlot
from reviews.services import corrections, statements

logger = logging.getLogger(__name__)

CLAIM_MINUTES = 10
CLAIM_LEASE = datetime.timedelta(minutes=CLAIM_MINUTES)
FIRST_WINDOW = 64  # slots read by a claim's first query; then 512, 4096…
MAX_COMMENT_CHARS = 5_000
MAX_SECONDS_SPENT = 24 * 3600.0


class ClaimError(DomainError):
    pass


OPEN = ReviewCampaign.Status.OPEN
CLOSED_MESSAGE = "This review campaign is closed; its items can no longer be reviewed."


def _share_lock(campaign_id: int) -> None:
    """FOR SHARE on the campaign row: submissions do not block each other, a close (FOR
    UPDATE) waits for them and they for it. SQLite serialises writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {ReviewCampaign._meta.db_table} WHERE id = %s FOR SHARE",
                [campaign_id],
            )


def _check_open(campaign: ReviewCampaign) -> None:
    status = ReviewCampaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)
    if status.first() != OPEN:
        raise ClaimError(CLOSED_MESSAGE)


def _lease_only() -> None:
    """A claim is a lease: losing one in a crash is harmless (the reviewer claims again), so
    its commit need not wait for the WAL flush; submissions keep full durability. Not
    inside a caller's transaction (the claim's own atomic is not the outermost), whose
    other writes must be durable."""
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _progress(campaign: ReviewCampaign, reviewer) -> ReviewerProgress:
    """The reviewer's progress row, locked: a reviewer's claims (two tabs) run one at a time."""
    rows = ReviewerProgress.objects.select_for_update(no_key=True)
    progress, _ = rows.get_or_create(campaign_id=campaign.pk, reviewer_id=reviewer.pk)
    return progress


def _walk(
    campaign: ReviewCampaign, reviewer, now: datetime.datetime, start: int, stop: int
) -> ReviewSlot | None:
    """The first claimable slot in [start, stop), in windows of growing size: whatever plan
    the planner picks for a window (its statistics lag behind a new campaign), a query
    reads at most one window, and the usual claim finds its slot in the first."""
    low, size = start, FIRST_WINDOW
    while low < stop:
        high = min(low + size, stop)
        slot = _free_slot(campaign, reviewer, now, low, high)
        if slot is not None:
            return slot
        low, size = high, size * 8
    return None


def _free_slot(
    campaign: ReviewCampaign, reviewer, now: datetime.datetime, start: int, end: int
) -> ReviewSlot | None:
    """The first claimable slot in [start, end), locked; slots others hold are skipped."""
    # A scalar subquery with LIMIT, not NOT EXISTS: PostgreSQL would turn NOT EXISTS into an
    # anti-join reading all of the reviewer's reviews on every claim (cost growing as they
    # review); this way each candidate slot is one probe of the unique (item, reviewer).
    reviewed = (
        Review.objects.filter(item_id=OuterRef("item_id"), reviewer_id=reviewer.pk)
        .order_by()
        .values("pk")[:1]
    )
    slots = ReviewSlot.objects.filter(
        campaign_id=campaign.pk,
        campaign__status=OPEN,
        position__gte=start,
        position__lt=end,
        done=False,
    )
    slots = slots.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
    slots = slots.alias(my_review=Subquery(reviewed)).filter(my_review__isnull=True)
    slots = slots.order_by("position")
    return slots.select_for_update(skip_locked=True, no_key=True, of=("self",)).first()


def claim_next(campaign: ReviewCampaign, *, reviewer) -> ReviewSlot | None:
    """The reviewer's unexpired claim, else the next free slot from their cursor, claimed for
    CLAIM_MINUTES; None when nothing is left for them. Never hands a slot to two reviewers."""
    if connection.vendor == "postgresql":
        slot = _claim_in_one_statement(campaign, reviewer)
        if slot is not None:
            return slot
    return _claim_next(campaign, reviewer=reviewer)


def _claim_in_one_statement(campaign: ReviewCampaign, reviewer) -> ReviewSlot | None:
    """claim_next() in one statement when its snapshot can be trusted and the first window
    has a free slot (or the reviewer holds one); None where the general path must decide."""
    now = timezone.now()
    params = {
        "campaign": campaign.pk,
        "reviewer": reviewer.pk,
        "open": OPEN,
        "now": now,
        "until": now + CLAIM_LEASE,
        "window": FIRST_WINDOW,
        "lease_only": not connection.in_atomic_block,
    }
    with prepared_cursor() as cursor:
        cursor.execute(statements.CLAIM, params)
        row = cursor.fetchone()
    fresh, is_open, held, claimed = row[0], row[1], row[2:6], row[6:10]
    if is_open is False:  # the general path would refuse too, changing nothing
        raise ClaimError(CLOSED_MESSAGE)
    if not fresh:  # no progress row yet, or the snapshot is older than the progress
        return None
    found = held if held[0] is not None else claimed
    if found[0] is None:  # nothing free in the first window: walk on, or wrap around
        return None
    slot_id, item_id, position, claimed_until = found
    slot = _loaded(
        ReviewSlot,
        id=slot_id,
        campaign_id=campaign.pk,
        item_id=item_id,
        position=position,
        claimed_by_id=reviewer.pk,
        claimed_until=claimed_until,
        done=False,
    )
    slot.campaign = campaign  # the submission reads its mode and tags (fixed at creation)
    if found is claimed:
        logger.debug("slot %s of campaign %s claimed by user %s", slot_id, campaign.pk, reviewer.pk)
    return slot


@transaction.atomic
def _claim_next(campaign: ReviewCampaign, *, reviewer) -> ReviewSlot | None:
    """claim_next() as a transaction of statements (SQLite, and PostgreSQL's rarer cases)."""
    _lease_only()
    progress = _progress(campaign, reviewer)
    now = timezone.now()
    if progress.claimed_slot_id is not None:
        held = ReviewSlot.objects.filter(
            pk=progress.claimed_slot_id,
            campaign__status=OPEN,
            claimed_by_id=reviewer.pk,
            claimed_until__gt=now,
            done=False,
        ).first()
        if held is not None:
            held.campaign = campaign
            return held
    total = campaign.item_count * campaign.reviewers_per_item  # positions 0 … total − 1
    slot = _walk(campaign, reviewer, now, progress.cursor, total)
    if slot is None and progress.cursor > 0:  # wrap around once: skipped and expired items
        slot = _walk(campaign, reviewer, now, 0, min(progress.cursor, total))
    if slot is None:
        _check_open(campaign)  # nothing left, or closed: say which
        if progress.claimed_slot_id is not None:
            progress.claimed_slot = None
            progress.save(update_fields=["claimed_slot"])
        return None
    slot.claimed_by_id = reviewer.pk
    slot.claimed_until = now + CLAIM_LEASE
    slot.save(update_fields=["claimed_by", "claimed_until"])
    progress.cursor = slot.position + 1
    progress.claimed_slot = slot
    progress.save(update_fields=["cursor", "claimed_slot"])
    logger.debug("slot %s of campaign %s claimed by user %s", slot.pk, campaign.pk, reviewer.pk)
    slot.campaign = campaign
    return slot


def _clean_tags(campaign: ReviewCampaign, reason_tags) -> list[str]:
    if reason_tags is None:
        return []
    if isinstance(reason_tags, str):
        reason_tags = [reason_tags]
    tags = list(dict.fromkeys(reason_tags))
    unknown = [tag for tag in tags if tag not in campaign.reason_tags]
    if unknown:
        offered = ", ".join(campaign.reason_tags) or "none"
        raise InvalidInput(
            f"{unknown[0]!r} is not one of this campaign's tags ({offered}).",
            field="reason_tags",
        )
    return tags


def _check_answer(
    campaign: ReviewCampaign, *, verdict, preference, corrected_value, comment, seconds_spent
) -> None:
    if campaign.mode == ReviewCampaign.Mode.PAIRWISE:
        if verdict:
            raise InvalidInput(
                "In blind pairwise review pick a preference instead.", field="verdict"
            )
        if preference not in Review.Preference.values:
            raise InvalidInput(
                "Pick a (A is better), b (B is better) or equal.", field="preference"
            )
        if corrected_value is not None:
            raise InvalidInput("Not taken in blind pairwise review.", field="corrected_value")
    else:
        if preference:
            raise InvalidInput(
                "Only for blind pairwise review; give a verdict.", field="preference"
            )
        if verdict not in Review.Verdict.values:
            raise InvalidInput("Choose correct, incorrect or unsure.", field="verdict")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"Text of at most {MAX_COMMENT_CHARS:,} characters.", field="comment")
    if seconds_spent is not None and (
        isinstance(seconds_spent, bool)
        or not isinstance(seconds_spent, int | float)
        or not 0 <= seconds_spent <= MAX_SECONDS_SPENT
    ):
        raise InvalidInput("A number of seconds between 0 and 86,400.", field="seconds_spent")


def _checked_correction(campaign: ReviewCampaign, item_id: int, verdict: str, value):
    """The corrected value as stored (None when blank), or InvalidInput on corrected_value
    when it contradicts the verdict or does not suit the task type (issue 11, item 3)."""
    if corrections.is_blank(value):
        return None
    # Only "incorrect" takes a correction: "correct" says the prediction stands, and an
    # unsure reviewer's guess would be counted as a correction in the export and feedback.
    if verdict == Review.Verdict.CORRECT:
        raise InvalidInput(
            "A corrected value goes with the verdict “incorrect”: a correct prediction needs "
            "none. Clear it, or choose “incorrect”.",
            field=corrections.FIELD,
        )
    if verdict != Review.Verdict.INCORRECT:
        raise InvalidInput(
            "A corrected value goes with the verdict “incorrect”: when unsure, clear it and "
            "say what you suspect in the comment.",
            field=corrections.FIELD,
        )
    task_type = campaign.use_case.task_type
    value = corrections.corrected_value(campaign, value, task_type=task_type)
    predicted = ReviewItem.objects.values_list("prediction__prediction", flat=True).get(pk=item_id)
    if corrections.same_as_prediction(value, predicted, task_type=task_type):
        raise InvalidInput(
            f"“{value}” is what the model predicted: give the right value, or choose the "
            "verdict “correct”.",
            field=corrections.FIELD,
        )
    return value


def _checked_answer(
    campaign: ReviewCampaign,
    item_id: int,
    *,
    verdict,
    preference,
    corrected_value,
    reason_tags,
    comment,
    seconds_spent,
):
    """(corrected value, reason tags) as stored, or InvalidInput naming the field."""
    _check_answer(
        campaign,
        verdict=verdict,
        preference=preference,
        corrected_value=corrected_value,
        comment=comment,
        seconds_spent=seconds_spent,
    )
    if campaign.mode == ReviewCampaign.Mode.SINGLE:  # pairwise refused any value above
        corrected_value = _checked_correction(campaign, item_id, verdict, corrected_value)
    return corrected_value, _clean_tags(campaign, reason_tags)


def _check_claim(*, status: str, done: bool, claimed_by_id: int | None, reviewer) -> None:
    """ClaimError unless the campaign is open and the slot is the reviewer's, not done."""
    if status != OPEN:
        raise ClaimError(CLOSED_MESSAGE)
    if done:
        mine = claimed_by_id == reviewer.pk
        raise ClaimError(
            "You have already reviewed this item."
            if mine
            else "This item was reviewed by someone else; claim the next one."
        )
    if claimed_by_id != reviewer.pk:
        raise ClaimError(
            f"This item is not claimed by you (any more: claims last {CLAIM_MINUTES} minutes, "
            "and an expired claim goes to the next reviewer who asks). Claim the next item."
        )
    # Still the reviewer's, even past the lease (nobody took it meanwhile): their work counts.


def submit_review(
    slot: ReviewSlot,
    *,
    reviewer,
    verdict: str = "",
    preference: str = "",
    corrected_value=None,
    reason_tags: Sequence[str] = (),
    comment: str = "",
    seconds_spent: float | None = None,
) -> Review:
    """Record the review of a slot the reviewer holds under an unexpired claim; marks the
    slot done and counts it in the reviewer's progress, all or nothing."""
    submit = _submit_in_one_statement if connection.vendor == "postgresql" else _submit
    try:
        return submit(
            slot,
            reviewer=reviewer,
            verdict=verdict or "",
            preference=preference or "",
            corrected_value=corrected_value,
            reason_tags=reason_tags,
            comment=comment or "",
            seconds_spent=seconds_spent,
        )
    except IntegrityError as error:  # unique (item, reviewer) or the slot's one review
        logger.info("review of slot %s by user %s refused: %s", slot.pk, reviewer.pk, error)
        raise ClaimError("You have already reviewed this item.") from None


@transaction.atomic
def _submit(slot, *, reviewer, preference, seconds_spent, **answer) -> Review:
    """submit_review() as a transaction of statements (SQLite)."""
    # The campaign row FOR SHARE: a close cannot commit between the status check below and
    # the review's insert.
    locked = ReviewSlot.objects.select_for_update(no_key=True, of=("self",))
    slot = locked.select_related("item").get(pk=slot.pk)
    _share_lock(slot.campaign_id)
    campaign = ReviewCampaign.objects.select_related("use_case").get(pk=slot.campaign_id)
    item = slot.item
    _check_claim(
        status=campaign.status, done=slot.done, claimed_by_id=slot.claimed_by_id, reviewer=reviewer
    )
    corrected_value, tags = _checked_answer(
        campaign, item.pk, preference=preference, seconds_spent=seconds_spent, **answer
    )
    preferred_version_id = None
    if preference in (Review.Preference.A, Review.Preference.B):
        a_is_other = item.other_shown_first
        picked_a = preference == Review.Preference.A
        preferred_version_id = (
            campaign.other_version_id if picked_a == a_is_other else campaign.model_version_id
        )
    review = Review.objects.create(
        campaign=campaign,
        item=item,
        slot=slot,
        reviewer=reviewer,
        verdict=answer["verdict"],
        preference=preference,
        preferred_version_id=preferred_version_id,
        corrected_value=corrected_value,
        reason_tags=tags,
        comment=answer["comment"],
        seconds_spent=seconds_spent,
    )
    ReviewSlot.objects.filter(pk=slot.pk).update(done=True)
    counted = ReviewerProgress.objects.filter(campaign=campaign, reviewer_id=reviewer.pk).update(
        reviewed=F("reviewed") + 1,
        seconds=F("seconds") + (seconds_spent or 0.0),
        claimed_slot=Case(When(claimed_slot=slot.pk, then=None), default=F("claimed_slot")),
    )
    if not counted:  # a slot claimed before progress rows existed (not by claim_next)
        ReviewerProgress.objects.create(
            campaign=campaign, reviewer=reviewer, reviewed=1, seconds=seconds_spent or 0.0
        )
    logger.debug("slot %s of campaign %s reviewed by user %s", slot.pk, campaign.pk, reviewer.pk)
    return review


def _submit_in_one_statement(
    slot, *, reviewer, verdict, preference, corrected_value, reason_tags, comment, seconds_spent
) -> Review:
    """submit_review() in one statement (PostgreSQL), its own transaction in autocommit."""
    campaign = slot.campaign if ReviewSlot.campaign.is_cached(slot) else None
    if campaign is None:  # fixed at creation, bar its status (read by the statement)
        campaign = ReviewCampaign.objects.get(pk=slot.campaign_id)
    try:
        corrected_value, tags = _checked_answer(
            campaign,
            slot.item_id,
            verdict=verdict,
            preference=preference,
            corrected_value=corrected_value,
            reason_tags=reason_tags,
            comment=comment,
            seconds_spent=seconds_spent,
        )
    except InvalidInput:  # a refused claim is said first, as the general path does
        state = ReviewSlot.objects.values_list("campaign__status", "done", "claimed_by_id")
        status, done, claimed_by_id = state.get(pk=slot.pk)
        _check_claim(status=status, done=done, claimed_by_id=claimed_by_id, reviewer=reviewer)
        raise
    now = timezone.now()
    params = {
        "slot": slot.pk,
        "campaign": slot.campaign_id,
        "reviewer": reviewer.pk,
        "open": OPEN,
        "verdict": verdict,
        "preference": preference,
        "corrected_value": None if corrected_value is None else json.dumps(corrected_value),
        "reason_tags": json.dumps(tags),
        "comment": comment,
        "seconds_spent": seconds_spent,
        "seconds": seconds_spent or 0.0,
        "now": now,
    }
    with _own_transaction(), prepared_cursor() as cursor:
        cursor.execute(statements.SUBMIT, params)
        row = cursor.fetchone()
    if row is None:
        raise ReviewSlot.DoesNotExist(f"No review slot {slot.pk}.")
    status, done, claimed_by_id, review_id, preferred_version_id = row
    _check_claim(status=status, done=done, claimed_by_id=claimed_by_id, reviewer=reviewer)
    logger.debug("slot %s of campaign %s reviewed by user %s", slot.pk, campaign.pk, reviewer.pk)
    return _loaded(
        Review,
        id=review_id,
        campaign_id=slot.campaign_id,
        item_id=slot.item_id,
        slot_id=slot.pk,
        reviewer_id=reviewer.pk,
        verdict=verdict,
        preference=preference,
        preferred_version_id=preferred_version_id,
        corrected_value=corrected_value,
        reason_tags=tags,
        comment=comment,
        seconds_spent=seconds_spent,
        created_at=now,
    )


def _own_transaction():
    """In autocommit a statement is its own transaction; inside a caller's, a savepoint, so
    that a refused insert (IntegrityError) leaves the caller's transaction usable."""
    if connection.in_atomic_block:
        return transaction.atomic()
    return contextlib.nullcontext()


def _loaded(model, **values):
    """A model instance of a row the caller read or wrote itself (saved, not adding)."""
    instance = model(**values)
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


@transaction.atomic
def release_claim(slot: ReviewSlot, *, reviewer) -> None:
    """Give back a claimed item unreviewed (skip it): others may take it at once; the
    reviewer meets it again only after wrapping around the queue."""
    slot = ReviewSlot.objects.select_for_update(no_key=True).get(pk=slot.pk)
    if slot.done:
        raise ClaimError("This item has already been reviewed.")
    if slot.claimed_by_id != reviewer.pk:
        raise ClaimError("This item is not claimed by you.")
    slot.claimed_by = None
    slot.claimed_until = None
    slot.save(update_fields=["claimed_by", "claimed_until"])
    # Past the item's other slots too (an item's slots are adjacent), or a skipped item
    # needing two reviews would come straight back.
    per_item = ReviewCampaign.objects.values_list("reviewers_per_item", flat=True).get(
        pk=slot.campaign_id
    )
    ReviewerProgress.objects.filter(
        campaign_id=slot.campaign_id, reviewer_id=reviewer.pk, claimed_slot=slot.pk
    ).update(claimed_slot=None, cursor=(slot.position // per_item + 1) * per_item)
    logger.debug("slot %s released by user %s", slot.pk, reviewer.pk)
