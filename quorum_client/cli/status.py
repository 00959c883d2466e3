"""The `quorum` command's exit statuses (listed in the package's docstring and in
docs/client.md) and the usage error every command may raise."""

from __future__ import annotations

from quorum_client.errors import QuorumError

OK = 0
API_ERROR = 1  # any other refusal (400, 409, 5xx…) or no answer at all
USAGE_ERROR = 2
EVALUATION_FAILED = 3
WAIT_TIMEOUT = 4
PROMOTION_BLOCKED = 5
NOT_AUTHENTICATED = 6  # 401: no token, a wrong password, a token expired or revoked
FORBIDDEN = 7  # 403: the role (or a rule such as "not your own request") does not allow it
NOT_FOUND = 8  # 404: no such use case, version, campaign… (or not visible to you)
THROTTLED = 9  # 429: too many requests, or logins locked out for a while
INTERRUPTED = 130

BY_HTTP_STATUS = {401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND, 429: THROTTLED}


class UsageError(Exception):
    """Bad arguments that argparse cannot see (a malformed key=value, a missing token)."""


def exit_status(error: QuorumError) -> int:
    """The status a refused call exits with: what failed, as far as the HTTP status says."""
    return BY_HTTP_STATUS.get(error.status, API_ERROR)
