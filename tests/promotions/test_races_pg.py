"""Races on PostgreSQL, with real threads and connections: approvals arriving at once make
exactly one transition, competing promotions leave one production version, no deadlock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from promotions.models import PromotionRequest, StageChange
from promotions.services import requests
from promotions.services.errors import PromotionError
from registry.models import ModelVersion
from tests.factories import MemberFactory, UserFactory
from tests.promotions import evidence
from usecases.models import Role
from usecases.services.audit import verify_chain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
Stage = ModelVersion.Stage
THREADS = 8


def run_at_once(calls) -> list[object]:
    """Run each call in its own thread, released together; their results or exceptions."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, call):
        try:
            start.wait()
            results[i] = call()
        except Exception as error:  # returned to the test
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def experts(use_case, n: int) -> list:
    people = [UserFactory(username=f"expert{i}") for i in range(n)]
    for person in people:
        MemberFactory(use_case=use_case, user=person, role=Role.EXPERT)
    return people


def open_(use_case, personas, version, target):
    return requests.open_request(
        use_case,
        by=personas["data_scientist"],
        version=version,
        target_stage=target,
        rationale="Race.",
    )


def test_eight_approvals_at_once_make_exactly_one_transition(use_case, personas):
    version = evidence.ready_version(use_case, personas, stage=Stage.CANARY)
    request = open_(use_case, personas, version, Stage.PRODUCTION)
    results = run_at_once(
        [lambda p=p: requests.approve(request, by=p) for p in experts(use_case, THREADS)]
    )
    done = [r for r in results if isinstance(r, PromotionRequest)]
    refused = [r for r in results if isinstance(r, PromotionError)]
    assert len(done) == 1 and len(refused) == THREADS - 1, results
    assert all("already executed" in r.message for r in refused)
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.EXECUTED
    assert StageChange.objects.filter(model_version=version).count() == 1
    assert request.decisions.count() == 1
    assert verify_chain()[1] == []


def test_competing_promotions_leave_one_production_version_over_50_rounds(use_case, personas):
    people = experts(use_case, THREADS)
    for round_ in range(50):
        versions = [
            evidence.ready_version(use_case, personas, f"{round_}.{i}", stage=Stage.SHADOW)
            if round_ == 0
            else evidence.at_stage(
                ModelVersion.objects.get(use_case=use_case, version=f"0.{i}"), Stage.SHADOW
            )
            for i in range(THREADS)
        ]
        pending = [open_(use_case, personas, v, Stage.PRODUCTION) for v in versions]
        results = run_at_once(
            [
                lambda r=r, p=p: requests.approve(r, by=p)
                for r, p in zip(pending, people, strict=True)
            ]
        )
        assert all(isinstance(r, PromotionRequest) for r in results), (round_, results)
        assert ModelVersion.objects.filter(use_case=use_case, stage=Stage.PRODUCTION).count() == 1
        statuses = set(
            PromotionRequest.objects.filter(pk__in=[r.pk for r in pending]).values_list(
                "status", flat=True
            )
        )
        assert statuses == {"executed"}, (round_, statuses)
    assert verify_chain()[1] == []
