"""The reference dataset: the holdout of a use case that promotions are gated on
(DESIGN.md "Deployment stages and promotion"); registry.selectors.reference_dataset reads it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction

from portal.errors import NotFound
from registry.models import EvaluationDataset
from usecases.services import audit
from usecases.services.usecases import lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


@transaction.atomic
def mark_reference(dataset: EvaluationDataset, *, by: User) -> EvaluationDataset:
    """Make `dataset` its use case's one reference dataset, unmarking the previous one; a
    no-op (and no audit event) if it is the reference already. The use case row is locked
    first, so two owners marking different datasets at once end with exactly one marked."""
    use_case = lock(dataset.use_case)
    fresh = EvaluationDataset.objects.filter(pk=dataset.pk, use_case=use_case).first()
    if fresh is None:
        raise NotFound("This dataset no longer exists.")
    if fresh.is_reference:
        return fresh
    previous = (
        EvaluationDataset.objects.filter(use_case=use_case, is_reference=True)
        .values_list("name", flat=True)
        .first()
    )
    # Unmark first: the partial unique index allows one reference per use case at any time.
    EvaluationDataset.objects.filter(use_case=use_case, is_reference=True).update(
        is_reference=False
    )
    EvaluationDataset.objects.filter(pk=fresh.pk).update(is_reference=True)
    fresh.is_reference = True
    audit.record(
        actor=by,
        verb="dataset.marked_reference",
        target=fresh,
        use_case=use_case,
        before={"reference": previous},
        after={"reference": fresh.name},
    )
    logger.info("dataset %s is the reference of use case %s", fresh.pk, use_case.pk)
    return fresh
