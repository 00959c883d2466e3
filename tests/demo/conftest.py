"""The demo loaded once for the whole package: load_demo takes about a minute on SQLite (most
of it the 30 days of monitored churn traffic), so it runs twice in a row inside a
transaction rolled back after the package's last test; each test runs in a savepoint of it
(its changes undone after it)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from monitoring.models import Alert, DailyDrift, DailyKPI, DailyRun
from predictions.models import Prediction
from promotions.models import Decision, Gate, PromotionRequest, StageChange
from registry.models import Evaluation, EvaluationDataset, ModelVersion
from reviews.models import Review, ReviewCampaign
from usecases.models import AuditEvent, UseCase, UseCaseMember

COUNTED = (
    get_user_model(),
    UseCase,
    UseCaseMember,
    EvaluationDataset,
    ModelVersion,
    Evaluation,
    PromotionRequest,
    Gate,
    Decision,
    StageChange,
    Prediction,
    ReviewCampaign,
    Review,
    AuditEvent,
    DailyRun,
    DailyKPI,
    DailyDrift,
    Alert,
)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


@pytest.fixture(scope="package")
def demo(django_db_setup, django_db_blocker):
    """The demo loaded twice: the row counts after each run. Nothing commits, so the queued
    tasks and the on-commit notifications are never sent."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_demo", verbosity=0)
        first = _counts()
        call_command("load_demo", verbosity=0)
        yield first, _counts()
        transaction.set_rollback(True)


@pytest.fixture
def users(demo, db) -> dict:
    return {user.username: user for user in get_user_model().objects.all()}
