"""What the client raises: one base class carrying the server's JSON error body."""

from __future__ import annotations

# How many row or field errors the message of a QuorumError shows; `.errors` has them all.
SHOWN_ERRORS = 5


class QuorumError(Exception):
    """An API call that did not succeed.

    `status` is the HTTP status (None when the server could not be reached), `detail` the
    server's sentence, `errors` its list of {"row"?, "field"?, "message"} items (the first
    100 bad rows of an upload), `counts` its per-rule or per-kind counts, if any.
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        errors: list[dict] | None = None,
        counts: dict | None = None,
        body: object = None,
    ):
        self.detail = detail
        self.status = status
        self.errors = list(errors or [])
        self.counts = counts
        self.body = body
        super().__init__(self.message())

    def message(self, shown: int = SHOWN_ERRORS) -> str:
        """The detail, then the first `shown` row errors and the counts, one per line."""
        head = f"{self.detail} (HTTP {self.status})" if self.status else self.detail
        lines = [head]
        # A single field error is often the detail's own sentence: not said twice.
        errors = [item for item in self.errors if not _repeats(item, self.detail)]
        for item in errors[:shown]:
            lines.append(f"  {describe_error(item)}")
        if len(errors) > shown:
            lines.append(f"  … and {len(errors) - shown} more")
        if self.counts:
            lines.append(f"  counts: {describe_counts(self.counts)}")
        return "\n".join(lines)


class EvaluationFailed(QuorumError):
    """The evaluation finished with status "failed"; `detail` is the server's error."""

    def __init__(self, detail: str, *, evaluation: dict):
        self.evaluation = evaluation
        super().__init__(detail or "The evaluation failed without a message.")


class WaitTimeout(QuorumError):
    """A wait gave up after its timeout; what was waited for goes on on the server."""


class EvaluationTimeout(WaitTimeout):
    """wait_for_evaluation gave up; the evaluation itself goes on on the server."""

    def __init__(self, detail: str, *, evaluation: dict):
        self.evaluation = evaluation
        super().__init__(detail)


class CampaignTimeout(WaitTimeout):
    """wait_for_campaign gave up; `campaign` is the last answer (with its progress)."""

    def __init__(self, detail: str, *, campaign: dict):
        self.campaign = campaign
        super().__init__(detail)


class UseCaseIncomplete(QuorumError):
    """create_use_case stopped at a refused call: `created` holds what the server stored
    before it ({"use_case", "kpis", "value_model", "data_quality_rules", "members"}), `step`
    names the refused part; the server's status, detail and errors are the refusal's."""

    def __init__(self, detail: str, *, cause: QuorumError, created: dict, step: str):
        self.created = created
        self.step = step
        self.cause = cause
        super().__init__(
            detail,
            status=cause.status,
            errors=cause.errors,
            counts=cause.counts,
            body=cause.body,
        )


def _repeats(item: object, detail: str) -> bool:
    if not isinstance(item, dict) or item.get("row") is not None:
        return False
    message = str(item.get("message", "")).rstrip(". ")
    return bool(message) and message in detail


def describe_error(item: object) -> str:
    """{"row": 3, "field": "score", "message": "…"} → 'row 3, score: …'."""
    if not isinstance(item, dict):
        return str(item)
    where = []
    if item.get("row") is not None:
        where.append(f"row {item['row']}")
    if item.get("field"):
        where.append(str(item["field"]))
    message = str(item.get("message", ""))
    extra = {k: v for k, v in item.items() if k not in ("row", "field", "message")}
    if extra:
        message += " (" + ", ".join(f"{k}: {v}" for k, v in extra.items()) + ")"
    return f"{', '.join(where)}: {message}" if where else message


def describe_counts(counts: object, prefix: str = "") -> str:
    """{"rows": 10, "by_rule": {"age 18..120": 3}} → 'rows: 10, by_rule.age 18..120: 3'."""
    if not isinstance(counts, dict):
        return str(counts)
    parts = []
    for key, value in counts.items():
        if isinstance(value, dict):
            parts.append(describe_counts(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}: {value}")
    return ", ".join(part for part in parts if part)
