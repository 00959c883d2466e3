"""The deployment's answer as bytes and headers, shared by the API view
(promotions/api/deployment.py) and its fast path (promotions/fastpath.py): each version as
the `DeployedVersion` serializer writes it, the JSON as DRF's renderer writes it, the ETag and
the If-None-Match rule. Plain functions of plain values: no ORM, no request."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import orjson
from rest_framework.fields import DateTimeField
from rest_framework.renderers import JSONRenderer

# DeployedVersion's fields, in its order (tests/promotions/test_fastpath.py holds the two
# together), and the stages the deployment shows.
FIELDS = (
    "version",
    "stage",
    "traffic_percent",
    "artifact_uri",
    "mlflow_run_id",
    "git_commit",
    "stage_changed_at",
)
PRODUCTION, CANARY, SHADOW = "production", "canary", "shadow"
_when = DateTimeField()  # DRF's own output: DATETIME_FORMAT in the current time zone
_renderer = JSONRenderer()  # the API views' renderer (portal.api.JSONOnly)


def version_body(values: Sequence) -> dict:
    """One version, `values` in FIELDS' order (stage_changed_at an aware datetime or None),
    as DeployedVersion(version).data: None stays None, else CharField's str(),
    IntegerField's int() and DateTimeField's to_representation()."""
    version, stage, traffic, artifact, run, commit, changed_at = values
    return {
        "version": None if version is None else str(version),
        "stage": None if stage is None else str(stage),
        "traffic_percent": None if traffic is None else int(traffic),
        "artifact_uri": None if artifact is None else str(artifact),
        "mlflow_run_id": None if run is None else str(run),
        "git_commit": None if commit is None else str(commit),
        "stage_changed_at": None if changed_at is None else _when.to_representation(changed_at),
    }


def deployment_of(slug: str, versions: Iterable[Sequence]) -> dict:
    """The deployment body from the use case's deployed versions in stage_changed_at, pk
    order, as promotions.selectors.deployment sorts them (the latest of a stage wins)."""
    found: dict = {PRODUCTION: None, CANARY: None, SHADOW: []}
    for values in versions:
        body = version_body(values)
        if values[1] == SHADOW:
            found[SHADOW].append(body)
        else:
            found[values[1]] = body
    return {"use_case": slug, **found}


def etag_of(body: dict) -> str:
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'"{digest[:32]}"'


def matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: a list of tags (weak ones compare equal) or "*"."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def render(body: dict) -> bytes:
    """The body as DRF's JSONRenderer writes it for the API (compact, UTF-8, strict)."""
    return _renderer.render(body)
