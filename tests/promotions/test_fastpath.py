"""The deployment lookup's fast path (promotions/middleware.py): for every caller it answers
what the API view answers, byte for byte and header for header (X-Request-ID aside), in one
SQL query; or it leaves the request to the view.

Each case runs twice, each time through a fresh test client with fresh credentials: with
MIDDLEWARE as in settings, and without the fast path (the view alone, the reference). The
query counts say who answered: 1 when the fast path did, the view's count when the request
went on without a lookup, and the view's count + 1 when it went on after its lookup."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.throttling import SimpleRateThrottle

from promotions import fastpath
from promotions.api.deployment import DeployedVersion
from promotions.deployment_body import FIELDS
from registry.models import ModelVersion
from tests.conftest import PERSONAS
from tests.factories import UseCaseFactory, UserFactory

FAST = "promotions.middleware.DeploymentFastPath"
URL = "/api/v1/usecases/demand-forecast/deployment"
Stage = ModelVersion.Stage
FAST_ANSWER, NO_LOOKUP, AFTER_LOOKUP = "fast", "no lookup", "after lookup"


@dataclass
class Answer:
    status: int
    content: bytes
    headers: dict
    queries: int


Prepare = Callable[[Client], dict]  # sets a client's credentials, returns request headers


def answer(prepare: Prepare, url: str = URL, method: str = "get", *, fast: bool) -> Answer:
    middleware = settings.MIDDLEWARE if fast else [m for m in settings.MIDDLEWARE if m != FAST]
    with override_settings(MIDDLEWARE=middleware):
        client = Client()  # a new client builds its middleware chain from the settings now
        headers = prepare(client)
        with CaptureQueriesContext(connection) as queries:
            response = getattr(client, method)(url, **headers)
    headers = dict(response.headers)
    assert headers.pop("X-Request-ID")
    return Answer(response.status_code, response.content, headers, len(queries))


def compare(prepare: Prepare, url: str = URL, method: str = "get") -> tuple[Answer, str]:
    """The answer with the fast path, checked equal to the view's; and who gave it."""
    view = answer(prepare, url, method, fast=False)
    given = answer(prepare, url, method, fast=True)
    assert (given.status, given.content, given.headers) == (
        view.status,
        view.content,
        view.headers,
    )
    if given.queries == 1 and view.queries > 1:
        return given, FAST_ANSWER
    assert given.queries in (view.queries, view.queries + 1), (given.queries, view.queries)
    return given, NO_LOOKUP if given.queries == view.queries else AFTER_LOOKUP


def token(user, expiry: datetime.timedelta | None = None) -> str:
    return AuthToken.objects.create(user, expiry=expiry)[1]


def with_token(user, *, expiry=None, scheme: str = "Token", **headers) -> Prepare:
    """Each call makes a new token of `user`: the two runs share no token."""
    return lambda client: {"HTTP_AUTHORIZATION": f"{scheme} {token(user, expiry)}", **headers}


def headers_only(**headers) -> Prepare:
    return lambda client: headers


def version(use_case, name: str, stage: str, *, at=None, traffic=None, **fields):
    source = {
        "artifact_uri": f"s3://models/{name}/model.onnx",
        "git_commit": "0123456789abcdef" * 2,
        "mlflow_run_id": "f" * 32,
    }
    return ModelVersion.objects.create(
        use_case=use_case,
        version=name,
        registered_by=use_case.owner,
        stage=stage,
        traffic_percent=traffic,
        stage_changed_at=at,
        **{**source, **fields},
    )


