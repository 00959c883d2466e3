"""The Quorum REST API (/api/v1/) from Python: requests and the standard library only, so it
works in a notebook or a training job without the portal's Django settings.

`Client` gathers the calls: model versions, datasets, evaluations, promotions and the
prediction log here; use cases and their definition in usecases.py, review campaigns in
reviews.py, monitoring in monitoring.py; HTTP, the token and errors in session.py."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from quorum_client import credentials
from quorum_client.errors import EvaluationFailed, EvaluationTimeout, QuorumError
from quorum_client.mlflow import MlflowCalls
from quorum_client.monitoring import MonitoringCalls
from quorum_client.multipart import Progress
from quorum_client.reviews import ReviewCalls
from quorum_client.session import (
    DEFAULT_URL,
    POLL_FAILURES_TOLERATED,
    UPLOAD_READ_TIMEOUT,
    Session,
    answer,
    json_value,
    segment,
)
from quorum_client.usecases import UseCaseCalls

__all__ = ["DEFAULT_URL", "LOG_BATCH_ROWS", "Client"]

AUTH_PATH = "/api/v1/auth/token"
# Rows per POST when logging predictions or outcomes (the server takes up to 100,000).
LOG_BATCH_ROWS = 10_000
# Answer fields summed over the batches of one log_predictions / log_outcomes call.
SUMMED = ("rows", "inserted", "duplicates", "rejected", "matched", "updated_predictions", "unknown")
FINISHED = ("succeeded", "failed")
VERSION_FIELDS = (
    "description",
    "artifact_uri",
    "git_commit",
    "mlflow_run_id",
    "framework",
    "parameters",
    "training_data_ref",
    "tags",
)


class Client(UseCaseCalls, ReviewCalls, MonitoringCalls, MlflowCalls, Session):
    """A session with one Quorum server.

    `base_url` defaults to $QUORUM_URL, then the server of the login `quorum login` stored,
    else http://127.0.0.1:8000; `token` to $QUORUM_TOKEN, then the stored login's token (only
    for the server that issued it). `timeout` is seconds to connect and between bytes of an
    answer. Methods return the server's JSON and raise QuorumError for any failed call; the
    calls about use cases, reviews and monitoring are in the modules of those names.
    """

    # Logging in and out

    def login(self, username: str, password: str, *, name: str = "", save: bool = True) -> dict:
        """Exchange a username and password for a token of this server, used by this client
        from now on; with `save`, stored for the `quorum` command and later Clients
        (credentials.py: mode 0600). Answers {"token", "token_key", "expires_at",
        "username"}. 401 for a wrong password, 429 while the account is locked out."""
        body = {"username": username, "password": password}
        body["name"] = name or f"quorum client on {socket.gethostname()}"
        # No Authorization header: a stale token would make the server refuse the request.
        issued = self._request("POST", AUTH_PATH, json=body, headers={"Authorization": None})
        self.token, self.token_source = issued["token"], "argument"
        self.username = issued.get("username") or username
        self.session.headers["Authorization"] = f"Token {self.token}"
        if save:
            credentials.save({**issued, "url": self.base_url})
            self.token_source = "stored"
        return issued

    def logout(self) -> bool:
        """Revoke this client's token on the server and forget the stored login if it held
        that token. False if the server no longer knew the token (401: expired or revoked
        already); the stored login is forgotten all the same."""
        try:
            self._request("DELETE", AUTH_PATH)
            revoked = True
        except QuorumError as error:
            if error.status != 401:
                raise
            revoked = False
        stored = credentials.load()
        if stored and stored["token"] == self.token:
            credentials.delete()
        self.token = None
        self.session.headers.pop("Authorization", None)
        return revoked

    # Model versions

    def register_version(self, slug: str, version: str, **fields) -> dict:
        """Register `version` of the use case's model; `fields` are description,
        artifact_uri, git_commit, mlflow_run_id, framework, parameters (dict),
        training_data_ref and tags (dict of simple values). Fields left None are not sent."""
        unknown = set(fields) - set(VERSION_FIELDS)
        if unknown:
            raise TypeError(f"Unknown version fields: {', '.join(sorted(unknown))}.")
        body = {"version": version, **{k: v for k, v in fields.items() if v is not None}}
        return self._request("POST", f"/api/v1/usecases/{segment(slug)}/versions/", json=body)

    def get_version(self, slug: str, version: str) -> dict:
        path = f"/api/v1/usecases/{segment(slug)}/versions/{segment(version)}/"
        return self._request("GET", path)

    def list_versions(self, slug: str) -> list[dict]:
        return self._get_all(f"/api/v1/usecases/{segment(slug)}/versions/")

    # Evaluation datasets and predictions

    def upload_dataset(
        self,
        slug: str,
        path: str | os.PathLike,
        name: str,
        description: str = "",
        *,
        on_upload: Progress | None = None,
    ) -> dict:
        """Upload a labelled CSV or Parquet file (id, features…, label, optional segment).

        The file is streamed from disk; `on_upload(sent, total)` is told the bytes sent.
        A rejected file raises QuorumError whose `errors` are the bad rows."""
        fields = {"name": name, "description": description}
        return self._upload(f"/api/v1/usecases/{segment(slug)}/datasets/", path, fields, on_upload)

    def list_datasets(self, slug: str) -> list[dict]:
        return self._get_all(f"/api/v1/usecases/{segment(slug)}/datasets/")

    def upload_predictions(
        self,
        slug: str,
        version: str,
        dataset_id: int,
        path: str | os.PathLike,
        *,
        on_upload: Progress | None = None,
    ) -> dict:
        """Upload `version`'s predictions (id, prediction, optional score) for every row of
        the dataset, streamed from disk; they replace earlier ones for the same pair."""
        url = f"/api/v1/usecases/{segment(slug)}/versions/{segment(version)}/predictions/"
        return self._upload(url, path, {"dataset": str(dataset_id)}, on_upload)

    # Evaluations

    def start_evaluation(self, slug: str, version: str, dataset_id: int) -> dict:
        """Queue the evaluation of `version` on the dataset (a re-run is a new evaluation; the
        previous one is kept, marked superseded)."""
        body = {"version": version, "dataset": dataset_id}
        return self._request("POST", f"/api/v1/usecases/{segment(slug)}/evaluations/", json=body)

    def get_evaluation(self, slug: str, evaluation_id: int) -> dict:
        path = f"/api/v1/usecases/{segment(slug)}/evaluations/{segment(evaluation_id)}/"
        return self._request("GET", path)

    def list_evaluations(
        self,
        slug: str,
        *,
        version: str | None = None,
        dataset: int | None = None,
        status: str | None = None,
    ) -> list[dict]:
        """Evaluations of the use case (without results), optionally filtered."""
        params = {"version": version, "dataset": dataset, "status": status}
        params = {k: v for k, v in params.items() if v is not None}
        return self._get_all(f"/api/v1/usecases/{segment(slug)}/evaluations/", params)

    def wait_for_evaluation(
        self,
        slug: str,
        evaluation_id: int,
        poll_seconds: float = 2,
        timeout: float | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll until the evaluation has finished and return it.

        `on_progress(evaluation)` sees every poll's answer. Raises EvaluationFailed with the
        server's error when it failed, EvaluationTimeout after `timeout` seconds (the
        evaluation goes on). A few failed polls in a row are retried, not fatal."""
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        evaluation: dict = {"id": evaluation_id}
        while True:
            try:
                evaluation = self.get_evaluation(slug, evaluation_id)
                failures = 0
            except QuorumError as error:
                transient = error.status is None or error.status >= 500
                failures += 1
                if not transient or failures > POLL_FAILURES_TOLERATED:
                    raise
            else:
                if on_progress is not None:
                    on_progress(evaluation)
                if evaluation.get("status") == "succeeded":
                    return evaluation
                if evaluation.get("status") == "failed":
                    raise EvaluationFailed(evaluation.get("error") or "", evaluation=evaluation)
            if deadline is not None and time.monotonic() + poll_seconds > deadline:
                raise EvaluationTimeout(
                    f"Evaluation {evaluation_id} has not finished after {timeout:g} s "
                    f"(status {evaluation.get('status', 'unknown')}, "
                    f"{evaluation.get('progress', 0)} %); it goes on on the server.",
                    evaluation=evaluation,
                )
            time.sleep(poll_seconds)

    # Promotions and the deployment

    def list_promotions(self, slug: str) -> list[dict]:
        """The use case's promotion requests, newest first (all pages), each with its gates,
        decisions and `waiting_for` ({capacity: approvals still missing})."""
        return self._get_all(f"/api/v1/usecases/{segment(slug)}/promotions/")

    def get_promotion(self, slug: str, promotion_id: int) -> dict:
        """One promotion request: status (pending, executed, rejected, withdrawn, refused),
        gates ({kind, status, summary, …}), decisions, waiting_for, outcome_note."""
        return self._request("GET", self._promotion_path(slug, promotion_id))

    def request_promotion(
        self,
        slug: str,
        version: str,
        target_stage: str,
        *,
        rationale: str,
        traffic_percent: int | None = None,
    ) -> dict:
        """Open a request to move `version` one stage up (shadow, canary or production;
        `traffic_percent` 1–50 for a canary only). Its gates are measured now and answered
        with it; nothing moves until the approvals the policy needs are given. 400 names a
        bad field, 409 if the version already has a pending request."""
        body = {"version": version, "target_stage": target_stage, "rationale": rationale}
        if traffic_percent is not None:
            body["traffic_percent"] = traffic_percent
        path = f"/api/v1/usecases/{segment(slug)}/promotions/"
        return self._request("POST", path, json=body)

    def approve_promotion(self, slug: str, promotion_id: int, comment: str = "") -> dict:
        """Approve; the last approval needed executes the promotion (status executed) or
        refuses it when a gate is no longer passed (status refused, the reason in
        outcome_note). 403 for one's own request, 409 if decided already or not needed."""
        return self._decide(slug, promotion_id, "approve", {"comment": comment})

    def reject_promotion(self, slug: str, promotion_id: int, comment: str) -> dict:
        """Reject, saying why (the requester reads the comment); the request ends."""
        return self._decide(slug, promotion_id, "reject", {"comment": comment})

    def withdraw_promotion(self, slug: str, promotion_id: int, comment: str = "") -> dict:
        """Withdraw one's own pending request."""
        return self._decide(slug, promotion_id, "withdraw", {"comment": comment})

    def override_promotion(self, slug: str, promotion_id: int, justification: str) -> dict:
        """Managers: let the request execute despite failed or incomplete gates; the
        justification is kept in the audit trail. It still needs its approvals."""
        return self._decide(slug, promotion_id, "override", {"justification": justification})

    def rollback(self, slug: str, reason: str) -> dict:
        """Owners and managers: return the previous production version to production (the
        current one is archived); answers the new deployment. 409 if there is none."""
        path = f"/api/v1/usecases/{segment(slug)}/rollback"
        return self._request("POST", path, json={"reason": reason})

    def deployment(self, slug: str, etag: str | None = None) -> tuple[dict | None, str | None]:
        """The versions serving the use case and the answer's ETag: ({"use_case",
        "production", "canary", "shadow": [...]}, etag). Pass the last ETag back as `etag`:
        while nothing changed the server answers 304 with no body and this returns
        (None, etag), which makes polling cheap."""
        headers = {"If-None-Match": etag} if etag else None
        path = f"/api/v1/usecases/{segment(slug)}/deployment"
        response = self._send("GET", path, headers=headers)
        new_etag = response.headers.get("ETag") or etag
        if response.status_code == 304:
            return None, new_etag
        return answer(response, "GET", self._url(path), hint=self._hint()), new_etag

    def watch_deployment(
        self, slug: str, poll_seconds: float = 10, etag: str | None = None
    ) -> Iterator[dict]:
        """Yield the deployment now (unless `etag` is still current), then each time it
        changes, polling every `poll_seconds` with If-None-Match; runs until the caller
        stops. A few failed polls in a row (a server restart) are retried, not fatal."""
        failures = 0
        while True:
            try:
                body, etag = self.deployment(slug, etag)
                failures = 0
            except QuorumError as error:
                transient = error.status is None or error.status >= 500
                failures += 1
                if not transient or failures > POLL_FAILURES_TOLERATED:
                    raise
            else:
                if body is not None:
                    yield body
            time.sleep(poll_seconds)

    def _promotion_path(self, slug: str, promotion_id: int) -> str:
        return f"/api/v1/usecases/{segment(slug)}/promotions/{segment(promotion_id)}/"

    def _decide(self, slug: str, promotion_id: int, verb: str, body: dict) -> dict:
        return self._request("POST", self._promotion_path(slug, promotion_id) + verb, json=body)

    # Prediction log and outcomes

    def log_predictions(
        self,
        slug: str,
        rows: Iterable[dict],
        *,
        partial: bool = False,
        batch_size: int = LOG_BATCH_ROWS,
    ) -> dict:
        """Log production or shadow predictions: dicts with version, request_id, timestamp
        (ISO 8601 text or a datetime), features (dict), prediction, score, segment.

        Sent `batch_size` rows per request; the answer is summed over the batches (`rows`,
        `inserted`, `duplicates`, `rejected`, `errors` with row numbers counted from the
        first row given, `rule_violations`). Each batch is stored whole or not at all unless
        `partial`; a refused batch raises QuorumError after the earlier ones were stored,
        and sending the same rows again is harmless (duplicates are counted, not stored)."""
        return self._log(f"/api/v1/usecases/{segment(slug)}/predictions", rows, partial, batch_size)

    def log_outcomes(
        self,
        slug: str,
        rows: Iterable[dict],
        *,
        partial: bool = False,
        batch_size: int = LOG_BATCH_ROWS,
    ) -> dict:
        """Attach real outcomes ({request_id, outcome, timestamp?}) to every version's
        prediction of each request; the answer counts matched and unknown request ids."""
        return self._log(f"/api/v1/usecases/{segment(slug)}/outcomes", rows, partial, batch_size)

    def log_predictions_csv(
        self, slug: str, path: str | os.PathLike, *, partial: bool = False
    ) -> dict:
        """Log a CSV file of predictions (version, request_id, timestamp, prediction, score,
        segment and one column per feature), up to 100,000 rows, in one request."""
        url = f"/api/v1/usecases/{segment(slug)}/predictions"
        return self._post_csv(url, path, partial)

    def log_outcomes_csv(
        self, slug: str, path: str | os.PathLike, *, partial: bool = False
    ) -> dict:
        """Attach the outcomes of a CSV file (request_id, outcome, optional timestamp)."""
        return self._post_csv(f"/api/v1/usecases/{segment(slug)}/outcomes", path, partial)

    def list_predictions(self, slug: str, **filters) -> list[dict]:
        """Logged predictions, newest first; filters: version, segment, request_id, since,
        until, has_outcome ("true"/"false"). Every page is fetched: filter narrowly."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._get_all(f"/api/v1/usecases/{segment(slug)}/predictions", params)

    def _log(self, path: str, rows: Iterable[dict], partial: bool, batch_size: int) -> dict:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1.")
        params = {"partial": "true"} if partial else None
        total: dict = {}
        batch: list[dict] = []
        sent = 0

        def send() -> None:
            nonlocal sent
            body = json.dumps(batch, default=json_value, ensure_ascii=False).encode()
            try:
                batch_answer = self._request(
                    "POST",
                    path,
                    data=body,
                    params=params,
                    headers={"Content-Type": "application/json"},
                    timeout=(self.timeout, max(self.timeout, UPLOAD_READ_TIMEOUT)),
                )
            except QuorumError as error:
                raise _batch_error(error, sent, len(batch)) from None
            _add_answer(total, batch_answer, sent)
            sent += len(batch)
            batch.clear()

        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                send()
        if batch or not sent:
            send()
        total["batches"] = -(-sent // batch_size)
        return total

    def _post_csv(self, path: str, file_path, partial: bool) -> dict:
        file_path = Path(file_path)
        try:
            body = file_path.read_bytes()
        except OSError as error:
            raise QuorumError(f"Cannot read {file_path}: {error.strerror or error}.") from None
        return self._request(
            "POST",
            path,
            data=body,
            params={"partial": "true"} if partial else None,
            headers={"Content-Type": "text/csv"},
            timeout=(self.timeout, max(self.timeout, UPLOAD_READ_TIMEOUT)),
        )


def _add_answer(total: dict, answer: dict, offset: int) -> None:
    """Sum one batch's answer into `total`; its row numbers count from the first row sent."""
    if not total:
        total.update({"mode": answer.get("mode"), "errors": [], "counts": {}})
    for key in SUMMED:
        if key in answer:
            total[key] = total.get(key, 0) + answer[key]
    for item in answer.get("errors") or []:
        if isinstance(item.get("row"), int):
            item = {**item, "row": item["row"] + offset}
        total["errors"].append(item)
    for key, count in (answer.get("counts") or {}).items():
        total["counts"][key] = total["counts"].get(key, 0) + count
    if "unknown_request_ids" in answer:
        total["unknown_request_ids"] = total.get("unknown_request_ids", []) + list(
            answer["unknown_request_ids"]
        )
    if "rule_violations" in answer:
        rules = {rule["rule"]: rule for rule in total.get("rule_violations", [])}
        for rule in answer["rule_violations"]:
            if rule["rule"] in rules:
                rules[rule["rule"]]["violations"] += rule["violations"]
            else:
                rules[rule["rule"]] = dict(rule)
        total["rule_violations"] = list(rules.values())


def _batch_error(error: QuorumError, offset: int, size: int) -> QuorumError:
    """A refused batch: row numbers counted from the first row given, and what was stored."""
    detail = error.detail
    if offset:
        detail = (
            f"Rows {offset + 1:,}–{offset + size:,}: {detail} The {offset:,} rows before were "
            "stored; sending them again is harmless."
        )
    errors = [
        {**item, "row": item["row"] + offset} if isinstance(item.get("row"), int) else item
        for item in error.errors
    ]
    return QuorumError(
        detail, status=error.status, errors=errors, counts=error.counts, body=error.body
    )
