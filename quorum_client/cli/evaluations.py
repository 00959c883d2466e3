"""`quorum evaluate` and `quorum evaluations`: queue an evaluation and wait for it with a
progress bar, then its metrics with their 95 % intervals, the comparison with production
and the KPI gates."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from quorum_client.cli.output import (
    ProgressDisplay,
    err,
    interval,
    is_number,
    moment,
    number,
    out,
    print_json,
    table,
)
from quorum_client.cli.status import EVALUATION_FAILED, INTERRUPTED, OK, WAIT_TIMEOUT
from quorum_client.client import Client
from quorum_client.errors import EvaluationFailed, EvaluationTimeout

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands


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


def wait(client: Client, args, slug: str, evaluation_id: int, show=None) -> int:
    """Wait with a progress bar on stderr, then print the evaluation (or its failure) with
    `show` (default: the whole evaluation, as text or JSON)."""
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
    (show or print_evaluation)(evaluation, args)
    return evaluation_status(evaluation, args)


def print_evaluation(evaluation: dict, args) -> None:
    if args.json:
        print_json(evaluation)
    else:
        out(describe_evaluation(evaluation))


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


def kpi_rows(gates: list[dict]) -> list[list[object]]:
    """One row per KPI: value with its 95 % interval, target, gate and result."""
    return [
        [
            gate.get("name"),
            gate.get("metric"),
            gate.get("segment") or "",
            number(gate.get("value")),
            interval(gate),
            number(gate.get("target")),
            threshold(gate),
            gate_result(gate)
            if gate.get("passed") is not None or not gate.get("reason")
            else f"n/a: {gate['reason']}",
        ]
        for gate in gates
    ]


def print_kpis(evaluation: dict, args) -> None:
    """The KPI table of an evaluation (its results, as the promotion gates read them)."""
    fields = ("id", "version", "dataset", "dataset_name", "status", "finished_at", "error")
    if args.json:
        body = {key: evaluation.get(key) for key in fields}
        body.update(passed_gates=evaluation.get("passed_gates"), gates=evaluation.get("gates"))
        print_json(body)
        return
    status = evaluation.get("status")
    head = (
        f"KPIs of evaluation {evaluation.get('id')}: version {evaluation.get('version')} on "
        f"“{evaluation.get('dataset_name') or evaluation.get('dataset')}”"
    )
    if status != "succeeded":
        why = (
            evaluation.get("error") if status == "failed" else f"{evaluation.get('progress', 0)} %"
        )
        out(f"{head}: {status} ({why or 'no message'}); no KPI results.")
        return
    out(f"{head}, finished {moment(evaluation.get('finished_at'))}")
    gates = evaluation.get("gates") or []
    if not gates:
        out("The use case has no KPIs.")
        return
    headers = ["KPI", "metric", "segment", "value", "95 % interval", "target", "gate", "result"]
    out(table(headers, kpi_rows(gates)))
    out(gates_verdict(evaluation))


def cmd_evaluations_results(client: Client, args) -> int:
    if args.wait:
        return wait(client, args, args.slug, args.id, show=print_kpis)
    evaluation = client.get_evaluation(args.slug, args.id)
    print_kpis(evaluation, args)
    return evaluation_status(evaluation, args)


def add_commands(cli: Commands) -> None:
    sub = cli.top(
        "evaluate",
        cmd_evaluate,
        "evaluate a version on a dataset and wait for the results",
        description="Queue the evaluation of a version's predictions on a dataset, wait for "
        "it with a progress bar on stderr, then print the metrics and KPI gates.",
    )
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
    sub = cli.command(
        evaluations,
        "results",
        cmd_evaluations_results,
        "the KPI table: each KPI's value, 95 % interval, target, gate and result",
    )
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("--wait", action="store_true", help="wait until it has finished")
    add_wait_options(sub)
    sub = cli.command(evaluations, "list", cmd_evaluations_list, "list evaluations")
    sub.add_argument("slug")
    sub.add_argument("--version", dest="version", help="only this version's")
    sub.add_argument("--dataset", type=int, metavar="ID", help="only on this dataset")
    sub.add_argument("--status", choices=["queued", "running", "succeeded", "failed"])


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
