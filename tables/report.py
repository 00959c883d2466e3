"""What is wrong with a file: the problems found, counted per kind, and the refusal.

A `Report` collects problems while a file streams in; `raise_if_any()` turns them into a
`TableRejected` holding the first MAX_PROBLEMS and the exact count of each kind.

Row numbers in problems are 1-based data rows as a user counts them in the file, the header
excluded: row 1 is the second line of a CSV file (the first row of a Parquet file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from portal.errors import InvalidInput

MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One reason a file was refused; `row` is None for a problem of the whole file."""

    row: int | None
    column: str | None
    message: str
    rule: str | None = None  # the RuleSpec id, as text, when a rule was broken

    def as_dict(self) -> dict:
        """The problem as the API reports it (STYLE.md: row, field, message)."""
        return {"row": self.row, "field": self.column, "message": self.message, "rule": self.rule}


class TableRejected(InvalidInput):
    """The file was refused; nothing of it may be stored.

    `message` is one sentence for the user; `problems` the first 100 problems (file-level
    ones first, then by row); `counts` the exact number of each kind of problem over the
    whole file, keyed by reason ("age: not a number") or by the broken rule's summary.
    `limit_exceeded` is True when the file was refused for its size or row count alone
    (the API answers 413 then, 400 otherwise).
    """

    def __init__(
        self,
        message: str,
        problems: list[Problem] | None = None,
        counts: dict[str, int] | None = None,
        *,
        limit_exceeded: bool = False,
    ) -> None:
        super().__init__(message, code="too_large" if limit_exceeded else "rejected_file")
        self.problems = list(problems or [])
        self.counts = dict(counts or {})
        self.limit_exceeded = limit_exceeded

    @property
    def status_code(self) -> int:
        return 413 if self.limit_exceeded else 400

    def error_items(self) -> list[dict]:
        """One item per reported row (or the file itself, for a file refused as a whole);
        none for a file refused for its size alone, whose body is only its message."""
        if self.limit_exceeded:
            return []
        items = []
        for problem in self.problems:
            item = {"message": str(problem.message)}
            if problem.row is not None:
                item["row"] = problem.row
            if problem.column:
                item["field"] = problem.column
            items.append(item)
        if not items:  # an empty or unreadable file: no rows to point at
            items.append({"field": "file", "message": self.message})
        return items

    def body_extras(self) -> dict:
        """The counts per check; none for a file refused for its size alone."""
        return {} if self.limit_exceeded else {"counts": dict(self.counts)}


def plural_s(count: int) -> str:
    """The plural ending of a count's noun: "1 row", "2 rows"."""
    return "" if count == 1 else "s"


class Report:
    """Problems found so far: the first MAX_PROBLEMS kept, every one counted."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.counts: Counter[str] = Counter()
        self.file_problems = 0
        self._bad_rows: list[np.ndarray] = []  # 0-based indices among the rows read
        self._skipped: list[int] = []  # 1-based rows the CSV reader could not split
        self._full = False

    def row_number(self, index: int) -> int:
        """The 1-based row in the file of the `index`-th row read (0-based)."""
        if not self._skipped:
            return index + 1
        # Rows skipped by the CSV reader shift the later ones: skipped row s_j has
        # s_j - 1 - j rows read before it.
        read_before = np.asarray(self._skipped) - 1 - np.arange(len(self._skipped))
        return index + 1 + int(np.searchsorted(read_before, index, side="right"))

    def rows(
        self,
        offset: int,
        bad: np.ndarray,
        *,
        column: str | None,
        key: str,
        message: Callable[[int], str],
        rule: str | None = None,
        late: bool = False,
    ) -> None:
        """Count the rows flagged in `bad` (a batch starting at `offset`); keep the first."""
        where = np.flatnonzero(bad)
        if not len(where):
            return
        self.counts[key] += len(where)
        self._bad_rows.append(where + offset)
        if self._full and not late:
            return  # later batches only hold later rows than the 100 kept
        for i in where[:MAX_PROBLEMS]:
            self.problems.append(
                Problem(self.row_number(offset + int(i)), column, message(i), rule)
            )

    def count_rows(self, indices: np.ndarray, *, key: str, count: int) -> None:
        self.counts[key] += count
        self._bad_rows.append(indices)

    def skipped_row(self, row: int | None, message: str) -> None:
        """A CSV row that could not be split into the header's columns."""
        self.counts["rows with the wrong number of values"] += 1
        if row is not None:
            self._skipped.append(row)
        if not self._full:
            self.problems.append(Problem(row, None, message))

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def file(
        self,
        message: str,
        *,
        key: str,
        column: str | None = None,
        rule: str | None = None,
        count: int = 1,
    ) -> None:
        """A problem of the whole file (missing columns, a broken max_null_rate rule…)."""
        self.counts[key] += count
        self.file_problems += 1
        self.problems.append(Problem(None, column, message, rule))

    def end_batch(self) -> None:
        self._sort()
        self._full = len(self.problems) >= MAX_PROBLEMS

    def _sort(self) -> None:
        self.problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        del self.problems[MAX_PROBLEMS:]

    @property
    def bad_row_count(self) -> int:
        read = 0
        if self._bad_rows:
            indices = np.concatenate(self._bad_rows)
            flagged = np.zeros(int(indices.max()) + 1, dtype=bool)
            flagged[indices] = True
            read = int(flagged.sum())
        return read + self.counts["rows with the wrong number of values"]

    def raise_if_any(self) -> None:
        if not self.counts:
            return
        self._sort()
        bad, other = self.bad_row_count, self.file_problems
        if bad and other:
            text = f"{bad:,} bad row{plural_s(bad)} and {other} other problem{plural_s(other)}"
        elif bad:
            text = f"{bad:,} bad row{plural_s(bad)}"
        elif other == 1:
            only = self.problems[0].message.rstrip(".")
            raise TableRejected(f"{only}: nothing was stored.", self.problems, self.counts)
        else:
            text = f"{other} problems"
        raise TableRejected(f"The file has {text}: nothing was stored.", self.problems, self.counts)
