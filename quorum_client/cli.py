"""The `quorum` command: the client's calls from a shell or a CI job.

Exit status: 0 success; 1 an API or connection error (printed with the first bad rows);
2 a usage error; 3 the evaluation failed, or with --fail-on-gates a gating KPI failed;
4 --timeout passed while waiting (the evaluation goes on); 5 the promotion is blocked by its
gates (`promote` opened the request but a gate is not passed, or `promotions approve` ended
in a refusal); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import datetime

from quorum_client import __version__
from quorum_client.client import DEFAULT_URL, LOG_BATCH_ROWS, Client
from quorum_client.errors import EvaluationFailed, EvaluationTimeout, QuorumError, describe_error

OK, API_ERROR, USAGE_ERROR, EVALUATION_FAILED, WAIT_TIMEOUT, INTERRUPTED = 0, 1, 2, 3, 4, 130
PROMOTION_BLOCKED = 5
TARGET_STAGES = ("shadow", "canary", "production")
BAR_WIDTH = 20  # characters of the progress bar
MAX_CELL_WIDTH = 60  # characters of a table cell before it is cut


class UsageError(Exception):
    """Bad arguments that argparse cannot see (a malformed key=value, a missing token)."""


# Output


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


# Formatting evaluations


def interval(entry: dict) -> str:
    low, high = entry.get("low"), entry.get("high")
    if low is None and high is None:
        return "–"
    return f"[{number(low)}, {number(high)}]"


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metric_rows(metrics: dict) -> list[list[object]]:
    """Scalar metrics ({"value", "low", "high"}); matrices and curves are left to --json."""
    rows = []
    for name, entry in metrics.items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and "value" in entry and (value is None or is_number(value)):
            rows.append([name, number(value), interval(entry)])
        elif is_number(entry):
            rows.append([name, number(entry), "–"])
    return rows


def comparison_rows(comparison: dict) -> list[list[object]]:
    """Paired differences with the production version: {metric: {difference, low, high,
    p_value}}."""
    rows = []
    for name, entry in comparison.items():
        if isinstance(entry, dict) and is_number(entry.get("difference")):
            p_value = entry.get("p_value")
            rows.append([name, number(entry["difference"]), interval(entry), number(p_value)])
    return rows


def gate_result(gate: dict) -> str:
    passed = gate.get("passed")
    result = "n/a" if passed is None else ("PASS" if passed else "FAIL")
    if gate.get("is_gating") is False:
        result += " (not gating)"
    return result


def threshold(gate: dict) -> str:
    sign = {"lower": "≤ ", "higher": "≥ "}.get(str(gate.get("direction")), "")
    value = gate.get("threshold")
    text = f"{sign}{number(value)}" if value is not None else "–"
    if gate.get("mode") == "bound":
        text += " (bound)"
    return text


def describe_evaluation(evaluation: dict) -> str:
    """The evaluation's summary, then its metrics with intervals and its KPI gates."""
    status = evaluation.get("status", "unknown")
    dataset = f"dataset {evaluation.get('dataset')}"
    if evaluation.get("dataset_name"):
        dataset = f"“{evaluation['dataset_name']}” ({dataset})"
    head = f"Evaluation {evaluation.get('id')}: version {evaluation.get('version')} on {dataset}"
    head += f": {status}"
    if status not in ("succeeded", "failed"):
        head += f", {evaluation.get('progress', 0)} %"
    if evaluation.get("worker_seconds") is not None:
        head += f" in {evaluation['worker_seconds']:.1f} s of worker time"
    lines = [head]
    if status == "failed":
        lines.append(f"Error: {evaluation.get('error') or 'no message'}")
    display = evaluation.get("display")
    if isinstance(display, dict):  # the server's own texts: units, currency, p-value floor
        lines += displayed(evaluation, display)
        lines.append(gates_verdict(evaluation))
        return "\n".join(lines)
    results = evaluation.get("results") or {}
    overall = results.get("overall") if isinstance(results, dict) else None
    if isinstance(overall, dict) and overall:
        lines += ["", table(["metric", "value", "95 % interval"], metric_rows(overall))]
    comparison = results.get("comparison") if isinstance(results, dict) else None
    if isinstance(comparison, dict) and comparison_rows(comparison):
        headers = ["metric", "difference", "95 % interval", "p-value"]
        lines += [
            "",
            f"Against production version {evaluation.get('champion') or ''}".rstrip(),
            table(headers, comparison_rows(comparison)),
        ]
    gates = evaluation.get("gates") or []
    if gates:
        rows = [
            [
                gate.get("name"),
                gate.get("metric"),
                gate.get("segment") or "",
                number(gate.get("value")),
                threshold(gate),
                gate_result(gate),
            ]
            for gate in gates
        ]
        lines += [
            "",
            "KPI gates",
            table(["KPI", "metric", "segment", "value", "gate", "result"], rows),
        ]
        lines.append(gates_verdict(evaluation))
    return "\n".join(lines)


