"""Review campaigns on a large prediction log: (c) sampling a 1,000-item campaign with each
strategy, and (b) claim-and-submit latency with 20 concurrent reviewers.

Data. A binary use case with three model versions; versions 1.0 and 1.1 predicted the same
requests, 2.0 a third of them (so pairwise and disagreement campaigns join 1.1 with 1.0).
Rows are generated with numpy and loaded with one COPY per chunk into reviews_prediction,
indexes in place, as ingestion leaves them: score, confidence max(s, 1 − s), 20 segments of
unequal size, a uniform random_key, and for half of 1.0's rows an outcome with its error.
The rows are generated once and reused by later runs (QUORUM_BENCH_ROWS sets the total;
default 10,000,000). VACUUM ANALYZE after loading.

(c) Sampling. For each strategy, 5 times: `sample_predictions()` alone (the reads that
choose 1,000 predictions) and `create_campaign()` as the API calls it, sample_size 1,000,
one reviewer per item (sampling plus inserting the items, slots and audit event, and the
commit), with its commit timed apart: PostgreSQL checks the items' foreign keys then (they
are deferred), locking each referenced prediction FOR KEY SHARE, a write to 1,000 (pairwise
and disagreement: 2,000) random pages of the log. Beside it, that floor bare: the same lock
statement on a fresh sample of the same strategy, and its commit. Median and best shown;
against `ORDER BY random() LIMIT 1000` over one version's rows (the naive way), twice.

(b) Claims. A uniform campaign of 5,000 items × 2 reviewers (10,000 slots). 20 reviewer
processes, each with its own database connection, set up first and released together,
loop claim_next() → submit_review() until nothing is left, with no think time: a stress
test (real reviewers spend seconds per item). Each call is timed around the service
function (its transaction and queries included). Reported: p50/p95/p99 of claim + submit,
of claims and of submissions, and for the first and the last tenth of the campaign (by
completion order), to show whether the per-claim cost stays flat as the queue drains; and
the campaign's final state (every item reviewed exactly twice, never twice by one
reviewer). Then the same with a paced load closer to people: 1,000 items × 2, each reviewer
pausing a uniform 0–0.5 s between claim and submit (the pause is not timed).

Then the floor: the service's claim and submission statements (one each on PostgreSQL,
reviews/services/reviewing.py) sent from 20 bare psycopg processes with nothing else in the
loop (bench/review_floor.py), alternating with the service on fresh campaigns of 2,000
items × 2, twice: what PostgreSQL itself takes on this machine at this load, and how close
the service comes.

Claims commit with synchronous_commit off (a lost lease is harmless, see
reviews/services/reviewing.py); submissions wait for the WAL flush. The machine is shared:
other test suites and benchmarks may run at the same time; the load average is printed.

Run with `python bench/bench_review.py` (needs PostgreSQL; DATABASE_URL defaults to a
quorum_bench database on 127.0.0.1:5432, created if missing).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum_bench")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

ROWS = int(os.environ.get("QUORUM_BENCH_ROWS", 10_000_000))
SLUG = "bench-review"
REVIEWERS = 20
CLAIM_ITEMS = 5_000
CLAIM_REVIEWERS_PER_ITEM = 2
PACED_ITEMS = 1_000
CHUNK = 200_000
SEGMENTS = 20


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def percentiles(values: list[float]) -> str:
    ms = np.array(values) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  (n={len(ms):,})"


def setup_use_case():
    from django.contrib.auth import get_user_model

    from registry.models import ModelVersion
    from usecases.models import Role, UseCase, UseCaseMember

    User = get_user_model()
    owner, _ = User.objects.get_or_create(username="bench-review-owner")
    use_case, _ = UseCase.objects.get_or_create(
        slug=SLUG,
        defaults={
            "title": "Bench: churn review",
            "owner": owner,
            "task_type": UseCase.TaskType.BINARY,
        },
    )
    UseCaseMember.objects.get_or_create(
        use_case=use_case, user=owner, defaults={"role": Role.OWNER}
    )
    reviewers = []
    for n in range(REVIEWERS):
        user, _ = User.objects.get_or_create(username=f"bench-reviewer-{n:02d}")
        UseCaseMember.objects.get_or_create(
            use_case=use_case, user=user, defaults={"role": Role.EXPERT}
        )
        reviewers.append(user)
    versions = [
        ModelVersion.objects.get_or_create(
            use_case=use_case, version=name, defaults={"registered_by": owner}
        )[0]
        for name in ("1.0", "1.1", "2.0")
    ]
    return use_case, owner, reviewers, versions


def generate(use_case, versions) -> int:
    """COPY ROWS predictions (unless already there); the number stored."""
    from django.db import connection

    from predictions.models import Prediction

    have = Prediction.objects.filter(use_case=use_case).count()
    if have >= ROWS * 0.99:
        return have
    with connection.cursor() as cursor:  # a partial earlier load: start again
        cursor.execute("DELETE FROM reviews_prediction WHERE use_case_id = %s", [use_case.pk])
    # 1.0 and 1.1 predict every request; 2.0 a third of them.
    requests = int(ROWS / (2 + 1 / 3))
    plan = [(versions[0], requests), (versions[1], requests), (versions[2], ROWS - 2 * requests)]
    rng = np.random.default_rng(4)
    weights = rng.pareto(1.2, SEGMENTS) + 0.05
    weights /= weights.sum()
    # Per request: segment, features and the true label; each version scores with noise.
    segment_of = rng.choice(SEGMENTS, size=requests, p=weights)
    label = (rng.random(requests) < 0.25).astype(np.int8)
    tenure = rng.integers(0, 120, requests).tolist()
    balance = np.round(rng.gamma(2, 900, requests), 2).tolist()
    segment_names = [f"S{s:02d}" for s in segment_of.tolist()]
    labels = label.tolist()
    base = 0.2 * label + 0.8 * rng.beta(2, 4, requests)
    columns = (
        "use_case_id, model_version_id, request_id, predicted_at, features, prediction, "
        "score, segment, confidence, random_key, outcome, outcome_at, error, received_at"
    )
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection  # psycopg, in autocommit as Django leaves it: one COPY each
    for version_index, (version, count) in enumerate(plan):
        noise = 0.08 if version_index == 0 else 0.05
        for low in range(0, count, CHUNK):
            high = min(low + CHUNK, count)
            n = high - low
            scores = np.clip(base[low:high] + rng.normal(0, noise, n), 0.001, 0.999)
            predicted = (scores >= 0.3).astype(np.int8).tolist()
            confidence = np.maximum(scores, 1 - scores).tolist()
            key = rng.random(n).tolist()
            has_outcome = ((rng.random(n) < 0.5) & (version_index == 0)).tolist()
            error = np.abs(scores - label[low:high]).tolist()
            score = scores.tolist()
            buffer = io.StringIO()
            write = buffer.write
            for i in range(n):
                r = low + i
                if has_outcome[i]:
                    outcome = f"{labels[r]}\t2026-02-01 00:00:00+00\t{error[i]:.6f}"
                else:
                    outcome = "\\N\t\\N\t\\N"
                write(
                    f"{use_case.pk}\t{version.pk}\treq-{r:08d}\t2026-01-{1 + r % 28:02d} "
                    f"{r % 24:02d}:00:00+00\t"
                    f'{{"tenure_months": {tenure[r]}, "balance": {balance[r]}, '
                    f'"segment": "{segment_names[r]}"}}\t'
                    f"{predicted[i]}\t{score[i]:.6f}\t{segment_names[r]}\t"
                    f"{confidence[i]:.6f}\t{key[i]:.9f}\t{outcome}\t2026-01-01 00:00:00+00\n"
                )
            statement = f"COPY reviews_prediction ({columns}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(buffer.getvalue())
            done = Prediction.objects.filter(use_case=use_case).count() if high == count else 0
            if done:
                print(
                    f"  version {version.version}: {count:,} rows ({done:,} stored so far, "
                    f"{time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
    with connection.cursor() as cursor:
        # The triggers filled the per-segment counts and the pairs during the COPY (issue
        # 12); VACUUM sets their visibility maps too, so that sampling reads indexes only.
        cursor.execute(
            "VACUUM ANALYZE reviews_prediction, predictions_predictionpair, "
            "predictions_segmentcount"
        )
    return Prediction.objects.filter(use_case=use_case).count()


def ms(values: list[float]) -> str:
    """Median (best) in milliseconds."""
    return f"{statistics.median(values) * 1000:5.1f} ({min(values) * 1000:5.1f})"


def bench_sampling(use_case, owner, versions) -> None:
    from django.db import connection, transaction

    from reviews.models import ReviewCampaign
    from reviews.services import campaigns, sampling

    def lock_rows(picked) -> float:
        """The floor of a campaign's commit: the foreign-key checks of its items lock each
        prediction they reference FOR KEY SHARE; the same statement, bare, on a fresh sample
        of the same size, and its commit."""
        ids = [pk for pair in picked for pk in pair if pk is not None]
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM reviews_prediction WHERE id = ANY(%s) FOR KEY SHARE", [ids]
            )
        return time.perf_counter() - started

    champion, challenger = versions[0], versions[1]
    runs = [
        ("uniform", {"strategy": "uniform"}),
        ("stratified by segment", {"strategy": "stratified"}),
        ("lowest confidence", {"strategy": "lowest_confidence"}),
        ("largest error (1.0, outcomes)", {"strategy": "largest_error", "model_version": champion}),
        ("disagreement (1.1 vs 1.0)", {"strategy": "disagreement", "other_version": champion}),
        ("pairwise, uniform (1.1 vs 1.0)", {"mode": "pairwise", "other_version": champion}),
    ]
    print(
        "\n(c) a 1,000-item sample: sample_predictions() alone (the reads) and create_campaign()"
        " (reads, items, slots, audit, commit), of which the commit (the database checks the"
        " items' foreign keys then); beside it the floor of that commit: locking a fresh"
        " sample's predictions FOR KEY SHARE bare, and committing; medians of 5 (best)"
    )
    for label, options in runs:
        options = {"model_version": challenger, **options}
        reads, whole, commits, floors = [], [], [], []
        for _ in range(5):
            sample = {
                "other_version": options.get("other_version"),
                "mode": options.get("mode", "single"),
                "strategy": options.get("strategy", "uniform"),
                "sample_size": 1000,
            }
            started = time.perf_counter()
            picked = sampling.sample_predictions(options["model_version"], **sample)
            reads.append(time.perf_counter() - started)
            assert len(picked) == 1000, (label, len(picked))
            started = time.perf_counter()
            with transaction.atomic():  # the service's own atomic becomes a savepoint
                campaign = campaigns.create_campaign(
                    use_case, by=owner, name=f"bench {label}", sample_size=1000, **options
                )
                written = time.perf_counter()
            done = time.perf_counter()
            whole.append(done - started)
            commits.append(done - written)
            assert campaign.item_count == 1000, (label, campaign.item_count)
            ReviewCampaign.objects.filter(pk=campaign.pk).delete()
            floors.append(
                lock_rows(sampling.sample_predictions(options["model_version"], **sample))
            )
        print(
            f"  {label:31} reads {ms(reads)} ms;  create_campaign {ms(whole)} ms, "
            f"of which commit {ms(commits)} ms;  bare FK locks + commit {ms(floors)} ms"
        )
    rows = challenger.logged_predictions.count()
    times = []
    for _ in range(2):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM reviews_prediction WHERE model_version_id = %s "
                "ORDER BY random() LIMIT 1000",
                [challenger.pk],
            )
            assert len(cursor.fetchall()) == 1000
        times.append(time.perf_counter() - started)
    print(
        f"  ORDER BY random() LIMIT 1000 over version 1.1's {rows:,} rows (sampling only): "
        f"best {min(times) * 1000:.0f} ms"
    )


def reviewer_loop(campaign_id, user_id, seed, think_seconds, barrier, results) -> None:
    """One reviewer process with its own connection: claim and submit until nothing is left;
    puts [(end time, claim s, submit s)] on `results`. Starts with the others (barrier)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reviews.models import ReviewCampaign
    from reviews.services import reviewing

    connection.close()
    rng = np.random.default_rng(seed)
    campaign = ReviewCampaign.objects.get(pk=campaign_id)
    reviewer = get_user_model().objects.get(pk=user_id)
    timings = []
    barrier.wait()
    try:
        while True:
            started = time.perf_counter()
            slot = reviewing.claim_next(campaign, reviewer=reviewer)
            claim_seconds = time.perf_counter() - started
            if slot is None:
                break
            if think_seconds:
                time.sleep(rng.uniform(0, 2 * think_seconds))  # reading, outside the timing
            verdict = ("correct", "incorrect", "unsure")[int(rng.integers(0, 3))]
            before = time.perf_counter()
            reviewing.submit_review(slot, reviewer=reviewer, verdict=verdict, seconds_spent=3.0)
            submitted = time.perf_counter()
            timings.append((time.time(), claim_seconds, submitted - before))
    finally:
        connection.close()
        results.put(timings)


