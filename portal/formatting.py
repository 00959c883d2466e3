"""Numbers as people read them: tables and the charts' hover texts share these, so a figure
reads the same everywhere. None is a dash."""

from __future__ import annotations

import json
import math
import re

DASH = "—"
MINUS = "−"  # a true minus sign: "−3.2" does not break across lines nor read as a hyphen


def signed(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def format_number(value: float | None, decimals: int | None = None) -> str:
    """3.142, 0.0123, 1,234 or 12,345,678: four significant digits, grouped when large;
    or exactly `decimals` decimals (an interval's bounds take their estimate's)."""
    if value is None:
        return DASH
    size = abs(value)
    if decimals is not None:
        text = f"{value:,.{decimals}f}"
    elif size >= 1000:
        text = f"{value:,.0f}"
    elif size >= 100:
        text = f"{value:.1f}"
    else:
        text = f"{value:.4g}"
    return signed(text)


def decimals_shown(value: float | None) -> int | None:
    """The decimals format_number() shows for `value` (None: scientific notation or None)."""
    text = format_number(value)
    if value is None or "e" in text:
        return None
    return len(text.partition(".")[2])


def format_money(value: float | None, currency: str = "") -> str:
    """−81,235 EUR; cents only below 100."""
    if value is None:
        return DASH
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return signed(text) + (f" {currency}" if currency else "")


def format_p_value(value: float | None, *, floor: float | None = None) -> str:
    """0.034; "< 0.001" below that; and "< 0.002" at a resampling test's floor (`floor`, the
    smallest p it can report, e.g. 2 / (R + 1) for a two-sided bootstrap of R resamples),
    where the true p-value may be anything smaller."""
    if value is None:
        return DASH
    if floor is not None and value <= floor * (1 + 1e-9):
        return f"< {math.ceil(floor * 1000) / 1000:.3f}"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def natural_key(name: str) -> list:
    """store-2 before store-10."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", str(name))
        if part
    ]


def value_text(value, *, decimals: int | None = 3) -> str:
    """A feature, prediction, outcome or audited value as people read it: a dash for nothing,
    yes/no, grouped integers, floats to `decimals` places without trailing zeros (None:
    exactly as stored), JSON for lists and objects."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if decimals is not None and isinstance(value, int):
        return f"{value:,}"
    if decimals is not None and isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
