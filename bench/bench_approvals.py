"""Approvals that execute a promotion, 20 at once (DESIGN.md "Deployment stages and
promotion"; target: p95 under 100 ms with 20 concurrent requests).

Data. A fresh PostgreSQL database, 20 use cases (risk tier low: one domain expert's approval
is the last one needed), each with a data scientist who requests, its own expert who
approves (a knox API token each), a deployment webhook (its deliveries queued on Redis, as
in production: database 15 of 127.0.0.1:6379 by default, purged before and after; no worker
runs) and two versions whose evidence passes every gate of a
promotion to production: a succeeded evaluation on the reference dataset passing its gating
KPI, a closed review campaign of 10 verdicts (9 correct; made through the review services),
and a data-quality tally of 1 violation in 100 rows. One version is in production, the other
a canary at 10 % of traffic (stages set directly). Each round the data scientist opens a
canary → production request on every use case (`open_request()`, not timed), then the 20
experts approve: each approval, the last one needed, re-measures the gates and executes the
promotion in its transaction (lock the use case, the request, the use case's versions;
archive the production version, move the canary, stage changes, audit events,
notifications, the webhook delivery), so every approval is its own use case's and none
waits for another's lock. The next round promotes the other version back.

Three ways, interleaved round by round (order rotated), 5 measured rounds each after three
warm-up rounds of each (long-lived processes, warm, as a server's workers are):
- HTTP, 20 at once: gunicorn as the Procfile runs it with 20 sync workers (one per
  request), DEBUG off; 20 client threads, each with its own connection opened before a
  barrier releases them together, POST …/promotions/{id}/approve with their expert's token;
  timed from sending to the end of the answer (the request as the API answers it).
- Service, 20 at once: 20 processes forked from the bench once and reused every round, each
  with its own database connection, released by a barrier, time
  `promotions.services.requests.approve()` (the transaction, execution included, its
  commit and what runs after it), as the API view calls it.
- HTTP, one at a time: the same approvals sent one after the other (no contention): the
  cost of one approval, and the floor for 20 at once on 2 cores.
And, once per round, for scale: the same 20 experts POST the lightest authenticated write
of the API at once (`/api/v1/notifications/read-all`: the knox token checked, DRF, one
UPDATE), the floor of any write through this stack with 20 at once on 2 cores.
Every approval must answer "executed", and each use case must end with one production
version. Reported: p50/p95/max per way over all rounds, p95 per round, and for one approval
in-process the SQL queries and the CPU time of the Python process. The machine is shared
(2 cores); the load average is printed.

Run with `make bench` (needs PostgreSQL on 127.0.0.1:5432; drops and recreates the database
quorum_bench_approvals on the server of DATABASE_URL). QUORUM_BENCH_APPROVAL_ROUNDS sets the
measured rounds (default 5).
"""

from __future__ import annotations

import http.client
import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
SERVER = SERVER.rsplit("/", 1)[0]
DATABASE = "quorum_bench_approvals"  # this bench's alone: dropped and recreated every run
# The broker the tasks are sent to (none is consumed): this bench's alone, purged.
BROKER = os.environ.get("QUORUM_BENCH_BROKER", "redis://127.0.0.1:6379/15")
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ["DATABASE_URL"] = f"{SERVER}/{DATABASE}"
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

USE_CASES = 20
ROUNDS = int(os.environ.get("QUORUM_BENCH_APPROVAL_ROUNDS", 5))
WARMUP_ROUNDS = 3  # gunicorn spreads 20 connections unevenly over its 20 workers
WAYS = ("HTTP, 20 at once", "service, 20 at once", "HTTP, one at a time")
LIGHTEST = "HTTP, 20 at once, the lightest authenticated write (for scale)"
BIN = Path(sys.executable).parent


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_predictions(version, count: int) -> None:
    import datetime

    from django.utils import timezone

    from predictions.models import Prediction

    rng = random.Random(version.pk)
    start = timezone.now() - datetime.timedelta(days=1)
    rows = []
    for i in range(count):
        score = rng.random()
        rows.append(
            Prediction(
                use_case_id=version.use_case_id,
                model_version=version,
                request_id=f"r{i}",
                predicted_at=start + datetime.timedelta(minutes=i),
                features={"tenure": i, "plan": "basic"},
                prediction=int(score >= 0.5),
                score=score,
                confidence=max(score, 1 - score),
                random_key=rng.random(),
            )
        )
    Prediction.objects.bulk_create(rows)


