"""MLflow's documented REST API (/api/2.0/mlflow/…), the calls Quorum makes, through the one
outbound sender (portal.outbound.send): the address is checked at each call, so a tracking
URI cannot be made to reach the portal's own network unless an admin allowed its host
(MLFLOW_ALLOWED_HOSTS). Credentials come from settings or the environment, never from a
form: MLFLOW_CREDENTIALS names sets; a link without one uses MLflow's own variables."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from portal import outbound

API = "/api/2.0/mlflow/"
PAGE_SIZE = 1000  # model versions per search page
MAX_PAGES = 1000  # a million versions: past that, MLflow is answering in a loop
REASON_CHARACTERS = 500  # of MLflow's refusal, kept in an error
ANSWER_BYTES = 64 * 1024 * 1024  # the largest answer read; a page of 1,000 is about 0.5 MB


class MlflowError(Exception):
    """A call that did not succeed. `transient`: worth another try (MLflow down, a dropped
    connection, 429 or 5xx); `status`: MLflow's HTTP status, None without an answer."""

    def __init__(self, message: str, *, transient: bool = False, status: int | None = None):
        super().__init__(message)
        self.transient, self.status = transient, status


def credential_sets() -> dict[str, dict]:
    """The named credential sets admins configured (settings.MLFLOW_CREDENTIALS)."""
    return dict(getattr(settings, "MLFLOW_CREDENTIALS", {}) or {})


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def credentials_problem(credentials: str, tracking_uri: str) -> str:
    """Why this set may not be sent to this tracking URI's host ("" if it may). A named set
    goes only to the hosts it lists ("hosts"); MLflow's environment variables only to the
    host of MLFLOW_TRACKING_URI. So an owner cannot have the server's secrets sent to a
    server of theirs."""
    host = _host(tracking_uri)
    if credentials:
        found = credential_sets().get(credentials)
        if not isinstance(found, dict):
            known = ", ".join(sorted(credential_sets())) or "none is configured"
            return f"No credentials set of that name in MLFLOW_CREDENTIALS ({known})."
        hosts = [_host(f"//{entry}") for entry in found.get("hosts") or []]
        if host not in hosts:
            return f"The credentials set “{credentials}” may not be sent to {host}."
    return ""


def auth_header(credentials: str, tracking_uri: str) -> dict[str, str]:
    """The Authorization header of a credential set ("" = MLflow's environment variables,
    sent only to the host of MLFLOW_TRACKING_URI); no header when there are none.
    MlflowError when the set may not go to this host."""
    problem = credentials_problem(credentials, tracking_uri)
    if problem:
        raise MlflowError(problem)
    if credentials:
        found = credential_sets()[credentials]
        token, user, password = found.get("token"), found.get("username"), found.get("password")
    else:
        if _host(tracking_uri) != _host(os.environ.get("MLFLOW_TRACKING_URI", "")):
            return {}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if token:
        return {"Authorization": f"Bearer {token}"}
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def host_allowed(tracking_uri: str) -> bool:
    """Whether the tracking URI's host is one an admin listed (MLFLOW_ALLOWED_HOSTS), so it
    may be private or loopback, as MLflow servers inside a company network are."""
    host = _host(tracking_uri)
    allowed = {_host(f"//{entry.strip()}") for entry in settings.MLFLOW_ALLOWED_HOSTS}
    return bool(host) and host in allowed


def uri_problem(tracking_uri: str) -> str:
    """Why Quorum may not call this tracking URI ("" if it may): http(s), a host, no user or
    password, no query or fragment (the API's paths are Quorum's to choose), and a public
    host unless it is listed in MLFLOW_ALLOWED_HOSTS."""
    try:
        parts = urlsplit(tracking_uri)
    except ValueError:
        return outbound.NOT_A_URL
    if parts.query or parts.fragment or ";" in parts.path or {"?", "#"} & set(tracking_uri):
        return "Give the server's address without a query (?…) or fragment (#…)."
    if host_allowed(tracking_uri):
        return outbound.url_problem(tracking_uri, allow_http=True, allow_private=True)
    problem = outbound.url_problem(tracking_uri, allow_http=True)
    if problem == outbound.PRIVATE:
        return (
            "This host is loopback, private or local: an admin may allow it in "
            "MLFLOW_ALLOWED_HOSTS."
        )
    return problem


