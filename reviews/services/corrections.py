"""What a reviewer's corrected value may be, by the use case's task type (issue 10, item 6).

One check for the review screen (text as typed) and the API (a JSON value): binary takes a
class, 0 or 1; regression a finite number; multiclass a class the use case knows: one its
owner listed, one predicted (by either version) or observed in the campaign's items, or a
label of one of its evaluation datasets (any non-blank name when it knows none). The
reviewing service calls it, whoever called the service, after its verdict rules (issue 11,
item 3), and compares the result with the prediction through `same_as_prediction()`.
"""

from __future__ import annotations

import math

from portal.errors import InvalidInput
from registry.models import EvaluationDataset
from reviews.models import ReviewCampaign, ReviewItem
from usecases.catalogue import TaskType

FIELD = "corrected_value"
MAX_CLASSES_SHOWN = 10


def is_blank(value) -> bool:
    """No corrected value: none sent, or only blanks typed."""
    return value is None or (isinstance(value, str) and not value.strip())


def corrected_value(campaign: ReviewCampaign, value, *, task_type: str):
    """The corrected value as stored (None when blank), or InvalidInput on corrected_value."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        value = value.strip()
    if task_type == TaskType.MULTICLASS:
        return _known_class(campaign, value)
    if task_type == TaskType.BINARY:
        number = float(value) if isinstance(value, bool) else _number(value)
        if number not in (0, 1):
            raise InvalidInput("Enter the correct class: 0 or 1.", field=FIELD)
        return int(number)
    number = _number(value)
    if number is None:
        raise InvalidInput("Enter the correct value as a number, e.g. 42 or 3.5.", field=FIELD)
    return int(number) if number.is_integer() else number


def same_as_prediction(value, prediction, *, task_type: str) -> bool:
    """Whether a stored corrected value says what the model predicted: numbers compare as
    numbers (10 and 10.0 are one value), classes of a multiclass use case by their name."""
    if task_type == TaskType.MULTICLASS:
        return prediction is not None and str(prediction) == value
    predicted = float(prediction) if isinstance(prediction, bool) else _number(prediction)
    return predicted is not None and predicted == value


def _number(value) -> float | None:
    """A finite number from a JSON number or typed text (a decimal comma allowed, as people
    type it); None otherwise (a boolean too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.count(",") <= 1:
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _known_class(campaign: ReviewCampaign, value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # as the prediction log stores a numeric class
    if not isinstance(value, str):
        raise InvalidInput("Give the corrected class name as text, e.g. “cat”.", field=FIELD)
    known = known_classes(campaign)
    if known and value not in known:  # a use case that knows no class takes any name
        shown = ", ".join(f"“{name}”" for name in sorted(known)[:MAX_CLASSES_SHOWN])
        more = "…" if len(known) > MAX_CLASSES_SHOWN else ""
        raise InvalidInput(
            f"“{value}” is not a known class of this use case; give one of {shown}{more}.",
            field=FIELD,
        )
    return value


def known_classes(campaign: ReviewCampaign) -> set[str]:
    """The class names of a multiclass use case that a correction may name: the classes its
    owner listed (UseCase.class_names), those predicted or observed in the campaign's items,
    and the labels of its evaluation datasets."""
    known: set[str] = set(campaign.use_case.known_classes)
    items = ReviewItem.objects.filter(campaign=campaign).values_list(
        "prediction__prediction", "prediction__outcome", "other_prediction__prediction"
    )
    for values in items.distinct():
        known.update(str(value) for value in values if value is not None)
    summaries = EvaluationDataset.objects.filter(use_case_id=campaign.use_case_id).values_list(
        "label_summary", flat=True
    )
    for summary in summaries:
        if isinstance(summary, dict) and summary.get("kind") == "categorical":
            known.update(str(name) for name in summary.get("counts", {}))
    return known
