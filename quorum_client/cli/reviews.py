"""`quorum campaigns`: review campaigns of a use case. Create one (the server samples the
predictions), follow its progress (with --wait, a progress bar until every review is in),
read its results, export the experts' corrections as CSV, close it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from quorum_client.cli.output import (
    ProgressDisplay,
    err,
    moment,
    number,
    out,
    print_json,
    progress_bar,
    table,
)
from quorum_client.cli.status import INTERRUPTED, OK, WAIT_TIMEOUT
from quorum_client.client import Client
from quorum_client.errors import CampaignTimeout

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands

STRATEGIES = ("uniform", "stratified", "lowest_confidence", "largest_error", "disagreement")


def percent(value: object) -> str:
    """0.8235 → '82.4 %'; – when missing."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "–"
    return f"{value * 100:.1f} %"


def proportion(entry: dict | None) -> list[str]:
    """[rate, interval, 'k of n'] of a {successes, n, rate, low, high}."""
    entry = entry or {}
    bounds = "–"
    if entry.get("low") is not None:
        bounds = f"[{percent(entry['low'])}, {percent(entry.get('high'))}]"
    return [
        percent(entry.get("rate")),
        bounds,
        f"{entry.get('successes', 0)} of {entry.get('n', 0)}",
    ]


def progress_line(campaign: dict) -> str:
    progress = campaign.get("progress") or {}
    done, needed = progress.get("reviews_done", 0), progress.get("reviews_needed", 0)
    shown = progress_bar(progress.get("percent"), campaign.get("status"))
    return f"{shown} ({number(done)} of {number(needed)} reviews)"


def describe_progress(campaign: dict) -> str:
    progress = campaign.get("progress") or {}
    lines = [
        f"Campaign {campaign.get('id')} “{campaign.get('name')}”: version "
        f"{campaign.get('model_version')}"
        + (f" against {campaign['other_version']}" if campaign.get("other_version") else "")
        + f", {campaign.get('mode')}, {campaign.get('strategy')}: {campaign.get('status')}",
        f"{number(progress.get('reviews_done'))} of {number(progress.get('reviews_needed'))} "
        f"reviews ({number(progress.get('percent'))} %) on {number(progress.get('items'))} "
        f"items; {number(progress.get('open_claims'))} items held by reviewers now.",
    ]
    if campaign.get("due_date"):
        lines.append(f"Due {campaign['due_date']}.")
    reviewers = [
        [
            r.get("username"),
            number(r.get("reviewed")),
            number(r.get("seconds")),
            r.get("open_claims"),
        ]
        for r in progress.get("reviewers") or []
    ]
    if reviewers:
        lines += ["", table(["reviewer", "reviewed", "seconds", "holding"], reviewers)]
    return "\n".join(lines)


def describe_results(results: dict) -> str:
    campaign = results.get("campaign") or {}
    verdicts = results.get("verdicts") or {}
    lines = [
        f"Campaign {campaign.get('id')} “{campaign.get('name')}” ({campaign.get('mode')}, "
        f"{campaign.get('status')}): {number(results.get('reviews'))} reviews of "
        f"{number(results.get('items_reviewed'))} items",
        f"Verdicts: {number(verdicts.get('correct'))} correct, "
        f"{number(verdicts.get('incorrect'))} incorrect, {number(verdicts.get('unsure'))} unsure",
        "Acceptance (unsure left out): {} {} ({})".format(*proportion(results.get("acceptance"))),
    ]
    headers = ["acceptance", "95 % interval", "correct of judged", "reviews"]
    for key, name in (("segments", "segment"), ("reason_tags", "tag")):
        rows = [
            [
                group.get(name) or "(none)",
                *proportion(group.get("acceptance")),
                group.get("reviews"),
            ]
            for group in results.get(key) or []
        ]
        if rows:
            lines += ["", table([name, *headers], rows)]
    lines += agreement_lines(results.get("agreement") or {})
    lines += pairwise_lines(results.get("pairwise"))
    return "\n".join(lines)


def agreement_lines(agreement: dict) -> list[str]:
    if not agreement.get("items"):
        return ["", "Agreement: no item was reviewed twice."]
    alpha = agreement.get("krippendorff_alpha") or {}
    fleiss = agreement.get("fleiss_kappa") or {}
    lines = [
        "",
        f"Agreement on {number(agreement.get('items'))} items reviewed at least twice: "
        f"Krippendorff's alpha {number(alpha.get('value'))} ({alpha.get('band') or '–'}), "
        f"Fleiss' kappa {number(fleiss.get('value'))} ({fleiss.get('band') or '–'})",
    ]
    pairs = [
        [
            " & ".join(p.get("reviewers") or []),
            number(p.get("value")),
            p.get("band"),
            p.get("items"),
        ]
        for p in agreement.get("pairs") or []
    ]
    if pairs:
        lines.append(table(["reviewers", "Cohen's kappa", "reading", "items"], pairs))
    return lines


def pairwise_lines(pairwise: dict | None) -> list[str]:
    if not pairwise:
        return []
    rows = [
        [
            v.get("version"),
            v.get("wins"),
            v.get("losses"),
            v.get("ties"),
            *proportion(v.get("share"))[:2],
        ]
        for v in pairwise.get("versions") or []
    ]
    return [
        "",
        f"Preferences: {number(pairwise.get('decisive'))} decisive, "
        f"{number(pairwise.get('ties'))} ties; p-value {number(pairwise.get('p_value'))} "
        "(exact binomial test, ties left out)",
        table(["version", "wins", "losses", "ties", "share", "95 % interval"], rows),
    ]


