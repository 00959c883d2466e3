"""Authorization headers the fuzzer never sends (it sends the seeded token on every request,
docs/security.md "Fuzzing"): one knox cannot read is a 401, on every endpoint, the
deployment lookup's fast path (promotions/middleware.py) included.

WSGI hands a header over as latin-1 text, so the test client's str "é" is the byte 0xE9 on
the wire: not UTF-8. Before: knox's `token.decode("utf-8")` raised UnicodeDecodeError, a 500.
"""

import pytest
from django.test import Client
from knox.models import AuthToken

USE_CASES = "/api/v1/usecases/"
DEPLOYMENT = "/api/v1/usecases/demand-forecast/deployment"
TOKEN_REVOKE = "/api/v1/auth/token"


@pytest.fixture
def token(personas, use_case) -> str:
    """The viewer's: they may read the use case's deployment (none yet: 200 with nulls)."""
    return AuthToken.objects.create(personas["viewer"])[1]


def headers(token: str) -> dict[str, str]:
    """Each a str, as WSGI gives it: latin-1 text of the bytes sent."""
    return {
        "an accent alone": "Token é",
        "a real token and an accent": f"Token {token}é",
        "an accent inside a real token": f"Token {token[:20]}é{token[21:]}",
        "an accent in the prefix": f"Tokén {token}",
        "UTF-8 bytes of an accent": "Token " + "é".encode().decode("latin-1"),
        "a latin-1 control byte": f"Token {token}\x85",
    }


@pytest.mark.parametrize("url", [USE_CASES, DEPLOYMENT])
@pytest.mark.parametrize(
    "case",
    [
        "an accent alone",
        "a real token and an accent",
        "an accent inside a real token",
        "UTF-8 bytes of an accent",
        "a latin-1 control byte",
    ],
)
def test_a_token_header_knox_cannot_read_is_a_401_not_a_500(token, url, case):
    response = Client().get(url, HTTP_AUTHORIZATION=headers(token)[case])
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", [USE_CASES, DEPLOYMENT])
def test_another_scheme_with_an_accent_is_not_a_token_at_all(token, url):
    # Not knox's prefix: no credentials, as for any other scheme (401, not authenticated).
    response = Client().get(url, HTTP_AUTHORIZATION=headers(token)["an accent in the prefix"])
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_revoking_with_a_token_knox_cannot_read_is_a_401(token):
    response = Client().delete(TOKEN_REVOKE, HTTP_AUTHORIZATION=f"Token {token}é")
    assert response.status_code == 401
    assert AuthToken.objects.count() == 1


def test_the_same_token_without_the_accent_still_works(token):
    for url in (USE_CASES, DEPLOYMENT):
        assert Client().get(url, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