def passing_evidence(version, dataset, kpi, owner, expert) -> None:
    """An evaluation passing the gating KPI, a closed campaign at 90 % acceptance, a tally of
    1 %: every gate of a promotion to production passes."""
    from django.utils import timezone

    from predictions.models import QualityTally
    from registry.models import Evaluation
    from reviews.services import campaigns, reviewing

    gate = {
        "kpi": kpi.pk,
        "name": kpi.name,
        "metric": kpi.metric,
        "segment": kpi.segment,
        "value": 0.93,
        "threshold": kpi.gate_threshold,
        "is_gating": True,
        "passed": True,
    }
    from registry.models import PredictionSet, StoredTable

    # The predictions the evaluation scored (the gate checks they were not replaced since).
    PredictionSet.objects.create(
        use_case=version.use_case,
        model_version=version,
        dataset=dataset,
        row_count=dataset.row_count,
        table=StoredTable.objects.create(parquet=b"", size_bytes=0, sha256="0" * 64),
        uploaded_by=owner,
    )
    now = timezone.now()
    Evaluation.objects.create(
        use_case=version.use_case,
        model_version=version,
        dataset=dataset,
        requested_by=owner,
        status=Evaluation.Status.SUCCEEDED,
        progress=100,
        results={"overall": {}},
        gates=[gate],
        passed_gates=True,
        queued_at=now,
        finished_at=now,
    )
    QualityTally.objects.create(
        model_version=version, use_case=version.use_case, rows_checked=100, rows_violating=1
    )
    log_predictions(version, 20)
    campaign = campaigns.create_campaign(
        version.use_case,
        by=owner,
        name=f"Check of {version.version}",
        model_version=version,
        sample_size=10,
    )
    for i in range(10):
        slot = reviewing.claim_next(campaign, reviewer=expert)
        verdict = "correct" if i < 9 else "incorrect"
        reviewing.submit_review(slot, reviewer=expert, verdict=verdict)
    campaigns.close_campaign(campaign, by=owner)


