"""CSV exports of review campaigns, streamed: pages and the API answer with the same response.

One row per review (reviews.selectors.CORRECTION_COLUMNS). Numbers and text are written as
they are; JSON values that are not scalars (features, a corrected value that is a list, the
reason tags) are written as compact JSON, so `json.loads` reads them back; None is empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.http import StreamingHttpResponse

from reviews.models import ReviewCampaign
from reviews.selectors import CORRECTION_COLUMNS, corrections_rows

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"); free text from reviewers gets a leading apostrophe instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FREE_TEXT = frozenset({"comment"})


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer to stream."""

    def write(self, value: str) -> str:
        return value


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.isoformat()
    if column in FREE_TEXT and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    """The header, then one CSV line per row (its values in `columns` order)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([_cell(column, row.get(column)) for column in columns])


def corrections_csv_response(
    campaign: ReviewCampaign, *, filename: str | None = None
) -> StreamingHttpResponse:
    """Every review of the campaign as a CSV download, streamed (one query, read in chunks)."""
    name = filename or f"review-campaign-{campaign.pk}-corrections.csv"
    response = StreamingHttpResponse(
        csv_lines(corrections_rows(campaign), CORRECTION_COLUMNS),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
