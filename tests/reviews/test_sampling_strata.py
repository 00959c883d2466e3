"""Stratified sampling allocates by the exact rows per segment in the window (SegmentCount's
whole days plus the partial first and last days), not by an estimate from a slice."""

import datetime
from collections import Counter

import pytest

from predictions.models import Prediction
from reviews.services import campaigns, sampling
from tests.factories import T0, log_predictions, make_version

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def v1(use_case, personas):
    return make_version(use_case, "1.0", personas["owner"])


def exact(version, start, end) -> dict[str, int]:
    rows = Prediction.objects.filter(model_version=version)
    if start:
        rows = rows.filter(predicted_at__gte=start)
    if end:
        rows = rows.filter(predicted_at__lt=end)
    return dict(Counter(rows.values_list("segment", flat=True)))


def test_shares_are_exact_even_when_the_probe_would_be_tiny(use_case, personas, v1, monkeypatch):
    monkeypatch.setattr(sampling, "STRATA_PROBE", 5)  # the old estimate: 5 rows
    log_predictions(v1, 2001, segments={"a": 1500, "b": 500, "rare": 1})
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["expert"],
        name="Exact",
        model_version=v1,
        strategy="stratified",
        sample_size=40,
    )
    picked = Counter(
        item.prediction.segment for item in campaign.items.select_related("prediction")
    )
    assert picked == {"a": 29, "b": 10, "rare": 1}  # largest remainder of 40 × 1500/500/1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (T0 + 24 * HOUR, T0 + 72 * HOUR),  # whole days only
        (T0 + 30 * HOUR, T0 + 100 * HOUR),  # partial first and last days
        (T0 + 30 * HOUR + datetime.timedelta(minutes=30), T0 + 40 * HOUR),  # within one day
        (T0 + 20 * HOUR, T0 + 26 * HOUR),  # across one midnight, no whole day
        (T0 + 47 * HOUR, None),  # only a start
        (None, T0 + 51 * HOUR),  # only an end
        (T0 + 24 * HOUR, T0 + 30 * HOUR),  # from a midnight into a partial day
    ],
)
def test_window_counts_equal_a_count_of_the_window(v1, start, end):
    # 150 predictions one an hour from T0 (midnight UTC): about six days, three segments.
    log_predictions(v1, 150, segments={"north": 70, "south": 50, "east": 30})
    assert sampling.window_counts(v1.pk, start, end) == exact(v1, start, end)


def test_window_counts_read_day_boundaries_in_utc(v1):
    """A window given in UTC−5 that spans whole UTC days: the days summed from the counts
    are the UTC days inside it, the partial edges counted in UTC too."""
    for prediction in log_predictions(v1, 120):  # "night" for 00–05 UTC, else "day"
        hour = prediction.predicted_at.astimezone(datetime.UTC).hour
        Prediction.objects.filter(pk=prediction.pk).update(segment="night" if hour < 6 else "day")
    new_york = datetime.timezone(datetime.timedelta(hours=-5))
    start = datetime.datetime(2026, 1, 1, 23, 30, tzinfo=new_york)  # 04:30 UTC on the 2nd
    end = datetime.datetime(2026, 1, 3, 20, 0, tzinfo=new_york)  # 01:00 UTC on the 4th
    expected = exact(v1, start, end)
    assert sampling.window_counts(v1.pk, start, end) == expected
    # read as if in UTC, the same wall-clock window holds other hours: the test can tell
    as_utc = [moment.replace(tzinfo=datetime.UTC) for moment in (start, end)]
    assert exact(v1, *as_utc) != expected


def test_stratified_sample_in_a_window_with_partial_days_is_proportional(use_case, personas, v1):
    rows = log_predictions(v1, 120)
    for prediction in rows:  # segment by hour of day (UTC): 0–5 "night", else "day"
        segment = "night" if prediction.predicted_at.astimezone(datetime.UTC).hour < 6 else "day"
        Prediction.objects.filter(pk=prediction.pk).update(segment=segment)
    start, end = T0 + 18 * HOUR, T0 + 90 * HOUR  # 72 hours: 18 night, 54 day
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["expert"],
        name="Window",
        model_version=v1,
        strategy="stratified",
        sample_size=24,
        window_start=start,
        window_end=end,
    )
    items = campaign.items.select_related("prediction")
    assert Counter(item.prediction.segment for item in items) == {"night": 6, "day": 18}
    assert all(start <= item.prediction.predicted_at < end for item in items)