def api_url(tracking_uri: str, path: str) -> str:
    """The REST call's URL: the tracking URI's scheme, host and path, then the API's."""
    parts = urlsplit(tracking_uri)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{API}{path}"


@dataclass
class Mlflow:
    """Calls to one tracking server; `requests` counts the HTTP requests made."""

    tracking_uri: str
    credentials: str = ""
    timeout: float = field(default_factory=lambda: settings.MLFLOW_TIMEOUT_SECONDS)
    requests: int = 0

    def get(self, path: str, **params) -> dict:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self._call("GET", path + (f"?{query}" if query else ""), None)

    def post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body)

    def delete(self, path: str, body: dict) -> dict:
        return self._call("DELETE", path, body)

    # The calls Quorum makes

    def registered_model(self, name: str) -> dict:
        return self.get("registered-models/get", name=name).get("registered_model", {})

    def versions(self, name: str) -> list[dict]:
        """Every version of the model, page after page."""
        found, token, seen = [], None, set()
        for _ in range(MAX_PAGES):
            page = self.get(
                "model-versions/search",
                filter=search_filter(name),
                max_results=PAGE_SIZE,
                page_token=token,
            )
            versions = page.get("model_versions") or []
            found.extend(item for item in versions if isinstance(item, dict))
            token = page.get("next_page_token")
            if not token:
                return found
            if token in seen:
                raise MlflowError("MLflow repeated a page of the model's versions.")
            seen.add(token)
        raise MlflowError(f"The model has more than {MAX_PAGES * PAGE_SIZE:,} versions.")

    def run(self, run_id: str) -> dict | None:
        """The run, or None if MLflow no longer has it."""
        try:
            return self.get("runs/get", run_id=run_id).get("run", {})
        except MlflowError as error:
            if error.status == 404:
                return None
            raise

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.post("registered-models/alias", {"name": name, "alias": alias, "version": version})

    def delete_alias(self, name: str, alias: str) -> None:
        self.delete("registered-models/alias", {"name": name, "alias": alias})

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        self.post("model-versions/set-tag", body)

    def _call(self, method: str, path: str, body: dict | None) -> dict:
        problem = uri_problem(self.tracking_uri)
        if problem:
            raise MlflowError(problem)
        headers = {"Accept": "application/json", **auth_header(self.credentials, self.tracking_uri)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = api_url(self.tracking_uri, path)
        self.requests += 1
        answer = outbound.send(
            method,
            url,
            data,
            headers,
            timeout=self.timeout,
            read_bytes=ANSWER_BYTES,
            allow_private=host_allowed(self.tracking_uri) or outbound.allow_private_hosts(),
        )
        if not answer.ok:
            raise MlflowError(_reason(answer), transient=answer.transient, status=answer.code)
        try:
            data = json.loads(answer.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise MlflowError(f"MLflow's answer to {path.split('?')[0]} is not a JSON object.")
        return data


def search_filter(name: str) -> str:
    """MLflow's filter for one model's versions; the name is quoted with the quote it lacks."""
    quote = "'" if "'" not in name else '"'  # links.check_fields refuses names with both
    return f"name={quote}{name}{quote}"


def _reason(answer: outbound.Answer) -> str:
    """MLflow's own message when it sent one ({"error_code", "message"}), else the sender's."""
    text = answer.error
    if answer.code is not None:
        _, _, rest = text.partition(": ")
        try:
            message = json.loads(rest).get("message")
        except (ValueError, AttributeError):
            message = None
        if answer.code in (401, 403):
            text = f"MLflow refused the credentials ({answer.code}): {message or rest}"
            return text[:REASON_CHARACTERS]
        if message:
            return f"MLflow answered {answer.code}: {message}"[:REASON_CHARACTERS]
    return f"MLflow: {text}"[:REASON_CHARACTERS]
