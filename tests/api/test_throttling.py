"""API rate limits (DRF throttling): rates in settings, a JSON 429 with `code` beyond them."""

import pytest
from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tests.test_settings import manage

UC = "/api/v1/usecases/demand-forecast/"


@pytest.fixture
def rates(monkeypatch):
    """Lower the rates for one test. DRF's throttles read the rates once, at import, so the
    setting is changed where they read it."""

    def set_rates(**rates):
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**THROTTLE_RATES, **rates})

    THROTTLE_RATES = dict(SimpleRateThrottle.THROTTLE_RATES)
    return set_rates


def test_the_api_throttles_anonymous_and_authenticated_clients_by_default():
    assert api_settings.DEFAULT_THROTTLE_CLASSES  # classes, imported from the setting
    names = [cls.__name__ for cls in api_settings.DEFAULT_THROTTLE_CLASSES]
    assert names == ["AnonRateThrottle", "UserRateThrottle"]
    assert set(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]) >= {"anon", "user"}


def test_a_user_over_the_rate_gets_a_json_429_with_a_code(api, use_case, rates):
    rates(user="3/minute")
    client = api("viewer")
    for _ in range(3):
        assert client.get(UC).status_code == 200
    response = client.get(UC)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert "throttled" in body["detail"]
    assert int(response["Retry-After"]) > 0


def test_one_users_rate_does_not_slow_another(api, use_case, rates):
    rates(user="2/minute")
    busy, other = api("viewer"), api("expert")
    for _ in range(3):
        busy.get(UC)
    assert busy.get(UC).status_code == 429
    assert other.get(UC).status_code == 200


def test_anonymous_clients_are_throttled_on_public_endpoints(client, db, rates):
    rates(anon="2/minute")
    url = "/api/schema/?format=json"
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    response = client.get(url)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


def test_the_rates_come_from_the_environment():
    code = (
        "from django.conf import settings as s; print(s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        THROTTLE_RATE_ANON="7/minute",
        THROTTLE_RATE_USER="99999/minute",
        DEBUG="true",
    )
    assert result.returncode == 0, result.stderr
    assert "'anon': '7/minute'" in result.stdout
    assert "'user': '99999/minute'" in result.stdout


def test_a_forged_forwarded_for_header_does_not_escape_the_anonymous_rate(client, db, rates):
    rates(anon="2/minute")
    url = "/api/schema/?format=json"
    statuses = [
        client.get(url, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}").status_code for number in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_behind_a_trusted_proxy_the_anonymous_rate_binds_the_forwarded_address(
    client, db, rates, settings
):
    # One reading of the address for axes and the throttles (portal.proxies.client_address):
    # before, the throttles read DRF's NUM_PROXIES, fixed when DRF loaded its settings.
    rates(anon="2/minute")
    settings.TRUSTED_PROXY_COUNT = 1
    url, proxy = "/api/schema/?format=json", {"REMOTE_ADDR": "10.0.0.2"}
    first = [client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy) for _ in range(3)]
    assert [response.status_code for response in first] == [200, 200, 429]
    # Another client through the same proxy (a forged first entry changes nothing).
    other = client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.4", **proxy)
    assert other.status_code == 200


def test_axes_and_the_throttles_read_the_address_in_one_place(settings):
    from portal import proxies, throttles

    assert settings.AXES_CLIENT_IP_CALLABLE == "portal.proxies.client_address"
    names = [cls.__module__ for cls in api_settings.DEFAULT_THROTTLE_CLASSES]
    assert names == ["portal.throttles", "portal.throttles"]
    assert throttles.client_address is proxies.client_address
