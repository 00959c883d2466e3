"""What the `quorum` command writes: text and JSON on stdout, messages and progress bars on
stderr, tables and numbers formatted alike by every command."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable

BAR_WIDTH = 20  # characters of the progress bar
MAX_CELL_WIDTH = 60  # characters of a table cell before it is cut


def out(text: str = "", *, flush: bool = False) -> None:
    print(text, file=sys.stdout, flush=flush)


def err(text: str = "") -> None:
    print(text, file=sys.stderr)


def print_json(data: object) -> None:
    out(json.dumps(data, indent=2, ensure_ascii=False))


def number(value: object) -> str:
    """A metric for a table: 4 significant digits, thousands grouped, – when missing."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "–"
        return significant(value)
    return str(value)


def significant(value: float, digits: int = 4) -> str:
    """`digits` significant digits in plain notation, thousands grouped, never an exponent:
    -99,900 (not -9.99e+04), 0.1235, 0.000123."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{round(value, decimals):,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain text table, columns padded to their widest cell, long cells cut."""
    cells = [[cut("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *cells]
    )


def cut(text: str) -> str:
    return text if len(text) <= MAX_CELL_WIDTH else text[: MAX_CELL_WIDTH - 1] + "…"


def progress_bar(progress: object, status: object, width: int = BAR_WIDTH) -> str:
    """`[#########-----------]  45 % running`."""
    try:
        percent = max(0, min(100, int(progress or 0)))
    except (TypeError, ValueError):
        percent = 0
    if status == "succeeded":
        percent = 100
    filled = percent * width // 100
    return f"[{'#' * filled}{'-' * (width - filled)}] {percent:3d} % {status or ''}".rstrip()


class ProgressDisplay:
    """Redraws one line on a terminal; elsewhere (a CI log) writes a line per change."""

    def __init__(self, stream=None, *, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_line = ""

    def show(self, line: str) -> None:
        if not self.enabled or line == self.last_line:
            return
        if self.is_tty:
            self.stream.write("\r" + line.ljust(len(self.last_line)))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last_line = line

    def evaluation(self, evaluation: dict) -> None:
        self.show(progress_bar(evaluation.get("progress"), evaluation.get("status")))

    def done(self) -> None:
        if self.enabled and self.is_tty and self.last_line:
            self.stream.write("\n")
            self.stream.flush()
        self.last_line = ""


def upload_progress(args) -> Callable[[int, int], None] | None:
    """An upload's progress on a terminal only: a log gains nothing from it."""
    display = ProgressDisplay()
    if args.quiet or not display.is_tty:
        return None

    def show(sent: int, total: int) -> None:
        percent = sent * 100 // total if total else 100
        megabytes = f"{sent / 1e6:.1f} of {total / 1e6:.1f} MB"
        display.show(f"{progress_bar(percent, 'uploading')} ({megabytes})")
        if sent >= total:
            display.done()

    return show


def interval(entry: dict) -> str:
    low, high = entry.get("low"), entry.get("high")
    if low is None and high is None:
        return "–"
    return f"[{number(low)}, {number(high)}]"


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def show_fields(item: dict) -> None:
    """`key: value` per field; lists and mappings as one line of JSON."""
    for key, value in item.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        out(f"{key}: {'' if shown is None else shown}")


def moment(value: object) -> str:
    """'2026-10-01T08:30:00Z' → '2026-10-01 08:30:00'; '' when missing."""
    return str(value or "")[:19].replace("T", " ")