def displayed(evaluation: dict, display: dict) -> list[str]:
    """A succeeded evaluation's tables from the texts the server writes on its page."""
    lines = []
    metrics = display.get("metrics") or {}
    if metrics:
        rows = [
            [m.get("label"), m.get("value"), m.get("interval") or "–"] for m in metrics.values()
        ]
        lines += ["", table(["metric", "value", "95 % interval"], rows)]
    business = display.get("business_value")
    if business:
        lines.append(f"Business value: {business.get('total')} ({business.get('interval') or '–'})")
    comparison = display.get("comparison") or {}
    if comparison:
        headers = ["metric", "difference", "95 % interval", "p-value", "verdict"]
        rows = [
            [
                c.get("label"),
                c.get("difference"),
                c.get("interval") or "–",
                c.get("p_value"),
                c.get("verdict"),
            ]
            for c in comparison.values()
        ]
        champion = f"Against production version {evaluation.get('champion') or ''}".rstrip()
        lines += ["", champion, table(headers, rows)]
    gates = display.get("gates") or []
    if gates:
        rows = [
            [
                g.get("name"),
                g.get("metric"),
                g.get("segment") or "",
                g.get("value"),
                g.get("rule") or "–",
                g.get("result"),
            ]
            for g in gates
        ]
        lines += [
            "",
            "KPI gates",
            table(["KPI", "metric", "segment", "value", "gate", "result"], rows),
        ]
    return lines


def gates_verdict(evaluation: dict) -> str:
    passed = evaluation.get("passed_gates")
    if passed is None:
        return "Gates: no KPI gates promotion, or none could be measured."
    return (
        "Gates: PASS, every gating KPI passed." if passed else "Gates: FAIL, a gating KPI failed."
    )


def evaluation_status(evaluation: dict, args) -> int:
    if evaluation.get("status") == "failed":
        return EVALUATION_FAILED
    if getattr(args, "fail_on_gates", False) and evaluation.get("passed_gates") is False:
        return EVALUATION_FAILED
    return OK


# Commands


