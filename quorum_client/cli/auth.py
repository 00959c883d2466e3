"""`quorum login` and `quorum logout`: exchange a username and password for a token of the
server and keep it in the user's config directory (quorum_client.credentials, mode 0600),
or revoke it and forget it."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from typing import TYPE_CHECKING

from quorum_client import credentials
from quorum_client.cli.output import err, out, print_json
from quorum_client.cli.status import NOT_AUTHENTICATED, OK, UsageError, exit_status
from quorum_client.client import Client
from quorum_client.errors import QuorumError

if TYPE_CHECKING:
    from quorum_client.cli.parser import Commands


def ask(prompt: str, *, secret: bool = False) -> str:
    """Read an answer from the terminal; a usage error when there is none to ask."""
    if not sys.stdin or not sys.stdin.isatty():
        name = "QUORUM_PASSWORD" if secret else "QUORUM_USERNAME"
        raise UsageError(f"not a terminal: set {name} (or log in from a terminal).")
    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        raise UsageError("no answer given.") from None


def is_wrong_password(error: QuorumError) -> bool:
    """The server's refusal of the username and password (a 400 with its code, so that it
    says nothing of which was wrong), or a 401."""
    code = error.body.get("code") if isinstance(error.body, dict) else None
    return error.status == 401 or code == "invalid_credentials"


def cmd_login(client: Client, args) -> int:
    previous = credentials.load()
    username = args.username or os.environ.get("QUORUM_USERNAME") or ask("Username: ").strip()
    password = os.environ.get("QUORUM_PASSWORD") or ask("Password: ", secret=True)
    if not username or not password:
        raise UsageError("give a username and a password.")
    try:
        issued = client.login(
            username, password, name=f"quorum CLI on {socket.gethostname()}", save=True
        )
    except QuorumError as error:
        if not is_wrong_password(error):
            raise
        err(f"quorum: {error.message()}")
        if args.json:
            print_json(error.body)
        return NOT_AUTHENTICATED
    path = credentials.credentials_path()
    summary = {
        "url": client.base_url,
        "username": issued.get("username") or username,
        "expires_at": issued.get("expires_at"),
        "token_key": issued.get("token_key"),
        "credentials": str(path),
    }
    if args.json:
        print_json(summary)  # never the token itself: --json output ends up in logs
        return OK
    expiry = f"; the token expires at {summary['expires_at']}" if summary["expires_at"] else ""
    out(f"Logged in to {client.base_url} as {summary['username']}{expiry}.")
    out(f"The token is stored in {path} (readable by you alone).")
    if previous and previous["token"] != issued.get("token"):
        out(
            f"It replaces the login to {previous['url']} ({previous.get('username')}), whose "
            "token stays valid until it expires or is revoked on the portal."
        )
    return OK


def cmd_logout(client: Client, args) -> int:
    path = credentials.credentials_path()
    stored = credentials.load()
    if stored is None:
        err(
            f"Not logged in: there is no login in {path}. (A token from QUORUM_TOKEN is "
            "revoked on the portal, under Account → API tokens.)"
        )
        if args.json:
            print_json({"revoked": False, "deleted": False, "credentials": str(path)})
        return OK
    if args.forget:
        note = "not revoked: revoke it on the portal under Account → API tokens"
        return forgotten(stored, path, args, revoked=False, note=note)
    with Client(stored["url"], token=stored["token"]) as session:
        try:
            revoked = session.logout()
        except QuorumError as error:
            err(f"quorum: {error.message()}")
            err(
                f"The token is still valid and {path} is kept. Run `quorum logout` again when "
                "the server answers, or `quorum logout --forget` and revoke the token on the "
                "portal under Account → API tokens."
            )
            if args.json:
                print_json({"revoked": False, "deleted": False, "detail": error.detail})
            return exit_status(error)
    # Deleted also when the server no longer knew the token: it is of no use any more.
    note = (
        "revoked on the server" if revoked else "unknown to the server already (expired or revoked)"
    )
    return forgotten(stored, path, args, revoked=revoked, note=note)


def forgotten(stored: dict, path, args, *, revoked: bool, note: str) -> int:
    credentials.delete(path)
    if args.json:
        print_json(
            {
                "url": stored["url"],
                "username": stored.get("username"),
                "revoked": revoked,
                "deleted": True,
                "credentials": str(path),
            }
        )
    else:
        who = stored.get("username") or "unknown user"
        out(f"Logged out of {stored['url']} ({who}): the token was {note}; deleted {path}.")
    return OK


def add_commands(cli: Commands) -> None:
    sub = cli.top(
        "login",
        cmd_login,
        "log in with your username and password and store a token",
        description="Ask for your username and password (or read QUORUM_USERNAME and "
        "QUORUM_PASSWORD), get a token from the server (--url, $QUORUM_URL, the last login's "
        "server, else the local one) and store it in $XDG_CONFIG_HOME/quorum/credentials.json "
        "(~/.config/quorum/), readable by you alone. Later commands use it when neither "
        "--token nor QUORUM_TOKEN is given, for that server only.",
        epilog="Exit status 6 for a wrong username or password, 9 while logins are locked out "
        "after too many failures.",
    )
    sub.add_argument("--username", help="default: $QUORUM_USERNAME, else asked")
    sub.set_defaults(needs_token=False)
    sub = cli.top(
        "logout",
        cmd_logout,
        "revoke the stored token on the server and delete it",
        description="Revoke the token `quorum login` stored, on the server that issued it, "
        "and delete the file. If the server no longer knows the token (expired or revoked) "
        "the file is deleted all the same; if the server cannot be reached it is kept.",
    )
    sub.add_argument(
        "--forget",
        action="store_true",
        help="only delete the file, without asking the server (revoke the token on the portal)",
    )
    sub.set_defaults(needs_token=False)
