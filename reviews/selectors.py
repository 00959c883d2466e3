"""Reads for the results of review campaigns, the experts' feedback on a model version and
the export of their corrections (issue 4, item 6). The statistics are in reviews/stats.py.

Each selector runs a fixed number of SQL queries whatever the campaign's size:
campaign_results two (the campaign's two version names, then one query over its reviews
and their reviewers, which the agreement needs row by row anyway), version_feedback two (one
aggregate, one page of rows), corrections_rows one (streamed in chunks).

campaign_results(campaign) returns:

    {
      "campaign": {"id", "name", "mode", "status", "reviewers_per_item", "item_count"},
      "reviews": int,                  # every review submitted
      "items_reviewed": int,           # items with at least one review
      "verdicts": {"correct": int, "incorrect": int, "unsure": int},
      "acceptance": Proportion,        # correct / (correct + incorrect)
      "segments": [                    # segments of the reviewed predictions, natural order
        {"segment": str, "reviews": int, "verdicts": {...}, "acceptance": Proportion}, …
      ],
      "reason_tags": [                 # the campaign's tags in its order, then others seen
        {"tag": str, "reviews": int, "verdicts": {...}, "acceptance": Proportion}, …
      ],
      "agreement": {
        "labels": "verdict" | "preference",
        "items": int,                  # items with ≥ 2 reviews, the ones it rests on
        "reviews": int,                # the reviews of those items
        "krippendorff_alpha": Coefficient,   # over everyone, any number of reviews per item
        "fleiss_kappa": Coefficient + {"items": int, "raters": int | None},
                                       # over the items with the most common review count
        "pairs": [                     # each pair of reviewers sharing ≥ 20 items
          {"reviewers": [str, str], "items": int, "value": float | None, "band": …}, …
        ],
        "pairs_with_fewer_items": int, # pairs sharing 1–19 items: no kappa of their own
        "min_shared_items": 20,
      },
      "pairwise": None | {             # None for single-prediction campaigns
        "versions": [                  # the campaign's model_version, then other_version
          {"version_id": int, "version": str, "wins": int, "losses": int, "ties": int,
           "share": Proportion},       # wins / (wins + losses)
          …
        ],
        "decisive": int,               # reviews that preferred one version
        "ties": int,                   # "equally good"
        "p_value": float | None,       # two-sided binomial test of equal preference, ties
                                       # excluded; None without a decisive review
        "segments": [{"segment": str, "wins": int, "losses": int, "ties": int,
                      "share": Proportion}, …],  # from model_version's side
      },
    }

    Proportion = {"successes": int, "n": int, "rate": float | None,
                  "low": float | None, "high": float | None}   # Wilson 95 % interval
    Coefficient = {"value": float | None,   # None: undefined (no item reviewed twice, or
                                            # every review gave the same label)
                   "band": str | None}      # Landis and Koch: poor … almost perfect

Counting rules, stated once:
- Acceptance is correct / (correct + incorrect): "unsure" says nothing about the prediction,
  so it is left out of both counts (it is still counted in `verdicts`).
- Every review counts once, also when an item has several reviewers; the reviews of one item
  are not independent, so with several reviewers per item the interval is somewhat narrower
  than the truth.
- A reason tag's acceptance is over the reviews that carry the tag.
- Agreement is on the verdicts (correct / incorrect / unsure as three nominal labels) or, in
  pairwise mode, on the preference resolved to versions (model version / other version /
  equal), over the items with at least two reviews: Krippendorff's alpha (nominal) over
  everyone; Fleiss' kappa over the items that got the most common number of reviews; and
  Cohen's kappa for each pair of reviewers on the items both reviewed, for pairs sharing at
  least 20. None of them depends on the order in which reviews were submitted.
- Pairwise: a reviewer picks A, B or "equal" as shown; A is the other version's prediction
  when the item's `other_shown_first` is set, the model version's otherwise.

The export (corrections_rows, CORRECTION_COLUMNS) has one row per review: the prediction
reviewed (pairwise: the model version's, with the other version's beside it), the verdict,
or the preference resolved to "model_version" / "other_version" / "equal" with the preferred
version's name, the correction, tags, comment, reviewer, seconds spent and time.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast

from portal.formatting import natural_key
from registry.models import ModelVersion
from reviews import stats
from reviews.models import Review, ReviewCampaign, ReviewItem

VERDICTS = tuple(Review.Verdict.values)  # correct, incorrect, unsure
CORRECT, INCORRECT, UNSURE = VERDICTS
# Pairwise preferences resolved to versions (agreement labels, export).
MODEL, OTHER, EQUAL = "model_version", "other_version", "equal"

# The export's columns, in order (CSV header and JSON keys).
CORRECTION_COLUMNS = (
    "review_id",
    "campaign_id",
    "request_id",
    "segment",
    "version",
    "features",
    "prediction",
    "prediction_label",
    "score",
    "outcome",
    "outcome_label",
    "verdict",
    "preference",
    "preferred_version",
    "other_version",
    "other_prediction",
    "other_score",
    "corrected_value",
    "corrected_label",
    "reason_tags",
    "comment",
    "reviewer",
    "seconds_spent",
    "reviewed_at",
)


def proportion(successes: int, n: int) -> dict[str, Any]:
    """successes / n with its Wilson 95 % interval; rate and bounds None when n == 0."""
    interval = stats.wilson_interval(successes, n)
    low, high = interval if interval is not None else (None, None)
    return {
        "successes": successes,
        "n": n,
        "rate": successes / n if n else None,
        "low": low,
        "high": high,
    }


def acceptance(verdicts: dict[str, int]) -> dict[str, Any]:
    """correct / (correct + incorrect): unsure verdicts are left out."""
    return proportion(verdicts[CORRECT], verdicts[CORRECT] + verdicts[INCORRECT])


class _Tally:
    """Verdict counts of a group of reviews (a segment, a tag, the whole campaign)."""

    def __init__(self) -> None:
        self.reviews = 0
        self.verdicts = dict.fromkeys(VERDICTS, 0)

    def add(self, verdict: str) -> None:
        self.reviews += 1
        if verdict in self.verdicts:
            self.verdicts[verdict] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviews": self.reviews,
            "verdicts": dict(self.verdicts),
            "acceptance": acceptance(self.verdicts),
        }


def _resolve(preference: str, other_shown_first: bool) -> str | None:
    """A/B/equal as shown → which version the reviewer preferred (MODEL, OTHER or EQUAL)."""
    if preference == Review.Preference.EQUAL:
        return EQUAL
    if preference == Review.Preference.A:
        return OTHER if other_shown_first else MODEL
    if preference == Review.Preference.B:
        return MODEL if other_shown_first else OTHER
    return None


# Pairs of reviewers sharing fewer items get no kappa of their own (too few to mean much).
MIN_SHARED_ITEMS = 20


def _coefficient(value: float | None) -> dict[str, Any]:
    return {"value": value, "band": stats.landis_koch(value)}


def _agreement(labels_by_item: dict[int, dict[int, str]], *, kind: str) -> dict:
    """Agreement over the items with at least two labels (see the module docstring);
    `labels_by_item` is {item: {reviewer: label}}. No figure depends on the order in which
    the reviews were submitted."""
    rated = [labels for labels in labels_by_item.values() if len(labels) >= 2]
    # Fleiss' kappa needs the same number of labels on every unit: the items with the most
    # common count (the larger on a tie), usually the campaign's reviewers per item.
    sizes = Counter(len(labels) for labels in rated)
    raters = max(sizes, key=lambda size: (sizes[size], size)) if sizes else None
    fleiss_units = [list(labels.values()) for labels in rated if len(labels) == raters]
    shared: dict[tuple[int, int], list[tuple[str, str]]] = defaultdict(list)
    for labels in rated:
        people = sorted(labels)
        for i, first in enumerate(people):
            for second in people[i + 1 :]:
                shared[(first, second)].append((labels[first], labels[second]))
    pairs = []
    for (first, second), both in sorted(shared.items()):
        if len(both) >= MIN_SHARED_ITEMS:
            kappa = stats.cohen_kappa([a for a, _ in both], [b for _, b in both])
            pairs.append({"reviewers": [first, second], "items": len(both), **_coefficient(kappa)})
    alpha = stats.krippendorff_alpha([list(labels.values()) for labels in rated])
    return {
        # Kept for clients of the first results API: the headline figure, now always alpha.
        "method": "krippendorff_alpha" if rated else None,
        "value": alpha,
        "labels": kind,
        "items": len(rated),
        "reviews": sum(len(labels) for labels in rated),
        "krippendorff_alpha": _coefficient(alpha),
        "fleiss_kappa": {
            **_coefficient(stats.fleiss_kappa(fleiss_units)),
            "items": len(fleiss_units),
            "raters": raters,
        },
        "pairs": pairs,
        "pairs_with_fewer_items": len(shared) - len(pairs),
        "min_shared_items": MIN_SHARED_ITEMS,
    }


def _name_reviewers(agreement: dict, names: dict[int, str]) -> None:
    """The pairs' reviewer ids → names."""
    for pair in agreement["pairs"]:
        pair["reviewers"] = [names.get(pk, "") for pk in pair["reviewers"]]


