"""Live data quality of one version and UTC day, read from ingestion's per-day tally
(predictions.DailyTally, counted when the rows were stored), never by re-checking the log:
each rule's rows violating, and the use case's rows refused at ingestion that day.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from predictions.models import DailyTally
from registry.models import ModelVersion
from usecases.models import DataQualityRule


@dataclass
class RuleFigure:
    rule: DataQualityRule
    rows_checked: int
    rows_violating: int


@dataclass
class DayQuality:
    rows_checked: int = 0
    rows_violating: int = 0
    rows_received: int = 0
    rows_refused: int = 0
    rules: list[RuleFigure] = field(default_factory=list)


def day_quality(version: ModelVersion, day: datetime.date) -> DayQuality:
    """The day's figures: every current rule of the use case (0 when it flagged nothing)."""
    tallies = DailyTally.objects.filter(use_case_id=version.use_case_id, day=day)
    mine = tallies.filter(model_version=version).first()
    refusals = tallies.filter(model_version__isnull=True).first()
    result = DayQuality()
    if refusals is not None:
        result.rows_received, result.rows_refused = refusals.rows_received, refusals.rows_refused
    counts: dict[str, int] = {}
    if mine is not None:
        result.rows_checked, result.rows_violating = mine.rows_checked, mine.rows_violating
        counts = mine.rule_counts or {}
    rules = DataQualityRule.objects.filter(use_case_id=version.use_case_id).order_by("pk")
    for rule in rules:
        violating = min(int(counts.get(str(rule.pk), 0)), result.rows_checked)
        result.rules.append(RuleFigure(rule, result.rows_checked, violating))
    return result
