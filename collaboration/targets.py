"""What a comment can be about: each kind of target, found in its use case, with a label in
words and the page that shows it (where its thread is included)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from collaboration.models import Comment
from promotions.models import PromotionRequest
from registry.models import Evaluation, ModelVersion
from reviews.models import ReviewItem
from usecases.models import UseCase

Target = Comment.Target


@dataclass(frozen=True)
class Found:
    kind: str
    id: int
    label: str  # "version 2.0.0", read after "on": "commented on version 2.0.0"
    url: str  # the page showing the target and its thread

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_key(key: str) -> tuple[str, int] | None:
    """("version", 12) from "version:12"; None when it is not a kind and a positive id."""
    kind, _, number = (key or "").partition(":")
    if kind not in Target.values or not number.isdigit() or len(number) > 18:
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
        url = reverse("reviews:campaign_items", args=[slug, item.campaign_id])
        label = f"item #{item.position + 1} of the review campaign “{item.campaign.name}”"
        return Found(kind, target_id, label, f"{url}#item-{item.position + 1}")
    return None


def evaluation_url(slug: str, pk: int) -> str:
    return reverse("registry:evaluation_detail", args=[slug, pk])