@pytest.fixture
def deployed(use_case):
    """Production, a canary at 10 %, three shadows (one with no stage time, one with a
    non-ASCII artifact URI and a line separator), archived and registered versions; and
    another use case's deployed versions, never shown."""
    start = datetime.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=datetime.UTC)
    version(use_case, "1.0.0", Stage.ARCHIVED, at=start)
    version(use_case, "1.9.0", Stage.REGISTERED)
    version(use_case, "2.0.0", Stage.PRODUCTION, at=start + datetime.timedelta(days=1))
    canary_at = start.replace(microsecond=0) + datetime.timedelta(days=2)
    version(use_case, "2.1.0", Stage.CANARY, at=canary_at, traffic=10)
    version(use_case, "2.2.0", Stage.SHADOW, at=start + datetime.timedelta(days=3))
    version(use_case, "2.3.0", Stage.SHADOW, at=None)
    version(
        use_case,
        "2.4.0",
        Stage.SHADOW,
        at=start + datetime.timedelta(days=3),  # same time: the pk decides
        artifact_uri="s3://modèles/prévision\u2028v2.onnx",
    )
    other = UseCaseFactory(slug="other", owner=use_case.owner)
    version(other, "9.0.0", Stage.PRODUCTION, at=start)
    return use_case


def test_the_body_fields_are_the_serializers():
    assert tuple(DeployedVersion().fields) == FIELDS


EXPECTED = {
    "anonymous": (401, NO_LOOKUP),
    "outsider": (404, AFTER_LOOKUP),
    **{who: (200, FAST_ANSWER) for who in PERSONAS if who not in ("anonymous", "outsider")},
}


@pytest.mark.parametrize("who", PERSONAS)
def test_every_persona_gets_the_views_answer(deployed, personas, who):
    prepare = headers_only() if who == "anonymous" else with_token(personas[who])
    given, by = compare(prepare)
    assert (given.status, by) == EXPECTED[who]
    if given.status == 200:
        body = given.content.decode()
        assert '"production":{"version":"2.0.0"' in body
        assert "prévision\\u2028v2" in body  # DRF's renderer: UTF-8, U+2028 escaped


def test_the_answer_is_one_query(deployed, personas, django_assert_num_queries):
    client = Client(HTTP_AUTHORIZATION=f"Token {token(personas['viewer'])}")
    with django_assert_num_queries(1):
        response = client.get(URL)
    assert response.status_code == 200
    assert response.json()["canary"]["traffic_percent"] == 10
    shadows = [v["version"] for v in response.json()["shadow"]]
    # Where the shadow with no stage time goes is the database's NULL order, as in the view.
    assert [name for name in shadows if name != "2.3.0"] == ["2.2.0", "2.4.0"]  # then pk


def test_a_superuser_outside_every_group_gets_the_fast_answer(deployed):
    root = UserFactory(username="root", is_superuser=True)
    assert compare(with_token(root))[1] == FAST_ANSWER


def test_a_use_case_with_nothing_deployed_answers_nulls(use_case, personas):
    given, by = compare(with_token(personas["owner"]))
    assert by == FAST_ANSWER
    assert (
        given.content
        == b'{"use_case":"demand-forecast","production":null,"canary":null,"shadow":[]}'
    )


def expired(personas) -> Prepare:
    return with_token(personas["viewer"], expiry=datetime.timedelta(seconds=-1))


def revoked(personas) -> Prepare:
    def prepare(client):
        instance, key = AuthToken.objects.create(personas["viewer"], expiry=None)
        instance.delete()
        return {"HTTP_AUTHORIZATION": f"Token {key}"}

    return prepare


def wrong_secret(personas) -> Prepare:
    def prepare(client):
        key = token(personas["viewer"])
        return {"HTTP_AUTHORIZATION": f"Token {key[:15]}{'0' * (len(key) - 15)}"}

    return prepare


def session(personas) -> Prepare:
    def prepare(client):
        client.force_login(personas["viewer"])
        return {}

    return prepare


def session_and_token(personas) -> Prepare:
    def prepare(client):
        client.force_login(personas["outsider"])  # the token's user counts, as in DRF
        return {"HTTP_AUTHORIZATION": f"Token {token(personas['viewer'])}"}

    return prepare


def viewer(**headers) -> Callable:
    return lambda personas: with_token(personas["viewer"], **headers)


