"""The feature schema edited as rows in the browser (issue 11, item 13): name, type, unit,
description and allowed values per feature, an "Add a row" button and an import from a CSV
header, all without JavaScript. The API keeps taking the schema as JSON; both reach
services.validation.check_feature_schema.

Posted as schema-TOTAL and schema-<i>-<name|type|unit|description|values>; a row without a
name is left out; allowed values are comma-separated.
"""

from __future__ import annotations

import csv
import io

from usecases.catalogue import FEATURE_TYPES

PREFIX = "schema"
TOTAL = f"{PREFIX}-TOTAL"
FIELDS = ("name", "type", "unit", "description", "values")
BLANK_ROWS = 2
MAX_ROWS = 500
ACTION = "schema_action"  # "add-row" or "import-header": re-show the form, save nothing
HEADER = "schema_header"  # the CSV header line to import


def rows_from_schema(schema: list[dict]) -> list[dict]:
    """The stored schema as rows (allowed values comma-separated), and blank rows to fill."""
    rows = [
        {
            "name": feature.get("name", ""),
            "type": feature.get("type", ""),
            "unit": feature.get("unit", ""),
            "description": feature.get("description", ""),
            "values": ", ".join(str(v) for v in feature.get("values", [])),
        }
        for feature in schema or []
    ]
    return rows + [blank_row() for _ in range(BLANK_ROWS)]


def blank_row() -> dict:
    return {name: "" for name in FIELDS} | {"type": "number"}


def rows_from_post(data) -> list[dict]:
    """The rows as posted (all of them, blank ones too), at most MAX_ROWS."""
    try:
        total = min(int(data.get(TOTAL, 0)), MAX_ROWS)
    except (TypeError, ValueError):
        total = 0
    return [
        {name: str(data.get(f"{PREFIX}-{i}-{name}", "")).strip() for name in FIELDS}
        for i in range(max(total, 0))
    ]


def schema_from_rows(rows: list[dict]) -> list[dict]:
    """The schema the rows describe: named rows only; unit, description and allowed values
    only when given (the service checks everything)."""
    schema = []
    for row in rows:
        if not row["name"]:
            continue
        feature = {"name": row["name"], "type": row["type"]}
        if row["unit"]:
            feature["unit"] = row["unit"]
        if row["description"]:
            feature["description"] = row["description"]
        values = [v.strip() for v in row["values"].split(",") if v.strip()]
        if values:
            feature["values"] = values
        schema.append(feature)
    return schema


def header_names(text: str) -> list[str]:
    """The column names of a CSV header line (comma- or semicolon-separated, quotes allowed)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if not line:
        return []
    delimiter = ";" if line.count(";") > line.count(",") else ","
    return [name.strip() for name in next(csv.reader(io.StringIO(line), delimiter=delimiter))]


def edited_rows(data) -> list[dict]:
    """The rows to show again after "Add a row" or an import: the posted rows, blank ones
    dropped, then the imported names not already there (typed as text, to be set), then
    blank rows."""
    rows = [
        row
        for row in rows_from_post(data)
        if any(row[n] for n in ("name", "unit", "description", "values"))
    ]
    if data.get(ACTION) == "import-header":
        known = {row["name"] for row in rows}
        for name in header_names(str(data.get(HEADER, ""))):
            if name and name not in known:
                rows.append(blank_row() | {"name": name, "type": "string"})
                known.add(name)
    extra = BLANK_ROWS if data.get(ACTION) == "import-header" else BLANK_ROWS + 1
    return (rows + [blank_row() for _ in range(extra)])[:MAX_ROWS]


TYPE_CHOICES = [(kind, kind) for kind in FEATURE_TYPES]
