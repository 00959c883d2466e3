"""`quorum monitoring`: what the nightly job measured on the logged predictions. Each KPI per
day and per week with its 95 % interval, shadow and canary versions against production,
drift, and the alerts (acknowledge and resolve them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorum_client.cli.output import interval, moment, number, out, print_json, table
from quorum_client.cli.reviews import percent
from quorum_client.cli.status import OK
from quorum_client.client import Client

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands

ALERT_STATUSES = ("open", "acknowledged", "resolved", "closed")
ALERT_KINDS = ("kpi_below_gate", "drift", "quality", "refused", "silence")


def kpi_row(when: object, version: object, kpi: dict) -> list[object]:
    return [
        when,
        version,
        kpi.get("name"),
        number(kpi.get("value")),
        interval(kpi),
        number(kpi.get("n")),
        number(kpi.get("gate_threshold")),
    ]


KPI_HEADERS = ["KPI", "value", "95 % interval", "n", "gate"]


def describe_days(days: list[dict]) -> str:
    if not days:
        return "No monitored days."
    rows = [
        [
            d.get("day"),
            d.get("version"),
            number(d.get("n_predictions")),
            number(d.get("n_with_outcome")),
            percent(d.get("violation_rate")),
            percent(d.get("refused_rate")),
        ]
        for d in days
    ]
    headers = ["day", "version", "predictions", "with outcome", "rule violations", "refused"]
    kpis = [kpi_row(d.get("day"), d.get("version"), k) for d in days for k in d.get("kpis") or []]
    text = table(headers, rows)
    if kpis:
        text += "\n\n" + table(["day", "version", *KPI_HEADERS], kpis)
    return text


def describe_weeks(weeks: list[dict]) -> str:
    if not weeks:
        return "No monitored weeks."
    rows = [kpi_row(w.get("week"), w.get("version"), w) for w in weeks]
    return table(["week of", "version", *KPI_HEADERS], rows)


def describe_comparison(days: list[dict]) -> str:
    if not days:
        return "No shadow or canary day compared with production."
    rows = [
        [
            c.get("day"),
            f"{c.get('version')} ({c.get('stage')})",
            c.get("baseline"),
            number(c.get("n_paired")),
            percent(c.get("disagreement_rate")),
            number(c.get("n_with_outcome")),
        ]
        for c in days
    ]
    headers = ["day", "challenger", "production", "paired", "disagree", "with outcome"]
    differences = [
        [
            c.get("day"),
            c.get("version"),
            d.get("name"),
            number(d.get("challenger")),
            number(d.get("baseline")),
            number(d.get("difference")),
            interval(d),
            number(d.get("p_value")),
        ]
        for c in days
        for d in c.get("differences") or []
    ]
    text = table(headers, rows)
    if differences:
        diff_headers = ["challenger", "production", "difference", "95 % interval", "p-value"]
        text += "\n\n" + table(["day", "version", "KPI", *diff_headers], differences)
    return text


def describe_drift(rows: list[dict]) -> str:
    if not rows:
        return "No drift measured."
    body = [
        [
            r.get("day"),
            r.get("version"),
            r.get("feature"),
            number(r.get("psi")),
            number(r.get("ks_p_value") if r.get("kind") == "numeric" else r.get("chi2_p_value")),
            percent(r.get("missing_share")),
            number(r.get("n_live")),
        ]
        for r in rows
    ]
    headers = ["day", "version", "feature", "PSI", "p-value", "missing", "rows"]
    return table(headers, body)


def describe_alerts(alerts: list[dict]) -> str:
    if not alerts:
        return "No alerts."
    rows = [
        [
            a.get("id"),
            a.get("version"),
            a.get("kind"),
            a.get("subject_label") or a.get("subject") or "",
            number(a.get("value")),
            number(a.get("threshold")),
            a.get("day"),
            a.get("last_seen_day"),
            a.get("status"),
        ]
        for a in alerts
    ]
    headers = ["id", "version", "kind", "subject", "value", "threshold", "since", "last", "status"]
    return table(headers, rows)


def _figures(fetch, describe):
    def handler(client: Client, args) -> int:
        filters = {"version": args.version}
        for name in ("start", "end", "feature", "status", "kind"):
            if hasattr(args, name):
                filters[name] = getattr(args, name)
        rows = fetch(client)(args.slug, **filters)
        if args.json:
            print_json(rows)
        else:
            out(describe(rows))
        return OK

    return handler


def _alert_action(verb: str):
    def handler(client: Client, args) -> int:
        act = client.acknowledge_alert if verb == "acknowledge" else client.resolve_alert
        alert = act(args.slug, args.id, args.note or "")
        if args.json:
            print_json(alert)
        else:
            out(
                f"Alert {alert.get('id')} ({alert.get('kind')}, "
                f"{alert.get('subject_label') or alert.get('version')}) is "
                f"{alert.get('status')} since {moment(alert.get(verb + 'd_at'))}."
            )
        return OK

    return handler


def add_commands(cli: Commands) -> None:
    monitoring = cli.group("monitoring", "what the nightly job measured in production")
    figures = (
        ("days", lambda c: c.monitoring_days, describe_days, "each version's days: KPIs, quality"),
        ("weeks", lambda c: c.monitoring_weeks, describe_weeks, "each KPI per week"),
        (
            "comparison",
            lambda c: c.monitoring_comparison,
            describe_comparison,
            "shadow and canary versions against production, day by day",
        ),
        ("drift", lambda c: c.monitoring_drift, describe_drift, "drift per day and feature"),
    )
    for name, fetch, describe, help_text in figures:
        sub = cli.command(monitoring, name, _figures(fetch, describe), help_text)
        sub.add_argument("slug")
        sub.add_argument("--version", dest="version", help="only this version (its name)")
        sub.add_argument("--start", metavar="YYYY-MM-DD", help="from this UTC day")
        sub.add_argument("--end", metavar="YYYY-MM-DD", help="up to this UTC day (inclusive)")
        if name == "drift":
            sub.add_argument("--feature", help="only this feature")
    sub = cli.command(
        monitoring,
        "alerts",
        _figures(lambda c: c.list_alerts, describe_alerts),
        "the alerts, newest first",
    )
    sub.add_argument("slug")
    sub.add_argument("--version", dest="version", help="only this version (its name)")
    sub.add_argument("--status", choices=ALERT_STATUSES)
    sub.add_argument("--kind", choices=ALERT_KINDS)
    for verb, help_text in (
        ("acknowledge", "say an open alert is being looked at"),
        ("resolve", "mark an alert resolved"),
    ):
        sub = cli.command(monitoring, verb, _alert_action(verb), help_text)
        sub.add_argument("slug")
        sub.add_argument("id", type=int)
        sub.add_argument("--note", help="kept on the alert with your name")