def scheme(name: str) -> Callable:
    return lambda personas: with_token(personas["viewer"], scheme=name)


CASES = {
    # Credentials
    "expired token": (expired, URL, 401, AFTER_LOOKUP),
    "revoked token": (revoked, URL, 401, AFTER_LOOKUP),
    "right key, wrong secret": (wrong_secret, URL, 401, AFTER_LOOKUP),
    "session, no token": (session, URL, 200, NO_LOOKUP),
    "session and a token": (session_and_token, URL, 200, NO_LOOKUP),
    "lower-case scheme": (scheme("token"), URL, 200, FAST_ANSWER),
    "Bearer scheme": (scheme("Bearer"), URL, 401, NO_LOOKUP),
    "token with a space": (
        lambda p: headers_only(HTTP_AUTHORIZATION="Token a b"),
        URL,
        401,
        NO_LOOKUP,
    ),
    "no token after the scheme": (
        lambda p: headers_only(HTTP_AUTHORIZATION="Token"),
        URL,
        401,
        NO_LOOKUP,
    ),
    "a quote in the token": (
        lambda p: headers_only(HTTP_AUTHORIZATION="Token x'; DROP TABLE knox_authtoken; --"),
        URL,
        401,
        NO_LOOKUP,  # two words after the scheme: knox's 401
    ),
    "a quote, one word": (
        lambda p: headers_only(HTTP_AUTHORIZATION="Token x'OR'1'='1"),
        URL,
        401,
        AFTER_LOOKUP,  # a parameter, found nowhere
    ),
    "a tab after the scheme": (scheme("Token\t"), URL, 200, NO_LOOKUP),
    "a separator after the scheme": (scheme("Token\x1c"), URL, 401, NO_LOOKUP),
    "a host not allowed": (viewer(HTTP_HOST="evil.example"), URL, 400, NO_LOOKUP),
    "a malformed CSRF cookie": (viewer(HTTP_COOKIE="csrftoken=x"), URL, 200, NO_LOOKUP),
    "another cookie": (viewer(HTTP_COOKIE="theme=dark"), URL, 200, NO_LOOKUP),
    # Paths
    "unknown slug": (viewer(), "/api/v1/usecases/no-such-thing/deployment", 404, AFTER_LOOKUP),
    "slug with a dot": (viewer(), "/api/v1/usecases/demand.forecast/deployment", 404, NO_LOOKUP),
    "slug with an accent": (viewer(), "/api/v1/usecases/d%C3%A9mand/deployment", 404, NO_LOOKUP),
    "slug with a quote": (viewer(), "/api/v1/usecases/x'--/deployment", 404, NO_LOOKUP),
    "newline after the path": (viewer(), URL + "%0A", 404, NO_LOOKUP),
    "trailing slash": (viewer(), URL + "/", 404, NO_LOOKUP),
    "query string": (viewer(), URL + "?format=json", 200, NO_LOOKUP),
    "unknown format": (viewer(), URL + "?format=xml", 404, NO_LOOKUP),
    # Negotiation
    "Accept */*": (viewer(HTTP_ACCEPT="*/*"), URL, 200, FAST_ANSWER),
    "Accept JSON": (viewer(HTTP_ACCEPT="application/json"), URL, 200, FAST_ANSWER),
    "Accept JSON indented": (viewer(HTTP_ACCEPT="application/json; indent=2"), URL, 200, NO_LOOKUP),
    "Accept HTML": (viewer(HTTP_ACCEPT="text/html"), URL, 406, NO_LOOKUP),
    # Conditional requests
    "If-None-Match, another tag": (viewer(HTTP_IF_NONE_MATCH='"abc"'), URL, 200, FAST_ANSWER),
    "If-None-Match *": (viewer(HTTP_IF_NONE_MATCH="*"), URL, 304, FAST_ANSWER),
    "If-None-Match, empty list": (viewer(HTTP_IF_NONE_MATCH=" , "), URL, 200, FAST_ANSWER),
}