def _pairwise(
    campaign: ReviewCampaign,
    names: dict[int, str],
    preferences: Iterable[tuple[str, str]],
) -> dict[str, Any]:
    """Wins, losses and ties per version, overall and per segment; (segment, MODEL|OTHER|EQUAL)."""
    overall: Counter[str] = Counter()
    by_segment: dict[str, Counter[str]] = defaultdict(Counter)
    for segment, resolved in preferences:
        overall[resolved] += 1
        by_segment[segment][resolved] += 1
    model_wins, other_wins, ties = overall[MODEL], overall[OTHER], overall[EQUAL]
    decisive = model_wins + other_wins
    versions = []
    for version_id, wins, losses in (
        (campaign.model_version_id, model_wins, other_wins),
        (campaign.other_version_id, other_wins, model_wins),
    ):
        versions.append(
            {
                "version_id": version_id,
                "version": names.get(version_id, ""),
                "wins": wins,
                "losses": losses,
                "ties": ties,
                "share": proportion(wins, decisive),
            }
        )
    segments = [
        {
            "segment": segment,
            "wins": counts[MODEL],
            "losses": counts[OTHER],
            "ties": counts[EQUAL],
            "share": proportion(counts[MODEL], counts[MODEL] + counts[OTHER]),
        }
        for segment, counts in sorted(by_segment.items(), key=lambda kv: natural_key(kv[0]))
    ]
    return {
        "versions": versions,
        "decisive": decisive,
        "ties": ties,
        "p_value": stats.binomial_test(model_wins, other_wins),
        "segments": segments,
    }


