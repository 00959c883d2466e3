"""Who the API believes you are: knox tokens first, the browser session second."""

import datetime

import pytest
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

UC = "/api/v1/usecases/demand-forecast"
STEP = {"phase": "scoping", "note": "Framing agreed"}  # a write: one phase step


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_valid_token_authenticates_its_user(personas, use_case):
    _, token = AuthToken.objects.create(personas["viewer"])
    response = with_token(token).get(f"{UC}/")
    assert response.status_code == 200
    assert response.json()["slug"] == "demand-forecast"


def test_no_credentials_get_401_with_a_token_challenge(use_case):
    response = APIClient().get(f"{UC}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_a_revoked_token_gets_401(personas, use_case):
    instance, token = AuthToken.objects.create(personas["owner"])
    client = with_token(token)
    assert client.get(f"{UC}/").status_code == 200
    instance.delete()  # what knox's logout view and the admin do
    response = client.get(f"{UC}/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


@pytest.mark.parametrize(
    "token", ["0" * 64, "not-a-token", "a" * 200], ids=["unknown", "malformed", "too-long"]
)
def test_an_unknown_token_gets_401_and_writes_nothing(use_case, token):
    response = with_token(token).post(f"{UC}/phase", STEP, format="json")
    assert response.status_code == 401
    use_case.refresh_from_db()
    assert use_case.phase == "idea"


def test_an_expired_token_gets_401(personas, use_case):
    _, token = AuthToken.objects.create(personas["owner"], expiry=datetime.timedelta(seconds=-1))
    assert with_token(token).get(f"{UC}/").status_code == 401


def test_a_deactivated_users_token_gets_401(personas, use_case):
    _, token = AuthToken.objects.create(personas["owner"])
    personas["owner"].is_active = False
    personas["owner"].save()
    assert with_token(token).get(f"{UC}/").status_code == 401


def test_a_browser_session_authenticates_reads_and_writes(personas, use_case):
    client = Client()
    client.force_login(personas["owner"])
    assert client.get(f"{UC}/kpis/").status_code == 200
    response = client.post(f"{UC}/phase", STEP, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["phase"] == "scoping"


def test_a_session_write_without_the_csrf_token_is_refused(personas, use_case):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["owner"])
    response = client.post(f"{UC}/phase", STEP, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    use_case.refresh_from_db()
    assert use_case.phase == "idea"


def test_a_token_write_needs_no_csrf_token(personas, use_case):
    _, token = AuthToken.objects.create(personas["owner"])
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(f"{UC}/phase", STEP, format="json")
    assert response.status_code == 200
