"""Prediction ingestion through the HTTP bulk API against a raw PostgreSQL COPY of the same
rows into the same table, in one run (DESIGN.md target: ratio ≥ 0.5).

Method. A binary use case with 6 features (2 numbers, an integer, a category, a string, a
boolean) and one data-quality rule; 100,000 generated rows (request id, timestamp, the 6
features as a JSON object, 0/1 prediction, score, segment), ~330 bytes each as JSON.

- API: gunicorn (1 sync worker, as `gunicorn portal.wsgi` runs it) on a free loopback port,
  against PostgreSQL; a client posts the rows as 10 JSON arrays of 10,000 rows with a
  knox token, one after the other (bodies serialised before the clock starts). Each batch
  is parsed (orjson), validated row by row, checked against the rule, COPY'd into a
  staging table and moved by INSERT … SELECT … ON CONFLICT DO NOTHING, then answered.
- Raw COPY: the same rows, already formatted as COPY text in memory, loaded with psycopg's
  `cursor.copy` straight into reviews_prediction (same indexes and constraints), 10
  COPYs of 10,000 rows, each committed: the floor for getting these rows into this table.

Each run logs under a fresh model version, requests of its own, so every row is new; the
two are interleaved (COPY, API, COPY, API, COPY, API) and the best of 3 of each is kept.
For scale, the same COPY into a plain table of the same columns without indexes
(reviews_prediction has 8: the primary key, the unique (version, request id) and the
sampling indexes; and the triggers that keep the per-segment counts and the version pairs).
Also reported: a re-send of an already stored batch (every row a duplicate), a shadow
version logging the same requests as the last run (each row then paired with that
version's, for disagreement sampling), and where the API's time goes (the server's own
timing of parse + validate, COPY + INSERT, from one profiled batch).

Run with `make bench` (needs PostgreSQL; DATABASE_URL defaults to a quorum_bench database
on 127.0.0.1:5432, created if missing).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

ROWS = 100_000
BATCH = 10_000
RUNS = 3
SLUG = "bench-ingest"
SCHEMA = [
    {"name": "age", "type": "integer"},
    {"name": "income", "type": "number"},
    {"name": "tenure", "type": "number"},
    {"name": "city", "type": "category"},
    {"name": "plan", "type": "string"},
    {"name": "active", "type": "boolean"},
]


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def generate_rows() -> list[dict]:
    rng = np.random.default_rng(11)
    ages = rng.integers(18, 90, ROWS).tolist()
    incomes = np.round(rng.normal(50_000, 12_000, ROWS), 2).tolist()
    tenures = np.round(rng.exponential(4.0, ROWS), 3).tolist()
    cities = rng.choice(["paris", "lyon", "nice", "lille"], ROWS).tolist()
    plans = rng.choice(["basic", "plus", "pro"], ROWS).tolist()
    active = (rng.random(ROWS) < 0.7).tolist()
    scores = np.round(rng.random(ROWS), 4).tolist()
    segments = rng.choice([f"region-{i:02d}" for i in range(20)], ROWS).tolist()
    seconds = np.sort(rng.integers(0, 86_400 * 30, ROWS)).tolist()
    start = 1_775_000_000
    return [
        {
            "request_id": f"req-{i:08d}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + seconds[i])),
            "features": {
                "age": ages[i],
                "income": incomes[i],
                "tenure": tenures[i],
                "city": cities[i],
                "plan": plans[i],
                "active": active[i],
            },
            "prediction": int(scores[i] >= 0.5),
            "score": scores[i],
            "segment": segments[i],
        }
        for i in range(ROWS)
    ]


def setup() -> tuple[object, str]:
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from usecases.models import DataQualityRule, UseCase
    from usecases.services import usecases as use_case_services

    user, _ = get_user_model().objects.get_or_create(username="bench-ingest")
    UseCase.objects.filter(slug=SLUG).delete()
    use_case = use_case_services.create_use_case(
        by=user, slug=SLUG, title="Bench ingestion", task_type="binary"
    )
    use_case.feature_schema = SCHEMA
    use_case.save()
    DataQualityRule.objects.create(
        use_case=use_case, field="age", kind="range", params={"min": 0, "max": 120}
    )
    _, token = AuthToken.objects.create(user)
    return use_case, token


def of_requests(rows: list[dict], prefix: str) -> list[dict]:
    """The rows as requests of their own (request ids under `prefix`): a version logs the
    requests it served, and two versions share a request only when both served it."""
    return [{**row, "request_id": f"{prefix}-{row['request_id']}"} for row in rows]


def new_version(use_case, name: str):
    from registry.models import ModelVersion

    return ModelVersion.objects.create(
        use_case=use_case, version=name, registered_by=use_case.owner
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    import requests

    env = {**os.environ, "DEBUG": "0", "CONN_MAX_AGE": "600"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/usecases/", timeout=30)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def api_run(session, url: str, bodies: list[bytes]) -> tuple[float, int, int]:
    inserted = duplicates = 0
    started = time.perf_counter()
    for body in bodies:
        response = session.post(url, data=body, headers={"Content-Type": "application/json"})
        if response.status_code != 200:
            raise SystemExit(f"API answered {response.status_code}: {response.text[:500]}")
        answer = response.json()
        inserted += answer["inserted"]
        duplicates += answer["duplicates"]
    return time.perf_counter() - started, inserted, duplicates


def copy_text(rows: list[dict], use_case_id: int, version_id: int) -> list[bytes]:
    """The rows as COPY text, in batches: every column the API's INSERT fills."""
    rng = np.random.default_rng(5)
    keys = rng.random(len(rows)).tolist()
    received = time.strftime("%Y-%m-%d %H:%M:%S+00")
    chunks = []
    for start in range(0, len(rows), BATCH):
        out = io.StringIO()
        for i in range(start, min(start + BATCH, len(rows))):
            row = rows[i]
            features = orjson.dumps(row["features"]).decode().replace("\\", "\\\\")
            score = row["score"]
            out.write(
                f"{use_case_id}\t{version_id}\t{row['request_id']}\t{row['timestamp']}\t"
                f"{features}\t{row['prediction']}\t{score}\t{row['segment']}\t"
                f"{max(score, 1 - score)}\t{keys[i]}\t{received}\n"
            )
        chunks.append(out.getvalue().encode())
    return chunks


