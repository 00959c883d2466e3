"""The floor under bench_review.py's claim runs: the service's own claim and submission
statements (reviews/services/reviewing.py _CLAIM and _SUBMIT), prepared, sent from 20 bare
psycopg processes with no Django, no model instances and no answer checks in the loop, on a
campaign of the same size in the same run. What is left between the two is the service's
Python; what the floor itself takes is PostgreSQL's, on this machine, at this load."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import time


def bare_loop(campaign_id: int, user_id: int, barrier, results) -> None:
    """One bare reviewer: claim and submit with the service's statements until nothing is
    left; puts [(end time, claim s, submit s)] on `results`."""
    import psycopg

    from reviews.services import reviewing, statements

    connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    cursor = connection.cursor()
    timings = []
    barrier.wait()
    try:
        while True:
            started = time.perf_counter()
            now = datetime.datetime.now(datetime.UTC)
            claim = {
                "campaign": campaign_id,
                "reviewer": user_id,
                "open": "open",
                "now": now,
                "until": now + reviewing.CLAIM_LEASE,
                "window": reviewing.FIRST_WINDOW,
                "lease_only": True,
            }
            cursor.execute(statements.CLAIM, claim, prepare=True)
            row = cursor.fetchone()
            claimed = time.perf_counter()
            slot = row[6] or row[2]
            if slot is None:  # the bare loop takes no fallback: the first window ran dry
                break
            answer = {
                "slot": slot,
                "campaign": campaign_id,
                "reviewer": user_id,
                "open": "open",
                "verdict": "correct",
                "preference": "",
                "corrected_value": None,
                "reason_tags": "[]",
                "comment": "",
                "seconds_spent": 3.0,
                "seconds": 3.0,
                "now": now,
            }
            cursor.execute(statements.SUBMIT, answer, prepare=True)
            cursor.fetchone()
            timings.append((time.time(), claimed - started, time.perf_counter() - claimed))
    finally:
        connection.close()
        results.put(timings)


def run_bare(campaign, reviewers) -> tuple[list[tuple], float]:
    """The bare reviewers on `campaign` (their progress rows made first, as a first claim of
    the service would), all released together."""
    from reviews.models import ReviewerProgress

    ReviewerProgress.objects.bulk_create(
        [ReviewerProgress(campaign=campaign, reviewer=user) for user in reviewers]
    )
    return run_together(bare_loop, [(campaign.pk, user.pk) for user in reviewers])


def run_together(target, per_process: list[tuple]) -> tuple[list[tuple], float]:
    """One forked process per argument tuple, running target(*args, barrier, results),
    released together; ([(end time, claim s, submit s)] of all, sorted, and the wall time
    from the release to the last result)."""
    from django.db import connections

    connections.close_all()  # no connection may cross the fork
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(per_process) + 1), context.Queue()
    processes = [
        context.Process(target=target, args=(*args, barrier, results)) for args in per_process
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    rows = [row for _ in processes for row in results.get()]
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
    return sorted(rows), wall
