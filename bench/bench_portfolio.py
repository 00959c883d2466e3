"""The roadmap with 500 use cases, and a manager's home page (issue 13; target: each under
300 ms of server time).

Data. A fresh PostgreSQL database, 500 use cases (written with bulk_create, not through the
services: what is measured is the reading) spread over the seven phases, three risk tiers,
four priorities, eight owners, six teams and two currencies, each with start and target
dates (nine in ten), two milestones, two KPIs (one gating), one reference dataset, three
model versions (one in production or shadow past the proof of concept), two evaluations per
version (the older superseded, the gates passing or failing), two single-prediction review
campaigns (the older closed) with 10 reviews on the latest, and a pending promotion request
on every other use case. A manager (who sees every use case) and a member of 20 use cases.

Measured in-process with Django's test client (the whole request: middleware, session,
view, queries, template), DEBUG off, after 3 warm-up requests per page: 20 GETs of each
page, reported as p50 / p95 / max, with the SQL queries of one request. A streamed CSV is
read to its end inside the timing. The home page "/" is measured as a manager, as is every
roadmap page; the board is also measured as the member of 20 use cases.

Run with `make bench BENCH=bench/bench_portfolio.py` (needs PostgreSQL on 127.0.0.1:5432;
drops and recreates the database quorum_bench_portfolio on the server of DATABASE_URL).
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
SERVER = SERVER.rsplit("/", 1)[0]
DATABASE = "quorum_bench_portfolio"  # this bench's alone: dropped and recreated every run
os.environ["DATABASE_URL"] = f"{SERVER}/{DATABASE}"
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["DEBUG"] = "0"
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ["LOG_LEVEL"] = "WARNING"

USE_CASES = 500
REQUESTS = 20
WARMUP = 3
TARGET_MS = 300
PAGES = [
    ("board", "/roadmap/"),
    ("table (page 1 of 10)", "/roadmap/table/"),
    ("timeline", "/roadmap/timeline/"),
    ("value against effort", "/roadmap/value/"),
    ("CSV (500 rows)", "/roadmap/csv/"),
    ("board, filtered to blocked", "/roadmap/?health=blocked"),
    ("home page", "/"),
]


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def seed() -> tuple:
    """The portfolio; (manager, member of 20 use cases)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from predictions.models import Prediction
    from promotions.models import PromotionRequest
    from registry.models import Evaluation, EvaluationDataset, ModelVersion, StoredTable
    from reviews.models import Review, ReviewCampaign, ReviewItem, ReviewSlot
    from usecases.models import KPI, Milestone, Role, UseCase, UseCaseMember

    rng = random.Random(13)
    User = get_user_model()
    manager = User.objects.create(username="bench-manager", first_name="Maria")
    manager.groups.add(Group.objects.get_or_create(name="Manager")[0])
    owners = [User.objects.create(username=f"bench-owner-{i}") for i in range(8)]
    expert = User.objects.create(username="bench-expert")
    member = User.objects.create(username="bench-member")
    phases = UseCase.Phase.values
    today = timezone.localdate()
    use_cases = UseCase.objects.bulk_create(
        UseCase(
            slug=f"bench-{n:03d}",
            title=f"Bench use case {n:03d}",
            owner=owners[n % 8],
            phase=phases[n % 7],
            priority=UseCase.Priority.values[n % 4],
            risk_tier=UseCase.RiskTier.values[n % 3],
            team=f"Team {n % 6}",
            task_type="binary",
            expected_value_per_year=rng.randrange(10, 2000) * 1000,
            expected_value_currency="EUR" if n % 5 else "USD",
            effort_person_days=rng.randrange(5, 400),
            start_date=None if n % 10 == 0 else today - datetime.timedelta(days=rng.randrange(400)),
            target_date=None
            if n % 10 == 0
            else today + datetime.timedelta(days=rng.randrange(400)),
            phase_changed_at=timezone.now() - datetime.timedelta(days=rng.randrange(300)),
        )
        for n in range(USE_CASES)
    )
    UseCaseMember.objects.bulk_create(
        [UseCaseMember(use_case=uc, user=uc.owner, role=Role.OWNER) for uc in use_cases]
        + [UseCaseMember(use_case=uc, user=expert, role=Role.EXPERT) for uc in use_cases]
        + [UseCaseMember(use_case=uc, user=member, role=Role.VIEWER) for uc in use_cases[:20]]
    )
    Milestone.objects.bulk_create(
        Milestone(
            use_case=uc,
            name=name,
            due_date=today + datetime.timedelta(days=rng.randrange(-100, 300)),
            done_at=timezone.now() if i == 0 and rng.random() < 0.5 else None,
        )
        for uc in use_cases
        for i, name in enumerate(("Data ready", "Pilot live"))
    )
    kpis = KPI.objects.bulk_create(
        KPI(
            use_case=uc,
            name=name,
            metric=metric,
            direction="higher",
            target=0.9,
            gate_threshold=0.8,
            is_gating=gating,
        )
        for uc in use_cases
        for name, metric, gating in (("Accuracy", "accuracy", True), ("F1", "f1", False))
    )
    gating = {kpi.use_case_id: kpi for kpi in kpis if kpi.is_gating}
    tables = StoredTable.objects.bulk_create(  # one each: a one-to-one
        StoredTable(parquet=b"", size_bytes=0, sha256="0" * 64) for _ in use_cases
    )
    datasets = {
        uc.pk: EvaluationDataset(
            use_case=uc,
            name="holdout",
            file_format="parquet",
            row_count=0,
            columns=["id", "label"],
            is_reference=True,
            table=table,
            uploaded_by=expert,
        )
        for uc, table in zip(use_cases, tables, strict=True)
    }
    EvaluationDataset.objects.bulk_create(datasets.values())
    versions = []
    for uc in use_cases:
        for i, name in enumerate(("1.0", "1.1", "2.0")):
            stage = "registered"
            if i == 0 and uc.phase in ("pilot", "production"):
                stage = "production" if uc.phase == "production" else "shadow"
            versions.append(
                ModelVersion(use_case=uc, version=name, registered_by=expert, stage=stage)
            )
    versions = ModelVersion.objects.bulk_create(versions)
    now = timezone.now()
    evaluations = []
    for version in versions:
        kpi = gating[version.use_case_id]
        for superseded in (True, False):
            passes = rng.random() < 0.7
            gate = {"kpi": kpi.pk, "name": kpi.name, "is_gating": True, "passed": passes}
            evaluations.append(
                Evaluation(
                    use_case_id=version.use_case_id,
                    model_version=version,
                    dataset=datasets[version.use_case_id],
                    requested_by=expert,
                    status="succeeded",
                    progress=100,
                    results={"overall": {}},
                    gates=[gate],
                    passed_gates=passes,
                    finished_at=now,
                    superseded_at=now if superseded else None,
                )
            )
    Evaluation.objects.bulk_create(evaluations)
    latest_versions = versions[2::3]
    campaigns = ReviewCampaign.objects.bulk_create(
        ReviewCampaign(
            use_case_id=version.use_case_id,
            name=f"Check {i}",
            model_version=version,
            sample_size=10,
            item_count=10,
            status="closed" if i == 0 else "open",
            created_by=expert,
        )
        for version in latest_versions
        for i in range(2)
    )
    predictions = Prediction.objects.bulk_create(
        Prediction(
            use_case_id=version.use_case_id,
            model_version=version,
            request_id=f"r{i}",
            predicted_at=now,
            features={},
            prediction=1,
            score=0.7,
            random_key=rng.random(),
        )
        for version in latest_versions
        for i in range(10)
    )
    latest_campaigns = campaigns[1::2]
    items = ReviewItem.objects.bulk_create(
        ReviewItem(campaign=campaign, position=i, prediction=predictions[c * 10 + i])
        for c, campaign in enumerate(latest_campaigns)
        for i in range(10)
    )
    slots = ReviewSlot.objects.bulk_create(
        ReviewSlot(campaign_id=item.campaign_id, item=item, position=item.position, done=True)
        for item in items
    )
    Review.objects.bulk_create(
        Review(
            campaign_id=slot.campaign_id,
            item=slot.item,
            slot=slot,
            reviewer=expert,
            verdict="correct" if rng.random() < 0.82 else "incorrect",
        )
        for slot in slots
    )
    PromotionRequest.objects.bulk_create(
        PromotionRequest(
            use_case_id=version.use_case_id,
            model_version=version,
            from_stage="registered",
            target_stage="shadow",
            rationale="Bench.",
            requested_by=expert,
            required_approvals={"expert": 1},
        )
        for version in latest_versions[::2]
    )
    return manager, member