def copy_run(chunks: list[bytes], table: str = "reviews_prediction") -> float:
    import psycopg

    columns = (
        "use_case_id, model_version_id, request_id, predicted_at, features, prediction, "
        "score, segment, confidence, random_key, received_at"
    )
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        started = time.perf_counter()
        for chunk in chunks:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                copy.write(chunk)
            connection.commit()
        return time.perf_counter() - started


def profile_batch(use_case, rows: list[dict]) -> None:
    """Where one batch's server time goes: the service's steps, timed in this process."""
    from django.db import connection, transaction

    from predictions.services import quality, store, validate

    body = orjson.dumps(rows)
    version = new_version(use_case, "profile")
    for row in rows:
        row["version"] = version.version
    body = orjson.dumps(rows)
    versions = {version.version: version.pk}
    quality.check_rules(
        use_case, validate.validate_predictions(rows[:10], use_case, versions, validate.Problems())
    )  # warm up
    t0 = time.perf_counter()
    parsed = orjson.loads(body)
    t1 = time.perf_counter()
    problems = validate.Problems()
    valid = validate.validate_predictions(parsed, use_case, versions, problems)
    t2 = time.perf_counter()
    quality.check_rules(use_case, valid)
    t3 = time.perf_counter()
    keep = store.first_of_each(valid.version_ids, valid.request_ids)
    with transaction.atomic():
        store.insert_postgresql(use_case, valid, keep)
    t4 = time.perf_counter()
    connection.close()
    n = len(rows)
    print(
        f"one batch of {n:,} in-process: parse {1e6 * (t1 - t0) / n:.1f} µs/row, validate "
        f"{1e6 * (t2 - t1) / n:.1f}, rules {1e6 * (t3 - t2) / n:.1f}, COPY + INSERT … ON "
        f"CONFLICT {1e6 * (t4 - t3) / n:.1f} (total {1e3 * (t4 - t0):.0f} ms)"
    )


