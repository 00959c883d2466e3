"""CSV exports of review campaigns, streamed: pages and the API answer with the same response.

One row per review (reviews.selectors.CORRECTION_COLUMNS), every cell written by
portal.exports: numbers as they are, JSON values that are not scalars (features, a corrected
value that is a list, the reason tags) as compact JSON, so `json.loads` reads them back, None
empty, and text that a spreadsheet would run as a formula behind a leading apostrophe.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse

from portal.exports import csv_response
from reviews.models import ReviewCampaign
from reviews.selectors import CORRECTION_COLUMNS, corrections_rows


def corrections_csv_response(
    campaign: ReviewCampaign, *, filename: str | None = None
) -> StreamingHttpResponse:
    """Every review of the campaign as a CSV download, streamed (one query, read in chunks)."""
    rows = ([row[column] for column in CORRECTION_COLUMNS] for row in corrections_rows(campaign))
    name = filename or f"review-campaign-{campaign.pk}-corrections.csv"
    return csv_response(CORRECTION_COLUMNS, rows, filename=name)
