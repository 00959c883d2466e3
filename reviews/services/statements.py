"""The claim's and the submission's one statement each on PostgreSQL (issue 12), which
reviews/services/reviewing.py runs prepared; it says what each guarantees and when the
general path runs instead."""

from reviews.models import Review, ReviewCampaign, ReviewerProgress, ReviewItem, ReviewSlot

TABLES = {
    "campaign": ReviewCampaign._meta.db_table,
    "item": ReviewItem._meta.db_table,
    "progress": ReviewerProgress._meta.db_table,
    "review": Review._meta.db_table,
    "slot": ReviewSlot._meta.db_table,
}

# One claim, PostgreSQL: `seen` is the progress row in the statement's snapshot, `me` the
# same row locked (the latest version: different if another request of the reviewer changed
# it while this one waited for the lock). Only when both agree does the statement trust its
# snapshot: it returns the held claim if still valid, else locks the first free slot of the
# first window (the general path's first query) and moves the claim and the cursor.
# Refreshed candidates are re-checked by PostgreSQL after locking, as in the general path.
# set_config(…, true): this transaction's commit does not wait for the WAL flush (a lease),
# unless the claim runs inside a caller's transaction, whose other writes must be durable.
CLAIM = """
WITH seen AS (
    SELECT p.xmin AS version FROM {progress} p
    WHERE p.campaign_id = %(campaign)s::bigint AND p.reviewer_id = %(reviewer)s::integer
), me AS (
    SELECT p.id, p.cursor, p.claimed_slot_id, p.xmin AS version FROM {progress} p
    WHERE p.campaign_id = %(campaign)s::bigint AND p.reviewer_id = %(reviewer)s::integer
    FOR NO KEY UPDATE
), state AS (
    SELECT me.id, me.cursor, me.claimed_slot_id, me.version = seen.version AS fresh,
           c.status = %(open)s::text AS is_open
    FROM me CROSS JOIN seen INNER JOIN {campaign} c ON c.id = %(campaign)s::bigint
), held AS (
    SELECT s.id, s.item_id, s.position, s.claimed_until
    FROM {slot} s INNER JOIN state ON s.id = state.claimed_slot_id
    WHERE state.fresh AND state.is_open AND s.claimed_by_id = %(reviewer)s::integer
      AND s.claimed_until > %(now)s::timestamptz AND NOT s.done
), free AS (
    SELECT s.id FROM {slot} s
    WHERE s.campaign_id = %(campaign)s::bigint
      AND s.position >= (SELECT cursor FROM state)
      AND s.position < (SELECT cursor FROM state) + %(window)s::integer
      AND (SELECT fresh AND is_open FROM state) AND NOT EXISTS (SELECT FROM held)
      AND NOT s.done AND (s.claimed_until IS NULL OR s.claimed_until <= %(now)s::timestamptz)
      AND (SELECT r.id FROM {review} r
           WHERE r.item_id = s.item_id AND r.reviewer_id = %(reviewer)s::integer LIMIT 1) IS NULL
    ORDER BY s.position
    LIMIT 1
    FOR NO KEY UPDATE OF s SKIP LOCKED
), claimed AS (
    UPDATE {slot} s
    SET claimed_by_id = %(reviewer)s::integer, claimed_until = %(until)s::timestamptz
    FROM free WHERE s.id = free.id
    RETURNING s.id, s.item_id, s.position, s.claimed_until
), moved AS (  -- a data-modifying WITH runs whether read or not
    UPDATE {progress} p SET cursor = claimed.position + 1, claimed_slot_id = claimed.id
    FROM claimed, state WHERE p.id = state.id
)
SELECT state.fresh, state.is_open,
       held.id, held.item_id, held.position, held.claimed_until,
       claimed.id, claimed.item_id, claimed.position, claimed.claimed_until,
       CASE WHEN %(lease_only)s::boolean THEN set_config('synchronous_commit', 'off', true) END
FROM (VALUES (1)) AS one (n)
LEFT OUTER JOIN state ON true LEFT OUTER JOIN held ON true LEFT OUTER JOIN claimed ON true
""".format(**TABLES)


# One submission, PostgreSQL: the slot locked (its latest version), the campaign FOR SHARE (a
# close waits for this statement's commit, or this statement sees the campaign closed), and
# only if the campaign is open and the slot the reviewer's and not done: the review inserted,
# the slot marked done, the reviewer's progress counted (created if missing). The answer was
# checked before; the unique (item, reviewer) and the slot's one review stay the backstop.
SUBMIT = """
WITH slot AS (
    SELECT s.id, s.item_id, s.claimed_by_id, s.done FROM {slot} s
    WHERE s.id = %(slot)s::bigint
    FOR NO KEY UPDATE
), campaign AS (
    SELECT c.status, c.model_version_id, c.other_version_id FROM {campaign} c
    WHERE c.id = %(campaign)s::bigint
    FOR SHARE
), ok AS (
    SELECT slot.id, slot.item_id,
           CASE WHEN %(preference)s::text IN ('a', 'b') THEN
               CASE WHEN (%(preference)s::text = 'a') = i.other_shown_first
                    THEN campaign.other_version_id ELSE campaign.model_version_id END
           END AS preferred_version_id
    FROM slot INNER JOIN campaign ON campaign.status = %(open)s::text
    INNER JOIN {item} i ON i.id = slot.item_id
    WHERE NOT slot.done AND slot.claimed_by_id = %(reviewer)s::integer
), review AS (
    INSERT INTO {review} (campaign_id, item_id, slot_id, reviewer_id, verdict, preference,
                          preferred_version_id, corrected_value, reason_tags, comment,
                          seconds_spent, created_at)
    SELECT %(campaign)s::bigint, ok.item_id, ok.id, %(reviewer)s::integer, %(verdict)s::text,
           %(preference)s::text, ok.preferred_version_id, %(corrected_value)s::jsonb,
           %(reason_tags)s::jsonb, %(comment)s::text, %(seconds_spent)s::float8,
           %(now)s::timestamptz
    FROM ok
    RETURNING id, preferred_version_id
), marked AS (
    UPDATE {slot} s SET done = true FROM ok WHERE s.id = ok.id
    RETURNING s.id
), counted AS (
    INSERT INTO {progress} AS p (campaign_id, reviewer_id, cursor, reviewed, seconds)
    SELECT %(campaign)s::bigint, %(reviewer)s::integer, 0, 1, %(seconds)s::float8 FROM ok
    ON CONFLICT (campaign_id, reviewer_id) DO UPDATE
    SET reviewed = p.reviewed + 1, seconds = p.seconds + EXCLUDED.seconds,
        claimed_slot_id = CASE WHEN p.claimed_slot_id = %(slot)s::bigint THEN NULL
                               ELSE p.claimed_slot_id END
    RETURNING p.id
)
SELECT campaign.status, slot.done, slot.claimed_by_id, review.id, review.preferred_version_id
FROM slot LEFT OUTER JOIN campaign ON true LEFT OUTER JOIN review ON true
""".format(**TABLES)
