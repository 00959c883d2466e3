"""The Client's calls about a use case's MLflow link (/api/v1/usecases/{slug}/mlflow): link
it to a registered model, import its versions (and wait for the import), read what was
imported, and the syncs of MLflow's aliases after promotions (docs/mlflow.md)."""

from __future__ import annotations

import time
from collections.abc import Callable

from quorum_client.errors import QuorumError, WaitTimeout
from quorum_client.session import Session, use_case_path


class MlflowCalls(Session):
    def _mlflow(self, slug: str, rest: str = "") -> str:
        return f"{use_case_path(slug)}mlflow{rest}"

    def get_mlflow_link(self, slug: str) -> dict:
        """The link: tracking URI, model, credentials set's name, aliases, schedule, the last
        import's summary or error and the versions imported; 404 if not linked."""
        return self._request("GET", self._mlflow(slug))

    def link_mlflow(
        self,
        slug: str,
        *,
        tracking_uri: str,
        model_name: str,
        credentials: str = "",
        aliases: dict[str, str] | None = None,
        import_every_hours: int | None = None,
    ) -> dict:
        """Link (or re-link) the use case; the server asks MLflow for the model first (400
        says what failed). Owner and admins. `credentials` names a set configured on the
        server, never a secret."""
        body: dict = {"tracking_uri": tracking_uri, "model_name": model_name}
        body["credentials"] = credentials
        if aliases is not None:
            body["aliases"] = aliases
        if import_every_hours is not None:
            body["import_every_hours"] = import_every_hours
        return self._request("PUT", self._mlflow(slug), json=body)

    def unlink_mlflow(self, slug: str) -> None:
        """Unlink; the imported versions stay."""
        self._request("DELETE", self._mlflow(slug))

    def import_from_mlflow(
        self,
        slug: str,
        *,
        wait: bool = False,
        poll_seconds: float = 2,
        timeout: float | None = None,
        on_poll: Callable[[float], None] | None = None,
    ) -> dict:
        """Queue an import; with `wait`, poll until it has run and return the link (its
        `last_import` summary), raising QuorumError if the import failed and WaitTimeout
        after `timeout` seconds (the import goes on). `on_poll(seconds waited)` is called
        at each poll."""
        before = self.get_mlflow_link(slug).get("last_import_at") if wait else None
        queued = self._request("POST", self._mlflow(slug, "/import"))
        if not wait:
            return queued
        started = time.monotonic()
        while True:
            link = self.get_mlflow_link(slug)
            if link.get("last_import_at") != before:
                if link.get("last_import_error"):
                    raise QuorumError(f"The import failed: {link['last_import_error']}", body=link)
                return link
            waited = time.monotonic() - started
            if on_poll is not None:
                on_poll(waited)
            if timeout is not None and waited + poll_seconds > timeout:
                raise WaitTimeout(
                    f"The import has not finished after {timeout:g} s; it goes on.", body=link
                )
            time.sleep(poll_seconds)

    def list_mlflow_versions(self, slug: str) -> list[dict]:
        """The imported versions, newest first, with their runs' parameters and metrics."""
        return self._get_all(self._mlflow(slug, "/versions/"))

    def list_mlflow_syncs(self, slug: str) -> list[dict]:
        """The alias syncs, newest first (state, attempts, changes or error)."""
        return self._get_all(self._mlflow(slug, "/syncs/"))

    def sync_mlflow(self, slug: str) -> dict:
        """Queue a sync of MLflow's aliases and quorum.stage tags to the stages now."""
        return self._request("POST", self._mlflow(slug, "/syncs/"))
