"""The drift of one version's features and prediction on one UTC day of its prediction log,
against a reference (monitoring/services/reference.py): the daily job's drift step.

The day is read once per feature kind (monitoring/services/log_reads.py): on PostgreSQL one
aggregate query for every numeric histogram, one for every category count and one for the
KS sample, whatever the number of rows; elsewhere one pass over the rows in Python with the
same rules and the same results. The figures are monitoring/drift.py's.
"""

from __future__ import annotations

import datetime
import logging

from monitoring.drift import (
    FeatureDrift,
    NumericBins,
    categorical_drift,
    category_histogram,
    numeric_drift,
)
from monitoring.models import MonitoringPolicy
from monitoring.services.kpis import day_bounds
from monitoring.services.log_reads import NUMERIC, read_log
from monitoring.services.reference import (
    NoReference,
    Reference,
    default_reference,
    reference_from_dataset,
    reference_from_window,
)
from predictions.models import Prediction
from registry.models import ModelVersion

logger = logging.getLogger(__name__)


def day_drift(
    version: ModelVersion, day: datetime.date, *, reference: Reference | None = None
) -> list[FeatureDrift]:
    """The drift of every schema feature (numbers and categories), of the prediction and,
    for classification with scores in the reference, of the score, on `day` (UTC) of
    `version`'s prediction log against `reference` (default: reference_for's).

    Features outside the schema are ignored; a schema feature absent from the day is all
    missing; a day without predictions gives n_live 0 and None for PSI and p-values."""
    if reference is None:
        reference = reference_for(version)
    start, end = day_bounds(day)
    numeric = [f for f in reference.features if f.column.kind == NUMERIC]
    categorical = [f for f in reference.features if f.column.kind != NUMERIC]
    live = read_log(
        version.pk,
        start,
        end,
        numeric=[(f.column, f.bins) for f in numeric],
        categorical=[f.column for f in categorical],
        sample=[f.column for f in numeric],
    )
    drifts = []
    for feature in reference.features:
        name = feature.column.name
        if isinstance(feature.bins, NumericBins):
            drift = numeric_drift(
                name,
                feature.bins,
                feature.histogram,
                live.histograms[name],
                reference_sample=feature.sample,
                live_sample=live.samples[name],
            )
        else:
            live_histogram = category_histogram(live.category_counts[name], feature.bins)
            drift = categorical_drift(name, feature.bins, feature.histogram, live_histogram)
        drifts.append(drift)
    return drifts


def reference_for(version: ModelVersion) -> Reference:
    """The reference the use case's policy asks for: its window of UTC days, read from the
    version's own log, when it has one and the version logged in it; else the reference
    dataset of the version's last succeeded evaluation (NoReference without one). A version
    deployed after the window (a new shadow) is thus compared with its holdout."""
    policy = MonitoringPolicy.objects.filter(use_case_id=version.use_case_id).first()
    if policy is not None and policy.reference_start and policy.reference_end:
        start, _ = day_bounds(policy.reference_start)
        _, end = day_bounds(policy.reference_end)
        logged = Prediction.objects.filter(
            model_version=version, predicted_at__gte=start, predicted_at__lt=end
        )
        if logged.exists():
            return reference_from_window(version, start, end)
        logger.info("version %s logged nothing in the reference window: its holdout", version.pk)
    return default_reference(version)


__all__ = [
    "NoReference",
    "Reference",
    "day_bounds",
    "day_drift",
    "default_reference",
    "reference_from_dataset",
    "reference_for",
    "reference_from_window",
]
