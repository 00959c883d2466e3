"""The `quorum` command: the client's calls from a shell or a CI job.

Exit status: 0 success; 1 an API or connection error not listed below (printed with the first
bad rows); 2 a usage error, or no token; 3 the evaluation failed, or with --fail-on-gates a
gating KPI failed; 4 --timeout passed while waiting (the evaluation or the review campaign
goes on); 5 the promotion is blocked by its gates (`promote` opened the request but a gate is
not passed, or `promotions approve` ended in a refusal); 6 not authenticated (401: a wrong
username or password, a token missing, expired or revoked); 7 not allowed (403: your role,
or a rule such as approving your own request); 8 not found (404: no such use case, version,
campaign…, or one you may not see); 9 too many requests, or logins locked out for a while
(429); 130 interrupted.

One module per group of commands (auth, usecases, data, evaluations, reviews, promotions,
monitoring); output.py formats, status.py holds the exit statuses, parser.py the options.
"""

from __future__ import annotations

import sys

from quorum_client import credentials
from quorum_client.cli.output import (
    ProgressDisplay,
    err,
    number,
    print_json,
    progress_bar,
    significant,
    table,
)
from quorum_client.cli.parser import build_parser
from quorum_client.cli.status import (
    API_ERROR,
    EVALUATION_FAILED,
    FORBIDDEN,
    INTERRUPTED,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    OK,
    PROMOTION_BLOCKED,
    THROTTLED,
    USAGE_ERROR,
    WAIT_TIMEOUT,
    UsageError,
    exit_status,
)
from quorum_client.client import Client
from quorum_client.errors import QuorumError

__all__ = [
    "API_ERROR",
    "EVALUATION_FAILED",
    "FORBIDDEN",
    "INTERRUPTED",
    "NOT_AUTHENTICATED",
    "NOT_FOUND",
    "OK",
    "PROMOTION_BLOCKED",
    "THROTTLED",
    "USAGE_ERROR",
    "WAIT_TIMEOUT",
    "ProgressDisplay",
    "build_parser",
    "main",
    "number",
    "progress_bar",
    "significant",
    "table",
]


def no_token(client: Client) -> None:
    err("quorum: no API token: run `quorum login`, or set QUORUM_TOKEN (or pass --token) to a")
    err("token created on the portal under Account → API tokens.")
    stored = credentials.load()
    if stored and not credentials.same_server(stored["url"], client.base_url):
        err(f"(The stored login is for {stored['url']}, not {client.base_url}.)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version (0) or a usage error (2)
        return stop.code if isinstance(stop.code, int) else USAGE_ERROR
    client = Client(base_url=args.url, token=args.token)
    if args.needs_token and not client.token:
        no_token(client)
        client.close()
        return USAGE_ERROR
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
        return exit_status(error)
    except KeyboardInterrupt:
        err("quorum: interrupted")
        return INTERRUPTED
    finally:
        client.close()