def key_values(text: str, option: str, *, simple: bool = False) -> dict:
    """`key=value`; a value that parses as JSON (0.05, true, [1, 2]) keeps its type. With
    `simple` (tags: the server takes strings, numbers and booleans) anything else stays text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} takes key=value, not “{text}”.")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if simple and not isinstance(parsed, str | int | float | bool):
        parsed = value
    return {key.strip(): parsed}


def cmd_usecases_list(client: Client, args) -> int:
    use_cases = client.list_use_cases()
    if args.json:
        print_json(use_cases)
        return OK
    rows = [
        [u.get("slug"), u.get("title"), u.get("phase"), u.get("task_type"), u.get("owner")]
        for u in use_cases
    ]
    out(table(["slug", "title", "phase", "task", "owner"], rows) if rows else "No use cases.")
    return OK


def cmd_usecases_show(client: Client, args) -> int:
    use_case = client.get_use_case(args.slug)
    if args.json:
        print_json(use_case)
        return OK
    for key, value in use_case.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        out(f"{key}: {'' if shown is None else shown}")
    return OK


def cmd_versions_register(client: Client, args) -> int:
    parameters: dict = {}
    if args.parameters_file:
        try:
            with open(args.parameters_file, encoding="utf-8") as file:
                parameters = json.load(file)
        except (OSError, ValueError) as error:
            raise UsageError(f"Cannot read {args.parameters_file}: {error}") from None
        if not isinstance(parameters, dict):
            raise UsageError(f"{args.parameters_file} must hold a JSON object.")
    for item in args.param:
        parameters.update(key_values(item, "--param"))
    tags: dict = {}
    for item in args.tag:
        tags.update(key_values(item, "--tag", simple=True))
    fields = {
        "description": args.description,
        "artifact_uri": args.artifact_uri,
        "git_commit": args.git_commit,
        "mlflow_run_id": args.mlflow_run_id,
        "framework": args.framework,
        "training_data_ref": args.training_data_ref,
        "parameters": parameters or None,
        "tags": tags or None,
    }
    version = client.register_version(args.slug, args.version, **fields)
    if args.json:
        print_json(version)
    else:
        out(
            f"Registered version {version.get('version', args.version)} of {args.slug} "
            f"(stage {version.get('stage', 'registered')})."
        )
    return OK


def cmd_versions_show(client: Client, args) -> int:
    version = client.get_version(args.slug, args.version)
    if args.json:
        print_json(version)
        return OK
    for key, value in version.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        out(f"{key}: {'' if shown is None else shown}")
    return OK


def cmd_versions_list(client: Client, args) -> int:
    versions = client.list_versions(args.slug)
    if args.json:
        print_json(versions)
        return OK
    rows = []
    for v in versions:
        latest = v.get("latest_evaluation") or {}
        rows.append(
            [
                v.get("version"),
                v.get("stage"),
                v.get("framework"),
                (v.get("created_at") or "")[:19],
                f"{latest.get('id')} {latest.get('status')}" if latest else "",
            ]
        )
    headers = ["version", "stage", "framework", "registered", "latest evaluation"]
    out(table(headers, rows) if rows else "No versions.")
    return OK


def cmd_datasets_upload(client: Client, args) -> int:
    dataset = client.upload_dataset(
        args.slug, args.file, args.name, args.description or "", on_upload=upload_progress(args)
    )
    if args.json:
        print_json(dataset)
        return OK
    out(
        f"Uploaded dataset {dataset.get('id')} “{dataset.get('name', args.name)}” to "
        f"{args.slug}: {number(dataset.get('rows'))} rows."
    )
    for rule in dataset.get("rule_violations") or []:
        if rule.get("violations"):
            out(
                f"  data-quality rule “{rule.get('description')}” ({rule.get('severity')}): "
                f"{number(rule['violations'])} rows"
            )
    out(f"Next: quorum predictions upload {args.slug} VERSION FILE --dataset {dataset.get('id')}")
    return OK


def cmd_datasets_list(client: Client, args) -> int:
    datasets = client.list_datasets(args.slug)
    if args.json:
        print_json(datasets)
        return OK
    rows = [
        [d.get("id"), d.get("name"), number(d.get("rows")), (d.get("created_at") or "")[:19]]
        for d in datasets
    ]
    out(table(["id", "name", "rows", "uploaded"], rows) if rows else "No datasets.")
    return OK


def cmd_predictions_upload(client: Client, args) -> int:
    predictions = client.upload_predictions(
        args.slug, args.version, args.dataset, args.file, on_upload=upload_progress(args)
    )
    if args.json:
        print_json(predictions)
        return OK
    scores = " with scores" if predictions.get("has_score") else ""
    out(
        f"Uploaded version {args.version}'s predictions for dataset {args.dataset}: "
        f"{number(predictions.get('rows'))} rows{scores}."
    )
    return OK


def read_rows(path: str) -> list[dict]:
    """A JSON array of rows, or JSON Lines (.jsonl, .ndjson: one row per line)."""
    try:
        with open(path, encoding="utf-8") as file:
            if path.lower().endswith((".jsonl", ".ndjson")):
                rows = [json.loads(line) for line in file if line.strip()]
            else:
                rows = json.load(file)
    except (OSError, ValueError) as error:
        raise UsageError(f"Cannot read {path}: {error}") from None
    if not isinstance(rows, list):
        raise UsageError(f"{path} must hold a JSON array of rows (or one row per line).")
    return rows


def log_rows(args, log_json, log_csv) -> dict:
    """Send FILE: CSV as it is (one request), JSON in batches of --batch-size rows."""
    if args.file.lower().endswith(".csv"):
        return log_csv(args.slug, args.file, partial=args.partial)
    return log_json(
        args.slug, read_rows(args.file), partial=args.partial, batch_size=args.batch_size
    )


def describe_rejected(answer: dict) -> None:
    for item in answer.get("errors") or []:
        out(f"  rejected {describe_error(item)}")
    if answer.get("rejected", 0) > len(answer.get("errors") or []):
        out(f"  … {number(answer['rejected'])} rejected rows in all")


def cmd_predictions_log(client: Client, args) -> int:
    answer = log_rows(args, client.log_predictions, client.log_predictions_csv)
    if args.json:
        print_json(answer)
        return OK
    out(
        f"Logged {number(answer.get('rows'))} rows to {args.slug} ({answer.get('mode')}): "
        f"{number(answer.get('inserted'))} new, {number(answer.get('duplicates'))} already "
        f"stored, {number(answer.get('rejected'))} rejected."
    )
    describe_rejected(answer)
    for rule in answer.get("rule_violations") or []:
        if rule.get("violations"):
            out(
                f"  data-quality rule “{rule.get('summary')}” ({rule.get('severity')}): "
                f"{number(rule['violations'])} rows"
            )
    return OK


def cmd_outcomes_log(client: Client, args) -> int:
    answer = log_rows(args, client.log_outcomes, client.log_outcomes_csv)
    if args.json:
        print_json(answer)
        return OK
    out(
        f"Attached {number(answer.get('rows'))} outcomes to {args.slug} ({answer.get('mode')}): "
        f"{number(answer.get('matched'))} requests matched, "
        f"{number(answer.get('updated_predictions'))} predictions updated, "
        f"{number(answer.get('unknown'))} unknown request ids, "
        f"{number(answer.get('rejected'))} rejected."
    )
    unknown = answer.get("unknown_request_ids") or []
    if unknown:
        more = ", …" if answer.get("unknown", 0) > len(unknown[:10]) else ""
        out(f"  unknown: {', '.join(str(u) for u in unknown[:10])}{more}")
    describe_rejected(answer)
    return OK


def wait(client: Client, args, slug: str, evaluation_id: int) -> int:
    """Wait with a progress bar on stderr, then print the evaluation (or its failure)."""
    display = ProgressDisplay(enabled=not args.quiet)
    try:
        evaluation = client.wait_for_evaluation(
            slug,
            evaluation_id,
            poll_seconds=args.poll,
            timeout=args.timeout,
            on_progress=display.evaluation,
        )
    except EvaluationFailed as failure:
        display.done()
        evaluation = failure.evaluation
    except EvaluationTimeout as timeout:
        display.done()
        err(f"quorum: {timeout.detail}")
        if args.json:
            print_json(timeout.evaluation)
        return WAIT_TIMEOUT
    except KeyboardInterrupt:
        display.done()
        err(
            f"Stopped waiting; evaluation {evaluation_id} goes on. "
            f"Follow it with: quorum evaluations show {slug} {evaluation_id} --wait"
        )
        return INTERRUPTED
    else:
        display.done()
    if args.json:
        print_json(evaluation)
    else:
        out(describe_evaluation(evaluation))
    return evaluation_status(evaluation, args)


def cmd_evaluate(client: Client, args) -> int:
    evaluation = client.start_evaluation(args.slug, args.version, args.dataset)
    if args.no_wait:
        if args.json:
            print_json(evaluation)
        else:
            out(
                f"Evaluation {evaluation.get('id')} {evaluation.get('status', 'queued')}: "
                f"version {args.version} on dataset {args.dataset}.\n"
                f"Follow it with: quorum evaluations show {args.slug} {evaluation.get('id')} --wait"
            )
        return OK
    if not args.quiet:
        err(
            f"Evaluation {evaluation.get('id')} of version {args.version} on dataset "
            f"{args.dataset} {evaluation.get('status', 'queued')}."
        )
    return wait(client, args, args.slug, evaluation["id"])


def cmd_evaluations_show(client: Client, args) -> int:
    if args.wait:
        return wait(client, args, args.slug, args.id)
    evaluation = client.get_evaluation(args.slug, args.id)
    if args.json:
        print_json(evaluation)
    else:
        out(describe_evaluation(evaluation))
    return evaluation_status(evaluation, args)


def cmd_evaluations_list(client: Client, args) -> int:
    evaluations = client.list_evaluations(
        args.slug, version=args.version, dataset=args.dataset, status=args.status
    )
    if args.json:
        print_json(evaluations)
        return OK
    rows = [
        [
            e.get("id"),
            e.get("version"),
            e.get("dataset_name") or e.get("dataset"),
            e.get("status"),
            f"{e.get('progress', 0)} %",
            {True: "PASS", False: "FAIL"}.get(e.get("passed_gates"), "–"),
            (e.get("finished_at") or "")[:19],
        ]
        for e in evaluations
    ]
    headers = ["id", "version", "dataset", "status", "progress", "gates", "finished"]
    out(table(headers, rows) if rows else "No evaluations.")
    return OK


# Formatting promotions and deployments


def waiting_text(waiting: object) -> str:
    """{"expert": 1, "data_scientist": 2} → '1 expert and 2 data scientists'."""
    if not isinstance(waiting, dict) or not waiting:
        return ""
    parts = []
    for capacity, count in waiting.items():
        name = str(capacity).replace("_", " ")
        parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " and ".join(parts)


def gates_passed(promotion: dict) -> bool:
    """Every gate passed; a request without gates is not taken as passed."""
    gates = promotion.get("gates") or []
    return bool(gates) and all(gate.get("status") == "passed" for gate in gates)


def stage_move(promotion: dict) -> str:
    """'registered → canary (10 %)'."""
    move = f"{promotion.get('from_stage')} → {promotion.get('target_stage')}"
    if promotion.get("traffic_percent") is not None:
        move += f" ({promotion['traffic_percent']} %)"
    return move


def gates_table(promotion: dict) -> str:
    rows = [
        [gate.get("kind"), gate.get("status"), gate.get("summary")]
        for gate in promotion.get("gates") or []
    ]
    return table(["kind", "status", "summary"], rows) if rows else "No gates."


def describe_promotion(promotion: dict) -> str:
    """The request's state, rationale, gates, decisions and what it waits for."""
    lines = [
        f"Promotion request {promotion.get('id')}: version {promotion.get('version')}, "
        f"{stage_move(promotion)}: {promotion.get('status')}",
        f"Requested by {promotion.get('requested_by')} at "
        f"{(promotion.get('created_at') or '')[:19]}: {promotion.get('rationale') or ''}",
        "",
        gates_table(promotion),
    ]
    decisions = [
        [
            d.get("user"),
            d.get("verdict"),
            str(d.get("capacity") or "").replace("_", " "),
            (d.get("created_at") or "")[:19],
            d.get("comment"),
        ]
        for d in promotion.get("decisions") or []
    ]
    if decisions:
        headers = ["decided by", "verdict", "as", "at", "comment"]
        lines += ["", table(headers, decisions)]
    lines.append("")
    if promotion.get("overridden_by"):
        lines.append(
            f"Gates overridden by {promotion['overridden_by']}: "
            f"{promotion.get('override_justification') or ''}"
        )
    if promotion.get("status") == "pending":
        waiting = waiting_text(promotion.get("waiting_for"))
        lines.append(f"Waits for {waiting}." if waiting else "Waits for no one.")
        if not gates_passed(promotion) and not promotion.get("overridden_by"):
            lines.append(
                "Not every gate is passed: approving will refuse to execute unless the gates "
                "pass by then or a manager overrides them."
            )
    elif promotion.get("outcome_note"):
        lines.append(f"Outcome: {promotion['outcome_note']}")
    return "\n".join(lines).rstrip()


