"""Reads for the claim queue: a campaign's progress and the campaigns a user can work on.

Both run a fixed number of queries whatever the campaign's size: the counts come from the
ReviewerProgress rows, which each submission updates in its own transaction.
"""

from __future__ import annotations

from django.db.models import Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviews.models import ReviewCampaign, ReviewerProgress, ReviewSlot
from usecases.models import UseCaseMember
from usecases.permissions import ROLE_ACTIONS, Action, is_admin


def campaign_progress(campaign: ReviewCampaign) -> dict:
    """Items, reviews needed and done, percent done, and per reviewer: reviews given, seconds
    spent and open (unexpired) claims. One query."""
    open_claim = ReviewSlot.objects.filter(
        pk=OuterRef("claimed_slot_id"), done=False, claimed_until__gt=timezone.now()
    )
    rows = (
        ReviewerProgress.objects.filter(campaign_id=campaign.pk)
        .select_related("reviewer")
        .annotate(has_open_claim=Exists(open_claim))
        .order_by("-reviewed", "reviewer__username")
    )
    reviewers = [
        {
            "reviewer_id": row.reviewer_id,
            "username": row.reviewer.get_username(),
            "name": row.reviewer.get_full_name() or row.reviewer.get_username(),
            "reviewed": row.reviewed,
            "seconds": round(row.seconds, 1),
            "open_claims": int(row.has_open_claim),
        }
        for row in rows
    ]
    needed = campaign.item_count * campaign.reviewers_per_item
    done = sum(row["reviewed"] for row in reviewers)
    return {
        "items": campaign.item_count,
        "reviews_needed": needed,
        "reviews_done": done,
        "percent": round(100.0 * done / needed, 1) if needed else 0.0,
        "open_claims": sum(row["open_claims"] for row in reviewers),
        "reviewers": reviewers,
    }


def reviewed_by(user=None) -> Subquery:
    rows = ReviewerProgress.objects.filter(campaign=OuterRef("pk"))
    if user is not None:
        rows = rows.filter(reviewer=user)
    total = rows.order_by().values("campaign").annotate(total=Sum("reviewed")).values("total")
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def open_campaigns_for(user) -> QuerySet[ReviewCampaign]:
    """Open campaigns on use cases where `user` may review, with reviews still needed and
    items the user has not reviewed yet; annotated with `reviews_done` and `my_reviewed`.
    Newest first, one query."""
    if not user.is_authenticated or not user.is_active:
        return ReviewCampaign.objects.none()
    campaigns = ReviewCampaign.objects.filter(status=ReviewCampaign.Status.OPEN)
    if not is_admin(user):
        reviewing_roles = [
            role for role, actions in ROLE_ACTIONS.items() if Action.REVIEW in actions
        ]
        member = UseCaseMember.objects.filter(
            use_case=OuterRef("use_case"), user=user, role__in=reviewing_roles
        )
        campaigns = campaigns.filter(Exists(member))
    return (
        campaigns.annotate(reviews_done=reviewed_by(), my_reviewed=reviewed_by(user))
        .filter(
            reviews_done__lt=F("item_count") * F("reviewers_per_item"),
            my_reviewed__lt=F("item_count"),
        )
        .select_related("use_case", "model_version", "other_version")
        .order_by("-created_at", "-pk")
    )
