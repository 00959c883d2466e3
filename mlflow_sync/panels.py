"""The MLflow section of a version's page (registry.panels): the run's parameters and
final metrics with a link to the run, the version's aliases and tags, and a mark when
the version is gone from MLflow."""

from __future__ import annotations

from django.template.loader import render_to_string

from mlflow_sync.models import ImportedVersion
from portal.formatting import value_text


def run_url(imported: ImportedVersion) -> str:
    """The run's page in MLflow's UI ("" without a run)."""
    if not imported.run_id or not imported.experiment_id:
        return ""
    base = imported.link.tracking_uri.rstrip("/")
    return f"{base}/#/experiments/{imported.experiment_id}/runs/{imported.run_id}"


def version_panel(request, version) -> str:
    imported = ImportedVersion.objects.filter(model_version=version).select_related("link").first()
    if imported is None:
        return ""
    context = {
        "imported": imported,
        "run_url": run_url(imported),
        "params": sorted(imported.run_params.items()),
        "metrics": [
            (k, value_text(v, decimals=4)) for k, v in sorted(imported.run_metrics.items())
        ],
        "tags": sorted(imported.tags.items()),
    }
    return render_to_string("mlflow_sync/_version_panel.html", context, request=request)
