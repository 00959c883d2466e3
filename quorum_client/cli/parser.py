"""The `quorum` command's arguments: the global options, and one `add_commands` per module
of commands (auth, usecases, data, evaluations, reviews, promotions, monitoring, mlflow)."""

from __future__ import annotations

import argparse

from quorum_client import __version__
from quorum_client.cli import (
    auth,
    data,
    evaluations,
    mlflow,
    monitoring,
    promotions,
    reviews,
    usecases,
)
from quorum_client.session import DEFAULT_URL


class Commands:
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

    def command(
        self, where, name: str, handler, help_text: str, **extra
    ) -> argparse.ArgumentParser:
        """`quorum GROUP NAME`; `extra` are add_parser's (description, epilog)."""
        extra.setdefault("description", help_text)
        sub = where.add_parser(name, help=help_text, parents=[self.common], **extra)
        sub.set_defaults(handler=handler)
        return sub

    def top(self, name: str, handler, help_text: str, **extra) -> argparse.ArgumentParser:
        """`quorum NAME`, a command outside any group."""
        return self.command(self.commands, name, handler, help_text, **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quorum",
        description="Define use cases, register model versions, upload evaluation data and "
        "predictions, run evaluations and review campaigns, promote versions and follow "
        "them in production on a Quorum server.",
        epilog="Exit status: 0 success, 1 API error, 2 usage error, 3 evaluation failed (or a "
        "gating KPI failed, with --fail-on-gates), 4 --timeout passed while waiting, 5 a "
        "promotion blocked by its gates (see quorum promote --help), 6 not authenticated "
        "(401), 7 not allowed (403), 8 not found (404), 9 too many requests or logins "
        "locked out (429), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--url",
        default=None,
        help=f"server address (default: $QUORUM_URL, then the one `quorum login` stored, else "
        f"{DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="API token (default: $QUORUM_TOKEN, then the one `quorum login` stored; prefer "
        "those to this option, which other users can see in the process list)",
    )
    parser.add_argument(
        "--json", action="store_true", default=False, help="print the server's JSON on stdout"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=False, help="no progress bar on stderr"
    )
    parser.set_defaults(needs_token=True)
    cli = Commands(parser)
    for module in (auth, usecases, data, evaluations, reviews, promotions, monitoring, mlflow):
        module.add_commands(cli)
    return parser