def deployed_row(stage: str, version: dict | None) -> list[object]:
    if version is None:
        return [stage, "–", "", "", "", ""]
    traffic = version.get("traffic_percent")
    return [
        stage,
        version.get("version"),
        "" if traffic is None else f"{traffic} %",
        (version.get("stage_changed_at") or "")[:19],
        version.get("artifact_uri"),
        version.get("git_commit"),
    ]


def describe_deployment(deployment: dict) -> str:
    """Production and canary (– when empty), then every shadow version."""
    rows = [deployed_row(stage, deployment.get(stage)) for stage in ("production", "canary")]
    rows += [deployed_row("shadow", version) for version in deployment.get("shadow") or []]
    headers = ["stage", "version", "traffic", "since", "artifact", "git commit"]
    return f"Deployment of {deployment.get('use_case')}\n" + table(headers, rows)


# Promotion commands


def print_promotion(promotion: dict, args) -> None:
    if args.json:
        print_json(promotion)
    else:
        out(describe_promotion(promotion))


def cmd_promote(client: Client, args) -> int:
    promotion = client.request_promotion(
        args.slug,
        args.version,
        args.target_stage,
        rationale=args.rationale,
        traffic_percent=args.traffic,
    )
    blocked = not gates_passed(promotion)
    if args.json:
        print_json(promotion)
    else:
        waiting = waiting_text(promotion.get("waiting_for"))
        out(
            f"Opened promotion request {promotion.get('id')}: version "
            f"{promotion.get('version', args.version)} of {args.slug}, {stage_move(promotion)}."
        )
        out()
        out(gates_table(promotion))
        out()
        out(f"Waits for {waiting}." if waiting else "Waits for no one.")
        if blocked:
            out(
                "Not every gate is passed: approving will refuse to execute unless the gates "
                "pass by then or a manager overrides them "
                f"(quorum promotions override {args.slug} {promotion.get('id')} "
                "--justification …)."
            )
    return PROMOTION_BLOCKED if blocked else OK


