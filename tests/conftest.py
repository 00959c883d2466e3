import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import (
    CHURN_VALUE_MODEL,
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
def _empty_cache():
    """The API's rate limits count in the cache (locmem: per process): each test starts at 0."""
    cache.clear()


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
def written(settings, tmp_path, monkeypatch):
    """Every uploaded file goes to a temporary file in `tmp_path` (settings.
    FILE_UPLOAD_TEMP_DIR); the list holds the bytes each was handed, in order."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    sizes: list[int] = []
    new_file = TemporaryFileUploadHandler.new_file
    receive = TemporaryFileUploadHandler.receive_data_chunk

    def started(self, *args, **kwargs):
        sizes.append(0)
        return new_file(self, *args, **kwargs)

    def received(self, raw_data, start):
        sizes[-1] += len(raw_data)
        return receive(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", started)
    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", received)
    return sizes


@pytest.fixture
def value_model(use_case):
    return ValueModelFactory(use_case=use_case)


@pytest.fixture
def newcomer(db):
    """A user with no role anywhere, to be added as a member."""
    return UserFactory(username="nina")


def expected_status(who: str, allowed: set[str], ok: int) -> int:
    """The API's answer to `who`: `ok` if allowed, else 401 anonymous, 404 to an outsider
    (who must not learn that the use case exists), 403 to a member without the right."""
    if who == "anonymous":
        return 401
    if who == "outsider":
        return 404
    return ok if who in allowed else 403


def queries_for(client, url: str, expected_rows: int) -> int:
    """The queries an API list costs, checking it answered 200 with `expected_rows` rows."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected_rows
    return len(captured)


def fields_in(response) -> set[str]:
    """The fields an error body names."""
    return {item.get("field") for item in response.json().get("errors", [])}


@pytest.fixture
def churn(personas):
    """A binary use case, its members as in the `use_case` fixture, with KPIs and a value model
    (factories.CHURN_VALUE_MODEL, in EUR): ROC AUC ≥ 0.85 gates, so does precision on the
    business segment (on the interval's worse end), log loss informs only."""
    use_case = UseCaseFactory(
        slug="churn", title="Churn", owner=personas["owner"], task_type="binary", feature_schema=[]
    )
    MemberFactory(use_case=use_case, user=personas["viewer"], role="viewer")
    MemberFactory(use_case=use_case, user=personas["data_scientist"], role="data_scientist")
    KPIFactory(
        use_case=use_case,
        name="Ranking quality",
        metric="roc_auc",
        direction="higher",
        target=0.9,
        gate_threshold=0.85,
    )
    KPIFactory(
        use_case=use_case,
        name="Precision on business clients",
        metric="precision",
        direction="higher",
        target=0.8,
        gate_threshold=0.7,
        segment="business",
        gate_mode="bound",
    )
    KPIFactory(
        use_case=use_case,
        name="Calibration",
        metric="log_loss",
        direction="lower",
        target=0.3,
        gate_threshold=0.4,
        is_gating=False,
    )
    ValueModelFactory(
        use_case=use_case,
        currency="EUR",
        **{name: str(value) for name, value in CHURN_VALUE_MODEL.items()},
        cost_per_unit_under=None,
        cost_per_unit_over=None,
    )
    return use_case


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes started by a test."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass(frozen=True)
class Worker:
    queue: str  # send tasks here: no other worker consumes it
    outbox: Path  # the e-mails it sends, as files
    process: subprocess.Popen
    log: Path  # its output (the end is printed at teardown)


@pytest.fixture
def worker(tmp_path, request):
    """A real `celery -A portal worker` process (one slot) on a fresh queue of its own,
    against the test database; its e-mails land as files in `worker.outbox`. Needs
    @pytest.mark.django_db(transaction=True) so the worker sees the test's rows. A test marked
    @pytest.mark.worker(env={"NAME": "value"}) adds those variables to its environment."""
    marker = request.node.get_closest_marker("worker")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EMAIL_URL": f"filemail:///{outbox}",  # four slashes: an absolute path
        "SECRET_KEY": "tests-only-not-secret",
        **(marker.kwargs.get("env", {}) if marker else {}),
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--queues",
            queue,
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{queue}@%h",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parent.parent,
    )
    yield Worker(queue=queue, outbox=outbox, process=process, log=tmp_path / "worker.log")
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    print((tmp_path / "worker.log").read_text()[-4000:])


# A real `mlflow server` for the tests marked `mlflow` (tests/mlflow_sync/server.py): they skip
# when MLflow is not installed, and fail then when QUORUM_REQUIRE_MLFLOW=1 (CI).
@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    from tests.mlflow_sync.server import MLFLOW, MlflowServer, free_port

    if not MLFLOW.exists():
        message = "MLflow is not installed (pip install -e '.[dev,mlflow]')"
        if os.environ.get("QUORUM_REQUIRE_MLFLOW") == "1":
            pytest.fail(f"QUORUM_REQUIRE_MLFLOW=1 but {message}")
        pytest.skip(message)
    server = MlflowServer(port=free_port(), folder=tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(settings):
    """The MLflow servers of the tests listen on 127.0.0.1, a host a link may name only when
    an admin allowed it."""
    settings.MLFLOW_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings
