"""`quorum usecases` and `quorum members`: the use cases you can see, a new one created from
a YAML or JSON file with its KPIs, value model, rules and members, and who has which role."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorum_client.cli.output import err, moment, number, out, print_json, show_fields, table
from quorum_client.cli.status import OK, exit_status
from quorum_client.client import Client
from quorum_client.errors import UseCaseIncomplete

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands

ROLES = ("owner", "expert", "data_scientist", "viewer")
PHASES = ("idea", "scoping", "data", "poc", "pilot", "production", "retired")


def cmd_usecases_list(client: Client, args) -> int:
    use_cases = client.list_use_cases(search=args.search, phase=args.phase, owner=args.owner)
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
    else:
        show_fields(use_case)
    return OK


def counted(count: int, name: str) -> str:
    return f"{count} {name}{'' if count == 1 else 's'}"


def describe_created(created: dict) -> str:
    """'Created use case churn “Churn” with 3 KPIs, the value model, 2 data-quality rules and
    1 member.'"""
    use_case = created.get("use_case") or {}
    parts = []
    if created.get("kpis"):
        parts.append(counted(len(created["kpis"]), "KPI"))
    if created.get("value_model"):
        parts.append("the value model")
    if created.get("data_quality_rules"):
        parts.append(counted(len(created["data_quality_rules"]), "data-quality rule"))
    if created.get("members"):
        parts.append(counted(len(created["members"]), "member"))
    head = f"Created use case {use_case.get('slug')} “{use_case.get('title')}”"
    if not parts:
        return head + "."
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return f"{head} with {listed}."


def cmd_usecases_create(client: Client, args) -> int:
    def step(what: str) -> None:
        if not args.quiet:
            err(f"Creating {what}…")

    try:
        created = client.create_use_case(args.file, on_step=step)
    except UseCaseIncomplete as incomplete:
        err(f"quorum: {incomplete.message()}")
        if args.json:
            print_json(
                {
                    "detail": incomplete.detail,
                    "refused": incomplete.step,
                    "errors": incomplete.errors,
                    "created": incomplete.created,
                }
            )
        return exit_status(incomplete)
    if args.json:
        print_json(created)
        return OK
    out(describe_created(created))
    slug = created["use_case"]["slug"]
    out(f"Next: quorum versions register {slug} VERSION")
    return OK


def cmd_members_list(client: Client, args) -> int:
    members = client.list_members(args.slug)
    if args.json:
        print_json(members)
        return OK
    rows = [[m.get("username"), m.get("role"), moment(m.get("added_at"))] for m in members]
    out(table(["member", "role", "since"], rows) if rows else "No members.")
    return OK


def cmd_members_add(client: Client, args) -> int:
    member = client.add_member(args.slug, args.username, args.role)
    if args.json:
        print_json(member)
    else:
        out(f"Added {member.get('username')} to {args.slug} as {member.get('role')}.")
    return OK


def cmd_members_role(client: Client, args) -> int:
    member = client.change_member_role(args.slug, args.username, args.role)
    if args.json:
        print_json(member)
    else:
        out(f"{member.get('username')} is now {member.get('role')} on {args.slug}.")
    return OK


def cmd_members_remove(client: Client, args) -> int:
    client.remove_member(args.slug, args.username)
    if args.json:
        print_json({"use_case": args.slug, "username": args.username, "removed": True})
    else:
        out(f"Removed {args.username} from {args.slug}.")
    return OK


def cmd_kpis_list(client: Client, args) -> int:
    kpis = client.list_kpis(args.slug)
    if args.json:
        print_json(kpis)
        return OK
    rows = [
        [
            k.get("id"),
            k.get("name"),
            k.get("metric"),
            k.get("segment") or "",
            k.get("direction"),
            number(k.get("target")),
            number(k.get("gate_threshold")),
            k.get("gate_mode"),
            "yes" if k.get("is_gating") else "no",
        ]
        for k in kpis
    ]
    headers = ["id", "KPI", "metric", "segment", "better", "target", "gate", "on", "gating"]
    out(table(headers, rows) if rows else "No KPIs.")
    return OK


def add_commands(cli: Commands) -> None:
    usecases = cli.group("usecases", "use cases you can see, and new ones")
    sub = cli.command(usecases, "list", cmd_usecases_list, "list the use cases")
    sub.add_argument("--search", help="text in the title, slug, problem statement or sponsor")
    sub.add_argument("--phase", choices=PHASES)
    sub.add_argument("--owner", metavar="USERNAME")
    sub = cli.command(usecases, "show", cmd_usecases_show, "show one use case")
    sub.add_argument("slug")
    sub = cli.command(
        usecases,
        "create",
        cmd_usecases_create,
        "create a use case with its KPIs, value model, rules and members from a file",
        description="Create a use case from a YAML (.yaml, .yml) or JSON file: its fields, "
        "then `kpis`, `value_model`, `data_quality_rules` and `members` (see "
        "docs/examples/usecase.yaml). You become an owner. Each part is one call; if one is "
        "refused the command stops, says what was created and what was not sent, and exits "
        "with the refusal's status.",
    )
    sub.add_argument("file", help="the definition, YAML or JSON")
    sub = cli.command(usecases, "kpis", cmd_kpis_list, "list a use case's KPIs")
    sub.add_argument("slug")

    members = cli.group("members", "who has which role on a use case")
    sub = cli.command(members, "list", cmd_members_list, "list the members and their roles")
    sub.add_argument("slug")
    sub = cli.command(members, "add", cmd_members_add, "owners: give a user a role")
    sub.add_argument("slug")
    sub.add_argument("username")
    sub.add_argument("role", choices=ROLES)
    sub = cli.command(members, "role", cmd_members_role, "owners: change a member's role")
    sub.add_argument("slug")
    sub.add_argument("username")
    sub.add_argument("role", choices=ROLES)
    sub = cli.command(members, "remove", cmd_members_remove, "owners: remove a member")
    sub.add_argument("slug")
    sub.add_argument("username")