def cmd_promotions_list(client: Client, args) -> int:
    promotions = client.list_promotions(args.slug)
    if args.json:
        print_json(promotions)
        return OK
    rows = [
        [
            p.get("id"),
            p.get("version"),
            stage_move(p),
            p.get("status"),
            p.get("requested_by"),
            (p.get("created_at") or "")[:19],
            "all passed" if gates_passed(p) else "not all passed",
            waiting_text(p.get("waiting_for")),
        ]
        for p in promotions
    ]
    headers = ["id", "version", "move", "status", "requested by", "opened", "gates", "waits for"]
    out(table(headers, rows) if rows else "No promotion requests.")
    return OK


def cmd_promotions_show(client: Client, args) -> int:
    print_promotion(client.get_promotion(args.slug, args.id), args)
    return OK


def cmd_promotions_approve(client: Client, args) -> int:
    promotion = client.approve_promotion(args.slug, args.id, args.comment or "")
    print_promotion(promotion, args)
    return PROMOTION_BLOCKED if promotion.get("status") == "refused" else OK


def cmd_promotions_reject(client: Client, args) -> int:
    print_promotion(client.reject_promotion(args.slug, args.id, args.comment), args)
    return OK


def cmd_promotions_withdraw(client: Client, args) -> int:
    print_promotion(client.withdraw_promotion(args.slug, args.id, args.comment or ""), args)
    return OK


