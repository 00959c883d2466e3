"""`quorum versions`, `datasets`, `predictions` and `outcomes`: model versions, evaluation
datasets, a version's predictions on them, and the prediction log with its outcomes."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from quorum_client.cli.output import number, out, print_json, show_fields, table, upload_progress
from quorum_client.cli.status import OK, UsageError
from quorum_client.client import LOG_BATCH_ROWS, Client
from quorum_client.errors import describe_error

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands


def add_commands(cli: Commands) -> None:
    _add_version_commands(cli)
    _add_data_commands(cli)


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
    else:
        show_fields(version)
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


def _add_version_commands(cli: Commands) -> None:
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


def _add_data_commands(cli: Commands) -> None:
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
