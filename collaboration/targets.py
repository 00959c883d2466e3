"""What a comment can be about: each kind of target, found in its use case, with a label in
words and the page that shows it (where its thread is included)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import reverse

from collaboration.models import Comment
from promotions.models import PromotionRequest
from registry.models import Evaluation, ModelVersion
from reviews import selectors as review_selectors
from reviews.models import ReviewItem
from reviews.views_items import PER_PAGE as ITEMS_PER_PAGE
from usecases.models import UseCase

Target = Comment.Target


@dataclass(frozen=True)
class Found:
    kind: str
    id: int
    label: str  # "version 2.0.0", read after "on": "commented on version 2.0.0"
    url: str  # the page showing the target and its thread
    gone: bool = False  # deleted since (gone()): its comments stay, nobody adds to them

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def thread_url(use_case: UseCase, found: Found) -> str:
    """The thread's own page (?on=kind:id)."""
    return f"{reverse('collaboration:thread', args=[use_case.slug])}?on={found.key}"


def parse_key(key: str) -> tuple[str, int] | None:
    """("version", 12) from "version:12"; None when it is not a kind and a positive id."""
    kind, _, number = (key or "").partition(":")
    # ASCII digits only: str.isdigit() also takes "²" and "١٢", which int() refuses or reads.
    if kind not in Target.values or not re.fullmatch(r"[0-9]{1,18}", number):
        return None
    return kind, int(number)


def find(use_case: UseCase, kind: str, target_id: int) -> Found | None:
    """The target `kind`:`target_id` if it exists and belongs to `use_case`; one query at
    most (none for the use case itself)."""
    slug = use_case.slug
    if kind == Target.USE_CASE:
        if target_id != use_case.pk:
            return None
        return Found(kind, target_id, "the use case", use_case.get_absolute_url())
    if kind == Target.VERSION:
        version = ModelVersion.objects.filter(use_case=use_case, pk=target_id).first()
        if version is None:
            return None
        url = reverse("registry:version_detail", args=[slug, version.version])
        return Found(kind, target_id, f"version {version.version}", url)
    if kind == Target.EVALUATION:
        evaluation = (
            Evaluation.objects.filter(use_case=use_case, pk=target_id)
            .select_related("model_version")
            .first()
        )
        if evaluation is None:
            return None
        label = f"evaluation #{evaluation.pk} of version {evaluation.model_version.version}"
        return Found(kind, target_id, label, evaluation_url(slug, target_id))
    if kind == Target.PROMOTION:
        request = (
            PromotionRequest.objects.filter(use_case=use_case, pk=target_id)
            .select_related("model_version")
            .first()
        )
        if request is None:
            return None
        label = (
            f"promotion request #{request.pk} (version {request.model_version.version} to "
            f"{request.get_target_stage_display().lower()})"
        )
        return Found(kind, target_id, label, reverse("promotions:detail", args=[slug, request.pk]))
    if kind == Target.REVIEW_ITEM:
        item = (
            ReviewItem.objects.filter(campaign__use_case=use_case, pk=target_id)
            .select_related("campaign")
            .first()
        )
        if item is None:
            return None
        label = f"item #{item.position + 1} of the review campaign “{item.campaign.name}”"
        return Found(kind, target_id, label, _item_url(slug, item))
    return None


def _item_url(slug: str, item: ReviewItem) -> str:
    """The item browser's page that lists `item` (reviewed items only, ITEMS_PER_PAGE to a
    page); the campaign's results while nobody has reviewed it. Two queries."""
    if not item.reviews.exists():
        return reverse("reviews:campaign_detail", args=[slug, item.campaign_id])
    before = (
        review_selectors.campaign_items(item.campaign).filter(position__lt=item.position).count()
    )
    page = before // ITEMS_PER_PAGE + 1
    url = reverse("reviews:campaign_items", args=[slug, item.campaign_id])
    return f"{url}{f'?page={page}' if page > 1 else ''}#item-{item.position + 1}"


def of_comment(comment: Comment) -> Found:
    """The comment's target, or its stand-in once deleted (gone()): its comments can still
    be read, edited and deleted."""
    use_case, kind, target_id = comment.use_case, comment.target_kind, comment.target_id
    return find(use_case, kind, target_id) or gone(use_case, kind, target_id)


def gone(use_case: UseCase, kind: str, target_id: int) -> Found:
    """A stand-in for a target deleted since its comments were posted (deleting a dataset
    deletes its evaluations): the thread still lists them, under the use case's page."""
    label = f"{Target(kind).label} that was deleted"  # "an evaluation that was deleted"
    return Found(kind, target_id, label, use_case.get_absolute_url(), gone=True)


def evaluation_url(slug: str, pk: int) -> str:
    return reverse("registry:evaluation_detail", args=[slug, pk])