@pytest.mark.parametrize("case", CASES)
def test_every_request_gets_the_views_answer(deployed, personas, case):
    make, url, status, expected_by = CASES[case]
    given, by = compare(make(personas), url)
    assert (given.status, by) == (status, expected_by)


def test_an_inactive_user_is_left_to_the_view(deployed, personas):
    sleeper = UserFactory(username="sleeper")
    deployed.members.create(user=sleeper, role="viewer")
    sleeper.is_active = False
    sleeper.save()
    given, by = compare(with_token(sleeper))
    assert (given.status, by) == (401, AFTER_LOOKUP)


def test_head_gets_the_views_headers_and_no_body(deployed, personas):
    given, by = compare(with_token(personas["viewer"]), method="head")
    assert (given.status, given.content, by) == (200, b"", FAST_ANSWER)
    assert given.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("form", ["{etag}", "W/{etag}", '"abc", {etag}', '{etag}, W/"x"'])
def test_a_matching_etag_answers_304_with_no_body(deployed, personas, form):
    etag = Client(HTTP_AUTHORIZATION=f"Token {token(personas['viewer'])}").get(URL)["ETag"]
    given, by = compare(with_token(personas["viewer"], HTTP_IF_NONE_MATCH=form.format(etag=etag)))
    assert (given.status, given.content, by) == (304, b"", FAST_ANSWER)
    assert "Content-Type" not in given.headers
    assert given.headers["ETag"] == etag


def test_the_headers_are_the_views_whole_set(deployed, personas):
    given, _ = compare(with_token(personas["viewer"]))
    assert set(given.headers) == {
        "Allow",
        "Cache-Control",
        "Content-Length",
        "Content-Security-Policy",
        "Content-Type",
        "Cross-Origin-Opener-Policy",
        "ETag",
        "Permissions-Policy",
        "Referrer-Policy",
        "Vary",
        "X-Content-Type-Options",
        "X-Frame-Options",
    }


@override_settings(DISALLOWED_USER_AGENTS=[re.compile("curl")])
def test_a_disallowed_user_agent_is_left_to_the_view(deployed, personas):
    """Django's 403 page holds a new CSRF token each time: statuses and queries compared."""
    prepare = with_token(personas["viewer"], HTTP_USER_AGENT="curl/8.5.0")
    given, view = answer(prepare, fast=True), answer(prepare, fast=False)
    assert (given.status, given.queries) == (view.status, view.queries) == (403, 0)


def test_a_post_is_left_to_the_view(deployed, personas):
    given, by = compare(with_token(personas["owner"]), method="post")
    assert (given.status, by) == (405, NO_LOOKUP)


def test_another_expired_token_of_the_user_is_left_for_knox_to_delete(deployed, personas):
    """Knox deletes a user's expired tokens when one of theirs authenticates: the fast path
    steps aside while there is one, and answers again once knox has deleted it."""
    user = personas["viewer"]
    AuthToken.objects.create(user, expiry=datetime.timedelta(seconds=-1))
    current = Client(HTTP_AUTHORIZATION=f"Token {token(user)}")
    with CaptureQueriesContext(connection) as first:
        assert current.get(URL).status_code == 200
    assert len(first) > 1  # the view answered; knox deleted the expired token
    assert AuthToken.objects.filter(user=user).count() == 1
    with CaptureQueriesContext(connection) as second:
        assert current.get(URL).status_code == 200
    assert len(second) == 1


@override_settings(TIME_ZONE="Asia/Kolkata")
def test_times_are_written_in_the_time_zone_drf_uses(deployed, personas):
    given, by = compare(with_token(personas["viewer"]))
    assert by == FAST_ANSWER
    assert b'"stage_changed_at":"2026-03-02T15:00:15.123456+05:30"' in given.content