def campaign_results(campaign: ReviewCampaign) -> dict[str, Any]:
    """The campaign's results (shape in the module docstring); two queries whatever its size."""
    version_ids = [v for v in (campaign.model_version_id, campaign.other_version_id) if v]
    names = dict(ModelVersion.objects.filter(pk__in=version_ids).values_list("pk", "version"))
    rows = (
        Review.objects.filter(campaign=campaign)
        .order_by("item_id", "id")  # each item's reviews together, first review first
        .values_list(
            "item_id",
            "reviewer_id",
            "reviewer__first_name",
            "reviewer__last_name",
            "reviewer__username",
            "verdict",
            "preference",
            "reason_tags",
            "item__prediction__segment",
            "item__other_shown_first",
        )
    )
    is_pairwise = campaign.mode == ReviewCampaign.Mode.PAIRWISE
    total = _Tally()
    segments: dict[str, _Tally] = defaultdict(_Tally)
    configured = list(dict.fromkeys(str(tag) for tag in campaign.reason_tags or []))
    tags: dict[str, _Tally] = {tag: _Tally() for tag in configured}
    labels_by_item: dict[int, dict[int, str]] = defaultdict(dict)
    preferences: list[tuple[str, str]] = []
    review_count = 0
    reviewers: dict[int, str] = {}
    for row in rows.iterator(chunk_size=5000):
        item_id, reviewer_id, first, last, username = row[:5]
        verdict, preference, reason_tags, segment, other_shown_first = row[5:]
        if reviewer_id not in reviewers:
            reviewers[reviewer_id] = _person(first, last, username)
        review_count += 1
        segment = segment or ""
        for tag in dict.fromkeys(str(t) for t in reason_tags or []):  # a tag once per review
            tags.setdefault(tag, _Tally()).add(verdict)
        if verdict:  # a review holds a verdict or a preference (a database constraint)
            total.add(verdict)
            segments[segment].add(verdict)
            labels_by_item[item_id][reviewer_id] = verdict
        elif preference:
            resolved = _resolve(preference, other_shown_first)
            if resolved is not None:
                preferences.append((segment, resolved))
                labels_by_item[item_id][reviewer_id] = resolved
    seen = sorted((tag for tag in tags if tag not in configured), key=natural_key)
    agreement = _agreement(labels_by_item, kind="preference" if is_pairwise else "verdict")
    _name_reviewers(agreement, reviewers)
    return {
        "campaign": {
            "id": campaign.pk,
            "name": campaign.name,
            "mode": campaign.mode,
            "status": campaign.status,
            "reviewers_per_item": campaign.reviewers_per_item,
            "item_count": campaign.item_count,
        },
        "reviews": review_count,
        "items_reviewed": len(labels_by_item),
        "verdicts": dict(total.verdicts),
        "acceptance": acceptance(total.verdicts),
        "segments": [
            {"segment": name, **segments[name].as_dict()}
            for name in sorted(segments, key=natural_key)
        ],
        "reason_tags": [{"tag": tag, **tags[tag].as_dict()} for tag in configured + seen],
        "agreement": agreement,
        "pairwise": _pairwise(campaign, names, preferences) if is_pairwise else None,
    }


