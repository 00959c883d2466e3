"""`quorum mlflow`: a use case's link to an MLflow registered model (docs/mlflow.md). Link
it, import its versions (and wait), read what was imported and the alias syncs that follow
each promotion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorum_client.cli.output import ProgressDisplay, err, moment, number, out, print_json, table
from quorum_client.cli.status import INTERRUPTED, OK, WAIT_TIMEOUT, UsageError
from quorum_client.client import Client
from quorum_client.errors import WaitTimeout

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands

STAGES = ("production", "canary", "shadow")


def parse_aliases(pairs: list[str] | None) -> dict[str, str] | None:
    """`--alias production=champion` (repeated; `canary=` sets none) as the API's map; the
    stages not given keep the defaults."""
    if not pairs:
        return None
    aliases = {"production": "champion", "canary": "challenger", "shadow": "shadow"}
    for pair in pairs:
        stage, sep, alias = pair.partition("=")
        if not sep or stage not in STAGES:
            raise UsageError(f"--alias takes STAGE=ALIAS with a stage of {', '.join(STAGES)}.")
        aliases[stage] = alias
    return aliases


def schedule(hours: object) -> str:
    return f"every {hours} h" if hours else "on demand only"


def describe_link(link: dict) -> str:
    aliases = "; ".join(
        f"{stage} → @{alias}" if alias else f"{stage} → none"
        for stage, alias in (link.get("aliases") or {}).items()
    )
    counts = link.get("versions") or {}
    lines = [
        f"MLflow model   {link.get('model_name')} at {link.get('tracking_uri')}",
        f"Credentials    {link.get('credentials') or 'the server’s MLflow environment'}",
        f"Aliases        {aliases}",
        f"Schedule       {schedule(link.get('import_every_hours'))}",
        f"Versions       {number(counts.get('imported'))} imported, "
        f"{number(counts.get('deleted_in_mlflow'))} deleted in MLflow",
    ]
    if link.get("last_import_error"):
        lines.append(
            f"Last import    failed {moment(link.get('last_import_at'))}: "
            f"{link['last_import_error']}"
        )
    elif link.get("last_import_at"):
        s = link.get("last_import") or {}
        lines.append(
            f"Last import    {moment(link.get('last_import_at'))}: {s.get('created', 0)} new, "
            f"{s.get('updated', 0)} changed, {s.get('unchanged', 0)} unchanged, "
            f"{s.get('deleted', 0)} marked deleted; {s.get('requests', 0)} requests in "
            f"{s.get('seconds', 0)} s"
        )
        lines += [f"  not imported: {line}" for line in s.get("skipped") or []]
    return "\n".join(lines)


def cmd_link(client: Client, args) -> int:
    link = client.link_mlflow(
        args.slug,
        tracking_uri=args.tracking_uri,
        model_name=args.model,
        credentials=args.credentials or "",
        aliases=parse_aliases(args.alias),
        import_every_hours=args.every,
    )
    if args.json:
        print_json(link)
    else:
        out(f"Linked {args.slug} to MLflow model “{link.get('model_name')}”: MLflow answered.")
        out(f"Import its versions with: quorum mlflow import {args.slug} --wait")
    return OK


def cmd_import(client: Client, args) -> int:
    display = ProgressDisplay(enabled=args.wait and not args.quiet)
    try:
        result = client.import_from_mlflow(
            args.slug,
            wait=args.wait,
            timeout=args.timeout,
            on_poll=lambda waited: display.show(f"importing from MLflow… {waited:.0f} s"),
        )
    except WaitTimeout as timeout:
        display.done()
        err(f"quorum: {timeout.detail}")
        return WAIT_TIMEOUT
    except KeyboardInterrupt:
        display.done()
        err("Stopped waiting; the import goes on.")
        return INTERRUPTED
    display.done()
    if args.json:
        print_json(result)
    elif args.wait:
        out(describe_link(result))
    else:
        out(f"The import is queued. See it with: quorum mlflow status {args.slug}")
    return OK


def cmd_status(client: Client, args) -> int:
    link = client.get_mlflow_link(args.slug)
    syncs = client.list_mlflow_syncs(args.slug)[:5]
    if args.json:
        print_json({**link, "syncs": syncs})
        return OK
    out(describe_link(link))
    if syncs:
        rows = [
            [
                moment(s.get("requested_at")),
                s.get("state"),
                s.get("attempts"),
                s.get("error") or "; ".join(s.get("changes") or []) or "nothing to change",
            ]
            for s in syncs
        ]
        out("\n" + table(["alias sync", "state", "attempts", "changes or error"], rows))
    return OK


def cmd_versions(client: Client, args) -> int:
    versions = client.list_mlflow_versions(args.slug)
    if args.json:
        print_json(versions)
        return OK
    if not versions:
        out("No version imported yet.")
        return OK
    rows = [
        [
            v.get("version"),
            v.get("stage"),
            ", ".join("@" + a for a in v.get("aliases") or []),
            ", ".join(f"{k}={number(x)}" for k, x in sorted((v.get("run_metrics") or {}).items())),
            "deleted in MLflow" if v.get("deleted_at") else "",
        ]
        for v in versions
    ]
    out(table(["version", "stage", "aliases", "run metrics", ""], rows))
    return OK


def cmd_sync(client: Client, args) -> int:
    sync = client.sync_mlflow(args.slug)
    if args.json:
        print_json(sync)
    else:
        out(
            f"Sync {sync.get('id')} of MLflow's aliases is queued: quorum mlflow status {args.slug}"
        )
    return OK


def cmd_unlink(client: Client, args) -> int:
    client.unlink_mlflow(args.slug)
    if not args.json:
        out(f"Unlinked {args.slug} from MLflow; the imported versions stay.")
    return OK


def add_commands(cli: Commands) -> None:
    group = cli.group(
        "mlflow", "import versions from an MLflow registry; aliases follow promotions"
    )
    sub = cli.command(group, "link", cmd_link, "link a use case to an MLflow registered model")
    sub.add_argument("slug")
    sub.add_argument("--tracking-uri", required=True, help="the MLflow server's address")
    sub.add_argument("--model", required=True, help="the registered model's name in MLflow")
    sub.add_argument(
        "--credentials", help="a credentials set's name configured on the Quorum server"
    )
    sub.add_argument(
        "--alias",
        action="append",
        metavar="STAGE=ALIAS",
        help="the alias a stage sets (default production=champion, canary=challenger, "
        "shadow=shadow; STAGE= sets none); repeat",
    )
    sub.add_argument("--every", type=int, choices=(0, 1, 6, 24), help="import every N hours")
    sub = cli.command(group, "import", cmd_import, "import the linked model's versions")
    sub.add_argument("slug")
    sub.add_argument("--wait", action="store_true", help="wait for the import and show it")
    sub.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting")
    for name, handler, help_text in (
        ("status", cmd_status, "the link, the last import and the latest alias syncs"),
        ("versions", cmd_versions, "the imported versions with their runs' metrics"),
        ("sync", cmd_sync, "queue a sync of the aliases to the stages now"),
        ("unlink", cmd_unlink, "unlink (the imported versions stay)"),
    ):
        sub = cli.command(group, name, handler, help_text)
        sub.add_argument("slug")