def seed() -> list[dict]:
    """20 use cases ready to promote; [{slug, versions, expert, token}] per use case."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from promotions.models import PromotionPolicy
    from registry.models import EvaluationDataset, ModelVersion, StoredTable
    from usecases.models import KPI, Role, UseCase, UseCaseMember
    from usecases.services import usecases as use_case_services

    User = get_user_model()
    owner = User.objects.create(username="bench-owner")
    scientist = User.objects.create(username="bench-scientist")
    cases = []
    for n in range(USE_CASES):
        expert = User.objects.create(username=f"bench-expert-{n:02d}")
        use_case = use_case_services.create_use_case(
            by=owner,
            slug=f"bench-approval-{n:02d}",
            title=f"Bench approval {n:02d}",
            task_type="binary",
            risk_tier=UseCase.RiskTier.LOW,
        )
        UseCaseMember.objects.create(use_case=use_case, user=scientist, role=Role.DATA_SCIENTIST)
        UseCaseMember.objects.create(use_case=use_case, user=expert, role=Role.EXPERT)
        PromotionPolicy.objects.create(
            use_case=use_case,
            webhook_url="https://deploy.example.com/quorum",
            webhook_secret="bench-only-secret",
        )
        kpi = KPI.objects.create(
            use_case=use_case,
            name="Accuracy",
            metric="accuracy",
            direction=KPI.Direction.HIGHER,
            target=0.9,
            gate_threshold=0.8,
        )
        dataset = EvaluationDataset.objects.create(
            use_case=use_case,
            name="holdout",
            file_format="parquet",
            row_count=0,
            columns=["id", "label"],
            table=StoredTable.objects.create(parquet=b"", size_bytes=0, sha256="0" * 64),
            uploaded_by=scientist,
        )
        versions = [
            ModelVersion.objects.create(use_case=use_case, version=name, registered_by=scientist)
            for name in ("1.0", "2.0")
        ]
        for version in versions:
            passing_evidence(version, dataset, kpi, owner, expert)
        ModelVersion.objects.filter(pk=versions[0].pk).update(stage=ModelVersion.Stage.PRODUCTION)
        _, token = AuthToken.objects.create(expert)
        cases.append(
            {"slug": use_case.slug, "versions": versions, "expert": expert.pk, "token": token}
        )
    return cases


def open_requests(cases: list[dict], round_: int) -> list[int]:
    """Each use case's non-production version to canary, and a request to production."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from promotions.services import requests as promotion_requests
    from registry.models import ModelVersion

    scientist = get_user_model().objects.get(username="bench-scientist")
    opened = []
    for case in cases:
        version = ModelVersion.objects.get(
            pk__in=[v.pk for v in case["versions"]], stage__in=["registered", "archived"]
        )
        ModelVersion.objects.filter(pk=version.pk).update(stage="canary", traffic_percent=10)
        version.refresh_from_db()
        request = promotion_requests.open_request(
            version.use_case,
            by=scientist,
            version=version,
            target_stage="production",
            rationale=f"Bench round {round_}.",
        )
        opened.append(request.pk)
    connection.close()  # no connection may cross a fork
    return opened


def check_executed(cases: list[dict], request_ids: list[int]) -> None:
    from django.db import connection

    from promotions.models import PromotionRequest
    from registry.models import ModelVersion

    statuses = set(
        PromotionRequest.objects.filter(pk__in=request_ids).values_list("status", flat=True)
    )
    assert statuses == {"executed"}, statuses
    for case in cases:
        versions = ModelVersion.objects.filter(pk__in=[v.pk for v in case["versions"]])
        assert versions.filter(stage="production").count() == 1, case["slug"]
    connection.close()


def approve_over_http(port: int, case: dict, request_id: int) -> tuple[float, dict]:
    path = f"/api/v1/usecases/{case['slug']}/promotions/{request_id}/approve"
    headers = {"Authorization": f"Token {case['token']}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.connect()
    return send(connection, path, headers)


def send(connection, path: str, headers: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    connection.request("POST", path, body=b"{}", headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise SystemExit(f"POST {path}: {response.status} {body[:500]!r}")
    return elapsed, json.loads(body)


def http_at_once(port: int, cases: list[dict], paths: list[str]) -> list[tuple[float, dict]]:
    """POST each path with its use case's expert's token, all at once: (seconds, answer)."""
    barrier = threading.Barrier(len(cases))
    results: list = [None] * len(cases)

    def run(i: int) -> None:
        headers = {
            "Authorization": f"Token {cases[i]['token']}",
            "Content-Type": "application/json",
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.connect()  # a worker takes the connection before the clock starts
        barrier.wait()
        try:
            results[i] = send(connection, paths[i], headers)
        except BaseException as error:  # reported below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [r for r in results if not isinstance(r, tuple)]
    if failed:
        raise SystemExit(f"HTTP requests failed: {failed[:3]}")
    return results


def approvals_at_once(port: int, cases: list[dict], request_ids: list[int]) -> list[float]:
    paths = [
        f"/api/v1/usecases/{case['slug']}/promotions/{request_id}/approve"
        for case, request_id in zip(cases, request_ids, strict=True)
    ]
    results = http_at_once(port, cases, paths)
    assert {answer["status"] for _, answer in results} == {"executed"}, results
    return [seconds for seconds, _ in results]


def lightest_writes_at_once(port: int, cases: list[dict]) -> list[float]:
    """The same 20 experts POST the lightest write of the API at once (their notifications
    marked read: the token checked, one UPDATE): the floor of any authenticated write on
    this stack with 20 at once, for scale."""
    results = http_at_once(port, cases, ["/api/v1/notifications/read-all"] * len(cases))
    assert all("marked" in answer for _, answer in results), results
    return [seconds for seconds, _ in results]


def http_one_at_a_time(port: int, cases: list[dict], request_ids: list[int]) -> list[float]:
    times = []
    for case, request_id in zip(cases, request_ids, strict=True):
        seconds, answer = approve_over_http(port, case, request_id)
        assert answer["status"] == "executed", answer
        times.append(seconds)
    return times


def approver(user_id: int, jobs, barrier, results) -> None:
    """One process for the whole bench, as a gunicorn worker is, with its own connection:
    for each request id it is given, approve when the barrier opens; None ends it."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from promotions.models import PromotionRequest
    from promotions.services import requests as promotion_requests

    user = get_user_model().objects.get(pk=user_id)
    try:
        while (request_id := jobs.get()) is not None:
            try:
                request = PromotionRequest.objects.get(pk=request_id)
                barrier.wait()
                started = time.perf_counter()
                decided = promotion_requests.approve(request, by=user)
                results.put((time.perf_counter() - started, decided.status))
            except BaseException as error:  # reported by the parent
                results.put((None, repr(error)))
    finally:
        connection.close()


class Approvers:
    """20 processes forked once (no connection may cross the fork), one per use case's
    expert, reused round after round: warm after the warm-up round, as long-lived workers."""

    def __init__(self, cases: list[dict]) -> None:
        context = multiprocessing.get_context("fork")
        self.barrier, self.results = context.Barrier(len(cases)), context.Queue()
        self.jobs = [context.Queue() for _ in cases]
        self.processes = [
            context.Process(
                target=approver, args=(case["expert"], jobs, self.barrier, self.results)
            )
            for case, jobs in zip(cases, self.jobs, strict=True)
        ]
        for process in self.processes:
            process.start()

    def __call__(self, request_ids: list[int]) -> list[float]:
        for jobs, request_id in zip(self.jobs, request_ids, strict=True):
            jobs.put(request_id)
        answers = [self.results.get(timeout=300) for _ in request_ids]
        failed = [status for seconds, status in answers if seconds is None or status != "executed"]
        if failed:
            raise SystemExit(f"service approvals failed: {failed[:3]}")
        return [seconds for seconds, _ in answers]

    def stop(self) -> None:
        for jobs in self.jobs:
            jobs.put(None)
        for process in self.processes:
            process.join(timeout=60)


def one_in_process(cases: list[dict], request_ids: list[int]) -> str:
    """The approvals of a warm-up round in this process, one by one: the SQL and CPU of one."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from promotions.models import PromotionRequest
    from promotions.services import requests as promotion_requests

    walls, cpus, counts = [], [], []
    for case, request_id in zip(cases, request_ids, strict=True):
        request = PromotionRequest.objects.get(pk=request_id)
        user = get_user_model().objects.get(pk=case["expert"])
        with CaptureQueriesContext(connection) as captured:
            wall, cpu = time.perf_counter(), time.process_time()
            decided = promotion_requests.approve(request, by=user)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert decided.status == "executed", decided.status
        walls.append(wall)
        cpus.append(cpu)
        control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
        sql = [query["sql"] for query in captured.captured_queries]
        counts.append(sum(not text.startswith(control) for text in sql))
    connection.close()
    cpu, cores = np.median(cpus) * 1000, os.cpu_count()
    return (
        f"one approval in-process, one at a time (the warm-up round): {int(np.median(counts))} "
        f"SQL queries (BEGIN/COMMIT aside), median {np.median(walls) * 1000:.1f} ms wall, "
        f"{cpu:.1f} ms CPU of the Python process; {USE_CASES} at once need "
        f"{USE_CASES} × {cpu:.1f} / {cores} cores = {USE_CASES * cpu / cores:.0f} ms of it at "
        "the least (PostgreSQL's CPU not counted)"
    )


def start_server(port: int, folder: Path) -> subprocess.Popen:
    """gunicorn as the Procfile runs it (sync workers), 20 of them: one per approval."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "CONN_MAX_AGE": "600",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "QUORUM_VAR_DIR": str(folder),
        "CELERY_BROKER_URL": BROKER,
        "LOG_LEVEL": "WARNING",
    }
    log = folder / "gunicorn.log"
    command = [
        BIN / "gunicorn",
        "portal.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(USE_CASES),
        "--timeout",
        "120",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(
        [str(part) for part in command],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/")
            connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    p50, p95 = np.percentile(ms, [50, 95])
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {ms.max():6.1f} ms  (n={len(ms)})"


def main() -> None:
    load = os.getloadavg()[0]  # before this bench adds its own processes
    fresh_database()
    folder = Path(tempfile.mkdtemp(prefix="quorum-bench-approvals-"))
    os.environ["QUORUM_VAR_DIR"] = str(folder)
    import django

    django.setup()
    # The filesystem broker's connections name no host; kombu says so at every task sent.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    from django.core.management import call_command
    from django.db import connection

    from portal.celery import app

    app.control.purge()

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    cases = seed()
    connection.close()
    print(
        f"{USE_CASES} use cases seeded with passing evidence for 2 versions each "
        f"({time.perf_counter() - started:.0f} s)"
    )
    port = free_port()
    server = start_server(port, folder)
    approvers = Approvers(cases)
    times: dict[str, list[list[float]]] = {way: [] for way in (*WAYS, LIGHTEST)}
    runs = {
        WAYS[0]: lambda ids: approvals_at_once(port, cases, ids),
        WAYS[1]: approvers,
        WAYS[2]: lambda ids: http_one_at_a_time(port, cases, ids),
    }
    try:
        round_ = 0
        ids = open_requests(cases, round_)
        in_process = one_in_process(cases, ids)
        check_executed(cases, ids)
        for _ in range(WARMUP_ROUNDS):  # every gunicorn worker and code path, warm
            for way in WAYS:
                round_ += 1
                ids = open_requests(cases, round_)
                runs[way](ids)
                check_executed(cases, ids)
        for measured in range(ROUNDS):
            for way in WAYS[measured % 3 :] + WAYS[: measured % 3]:
                round_ += 1
                ids = open_requests(cases, round_)
                times[way].append(runs[way](ids))
                check_executed(cases, ids)
            times[LIGHTEST].append(lightest_writes_at_once(port, cases))
    finally:
        approvers.stop()
        stop(server)
        app.control.purge()

    print(
        f"{ROUNDS} measured rounds per way after {WARMUP_ROUNDS} warm-up rounds of each; load "
        f"average {load:.1f} on {os.cpu_count()} cores before the bench started"
    )
    print(in_process)
    for way in (*WAYS, LIGHTEST):
        every = [seconds for batch in times[way] for seconds in batch]
        print(f"\n{way}:")
        print(f"  all rounds: {percentiles(every)}")
        per_round = ", ".join(f"{np.percentile(batch, 95) * 1000:.0f}" for batch in times[way])
        print(f"  p95 per round (ms): {per_round}")
        if way in WAYS[:2]:
            p95 = np.percentile(every, 95) * 1000
            print(f"  target p95 < 100 ms: {'met' if p95 < 100 else 'NOT met'} ({p95:.1f} ms)")
    shutil.rmtree(folder, ignore_errors=True)  # kept when the run fails, for its logs


if __name__ == "__main__":
    main()