def _person(first_name: str, last_name: str, username: str) -> str:
    return f"{first_name} {last_name}".strip() or username


def version_feedback(model_version: ModelVersion, limit: int = 50) -> dict[str, Any]:
    """The experts' verdicts on the version's predictions, across its single-prediction
    campaigns: a summary (acceptance with its Wilson interval) and the newest `limit`
    reviews that say more than "correct" (a correction, a comment, a reason tag or an
    "incorrect"). Two queries.

    {"summary": {"campaigns", "reviews", "verdicts", "acceptance": Proportion},
     "feedback": [{"review_id", "campaign_id", "campaign", "request_id", "prediction",
                   "corrected_value", "verdict", "reason_tags", "comment", "reviewer",
                   "reviewed_at"}, …]}
    """
    reviews = Review.objects.filter(
        campaign__model_version=model_version,
        campaign__mode=ReviewCampaign.Mode.SINGLE,
        item__prediction__model_version=model_version,
    )
    summary = reviews.aggregate(
        campaigns=Count("campaign", distinct=True),
        reviews=Count("id"),
        **{verdict: Count("id", filter=Q(verdict=verdict)) for verdict in VERDICTS},
    )
    verdicts = {verdict: summary[verdict] for verdict in VERDICTS}
    says_more = (
        Q(corrected_value__isnull=False)
        | ~Q(comment="")
        | ~Q(reason_tags=[])
        | Q(verdict=Review.Verdict.INCORRECT)
    )
    rows = (
        reviews.filter(says_more)
        .order_by("-created_at", "-id")
        .values(
            "id",
            "campaign_id",
            "campaign__name",
            "item__prediction__request_id",
            "item__prediction__prediction",
            "corrected_value",
            "verdict",
            "reason_tags",
            "comment",
            "reviewer__username",
            "reviewer__first_name",
            "reviewer__last_name",
            "created_at",
        )[:limit]
    )
    feedback = [
        {
            "review_id": row["id"],
            "campaign_id": row["campaign_id"],
            "campaign": row["campaign__name"],
            "request_id": row["item__prediction__request_id"],
            "prediction": row["item__prediction__prediction"],
            "corrected_value": row["corrected_value"],
            "verdict": row["verdict"],
            "reason_tags": row["reason_tags"] or [],
            "comment": row["comment"],
            "reviewer": _person(
                row["reviewer__first_name"],
                row["reviewer__last_name"],
                row["reviewer__username"],
            ),
            "reviewed_at": row["created_at"],
        }
        for row in rows
    ]
    return {
        "summary": {
            "campaigns": summary["campaigns"],
            "reviews": summary["reviews"],
            "verdicts": verdicts,
            "acceptance": acceptance(verdicts),
        },
        "feedback": feedback,
    }