def cmd_promotions_override(client: Client, args) -> int:
    print_promotion(client.override_promotion(args.slug, args.id, args.justification), args)
    return OK


def cmd_rollback(client: Client, args) -> int:
    deployment = client.rollback(args.slug, args.reason)
    if args.json:
        print_json(deployment)
    else:
        out(f"Rolled back {args.slug}.")
        out(describe_deployment(deployment))
    return OK


def cmd_deployment(client: Client, args) -> int:
    if args.watch is None:
        deployment, _ = client.deployment(args.slug)
        if args.json:
            print_json(deployment)
        else:
            out(describe_deployment(deployment or {}))
        return OK
    if not args.watch > 0:
        raise UsageError("--watch takes a number of seconds above 0.")
    for deployment in client.watch_deployment(args.slug, poll_seconds=args.watch):
        if args.json:  # one line per change (JSON Lines), for a program to read
            out(json.dumps(deployment, ensure_ascii=False), flush=True)
        else:
            seen_at = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
            out(f"{seen_at}  {describe_deployment(deployment)}\n", flush=True)
    return OK


# Arguments


class _Commands:
    """Adds the command groups and commands; every command takes the global options too."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        # The global options work before or after the command (`quorum --json usecases list`,
        # `quorum usecases list --json`): the subcommands' copies default to SUPPRESS so they
        # do not overwrite what was given before the command.
        self.common = common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--url", default=argparse.SUPPRESS, help="server address")
        common.add_argument("--token", default=argparse.SUPPRESS, help="API token")
        common.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="JSON on stdout"
        )
        common.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar"
        )
        self.commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def group(self, name: str, help_text: str):
        sub = self.commands.add_parser(name, help=help_text, description=help_text)
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    def command(self, where, name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = where.add_parser(name, help=help_text, description=help_text, parents=[self.common])
        sub.set_defaults(handler=handler)
        return sub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quorum",
        description="Register model versions, upload evaluation data and predictions, run "
        "evaluations, and promote versions on a Quorum server.",
        epilog="Exit status: 0 success, 1 API error, 2 usage error, 3 evaluation failed (or a "
        "gating KPI failed, with --fail-on-gates), 4 --timeout passed while waiting, 5 a "
        "promotion blocked by its gates (see quorum promote --help).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--url",
        default=None,
        help=f"server address (default: $QUORUM_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token", default=None, help="API token (default: $QUORUM_TOKEN; prefer the variable)"
    )
    parser.add_argument(
        "--json", action="store_true", default=False, help="print the server's JSON on stdout"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=False, help="no progress bar on stderr"
    )
    cli = _Commands(parser)
    _add_use_case_commands(cli)
    _add_version_commands(cli)
    _add_data_commands(cli)
    _add_evaluation_commands(cli)
    _add_promotion_commands(cli)
    _add_deployment_commands(cli)
    return parser


def _add_use_case_commands(cli: _Commands) -> None:
    usecases = cli.group("usecases", "use cases you can see")
    cli.command(usecases, "list", cmd_usecases_list, "list the use cases")
    sub = cli.command(usecases, "show", cmd_usecases_show, "show one use case")
    sub.add_argument("slug")


def _add_version_commands(cli: _Commands) -> None:
    versions = cli.group("versions", "model versions of a use case")
    sub = cli.command(versions, "register", cmd_versions_register, "register a model version")
    sub.add_argument("slug", help="the use case's slug")
    sub.add_argument("version", help="the version's name, e.g. 1.4.0")
    sub.add_argument("--description")
    sub.add_argument("--framework", help="e.g. lightgbm, scikit-learn, pytorch")
    sub.add_argument("--artifact-uri", help="where the model is stored, e.g. s3://…")
    sub.add_argument("--git-commit")
    sub.add_argument("--mlflow-run-id")
    sub.add_argument("--training-data-ref", help="which data it was trained on")
    sub.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter; repeat it; JSON values keep their type (lr=0.05, layers=[64,32])",
    )
    sub.add_argument("--parameters-file", metavar="FILE", help="parameters from a JSON object file")
    sub.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag; repeat it"
    )
    sub = cli.command(versions, "show", cmd_versions_show, "show one model version")
    sub.add_argument("slug")
    sub.add_argument("version")
    sub = cli.command(versions, "list", cmd_versions_list, "list a use case's versions")
    sub.add_argument("slug")


def _add_data_commands(cli: _Commands) -> None:
    """Evaluation datasets, a version's predictions on them, logged predictions, outcomes."""
    datasets = cli.group("datasets", "evaluation datasets of a use case")
    sub = cli.command(datasets, "upload", cmd_datasets_upload, "upload a CSV or Parquet dataset")
    sub.add_argument("slug")
    sub.add_argument("file", help="CSV (.csv, .csv.gz) or Parquet: id, features…, label")
    sub.add_argument("--name", required=True, help="unique per use case")
    sub.add_argument("--description")
    sub = cli.command(datasets, "list", cmd_datasets_list, "list a use case's datasets")
    sub.add_argument("slug")

    predictions = cli.group("predictions", "a model version's predictions")
    sub = cli.command(
        predictions, "upload", cmd_predictions_upload, "upload predictions for a dataset"
    )
    sub.add_argument("slug")
    sub.add_argument("version")
    sub.add_argument("file", help="CSV or Parquet: id, prediction, optional score")
    sub.add_argument("--dataset", required=True, type=int, metavar="ID", help="the dataset's id")
    sub = cli.command(
        predictions, "log", cmd_predictions_log, "log production or shadow predictions"
    )
    sub.add_argument("slug")
    sub.add_argument(
        "file",
        help="CSV (version, request_id, timestamp, prediction, score, segment, one column per "
        "feature) or JSON rows (.json array, .jsonl)",
    )
    add_log_options(sub)

    outcomes = cli.group("outcomes", "real outcomes of logged predictions")
    sub = cli.command(outcomes, "log", cmd_outcomes_log, "attach outcomes by request id")
    sub.add_argument("slug")
    sub.add_argument("file", help="CSV (request_id, outcome, timestamp) or JSON rows")
    add_log_options(sub)