def main() -> None:
    ensure_database()
    import django

    django.setup()
    import psycopg
    import requests
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    use_case, token = setup()
    rows = generate_rows()
    size = len(orjson.dumps(rows[:BATCH]))
    print(f"{ROWS:,} rows in batches of {BATCH:,} ({size / 1e6:.1f} MB of JSON per batch)")

    port = free_port()
    server = start_server(port)
    url = f"http://127.0.0.1:{port}/api/v1/usecases/{SLUG}/predictions"
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    api_times, copy_times = [], []
    try:
        for run in range(RUNS):
            version = new_version(use_case, f"copy-{run}")
            chunks = copy_text(of_requests(rows, f"copy-{run}"), use_case.pk, version.pk)
            connection.close()
            copy_times.append(copy_run(chunks))

            name = f"api-{run}"
            new_version(use_case, name)
            connection.close()
            mine = of_requests(rows, name)
            bodies = [
                orjson.dumps([{**row, "version": name} for row in mine[i : i + BATCH]])
                for i in range(0, ROWS, BATCH)
            ]
            seconds, inserted, _ = api_run(session, url, bodies)
            assert inserted == ROWS, inserted
            api_times.append(seconds)
        resend, inserted, duplicates = api_run(session, url, bodies)
        assert (inserted, duplicates) == (0, ROWS)
        # A shadow: another version logging the very requests the last API run logged, so
        # each row is paired with that version's (PredictionPair, for disagreement).
        new_version(use_case, "shadow")
        connection.close()
        shadow_bodies = [
            orjson.dumps([{**row, "version": "shadow"} for row in mine[i : i + BATCH]])
            for i in range(0, ROWS, BATCH)
        ]
        shadow, inserted, _ = api_run(session, url, shadow_bodies)
        assert inserted == ROWS, inserted
        bare_times = []
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as pg:
            pg.execute("DROP TABLE IF EXISTS bench_ingest_bare")
            pg.execute(
                "CREATE TABLE bench_ingest_bare "
                "(LIKE reviews_prediction INCLUDING DEFAULTS INCLUDING IDENTITY)"
            )
            for _ in range(RUNS):
                bare_times.append(copy_run(chunks, "bench_ingest_bare"))
            pg.execute("DROP TABLE bench_ingest_bare")
    finally:
        server.terminate()
        server.wait(timeout=30)

    api_best, copy_best = min(api_times), min(copy_times)
    print(
        f"raw COPY into reviews_prediction: {ROWS / copy_best:,.0f} rows/s (best of {RUNS}: "
        + ", ".join(f"{t:.2f}" for t in copy_times)
        + " s)"
    )
    print(
        f"HTTP bulk API (gunicorn, 1 worker): {ROWS / api_best:,.0f} rows/s (best of {RUNS}: "
        + ", ".join(f"{t:.2f}" for t in api_times)
        + " s)"
    )
    print(f"ratio API / raw COPY: {copy_best / api_best:.2f} (target ≥ 0.5)")
    print(
        f"for scale, raw COPY into a copy of the table without its 8 indexes: "
        f"{ROWS / min(bare_times):,.0f} rows/s"
    )
    print(f"re-sending a stored batch (all duplicates): {ROWS / resend:,.0f} rows/s")
    print(
        f"a shadow version logging the same requests as another (each row paired): "
        f"{ROWS / shadow:,.0f} rows/s ({api_best / shadow:.2f} of the best run of new requests)"
    )
    profile_batch(use_case, rows[:BATCH])


if __name__ == "__main__":
    main()