def measure(client, url: str) -> tuple[list[float], int]:
    from django.db import connection

    def get() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code}")
        if response.streaming:
            b"".join(response.streaming_content)

    for _ in range(WARMUP):
        get()
    captured = []  # DEBUG is off: count the statements with a wrapper

    def count(execute, sql, params, many, context):
        captured.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        get()
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        get()
        times.append(time.perf_counter() - started)
    return times, len(captured)


def main() -> None:
    load = os.getloadavg()[0]
    fresh_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    # No collectstatic here: static URLs unhashed (the manifest's lookup is a dict read).
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": static}

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    manager, member = seed()
    print(f"{USE_CASES} use cases seeded ({time.perf_counter() - started:.0f} s)")
    print(
        f"{REQUESTS} requests per page after {WARMUP} warm-up ones; load average {load:.1f} "
        f"on {os.cpu_count()} cores before the bench started\n"
    )
    for who, user, pages in (
        ("manager", manager, PAGES),
        ("member of 20 use cases", member, PAGES[:1]),
    ):
        client = Client()
        client.force_login(user)
        for name, url in pages:
            times, queries = measure(client, url)
            ms = np.array(times) * 1000
            p50, p95 = np.percentile(ms, [50, 95])
            verdict = "met" if p95 < TARGET_MS else "NOT met"
            print(
                f"{name:28} as {who:22} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
                f"max {ms.max():6.1f} ms  {queries:2} queries  (< {TARGET_MS} ms: {verdict})"
            )


if __name__ == "__main__":
    main()