def _add_evaluation_commands(cli: _Commands) -> None:
    sub = cli.commands.add_parser(
        "evaluate",
        parents=[cli.common],
        help="evaluate a version on a dataset and wait for the results",
        description="Queue the evaluation of a version's predictions on a dataset, wait for "
        "it with a progress bar on stderr, then print the metrics and KPI gates.",
    )
    sub.set_defaults(handler=cmd_evaluate)
    sub.add_argument("slug")
    sub.add_argument("version")
    sub.add_argument("--dataset", required=True, type=int, metavar="ID", help="the dataset's id")
    sub.add_argument("--no-wait", action="store_true", help="queue it and return at once")
    add_wait_options(sub)

    evaluations = cli.group("evaluations", "evaluations of a use case")
    sub = cli.command(evaluations, "show", cmd_evaluations_show, "show an evaluation's results")
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("--wait", action="store_true", help="wait until it has finished")
    add_wait_options(sub)
    sub = cli.command(evaluations, "list", cmd_evaluations_list, "list evaluations")
    sub.add_argument("slug")
    sub.add_argument("--version", dest="version", help="only this version's")
    sub.add_argument("--dataset", type=int, metavar="ID", help="only on this dataset")
    sub.add_argument("--status", choices=["queued", "running", "succeeded", "failed"])


