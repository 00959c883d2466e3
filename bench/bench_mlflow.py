"""Importing 1,000 model versions from a local MLflow server (issue 15: time and requests).

Data. `mlflow server` (mlflow-skinny 3.17.2, SQLite backend, one worker) on a free loopback
port, seeded through its REST API with one registered model of 1,000 versions, each made
from its own finished run with 10 parameters and 5 metrics, and two aliases. Quorum runs
on a fresh PostgreSQL database (quorum_bench_mlflow, dropped and recreated each run), its
use case linked to that model.

Measured, in one process, wall-clock:
- the first import: every version registered in Quorum (a version row, its audit event and
  the imported record), reading the model, the search pages and each version's run;
- a second import of the unchanged registry (idempotent: nothing written; finished runs
  are not read again);
- a third after 10 versions' tags changed in MLflow (10 updated);
- the floor: the same GETs as the first import (the model, the search pages and 1,000
  runs), made bare over one keep-alive `requests` session, without Quorum.

Run with `make bench BENCH=bench/bench_mlflow.py` (needs PostgreSQL on 127.0.0.1:5432).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
SERVER = SERVER.rsplit("/", 1)[0]
DATABASE = "quorum_bench_mlflow"  # this bench's alone: dropped and recreated every run
os.environ["DATABASE_URL"] = f"{SERVER}/{DATABASE}"
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["DEBUG"] = "0"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["MLFLOW_ALLOWED_HOSTS"] = "127.0.0.1"

VERSIONS = int(os.environ.get("QUORUM_BENCH_MLFLOW_VERSIONS", "1000"))
MODEL = "bench-churn"


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def seed_mlflow(uri: str) -> None:
    """One model of VERSIONS versions, each from its own finished run, through the REST API."""
    import requests

    session = requests.Session()
    base = f"{uri}/api/2.0/mlflow"

    def post(path: str, body: dict) -> dict:
        answer = session.post(f"{base}/{path}", json=body, timeout=60)
        if answer.status_code != 200:
            raise SystemExit(f"MLflow {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    experiment = post("experiments/create", {"name": MODEL})["experiment_id"]
    post("registered-models/create", {"name": MODEL})
    for n in range(VERSIONS):
        run_id = post("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
        params = [{"key": f"param_{i}", "value": str(n * i)} for i in range(10)]
        metrics = [
            {"key": f"metric_{i}", "value": (n % 97) / 100 + i, "timestamp": 0, "step": 0}
            for i in range(5)
        ]
        post("runs/log-batch", {"run_id": run_id, "params": params, "metrics": metrics})
        post("runs/update", {"run_id": run_id, "status": "FINISHED"})
        source = f"runs:/{run_id}/model"
        post("model-versions/create", {"name": MODEL, "source": source, "run_id": run_id})
    post("registered-models/alias", {"name": MODEL, "alias": "champion", "version": "1"})
    post("registered-models/alias", {"name": MODEL, "alias": "shadow", "version": "2"})


def floor(uri: str) -> tuple[float, int]:
    """The first import's GETs, bare: (seconds, requests)."""
    import requests

    from mlflow_sync.rest import PAGE_SIZE, search_filter

    session, base, count = requests.Session(), f"{uri}/api/2.0/mlflow", 0
    started = time.perf_counter()
    session.get(f"{base}/registered-models/get", params={"name": MODEL}).raise_for_status()
    count += 1
    token, runs = None, []
    while True:
        params = {"filter": search_filter(MODEL), "max_results": PAGE_SIZE}
        if token:
            params["page_token"] = token
        page = session.get(f"{base}/model-versions/search", params=params).json()
        count += 1
        runs += [version["run_id"] for version in page.get("model_versions", [])]
        if not (token := page.get("next_page_token")):
            break
    for run_id in runs:
        session.get(f"{base}/runs/get", params={"run_id": run_id}).raise_for_status()
        count += 1
    return time.perf_counter() - started, count


def main() -> None:
    fresh_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from mlflow_sync.services import importing, links
    from registry.models import ModelVersion
    from tests.mlflow_sync.server import MlflowServer, free_port
    from usecases.models import Role, UseCase, UseCaseMember

    folder = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    server = MlflowServer(port=free_port(), folder=folder)
    server.start()
    try:
        started = time.perf_counter()
        seed_mlflow(server.uri)
        seeded = time.perf_counter() - started
        print(f"MLflow seeded: {VERSIONS:,} versions, each with its run ({seeded:.0f} s)")
        owner = get_user_model().objects.create(username="bench-owner")
        use_case = UseCase.objects.create(slug="bench-churn", title="Churn", owner=owner)
        UseCaseMember.objects.create(use_case=use_case, user=owner, role=Role.OWNER)
        link = links.save_link(use_case, by=owner, tracking_uri=server.uri, model_name=MODEL)

        def timed(label: str) -> None:
            started = time.perf_counter()
            summary = importing.import_versions(link, by=owner)
            seconds = time.perf_counter() - started
            print(
                f"{label:<34} {seconds:6.2f} s  {summary.requests:5,} requests  "
                f"created {summary.created:,}, updated {summary.updated}, "
                f"unchanged {summary.unchanged:,}, skipped {len(summary.skipped)}"
            )

        bare, bare_requests = floor(server.uri)
        timed("first import")
        timed("second import (nothing changed)")
        client = server.client()
        for n in range(1, 11):
            client.set_model_version_tag(MODEL, str(n), "team", "risk")
        timed("third import (10 versions retagged)")
        label = "floor: the first import's GETs bare"
        print(f"{label:<34} {bare:6.2f} s  {bare_requests:5,} requests")
        count = ModelVersion.objects.filter(use_case=use_case).count()
        print(f"Quorum versions after the imports: {count:,}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
