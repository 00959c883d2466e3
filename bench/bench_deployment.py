"""Looking up what serves a use case through the API, against MLflow's get-version-by-alias on
the same machine, with the same client, in one run, interleaved (DESIGN.md target: Quorum's
median at most a quarter of MLflow's).

Method. Quorum runs under gunicorn as the Procfile runs it (sync workers; one here, since one
request is in flight at a time), DEBUG off, on a fresh PostgreSQL database (migrated, then
seeded): the bench use case has 16 versions (a production, a canary at 10 % of traffic, two
shadows and 12 archived, each with an artifact URI, a git commit and an MLflow run id, the
deployed ones with an evaluation), beside 50 other use cases of 4 versions that the caller
cannot see. Stages are set directly in the seed (this measures reads). The caller is the use
case's owner, with a knox API token; DRF's throttle stays on (the fast path counts it too),
its rate raised past the bench's pace over a window of a second, so that its history stays
as short as under the default rate.

MLflow 3.17.2 (`mlflow server` from the `bench` extra: mlflow-skinny, the same `mlflow` code
as the `mlflow` package, whose pins clash with Quorum's) runs twice, on 127.0.0.1, free ports:
with a SQLite backend store in a temporary folder (the reference for the target) and with
a fresh PostgreSQL database (as DESIGN.md's figure was taken), each with one uvicorn worker,
its access log and its job runner off (neither is on the request's path; the job runner's
idle consumers would take CPU from both sides on 2 cores). Seeded the same way through its
REST API: a registered model with 16 versions, the alias `champion` on the 13th, and 50
other models of 4 versions.

Measured, by one client process with Python's http.client, one connection object per
endpoint (uvicorn keeps it alive; gunicorn's sync worker closes it after each answer, so
every Quorum request includes a loopback TCP connect, as behind a proxy):
- Quorum `GET /api/v1/usecases/{slug}/deployment` (200, production, canary and shadows),
  answered by its fast path (promotions/middleware.py: one SQL query, prepared once per
  connection, no DRF);
- the same with `If-None-Match` holding its ETag (304, no body);
- the same GET with a query string (`?via=view`), which the fast path leaves to the API
  view (DRF, seven queries): the same answer the slow way, for scale;
- Quorum `GET /api/v1/usecases/{slug}/versions/{version}/` (the registry's version detail);
- the deployment GET without a token (401, no SQL query): the floor of gunicorn, Django's
  middleware and DRF, for scale (between two requests to one server the others run, so each
  request finds its worker idle, as a poller's would);
- MLflow `GET /api/2.0/mlflow/registered-models/alias?name=…&alias=champion`, SQLite and
  PostgreSQL.
Every answer is read in full and its status checked (and the view's body checked equal to
the fast path's). Warm-up rounds first; then each round sends the seven requests once, in an
order shuffled per round (so drift and noise on this shared 2-core machine fall on all
alike). Reported: median, p95 and p99 per endpoint, and Quorum's median over MLflow's.
Finally, in-process (Django's test client, no HTTP), the SQL queries each Quorum request
runs.

Run with `make bench` (needs PostgreSQL on 127.0.0.1:5432 and the `bench` extra; drops and
recreates the databases quorum_bench_deployment and quorum_bench_mlflow on the server of
DATABASE_URL). QUORUM_BENCH_ROUNDS sets the number of measured rounds (default 2,000).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
SERVER = SERVER.rsplit("/", 1)[0]
# Databases of this bench alone: they are dropped and recreated on every run.
QUORUM_DB, MLFLOW_DB = "quorum_bench_deployment", "quorum_bench_mlflow"
os.environ["DATABASE_URL"] = f"{SERVER}/{QUORUM_DB}"
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

ROUNDS = int(os.environ.get("QUORUM_BENCH_ROUNDS", 2000))
WARMUP = 200
SLUG = "bench-deployment"
MODEL = "bench-deployment"
ALIAS = "champion"
ARCHIVED, OTHER_USE_CASES, OTHER_VERSIONS = 12, 50, 4
BIN = Path(sys.executable).parent


def fresh_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed() -> tuple[str, str]:
    """The bench use case and its neighbours; (API token, name of the production version)."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from knox.models import AuthToken

    from registry.models import Evaluation, EvaluationDataset, ModelVersion, StoredTable
    from usecases.services import usecases as use_case_services

    User = get_user_model()
    owner = User.objects.create(username="bench-owner")
    stranger = User.objects.create(username="bench-stranger")
    use_case = use_case_services.create_use_case(
        by=owner, slug=SLUG, title="Bench: deployment lookups", task_type="binary"
    )
    for n in range(OTHER_USE_CASES):
        other = use_case_services.create_use_case(
            by=stranger, slug=f"bench-other-{n:02d}", title=f"Other {n}", task_type="binary"
        )
        ModelVersion.objects.bulk_create(
            ModelVersion(use_case=other, version=f"1.{v}", registered_by=stranger)
            for v in range(OTHER_VERSIONS)
        )
    Stage = ModelVersion.Stage
    plan = [(f"1.{n}", Stage.ARCHIVED, None) for n in range(ARCHIVED)] + [
        ("2.0", Stage.PRODUCTION, None),
        ("2.1", Stage.CANARY, 10),
        ("2.2", Stage.SHADOW, None),
        ("2.3", Stage.SHADOW, None),
    ]
    start = timezone.now() - datetime.timedelta(days=len(plan))
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(
            use_case=use_case,
            version=name,
            description=f"Gradient boosting, release {name}.",
            artifact_uri=f"s3://models/churn/{name}/model.onnx",
            git_commit=f"{n:040x}"[:40],
            mlflow_run_id=f"{n + 1:032x}",
            registered_by=owner,
            stage=stage,
            traffic_percent=traffic,
            stage_changed_at=start + datetime.timedelta(days=n),
        )
        for n, (name, stage, traffic) in enumerate(plan)
    )
    table = StoredTable.objects.create(parquet=b"", size_bytes=0, sha256="0" * 64)
    dataset = EvaluationDataset.objects.create(
        use_case=use_case,
        name="holdout",
        file_format="parquet",
        row_count=0,
        columns=["id", "label"],
        table=table,
        uploaded_by=owner,
    )
    now = timezone.now()
    for version in versions[ARCHIVED:]:
        Evaluation.objects.create(
            use_case=use_case,
            model_version=version,
            dataset=dataset,
            requested_by=owner,
            status=Evaluation.Status.SUCCEEDED,
            progress=100,
            results={"overall": {}},
            gates=[],
            passed_gates=True,
            queued_at=now,
            finished_at=now,
        )
    _, token = AuthToken.objects.create(owner)
    return token, "2.0"


