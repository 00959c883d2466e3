"""Tokens for scripts: POST /api/v1/auth/token trades a username and password for a token
(guarded as the login form is: django-axes and a throttle), DELETE revokes the token used."""

import datetime
import logging

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory
from usecases.models import AuditEvent

URL = "/api/v1/auth/token"
ME = "/api/v1/notifications/"  # any endpoint that needs a login
SAME_REFUSAL = {
    "detail": "Unable to log in with the username and password given.",
    "code": "invalid_credentials",
}


@pytest.fixture
def ursula(db):
    return UserFactory(username="ursula")


@pytest.fixture
def rates(monkeypatch):
    """Set rates for one test where DRF's throttles read them (tests/api/test_throttling.py)."""
    from rest_framework.throttling import SimpleRateThrottle

    current = dict(SimpleRateThrottle.THROTTLE_RATES)

    def set_rates(**rates):
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**current, **rates})

    return set_rates


def log_in(username="ursula", password=PASSWORD, client=None, **body):
    client = client or APIClient()
    return client.post(URL, {"username": username, "password": password, **body}, format="json")


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_username_and_password_get_a_token_shown_once(ursula):
    response = log_in()
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "token_key", "expires_at", "username"}
    assert body["username"] == "ursula"
    token = AuthToken.objects.get(user=ursula)
    assert body["token_key"] == token.token_key and body["token"].startswith(token.token_key)
    assert body["token"] != token.digest  # stored hashed only
    assert response["Cache-Control"] == "no-store"


def test_the_token_works_for_the_api_afterwards(ursula):
    token = log_in().json()["token"]
    response = with_token(token).get(ME)
    assert response.status_code == 200


def test_the_default_expiry_is_ninety_days(ursula):
    body = log_in().json()
    expires_at = datetime.datetime.fromisoformat(body["expires_at"])
    assert abs(expires_at - (timezone.now() + datetime.timedelta(days=90))).total_seconds() < 60


@pytest.mark.parametrize("days", [30, 365])
def test_the_expiry_may_be_chosen(ursula, days):
    log_in(expiry_days=days)
    token = AuthToken.objects.get(user=ursula)
    assert round((token.expiry - token.created).total_seconds() / 86400) == days


def test_a_null_expiry_never_expires(ursula):
    body = log_in(expiry_days=None).json()
    assert body["expires_at"] is None
    assert AuthToken.objects.get(user=ursula).expiry is None


def test_the_creation_is_audited_with_its_label_and_never_the_secrets(ursula):
    body = log_in(name="quorum CLI on laptop").json()
    event = AuditEvent.objects.get(verb="token.created")
    assert event.actor == ursula
    assert event.after["token_key"] == body["token_key"]
    assert event.after["name"] == "quorum CLI on laptop"
    assert event.after["via"] == "api"
    stored = str(event.before) + str(event.after) + event.target_repr
    assert body["token"] not in stored and PASSWORD not in stored


def test_neither_the_token_nor_the_password_reaches_the_logs(ursula, caplog):
    with caplog.at_level(logging.DEBUG):
        token = log_in().json()["token"]
        log_in(password="wrong-password")
    assert token not in caplog.text
    assert PASSWORD not in caplog.text and "wrong-password" not in caplog.text
    recorded = AccessAttempt.objects.values_list("get_data", "post_data")
    assert recorded and "wrong-password" not in str(list(recorded))


def test_the_login_updates_the_last_login_and_sets_no_session_cookie(ursula):
    response = log_in()
    ursula.refresh_from_db()
    assert ursula.last_login is not None
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_a_stale_token_sent_along_does_not_stand_in_the_way(ursula):
    response = log_in(client=with_token("0" * 64))
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("username", "password"),
    [("ursula", "wrong-password"), ("nobody", PASSWORD), ("nobody", "wrong-password")],
    ids=["wrong-password", "unknown-user", "unknown-user-wrong-password"],
)
def test_wrong_credentials_get_one_answer_that_does_not_say_whether_the_user_exists(
    ursula, username, password
):
    response = log_in(username, password)
    assert response.status_code == 400
    assert response.json() == SAME_REFUSAL
    assert not AuthToken.objects.exists()


def test_an_inactive_user_is_refused_the_same_way(ursula):
    ursula.is_active = False
    ursula.save()
    response = log_in()
    assert (response.status_code, response.json()) == (400, SAME_REFUSAL)
    assert not AuthToken.objects.exists()


def test_a_service_account_without_a_password_cannot_log_in(db):
    UserFactory(username="ci-bot", password=None)
    response = log_in("ci-bot", "")
    assert response.status_code == 400
    response = log_in("ci-bot", "anything")
    assert (response.status_code, response.json()) == (400, SAME_REFUSAL)


# Brute force: axes counts the failures per username and address, with the login form's.