def correction_reviews(campaign: ReviewCampaign) -> QuerySet:
    """The campaign's reviews as the export reads them (values), oldest first; one query
    (paginate it, or pass each row to correction_row())."""
    prediction, other = "item__prediction__", "item__other_prediction__"
    return (
        Review.objects.filter(campaign=campaign)
        .order_by("id")
        .values(
            "id",
            "campaign_id",
            "verdict",
            "preference",
            "corrected_value",
            "reason_tags",
            "comment",
            "seconds_spent",
            "created_at",
            "reviewer__username",
            "reviewer__first_name",
            "reviewer__last_name",
            "item__other_shown_first",
            *(
                prediction + field
                for field in (
                    "request_id",
                    "segment",
                    "features",
                    "prediction",
                    "score",
                    "outcome",
                    "model_version__version",
                )
            ),
            *(other + field for field in ("prediction", "score", "model_version__version")),
        )
    )


def _named(value, class_label) -> str:
    """A class by its name (binary 1/0 by the use case's labels); "" for nothing."""
    return "" if value is None else class_label(value)


def correction_row(row: dict[str, Any], class_label=str) -> dict[str, Any]:
    """One row of correction_reviews() as exported, keys in CORRECTION_COLUMNS' order;
    `class_label` names a class (UseCase.class_label) in the *_label columns."""
    version = row["item__prediction__model_version__version"]
    other_version = row["item__other_prediction__model_version__version"] or ""
    resolved = _resolve(row["preference"], row["item__other_shown_first"])
    preferred = {MODEL: version, OTHER: other_version}.get(resolved, "")
    return {
        "review_id": row["id"],
        "campaign_id": row["campaign_id"],
        "request_id": row["item__prediction__request_id"],
        "segment": row["item__prediction__segment"],
        "version": version,
        "features": row["item__prediction__features"],
        "prediction": row["item__prediction__prediction"],
        "prediction_label": _named(row["item__prediction__prediction"], class_label),
        "score": row["item__prediction__score"],
        "outcome": row["item__prediction__outcome"],
        "outcome_label": _named(row["item__prediction__outcome"], class_label),
        "verdict": row["verdict"],
        "preference": resolved if resolved is not None else "",
        "preferred_version": preferred,
        "other_version": other_version,
        "other_prediction": row["item__other_prediction__prediction"],
        "other_score": row["item__other_prediction__score"],
        "corrected_value": row["corrected_value"],
        "corrected_label": _named(row["corrected_value"], class_label),
        "reason_tags": row["reason_tags"] or [],
        "comment": row["comment"],
        "reviewer": _person(
            row["reviewer__first_name"], row["reviewer__last_name"], row["reviewer__username"]
        ),
        "seconds_spent": row["seconds_spent"],
        "reviewed_at": row["created_at"],
    }


