"""An MLflow client answering from memory, for tests that need the link's events without a
server (the integration tests use a real `mlflow server`)."""

from __future__ import annotations

from mlflow_sync import rest

RUN = {
    "info": {"run_id": "r1", "experiment_id": "0", "status": "FINISHED"},
    "data": {"params": [{"key": "depth", "value": "4"}], "metrics": [{"key": "auc", "value": 0.8}]},
}


class CannedMlflow(rest.Mlflow):
    """One registered model "churn" with one version made from run r1."""

    def _call(self, method: str, path: str, body: dict | None) -> dict:
        self.requests += 1
        if path.startswith("registered-models/get"):
            return {"registered_model": {"name": "churn", "aliases": []}}
        if path.startswith("model-versions/search"):
            version = {"version": "1", "status": "READY", "run_id": "r1", "source": "s3://m/1"}
            return {"model_versions": [version]}
        if path.startswith("runs/get"):
            return {"run": RUN}
        return {}