def test_the_failure_limit_locks_the_username_with_a_json_429(ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(password="wrong-password").status_code == 400
    response = log_in(password="wrong-password")
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert f"{settings.AXES_COOLOFF_MINUTES} minutes" in response.json()["detail"]
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_MINUTES * 60


def test_once_locked_the_right_password_gets_no_token(ursula):
    for _ in range(40):
        log_in(password="wrong-password")
    response = log_in()
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert not AuthToken.objects.exists()


def test_api_and_login_form_failures_count_together(client, ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), {"username": "ursula", "password": "wrong-password"})
    assert log_in(password="wrong-password").status_code == 429
    browser = client.post(reverse("login"), {"username": "ursula", "password": PASSWORD})
    assert browser.status_code == 429  # the lock the API's failure set holds for the form


def test_fewer_failures_than_the_limit_still_get_a_token_and_reset_the_count(ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(password="wrong-password")
    assert log_in().status_code == 201
    assert not AccessAttempt.objects.filter(username="ursula").exists()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(password="wrong-password").status_code == 400


def test_the_lock_binds_the_username_and_address_together(ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(password="wrong-password", client=APIClient(REMOTE_ADDR="203.0.113.9"))
    assert log_in(client=APIClient(REMOTE_ADDR="203.0.113.9")).status_code == 429
    assert log_in(client=APIClient(REMOTE_ADDR="198.51.100.4")).status_code == 201


def test_the_endpoint_has_its_own_rate_per_address(ursula, rates):
    rates(token_login="3/minute")
    for _ in range(3):
        assert log_in(password="wrong-password", username="nobody").status_code == 400
    response = log_in()
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    other = log_in(client=APIClient(REMOTE_ADDR="198.51.100.4"))
    assert other.status_code == 201


# Any input is a JSON 4xx, never a 500 (the CI fuzzes the endpoint).


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "ursula"},
        {"password": PASSWORD},
        {"username": "", "password": PASSWORD},
        {"username": 7, "password": ["a"]},
        {"username": "x" * 151, "password": PASSWORD},
        {"username": "ursula", "password": "p" * 4097},
        {"username": "ursula", "password": PASSWORD, "expiry_days": 7},
        {"username": "ursula", "password": PASSWORD, "expiry_days": "never"},
        {"username": "ursula", "password": PASSWORD, "expiry_days": True},
        {"username": "ursula", "password": PASSWORD, "name": "n" * 201},
        {"username": "ursula", "password": PASSWORD, "name": "two\nlines"},
        {"username": "ursula", "password": PASSWORD, "name": {"a": 1}},
        ["ursula", PASSWORD],
        "ursula",
        None,
    ],
)
def test_malformed_bodies_get_a_json_400_and_no_token(ursula, body):
    response = APIClient().post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert not AuthToken.objects.exists()


def test_a_username_that_grows_past_the_limit_when_normalised_is_refused(ursula):
    # NFKC turns U+FDFA into 18 characters; the login form checks the length after that too.
    response = log_in("\ufdfa" * 10)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "username"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"username": "ursula\\u0000", "password": "x"}', "application/json", 400),
        (b'{"username": "ursula", "password": "\\ud800"}', "application/json", 400),
        (b'{"username": ', "application/json", 400),
        (b"username=ursula&password=x", "application/x-www-form-urlencoded", 415),
        (b"", "application/json", 400),
    ],
    ids=["nul", "surrogate", "truncated-json", "form-encoded", "empty"],
)
def test_hostile_bodies_get_a_json_4xx(ursula, content, content_type, status):
    response = APIClient().generic("POST", URL, content, content_type=content_type)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert not AuthToken.objects.exists()


def test_a_huge_body_gets_a_json_413(ursula):
    content = b'{"username": "' + b"u" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'
    response = APIClient().generic("POST", URL, content, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


# DELETE: revoke the token the request carries.


def test_delete_revokes_exactly_the_token_used(ursula):
    created = log_in().json()
    used, other = created["token"], log_in().json()["token"]
    client = with_token(used)
    response = client.delete(URL)
    assert response.status_code == 204
    assert client.get(ME).status_code == 401
    assert with_token(other).get(ME).status_code == 200
    assert AuthToken.objects.filter(user=ursula).count() == 1
    event = AuditEvent.objects.get(verb="token.revoked")
    assert event.actor == ursula and event.before["token_key"] == created["token_key"]


def test_delete_twice_is_401_the_second_time(ursula):
    client = with_token(log_in().json()["token"])
    assert client.delete(URL).status_code == 204
    response = client.delete(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("header", [None, "Token " + "0" * 64, "Token", "Bearer abc"])
def test_delete_without_a_valid_token_is_401(ursula, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.delete(URL)
    assert response.status_code == 401
    assert response.json()["code"] in {"not_authenticated", "authentication_failed"}


def test_a_browser_session_cannot_revoke_a_token(ursula):
    client = APIClient()
    client.force_login(ursula)
    log_in()
    assert client.delete(URL).status_code == 401
    assert AuthToken.objects.filter(user=ursula).exists()