def run_reviewers(campaign, reviewers, think_seconds: float) -> tuple[list[tuple], float]:
    import review_floor

    per_process = [(campaign.pk, user.pk, n, think_seconds) for n, user in enumerate(reviewers)]
    return review_floor.run_together(reviewer_loop, per_process)


def bench_claims(use_case, owner, reviewers, versions, *, items, think_seconds) -> None:
    from django.db.models import Count

    from reviews.models import Review, ReviewCampaign
    from reviews.services import campaigns

    campaign = campaigns.create_campaign(
        use_case,
        by=owner,
        name="bench claims",
        model_version=versions[1],
        sample_size=items,
        reviewers_per_item=CLAIM_REVIEWERS_PER_ITEM,
    )
    slots = campaign.item_count * CLAIM_REVIEWERS_PER_ITEM
    rows, wall = run_reviewers(campaign, reviewers, think_seconds)
    pairs = [claim + submit for _, claim, submit in rows]
    claims = [claim for _, claim, _ in rows]
    submits = [submit for _, _, submit in rows]
    tenth = len(rows) // 10
    pace = (
        f"think time uniform 0–{2 * think_seconds:.1f} s between claim and submit (not timed)"
        if think_seconds
        else "no think time (stress)"
    )
    print(
        f"\n(b) claim + submit, {REVIEWERS} reviewer processes, campaign of "
        f"{campaign.item_count:,} items × {CLAIM_REVIEWERS_PER_ITEM} reviewers "
        f"({slots:,} slots), {pace}"
    )
    print(f"  {len(rows):,} reviews in {wall:.1f} s ({len(rows) / wall:.0f} claim+submit/s)")
    print(f"  claim + submit: {percentiles(pairs)}")
    print(f"  claim alone:    {percentiles(claims)}")
    print(f"  submit alone:   {percentiles(submits)}")
    print(f"  first tenth, claim + submit: {percentiles(pairs[:tenth])}")
    print(f"  last tenth,  claim + submit: {percentiles(pairs[-tenth:])}")
    print(f"  first tenth, claim alone:    {percentiles(claims[:tenth])}")
    print(f"  last tenth,  claim alone:    {percentiles(claims[-tenth:])}")
    p95 = np.percentile(np.array(pairs) * 1000, 95)
    print(f"  target p95 < 50 ms: {'met' if p95 < 50 else 'NOT met'} ({p95:.1f} ms)")
    reviews = Review.objects.filter(campaign=campaign)
    per_item = list(reviews.values("item").annotate(n=Count("id")).values_list("n", flat=True))
    exact = sum(1 for n in per_item if n == CLAIM_REVIEWERS_PER_ITEM)
    over = sum(1 for n in per_item if n > CLAIM_REVIEWERS_PER_ITEM)
    pairs_seen = reviews.values_list("item", "reviewer")
    repeated = pairs_seen.count() - pairs_seen.distinct().count()
    print(
        f"  final state: {reviews.count():,} reviews, {exact:,} of {campaign.item_count:,} "
        f"items reviewed exactly {CLAIM_REVIEWERS_PER_ITEM}×, {over} over quota, "
        f"{repeated} reviewed twice by one reviewer"
    )
    ReviewCampaign.objects.filter(pk=campaign.pk).delete()