def server_env(var_dir: str) -> dict:
    return {
        **os.environ,
        "DEBUG": "0",
        "CONN_MAX_AGE": "600",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "QUORUM_VAR_DIR": var_dir,
        "CELERY_BROKER_URL": "filesystem://",
        # Past the bench's pace, over a window of a second: DRF keeps every request of the
        # window in a list it pickles into the cache on each request, and a per-minute rate
        # this high would let it grow to ~10,000 entries (0.4 ms per request on both paths),
        # where the default 2,000/minute holds it to 2,000 at most.
        "THROTTLE_RATE_USER": "10000/second",
        "LOG_LEVEL": "ERROR",  # not a line per 401 of the no-token probe
    }


def start(command: list, env: dict, log: Path) -> subprocess.Popen:
    """A server in its own process group (stop() ends the group: uvicorn forks a child)."""
    return subprocess.Popen(
        [str(part) for part in command],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def wait_for(server: subprocess.Popen, port: int, path: str, log: Path, seconds: int = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server on port {port} exited:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server on port {port} did not answer in {seconds} s:\n{log.read_text()}")


def start_quorum(port: int, var_dir: str) -> subprocess.Popen:
    log = Path(var_dir) / "gunicorn.log"
    command = [BIN / "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = start([*command, "--log-level", "warning"], server_env(var_dir), log)
    wait_for(server, port, "/api/v1/", log)
    return server


def start_mlflow(port: int, store_uri: str, folder: Path) -> subprocess.Popen:
    log = folder / "mlflow.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [
        BIN / "mlflow",
        "server",
        "--backend-store-uri",
        store_uri,
        "--default-artifact-root",
        folder / "artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--uvicorn-opts",
        "--no-access-log",
    ]
    server = start(command, env, log)
    wait_for(server, port, "/health", log)
    return server


def seed_mlflow(port: int) -> None:
    """The same shape as Quorum's seed, through MLflow's REST API."""
    import requests

    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    session = requests.Session()

    def post(path: str, body: dict) -> dict:
        response = session.post(f"{base}/{path}", json=body, timeout=60)
        if response.status_code != 200:
            raise SystemExit(f"MLflow {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def register(name: str, versions: int) -> None:
        post("registered-models/create", {"name": name})
        for n in range(versions):
            source = f"s3://models/{name}/{n}/model"
            post("model-versions/create", {"name": name, "source": source})

    register(MODEL, ARCHIVED + 4)
    post("registered-models/alias", {"name": MODEL, "alias": ALIAS, "version": str(ARCHIVED + 1)})
    for n in range(OTHER_USE_CASES):
        register(f"bench-other-{n:02d}", OTHER_VERSIONS)


class Probe:
    """One endpoint, requested over its own http.client connection."""

    def __init__(self, label: str, port: int, path: str, headers: dict, status: int) -> None:
        self.label, self.path, self.headers, self.status = label, path, headers, status
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.seconds: list[float] = []

    def get(self) -> tuple[int, bytes, http.client.HTTPResponse]:
        self.connection.request("GET", self.path, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read(), response

    def __call__(self, keep: bool) -> None:
        started = time.perf_counter()
        status, body, _ = self.get()
        elapsed = time.perf_counter() - started
        if status != self.status:
            raise SystemExit(f"{self.label}: {status} (expected {self.status}) {body[:300]!r}")
        if keep:
            self.seconds.append(elapsed)


def probes(quorum: int, mlflow_ports: dict[str, int], token: str, version: str) -> list[Probe]:
    auth = {"Authorization": f"Token {token}"}
    deployment = f"/api/v1/usecases/{SLUG}/deployment"
    check = Probe("check", quorum, deployment, auth, 200)
    status, body, response = check.get()
    answer = json.loads(body)
    assert status == 200 and answer["production"]["version"] == version, (status, answer)
    assert answer["canary"]["traffic_percent"] == 10 and len(answer["shadow"]) == 2, answer
    etag = response.getheader("ETag")
    view = Probe("check", quorum, f"{deployment}?via=view", auth, 200)
    assert view.get()[1] == body, "the view and the fast path answer differently"
    alias = f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias={ALIAS}"
    found = [
        Probe("Quorum GET deployment", quorum, deployment, auth, 200),
        Probe(
            "Quorum GET deployment, If-None-Match (304)",
            quorum,
            deployment,
            {**auth, "If-None-Match": etag},
            304,
        ),
        Probe("Quorum GET deployment via the view", quorum, f"{deployment}?via=view", auth, 200),
        Probe(
            "Quorum GET version",
            quorum,
            f"/api/v1/usecases/{SLUG}/versions/{version}/",
            auth,
            200,
        ),
        Probe("Quorum GET deployment, no token (401)", quorum, deployment, {}, 401),
    ]
    for store, port in mlflow_ports.items():
        found.append(Probe(f"MLflow get-version-by-alias ({store})", port, alias, {}, 200))
        status, body, _ = found[-1].get()
        model_version = json.loads(body)["model_version"]
        assert model_version["version"] == str(ARCHIVED + 1), model_version
    return found


def measure(found: list[Probe]) -> float:
    """Warm-up rounds, then ROUNDS rounds of every probe in a shuffled order; wall seconds."""
    rng = random.Random(7)
    started = time.perf_counter()
    for round_ in range(WARMUP + ROUNDS):
        order = found[:]
        rng.shuffle(order)
        for probe in order:
            probe(keep=round_ >= WARMUP)
    return time.perf_counter() - started


def queries_per_request(token: str, version: str) -> list[str]:
    """In-process, through Django's test client: the SQL each Quorum request runs."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # WhiteNoise looks for collected static files, which no API answer needs.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    from promotions import fastpath

    statement = fastpath._statement(connection.vendor)
    deployment = f"/api/v1/usecases/{SLUG}/deployment"
    etag = client.get(deployment)["ETag"]
    lines = []
    for label, path, headers in [
        ("GET deployment", deployment, {}),
        ("GET deployment, If-None-Match (304)", deployment, {"HTTP_IF_NONE_MATCH": etag}),
        ("GET deployment via the view", f"{deployment}?via=view", {}),
        ("GET version", f"/api/v1/usecases/{SLUG}/versions/{version}/", {}),
    ]:
        client.get(path, **headers)  # warm
        times = []
        for _ in range(200):
            started = time.perf_counter()
            client.get(path, **headers)
            times.append(time.perf_counter() - started)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, **headers)
        lines.append(
            f"  {label}: {response.status_code}, {len(captured.captured_queries)} queries, "
            f"median {statistics.median(times) * 1000:.2f} ms in-process"
        )
        for query in captured.captured_queries:
            # Django cannot show a statement psycopg prepared (promotions/fastpath.py): its own.
            sql = " ".join((query["sql"] or f"(prepared) {statement}").split())
            lines.append(f"    {sql[:150]}{'…' if len(sql) > 150 else ''}")
    return lines


def row(label: str, seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"  {label:44} {p50:7.2f} {p95:7.2f} {p99:7.2f}"


def main() -> None:
    if not (BIN / "mlflow").exists():
        raise SystemExit("No MLflow: `make bench` installs it (pip install -e '.[dev,bench]').")
    from importlib.metadata import version as installed

    load = os.getloadavg()[0]  # before this bench starts its servers
    fresh_database(QUORUM_DB)
    fresh_database(MLFLOW_DB)
    import django

    folder = Path(tempfile.mkdtemp(prefix="quorum-bench-deployment-"))
    os.environ["QUORUM_VAR_DIR"] = str(folder)
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    token, version = seed()
    connection.close()

    servers = []
    try:
        quorum_port = free_port()
        servers.append(start_quorum(quorum_port, str(folder)))
        mlflow_ports = {}
        stores = {
            "SQLite": f"sqlite:///{folder / 'mlflow.db'}",
            "PostgreSQL": f"postgresql+psycopg://{SERVER.split('://', 1)[1]}/{MLFLOW_DB}",
        }
        for store, uri in stores.items():
            store_folder = folder / store.lower()
            store_folder.mkdir()
            port = free_port()
            servers.append(start_mlflow(port, uri, store_folder))
            seed_mlflow(port)
            mlflow_ports[store] = port
        found = probes(quorum_port, mlflow_ports, token, version)
        wall = measure(found)
    finally:
        for server in servers:
            stop(server)

    print(
        f"Quorum: gunicorn {installed('gunicorn')}, 1 sync worker, PostgreSQL. MLflow "
        f"{installed('mlflow-skinny')}: `mlflow server`, uvicorn {installed('uvicorn')}, "
        "1 worker, SQLite and PostgreSQL backend stores."
    )
    print(
        f"{ROUNDS:,} rounds of the {len(found)} requests in a shuffled order, after {WARMUP} "
        f"warm-up rounds: {wall:.0f} s; load average {load:.1f} on {os.cpu_count()} cores "
        "before the bench started"
    )
    print(f"\n  {'ms':44} {'median':>7} {'p95':>7} {'p99':>7}")
    for probe in found:
        print(row(probe.label, probe.seconds))
    medians = {probe.label: statistics.median(probe.seconds) for probe in found}
    for store in stores:
        reference = medians[f"MLflow get-version-by-alias ({store})"]
        print(f"\nQuorum's median / MLflow's ({store}, {reference * 1000:.2f} ms):")
        for n, probe in enumerate(found[:5]):
            ratio = medians[probe.label] / reference
            verdict = "met" if ratio <= 0.25 else "NOT met"
            target = f"target ≤ 0.25: {verdict}" if store == "SQLite" and n < 2 else "for scale"
            print(f"  {probe.label.removeprefix('Quorum '):42} {ratio:5.2f}  ({target})")
    print("\nSQL per Quorum request (in-process, Django's test client, no HTTP):")
    print("\n".join(queries_per_request(token, version)))
    shutil.rmtree(folder, ignore_errors=True)  # kept when the run fails, for its logs


if __name__ == "__main__":
    main()