def corrections_rows(campaign: ReviewCampaign) -> Iterator[dict[str, Any]]:
    """Every review of the campaign as an export row (CORRECTION_COLUMNS), oldest first;
    one query, read in chunks so a large campaign streams in bounded memory."""
    rows = correction_reviews(campaign).iterator(chunk_size=2000)
    class_label = campaign.use_case.class_label
    return (correction_row(row, class_label) for row in rows)


def item_filters(campaign: ReviewCampaign) -> dict[str, list[str]]:
    """What the item browser may filter on: the segments and reason tags its reviews carry
    (tags in the campaign's order, then others seen). Two queries."""
    segments = (
        ReviewItem.objects.filter(campaign=campaign, reviews__isnull=False)
        .values_list("prediction__segment", flat=True)
        .distinct()
    )
    seen = Review.objects.filter(campaign=campaign).values_list("reason_tags", flat=True)
    configured = [str(tag) for tag in campaign.reason_tags or []]
    others = {str(tag) for tags in seen.iterator() for tag in tags or [] if tag not in configured}
    return {
        "segments": sorted({s or "" for s in segments} - {""}, key=natural_key),
        "tags": [*dict.fromkeys(configured), *sorted(others, key=natural_key)],
    }


def campaign_items(
    campaign: ReviewCampaign,
    *,
    verdict: str = "",
    disagreement: bool = False,
    tag: str = "",
    segment: str = "",
) -> QuerySet:
    """The campaign's reviewed items, in their sample order, for the item browser: those with
    a review of `verdict` (correct, incorrect, unsure; pairwise: a, b, equal as shown), with
    reviews that disagree, with a review tagged `tag`, in `segment`. Each row brings its
    prediction(s); the page prefetches its reviews (ITEM_REVIEWS)."""
    items = ReviewItem.objects.filter(campaign=campaign).annotate(
        review_count=Count("reviews"),
        labels=Count("reviews__verdict", distinct=True)
        + Count("reviews__preference", distinct=True),
    )
    items = items.filter(review_count__gt=0)
    if verdict in VERDICTS:
        items = items.filter(Exists(Review.objects.filter(item=OuterRef("pk"), verdict=verdict)))
    elif verdict in Review.Preference.values:
        items = items.filter(Exists(Review.objects.filter(item=OuterRef("pk"), preference=verdict)))
    if disagreement:
        # One of verdict / preference is blank on every review (a database constraint), so
        # the distinct non-blank labels of an item are its verdicts or its preferences.
        items = items.filter(labels__gt=2)
    if tag:
        tagged = _tagged(Review.objects.filter(item=OuterRef("pk")), tag)
        items = items.filter(Exists(tagged))
    if segment:
        items = items.filter(prediction__segment=segment)
    return items.select_related("prediction", "other_prediction").order_by("position", "pk")


def _tagged(reviews: QuerySet, tag: str) -> QuerySet:
    """The reviews whose reason_tags hold `tag` exactly: jsonb containment on PostgreSQL; on
    SQLite (no JSON containment) the tag's JSON text in the stored list, as Django writes it
    (json.dumps, ASCII-escaped)."""
    if connection.vendor == "postgresql":
        return reviews.filter(reason_tags__contains=[tag])
    text = reviews.annotate(tags_text=Cast("reason_tags", TextField()))
    return text.filter(tags_text__contains=json.dumps(tag))


# The reviews of a page of items, side by side, reviewer by name.
ITEM_REVIEWS = Prefetch(
    "reviews",
    queryset=Review.objects.select_related("reviewer").order_by("created_at", "pk"),
)