def cmd_campaigns_list(client: Client, args) -> int:
    campaigns = client.list_campaigns(args.slug)
    if args.json:
        print_json(campaigns)
        return OK
    rows = [
        [
            c.get("id"),
            c.get("name"),
            c.get("model_version"),
            c.get("mode"),
            c.get("status"),
            f"{number(c.get('reviews_done'))} of "
            f"{number((c.get('item_count') or 0) * (c.get('reviewers_per_item') or 1))}",
            c.get("due_date") or "",
            moment(c.get("created_at")),
        ]
        for c in campaigns
    ]
    headers = ["id", "name", "version", "mode", "status", "reviews", "due", "created"]
    out(table(headers, rows) if rows else "No review campaigns.")
    return OK


def cmd_campaigns_create(client: Client, args) -> int:
    campaign = client.create_campaign(
        args.slug,
        args.name,
        args.version,
        args.sample_size,
        other_version=args.other_version,
        mode=args.mode,
        strategy=args.strategy,
        reviewers_per_item=args.reviewers_per_item,
        instructions=args.instructions,
        reason_tags=args.reason_tag or None,
        due_date=args.due_date,
        window_start=args.window_start,
        window_end=args.window_end,
    )
    if args.json:
        print_json(campaign)
        return OK
    out(
        f"Opened review campaign {campaign.get('id')} “{campaign.get('name')}” on "
        f"{args.slug}: {number(campaign.get('item_count'))} items sampled "
        f"({campaign.get('strategy')}), {campaign.get('reviewers_per_item')} reviewer(s) each."
    )
    out(f"Follow it with: quorum campaigns progress {args.slug} {campaign.get('id')} --wait")
    return OK


def cmd_campaigns_progress(client: Client, args) -> int:
    if not args.wait:
        campaign = client.get_campaign(args.slug, args.id)
    else:
        display = ProgressDisplay(enabled=not args.quiet)
        try:
            campaign = client.wait_for_campaign(
                args.slug,
                args.id,
                poll_seconds=args.poll,
                timeout=args.timeout,
                on_progress=lambda c: display.show(progress_line(c)),
            )
        except CampaignTimeout as timeout:
            display.done()
            err(f"quorum: {timeout.detail}")
            if args.json:
                print_json(timeout.campaign)
            return WAIT_TIMEOUT
        except KeyboardInterrupt:
            display.done()
            err(f"Stopped waiting; campaign {args.id} goes on.")
            return INTERRUPTED
        display.done()
    if args.json:
        print_json(campaign)
    else:
        out(describe_progress(campaign))
    return OK


def cmd_campaigns_results(client: Client, args) -> int:
    results = client.campaign_results(args.slug, args.id)
    if args.json:
        print_json(results)
    else:
        out(describe_results(results))
    return OK


def cmd_campaigns_corrections(client: Client, args) -> int:
    if args.json:
        print_json(client.campaign_corrections(args.slug, args.id))
        return OK
    if args.output in (None, "-"):
        sys.stdout.flush()
        client.download_corrections(args.slug, args.id, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return OK
    written = client.download_corrections(args.slug, args.id, args.output)
    if not args.quiet:
        err(
            f"Wrote the corrections of campaign {args.id} to {args.output} "
            f"({number(written)} bytes)."
        )
    return OK


def cmd_campaigns_close(client: Client, args) -> int:
    campaign = client.close_campaign(args.slug, args.id)
    if args.json:
        print_json(campaign)
    else:
        out(f"Closed campaign {campaign.get('id')} “{campaign.get('name')}”.")
    return OK


def add_commands(cli: Commands) -> None:
    campaigns = cli.group("campaigns", "review campaigns of a use case")
    sub = cli.command(campaigns, "list", cmd_campaigns_list, "list the campaigns, newest first")
    sub.add_argument("slug")
    sub = cli.command(
        campaigns, "create", cmd_campaigns_create, "sample predictions and open a campaign"
    )
    sub.add_argument("slug")
    sub.add_argument("--name", required=True)
    sub.add_argument("--version", dest="version", required=True, help="the version reviewed")
    sub.add_argument("--sample-size", type=int, required=True, metavar="N", help="items to sample")
    sub.add_argument(
        "--other-version", help="pairwise: version B; disagreement: the champion compared with"
    )
    sub.add_argument("--mode", choices=("single", "pairwise"), help="default single")
    sub.add_argument("--strategy", choices=STRATEGIES, help="default uniform")
    sub.add_argument("--reviewers-per-item", type=int, metavar="N", help="default 1")
    sub.add_argument("--instructions")
    sub.add_argument("--reason-tag", action="append", default=[], metavar="TAG", help="repeat it")
    sub.add_argument("--due-date", metavar="YYYY-MM-DD")
    sub.add_argument("--window-start", metavar="DATETIME", help="only predictions from then")
    sub.add_argument("--window-end", metavar="DATETIME", help="only predictions until then")
    sub = cli.command(campaigns, "progress", cmd_campaigns_progress, "reviews done, per reviewer")
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument(
        "--wait",
        action="store_true",
        help="wait with a progress bar until every review is in (or the campaign is closed)",
    )
    sub.add_argument("--poll", type=float, default=10.0, metavar="SECONDS")
    sub.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this long")
    sub = cli.command(
        campaigns, "results", cmd_campaigns_results, "acceptance, agreement and preferences"
    )
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub = cli.command(
        campaigns,
        "corrections",
        cmd_campaigns_corrections,
        "export every review (verdicts, corrected values) as CSV",
    )
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
    sub.add_argument("-o", "--output", metavar="FILE", help="write the CSV here (default: stdout)")
    sub = cli.command(campaigns, "close", cmd_campaigns_close, "close: no more reviews")
    sub.add_argument("slug")
    sub.add_argument("id", type=int)