def bench_floor(use_case, owner, reviewers, versions, *, items, rounds: int = 2) -> None:
    """The service against its floor (bench/review_floor.py: the same two statements from
    bare psycopg processes), alternating on fresh campaigns of the same size in one run."""
    import review_floor

    from reviews.models import ReviewCampaign
    from reviews.services import campaigns

    print(
        f"\n(b) the floor: claim + submit with the service's own statements from {REVIEWERS} "
        f"bare psycopg processes (no Django), against the service, alternating, "
        f"{items:,} items × {CLAIM_REVIEWERS_PER_ITEM} reviewers each, no think time"
    )
    for round_ in range(rounds):
        for kind in ("bare statements", "service"):
            campaign = campaigns.create_campaign(
                use_case,
                by=owner,
                name=f"bench floor {round_} {kind}",
                model_version=versions[1],
                sample_size=items,
                reviewers_per_item=CLAIM_REVIEWERS_PER_ITEM,
            )
            load = os.getloadavg()[0]
            if kind == "service":
                rows, wall = run_reviewers(campaign, reviewers, 0)
            else:
                rows, wall = review_floor.run_bare(campaign, reviewers)
            pairs = [claim + submit for _, claim, submit in rows]
            print(
                f"  {kind:15}  {len(rows) / wall:4.0f}/s  claim + submit: {percentiles(pairs)}"
                f"  (load {load:.1f})"
            )
            ReviewCampaign.objects.filter(pk=campaign.pk).delete()


def main() -> None:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    use_case, owner, reviewers, versions = setup_use_case()
    started = time.perf_counter()
    stored = generate(use_case, versions)
    print(
        f"predictions stored for the bench use case: {stored:,} in 3 versions "
        f"(load or check: {time.perf_counter() - started:.0f} s)"
    )
    if os.environ.get("QUORUM_BENCH_ONLY") == "generate":
        return
    bench_sampling(use_case, owner, versions)
    print(
        f"\nload average before the claim runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    bench_claims(use_case, owner, reviewers, versions, items=CLAIM_ITEMS, think_seconds=0)
    bench_claims(use_case, owner, reviewers, versions, items=PACED_ITEMS, think_seconds=0.25)
    bench_floor(use_case, owner, reviewers, versions, items=PACED_ITEMS * 2)


if __name__ == "__main__":
    main()