def _add_promotion_commands(cli: _Commands) -> None:
    sub = cli.commands.add_parser(
        "promote",
        parents=[cli.common],
        help="ask for a version to move one stage up",
        description="Open a promotion request: its gates are measured now and printed, with "
        "who must approve it. Nothing moves until they have.",
        epilog="Exit status: 0 the request is open and every gate passed; 5 it is open but a "
        "gate is failed or incomplete (approving will refuse to execute unless the gates pass "
        "by then or a manager overrides them); 1 it was not opened (the server's reason, e.g. "
        "a bad field, or a request already pending for the version).",
    )
    sub.set_defaults(handler=cmd_promote)
    sub.add_argument("slug", help="the use case's slug")
    sub.add_argument("version", help="the version's name")
    sub.add_argument(
        "--to", dest="target_stage", required=True, choices=TARGET_STAGES, help="target stage"
    )
    sub.add_argument(
        "--traffic", type=int, metavar="PERCENT", help="canary only: its share of traffic, 1–50"
    )
    sub.add_argument("--rationale", required=True, help="why this version should be promoted")

    promotions = cli.group("promotions", "promotion requests of a use case")
    sub = cli.command(promotions, "list", cmd_promotions_list, "list the requests, newest first")
    sub.add_argument("slug")
    sub = cli.command(promotions, "show", cmd_promotions_show, "show a request's gates and votes")
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub = cli.command(
        promotions, "approve", cmd_promotions_approve, "approve (the last approval executes it)"
    )
    sub.epilog = (
        "Exit status 5 when this approval was the last one needed but execution was refused "
        "(a gate not passed and not overridden, or the version changed stage since): the "
        "reason is printed as the outcome."
    )
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("--comment", help="optional")
    sub = cli.command(promotions, "reject", cmd_promotions_reject, "reject, saying why")
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("--comment", required=True, help="why (the requester reads it)")
    sub = cli.command(promotions, "withdraw", cmd_promotions_withdraw, "withdraw your request")
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("--comment", help="optional")
    sub = cli.command(
        promotions, "override", cmd_promotions_override, "managers: override failed gates"
    )
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("--justification", required=True, help="kept in the audit trail")


def _add_deployment_commands(cli: _Commands) -> None:
    sub = cli.commands.add_parser(
        "deployment",
        parents=[cli.common],
        help="the versions serving a use case",
        description="Print the production, canary and shadow versions of a use case.",
    )
    sub.set_defaults(handler=cmd_deployment)
    sub.add_argument("slug")
    sub.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="poll every SECONDS and print the deployment again only when it changes (each "
        "poll is a cheap 304 while nothing does; with --json one line per change); Ctrl-C "
        "stops",
    )
    sub = cli.commands.add_parser(
        "rollback",
        parents=[cli.common],
        help="owners and managers: return the previous production version",
        description="Return the previous production version to production (the current one "
        "is archived) and print the new deployment.",
    )
    sub.set_defaults(handler=cmd_rollback)
    sub.add_argument("slug")
    sub.add_argument("--reason", required=True, help="kept in the audit trail")


def add_log_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--partial",
        action="store_true",
        help="store the good rows of a batch with bad ones (default: the batch stores nothing)",
    )
    sub.add_argument(
        "--batch-size",
        type=int,
        default=LOG_BATCH_ROWS,
        metavar="ROWS",
        help=f"rows per request for JSON files (default {LOG_BATCH_ROWS:,}; CSV is one request)",
    )


def add_wait_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--poll", type=float, default=2.0, metavar="SECONDS", help="seconds between polls"
    )
    sub.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up waiting after this long"
    )
    sub.add_argument(
        "--fail-on-gates",
        action="store_true",
        help="exit with status 3 when a gating KPI failed",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version (0) or a usage error (2)
        return stop.code if isinstance(stop.code, int) else USAGE_ERROR
    token = args.token if args.token is not None else os.environ.get("QUORUM_TOKEN")
    if not token:
        err("quorum: no API token: set QUORUM_TOKEN (or pass --token); create one on the portal")
        err("under Account → API tokens.")
        return USAGE_ERROR
    client = Client(base_url=args.url, token=token)
    try:
        return args.handler(client, args)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        err(f"quorum: error: {error}")
        return USAGE_ERROR
    except QuorumError as error:
        err(f"quorum: {error.message()}")
        if args.json:
            print_json(error.body if error.body is not None else {"detail": error.detail})
        return API_ERROR
    except KeyboardInterrupt:
        err("quorum: interrupted")
        return INTERRUPTED
    finally:
        client.close()
