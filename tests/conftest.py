import os

import pytest
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import (
    KPIFactory,
    MemberFactory,
    RuleFactory,
    UseCaseFactory,
    UserFactory,
    ValueModelFactory,
)
from usecases.models import ADMIN_GROUP, MANAGER_GROUP, Role

PERSONAS = (
    "anonymous",
    "outsider",
    "viewer",
    "data_scientist",
    "expert",
    "owner",
    "manager",
    "admin",
)


@pytest.fixture(autouse=True)
def _async_unsafe_for_browser_tests(request, monkeypatch):
    """Playwright's sync API runs an event loop in the test thread (STACK-NOTES §1.7); only
    the e2e tests get the escape hatch, and only while they run."""
    if request.node.get_closest_marker("e2e"):
        monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs ~0.3 s per user; tests create many users and test no hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _static_without_manifest(settings, tmp_path):
    """DEBUG is off in tests and nobody ran collectstatic: plain static names, found by the
    finders (the live server serves them too)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path  # WhiteNoise warns about a missing directory otherwise


@pytest.fixture(autouse=True)
def _postgres_only(request):
    """@pytest.mark.postgres tests skip on SQLite, and fail there when QUORUM_REQUIRE_PG=1 (CI)."""
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        message = "needs PostgreSQL (set DATABASE_URL=postgres://…)"
        if os.environ.get("QUORUM_REQUIRE_PG") == "1":
            pytest.fail(f"QUORUM_REQUIRE_PG=1 but the database is {connection.vendor}: {message}")
        pytest.skip(message)


@pytest.fixture
def personas(db):
    """One user per role on `use_case` (see the use_case fixture), plus outsiders and globals."""
    return {
        "owner": UserFactory(username="olivia", first_name="Olivia"),
        "expert": UserFactory(username="erik", first_name="Erik"),
        "data_scientist": UserFactory(username="dana", first_name="Dana"),
        "viewer": UserFactory(username="victor", first_name="Victor"),
        "outsider": UserFactory(username="oscar", first_name="Oscar"),
        "manager": UserFactory(username="maria", groups=[MANAGER_GROUP]),
        "admin": UserFactory(username="adam", groups=[ADMIN_GROUP]),
    }


@pytest.fixture
def use_case(personas):
    use_case = UseCaseFactory(
        slug="demand-forecast", title="Demand forecast", owner=personas["owner"]
    )
    for role in (Role.EXPERT, Role.DATA_SCIENTIST, Role.VIEWER):
        MemberFactory(use_case=use_case, user=personas[role.value], role=role)
    return use_case


@pytest.fixture
def kpi(use_case):
    return KPIFactory(use_case=use_case, name="Forecast error")


@pytest.fixture
def rule(use_case):
    return RuleFactory(use_case=use_case)


def login(client, personas, who: str):
    """Log `who` in on the Django test client (anonymous stays logged out)."""
    if who != "anonymous":
        client.force_login(personas[who])
    return client


@pytest.fixture
def api(personas):
    """api("expert") is an APIClient sending a real knox token of that persona (or of the user
    given); api("anonymous") sends none."""

    def client_for(who) -> APIClient:
        client = APIClient()
        if who != "anonymous":
            user = personas[who] if isinstance(who, str) else who
            _, token = AuthToken.objects.create(user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return client_for


@pytest.fixture
def value_model(use_case):
    return ValueModelFactory(use_case=use_case)


@pytest.fixture
def newcomer(db):
    """A user with no role anywhere, to be added as a member."""
    return UserFactory(username="nina")


def fields_in(response) -> set[str]:
    """The fields an error body names."""
    return {item.get("field") for item in response.json().get("errors", [])}
