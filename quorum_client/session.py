"""One server, one token, and HTTP: what every call of the Client goes through.

Where the address and the token come from, first found wins: the arguments, then
$QUORUM_URL and $QUORUM_TOKEN, then the login `quorum login` stored (quorum_client.
credentials). A stored token is sent only to the server it was issued by.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import requests

from quorum_client import __version__, credentials
from quorum_client.errors import QuorumError
from quorum_client.multipart import MultipartFile, Progress

DEFAULT_URL = "http://127.0.0.1:8000"
# The server validates a whole upload (up to 1,000,000 rows) before it answers.
UPLOAD_READ_TIMEOUT = 600  # seconds
# Polling survives a server restart or a proxy hiccup: this many failures in a row.
POLL_FAILURES_TOLERATED = 3


def segment(value: object) -> str:
    """One URL path segment: a slug, a version name (1.4.0+cpu) or an id."""
    return quote(str(value), safe="")


def use_case_path(slug: str) -> str:
    return f"/api/v1/usecases/{segment(slug)}/"


class Session:
    """A session with one Quorum server.

    `base_url` defaults to $QUORUM_URL, then the stored login's server, else
    http://127.0.0.1:8000; `token` to $QUORUM_TOKEN, then the stored login's token (when it
    was issued by that server). `timeout` is seconds to connect and between bytes of an
    answer. Methods return the server's JSON and raise QuorumError for any failed call.
    """

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout=30):
        stored = credentials.load()
        self.base_url = (
            base_url or os.environ.get("QUORUM_URL") or (stored or {}).get("url") or DEFAULT_URL
        ).rstrip("/")
        # Where the token came from, for the hint a 401 gets: argument, environment, stored.
        self.token_source: str | None = None
        if token is not None:
            self.token, self.token_source = token or None, "argument"
        elif os.environ.get("QUORUM_TOKEN"):
            self.token, self.token_source = os.environ["QUORUM_TOKEN"], "environment"
        elif stored and credentials.same_server(stored["url"], self.base_url):
            self.token, self.token_source = stored["token"], "stored"
        else:
            self.token = None
        self.username = stored.get("username") if self.token_source == "stored" else None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = f"quorum-client/{__version__}"
        if self.token:
            self.session.headers["Authorization"] = f"Token {self.token}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def _url(self, path: str) -> str:
        """`path` on the server. An absolute URL (a `next` link) keeps only its path and
        query: the token is sent to the server it was given for, never to another host or
        over http when the server is https (a proxy may write links with its own)."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            base_path = urlsplit(self.base_url).path.rstrip("/")
            if base_path and path.startswith(base_path + "/"):
                path = path[len(base_path) :]
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def _upload(self, path: str, file_path, fields: dict, on_upload: Progress | None) -> dict:
        file_path = Path(file_path)
        try:
            file = file_path.open("rb")
        except OSError as error:
            raise QuorumError(f"Cannot read {file_path}: {error.strerror or error}.") from None
        with file:
            body = MultipartFile(
                fields, file_field="file", file=file, filename=file_path.name, on_progress=on_upload
            )
            return self._request(
                "POST",
                path,
                data=body,
                headers={"Content-Type": body.content_type},
                timeout=(self.timeout, max(self.timeout, UPLOAD_READ_TIMEOUT)),
            )

    def _get_all(self, path: str, params: dict | None = None) -> list[dict]:
        """A list endpoint's items, following the pagination's `next` links."""
        items: list[dict] = []
        url: str | None = path
        while url:
            page = self._request("GET", url, params=params)
            if isinstance(page, list):  # an unpaginated list
                return items + page
            items += page.get("results", [])
            url, params = page.get("next"), None  # `next` carries the query string
        return items

    def _request(self, method: str, path: str, **kwargs):
        response = self._send(method, path, **kwargs)
        return answer(response, method, self._url(path), hint=self._hint())

    def _hint(self) -> str:
        """What to do about a 401, by where the token came from."""
        if not self.token:
            return (
                "Set QUORUM_TOKEN (or pass --token) to a token from Account → API tokens, "
                "or run `quorum login`."
            )
        if self.token_source == "stored":
            return (
                f"The login stored in {credentials.credentials_path()} was refused (the token "
                "expired or was revoked): run `quorum login` again."
            )
        return "The token was refused: it may have expired or been revoked."

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        """The server's response, whatever its status; QuorumError if there is none."""
        url = self._url(path)
        kwargs.setdefault("timeout", self.timeout)
        try:
            # No redirects: a POST turned into a GET by a 301 would fail in a confusing way.
            response = self.session.request(method, url, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise QuorumError(f"{method} {url} timed out.") from None
        except requests.ConnectionError as error:
            raise QuorumError(
                f"Cannot reach the Quorum server at {self.base_url} ({_reason(error)}): is it "
                "running, and is QUORUM_URL (or --url) right?"
            ) from None
        return response


def json_value(value):
    """JSON for what json.dumps cannot write: datetimes as ISO 8601, numpy scalars."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _reason(error: Exception) -> str:
    """'Connection refused' out of urllib3's "Max retries exceeded … [Errno 111] …" chain."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
    if found:
        return found.group(1).strip().rstrip(".")
    return str(error).split(":")[-1].strip().rstrip(".")[:200] or type(error).__name__


def _retry_after(response: requests.Response) -> str:
    """' Try again in 15 minutes.' from a 429's Retry-After (seconds), if it has one."""
    value = response.headers.get("Retry-After", "")
    if not value.isdigit():
        return ""
    seconds = int(value)
    if seconds >= 120:
        return f" Try again in {-(-seconds // 60)} minutes."
    return f" Try again in {seconds} s."


def answer(response: requests.Response, method: str, url: str, *, hint: str = ""):
    """The JSON of a successful answer; anything else raised as a readable QuorumError."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if 200 <= response.status_code < 300:
        if body is None and response.content:
            kind = response.headers.get("Content-Type", "unknown")
            raise QuorumError(
                f"{method} {url} answered {kind}, not JSON: is the URL a Quorum server?",
                status=response.status_code,
            )
        return body
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "")
        raise QuorumError(
            f"{method} {url} was redirected to {location}: use that server address.",
            status=response.status_code,
        )
    if not isinstance(body, dict):
        text = " ".join(response.text.split())[:200]
        detail = f"{method} {url} failed: {response.reason or 'error'}"
        raise QuorumError(f"{detail}: {text}" if text else detail, status=response.status_code)
    detail = str(body.get("detail") or f"{method} {url} failed.")
    if response.status_code == 401 and hint:
        detail += " " + hint
    if response.status_code == 429:
        detail += _retry_after(response)
    errors = body.get("errors")
    counts = body.get("counts")
    raise QuorumError(
        detail,
        status=response.status_code,
        errors=errors if isinstance(errors, list) else [],
        counts=counts if isinstance(counts, dict) else None,
        body=body,
    )
