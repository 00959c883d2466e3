"""`quorum promote`, `quorum promotions`, `quorum deployment` and `quorum rollback`: ask for a
version to move one stage up, decide on the requests, and see or undo what serves."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from quorum_client.cli.output import out, print_json, table
from quorum_client.cli.status import OK, PROMOTION_BLOCKED, UsageError
from quorum_client.client import Client

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands

TARGET_STAGES = ("shadow", "canary", "production")


def add_commands(cli: Commands) -> None:
    _add_promotion_commands(cli)
    _add_deployment_commands(cli)


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


def _add_promotion_commands(cli: Commands) -> None:
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


def _add_deployment_commands(cli: Commands) -> None:
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