def test_times_follow_drfs_datetime_format(deployed, personas, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DATETIME_FORMAT": "%d/%m/%Y %H:%M"}
    given, by = compare(with_token(personas["viewer"]))
    assert by == FAST_ANSWER
    assert b'"stage_changed_at":"02/03/2026 09:30"' in given.content


@pytest.fixture
def rates(monkeypatch):
    """DRF's throttles read the rates once, at import (as in tests/api/test_throttling.py)."""
    return lambda **rates: monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates}
    )


def test_the_users_rate_counts_fast_answers_and_the_view_answers_429(deployed, personas, rates):
    rates(user="3/minute")
    client = Client(HTTP_AUTHORIZATION=f"Token {token(personas['viewer'])}")
    assert client.get("/api/v1/usecases/").status_code == 200  # a DRF view counts one
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        assert len(queries) == 1
    refused = client.get(URL)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    other = Client(HTTP_AUTHORIZATION=f"Token {token(personas['expert'])}")
    assert other.get(URL).status_code == 200


def test_the_statement_takes_every_value_as_a_parameter(deployed, personas):
    statement = fastpath._statement(connection.vendor)
    for value in ("demand-forecast", "Manager", "Admin", "production", "shadow"):
        assert value not in statement
    assert fastpath.lookup("x'); DROP TABLE knox_authtoken; --", "x' OR '1'='1") == []
    assert AuthToken.objects.model._meta.db_table in connection.introspection.table_names()


def test_a_manager_group_only_by_name_is_what_counts(deployed, personas):
    """Global rights come from the Manager and Admin groups by name; another group is none."""
    clerk = UserFactory(username="clerk")
    clerk.groups.add(Group.objects.create(name="Clerks"))
    given, by = compare(with_token(clerk))
    assert (given.status, by) == (404, AFTER_LOOKUP)


@pytest.mark.postgres
def test_on_postgresql_every_case_gets_the_views_answer(deployed, personas):
    for who in PERSONAS:
        prepare = headers_only() if who == "anonymous" else with_token(personas[who])
        given, by = compare(prepare)
        assert (given.status, by) == EXPECTED[who], who
    for case, (make, url, status, expected_by) in CASES.items():
        given, by = compare(make(personas), url)
        assert (given.status, by) == (status, expected_by), case
    with override_settings(TIME_ZONE="America/New_York"):
        given, by = compare(with_token(personas["viewer"]))
        assert by == FAST_ANSWER
        assert b'"2026-03-02T04:30:15.123456-05:00"' in given.content


@pytest.mark.postgres
def test_on_postgresql_the_lookup_is_prepared_once_per_connection(deployed, personas):
    """Its statement is planned once per connection (docs/benchmarks.md, "Deployment"), and
    the prepared statement still answers the view's answer on every later call."""

    def prepared() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT statement, from_sql FROM pg_prepared_statements WHERE statement LIKE %s",
                ["%knox_authtoken%"],
            )
            return cursor.fetchall()

    assert connection.connection.prepare_threshold is not None
    for _ in range(3):
        given, by = compare(with_token(personas["viewer"]))
        assert (given.status, by) == (200, FAST_ANSWER)
    statements = prepared()
    assert len(statements) == 1
    assert statements[0][1] is False  # prepared by psycopg over the protocol, not by SQL


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_broken_connection_leaves_the_request_to_the_view(deployed, personas):
    """The fast path runs no health check: when the connection broke while idle its query
    fails, and the view answers (its first query checks the connection and reconnects)."""
    client = Client(**with_token(personas["viewer"])(None))
    assert client.get(URL).status_code == 200
    connection.connection.close()  # as a database restart would leave it
    # A request's start clears this (request_started: close_old_connections); the test
    # client disconnects that receiver, so the test clears it as a server would.
    connection.health_check_done = False
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200 and response.json()["production"] is not None
    assert len(queries) > 1  # the view's queries: it answered
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    assert len(queries) == 1  # the fast path again, on the new connection
