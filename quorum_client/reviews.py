"""The Client's calls about review campaigns: create, follow, close, results and the
experts' corrections (/api/v1/usecases/{slug}/review-campaigns/…)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from quorum_client.errors import CampaignTimeout, QuorumError
from quorum_client.session import (
    POLL_FAILURES_TOLERATED,
    UPLOAD_READ_TIMEOUT,
    Session,
    answer,
    segment,
    use_case_path,
)

CAMPAIGN_FIELDS = (
    "other_version",
    "mode",
    "strategy",
    "reviewers_per_item",
    "instructions",
    "reason_tags",
    "due_date",
    "window_start",
    "window_end",
)
CHUNK_BYTES = 1 << 16


def is_complete(campaign: dict) -> bool:
    """Every review it needs is in, or it is closed (no more will come)."""
    if campaign.get("status") == "closed":
        return True
    progress = campaign.get("progress") or {}
    needed = progress.get("reviews_needed")
    return bool(needed) and progress.get("reviews_done", 0) >= needed


class ReviewCalls(Session):
    def _campaign_path(self, slug: str, campaign_id: int) -> str:
        return f"{use_case_path(slug)}review-campaigns/{segment(campaign_id)}"

    def list_campaigns(self, slug: str) -> list[dict]:
        """The use case's review campaigns, newest first (all pages)."""
        return self._get_all(f"{use_case_path(slug)}review-campaigns/")

    def get_campaign(self, slug: str, campaign_id: int) -> dict:
        """One campaign with its `progress` ({items, reviews_needed, reviews_done, percent,
        open_claims, reviewers: [...]})."""
        return self._request("GET", self._campaign_path(slug, campaign_id) + "/")

    def create_campaign(
        self, slug: str, name: str, version: str, sample_size: int, **fields
    ) -> dict:
        """Sample `sample_size` predictions of `version` and open the campaign; `fields` are
        other_version, mode (single, pairwise), strategy (uniform, stratified,
        lowest_confidence, largest_error, disagreement), reviewers_per_item, instructions,
        reason_tags (list), due_date, window_start, window_end. Fields left None are not sent.
        400 says why the sample cannot be drawn (how many predictions there are)."""
        unknown = set(fields) - set(CAMPAIGN_FIELDS)
        if unknown:
            raise TypeError(f"Unknown campaign fields: {', '.join(sorted(unknown))}.")
        body = {"name": name, "model_version": version, "sample_size": sample_size}
        body.update({k: v for k, v in fields.items() if v is not None})
        return self._request("POST", f"{use_case_path(slug)}review-campaigns/", json=body)

    def close_campaign(self, slug: str, campaign_id: int) -> dict:
        """No more claims or reviews; 409 if closed already."""
        return self._request("POST", self._campaign_path(slug, campaign_id) + "/close")

    def campaign_results(self, slug: str, campaign_id: int) -> dict:
        """Acceptance with its Wilson interval, overall, per segment and per reason tag;
        verdict counts; agreement between reviewers; pairwise preferences."""
        return self._request("GET", self._campaign_path(slug, campaign_id) + "/results")

    def campaign_corrections(self, slug: str, campaign_id: int) -> list[dict]:
        """Every review of the campaign as a row (all pages): the prediction, its features
        and outcome, the verdict or preference, the corrected value, reasons, reviewer."""
        return self._get_all(self._campaign_path(slug, campaign_id) + "/corrections")

    def download_corrections(
        self,
        slug: str,
        campaign_id: int,
        destination: str | os.PathLike | BinaryIO,
        *,
        on_download: Callable[[int], None] | None = None,
    ) -> int:
        """Write the corrections as the server's CSV export (a header line, then one row per
        review) to `destination`, a path or a binary file, streamed; answers the bytes
        written. `on_download(bytes so far)` is told after each block."""
        url = self._campaign_path(slug, campaign_id) + "/corrections"
        response = self._send(
            "GET",
            url,
            params={"format": "csv"},
            headers={"Accept": "text/csv"},
            stream=True,
            timeout=(self.timeout, max(self.timeout, UPLOAD_READ_TIMEOUT)),
        )
        with response:
            if response.status_code != 200:
                answer(response, "GET", self._url(url), hint=self._hint())
            if hasattr(destination, "write"):
                return _copy(response, destination, on_download)
            path = Path(destination)
            try:
                with path.open("wb") as file:
                    return _copy(response, file, on_download)
            except OSError as error:
                raise QuorumError(f"Cannot write {path}: {error.strerror or error}.") from None

    def wait_for_campaign(
        self,
        slug: str,
        campaign_id: int,
        poll_seconds: float = 10,
        timeout: float | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll until every review the campaign needs is in (or it is closed) and return it.

        `on_progress(campaign)` sees every poll's answer; CampaignTimeout after `timeout`
        seconds. A few failed polls in a row are retried, not fatal."""
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        campaign: dict = {"id": campaign_id}
        while True:
            try:
                campaign = self.get_campaign(slug, campaign_id)
                failures = 0
            except QuorumError as error:
                failures += 1
                transient = error.status is None or error.status >= 500
                if not transient or failures > POLL_FAILURES_TOLERATED:
                    raise
            else:
                if on_progress is not None:
                    on_progress(campaign)
                if is_complete(campaign):
                    return campaign
            if deadline is not None and time.monotonic() + poll_seconds > deadline:
                progress = campaign.get("progress") or {}
                raise CampaignTimeout(
                    f"Campaign {campaign_id} is not complete after {timeout:g} s "
                    f"({progress.get('reviews_done', '?')} of "
                    f"{progress.get('reviews_needed', '?')} reviews); reviewing goes on.",
                    campaign=campaign,
                )
            time.sleep(poll_seconds)


def _copy(response, file: BinaryIO, on_download: Callable[[int], None] | None) -> int:
    written = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        file.write(chunk)
        written += len(chunk)
        if on_download is not None:
            on_download(written)
    return written
