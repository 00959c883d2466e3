"""Brute-force protection (django-axes): failed logins per username and address, a cool-off,
and a page that says what happened."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory
from tests.test_settings import manage

LOCKED_TEXT = "Too many failed logins"


def log_in(client, username: str, password: str, *, url: str | None = None, **extra):
    """POST the login form as a browser would; the response is not followed."""
    data = {"username": username, "password": password}
    return client.post(url or reverse("login"), data, **extra)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def ursula(db):
    return UserFactory(username="ursula")


def test_forty_wrong_passwords_then_the_right_one_does_not_log_in(client, ursula):
    for _ in range(40):
        log_in(client, "ursula", "wrong-password")
    response = log_in(client, "ursula", PASSWORD)
    assert response.status_code == 429
    assert not is_logged_in(client)
    html = response.content.decode()
    assert LOCKED_TEXT in html
    assert f"{settings.AXES_COOLOFF_MINUTES} minutes" in html
    assert "<html" in html  # the product's page, not a bare text answer


def test_the_lockout_starts_at_the_failure_limit(client, ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "ursula", "wrong-password").status_code == 200
    assert LOCKED_TEXT in log_in(client, "ursula", "wrong-password").content.decode()


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "ursula", "wrong-password")
    response = log_in(client, "ursula", PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)


def test_the_right_password_works_again_after_the_cool_off(client, ursula):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "ursula", "wrong-password")
    assert log_in(client, "ursula", PASSWORD).status_code == 429
    # Let the cool-off pass: the attempts are dated one minute before it ended.
    past = datetime.timedelta(minutes=settings.AXES_COOLOFF_MINUTES + 1)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - past)
    response = log_in(client, "ursula", PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)


def test_a_lockout_binds_the_username_and_address_together(client, ursula):
    """Someone guessing from one address cannot lock the owner out from another."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "ursula", "wrong-password", REMOTE_ADDR="203.0.113.9")
    assert log_in(client, "ursula", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    response = log_in(client, "ursula", PASSWORD, REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 302


def test_the_admin_login_is_protected_too(client, db):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    for _ in range(40):
        log_in(client, "root", "wrong-password", url=url)
    response = log_in(client, "root", PASSWORD, url=url)
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    assert not is_logged_in(client)


def test_the_limit_and_the_cool_off_come_from_the_environment():
    code = "from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        AXES_FAILURE_LIMIT="3",
        AXES_COOLOFF_MINUTES="45",
        DEBUG="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "3 0:45:00"


def test_a_forged_forwarded_for_header_does_not_escape_the_lock(client, ursula):
    for number in range(settings.AXES_FAILURE_LIMIT + 3):
        log_in(client, "ursula", "wrong-password", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    response = log_in(client, "ursula", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_lock_binds_the_forwarded_address(client, ursula, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "ursula", "wrong-password", HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    guesser = log_in(client, "ursula", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert guesser.status_code == 429
    # The owner comes through the same proxy from elsewhere (a forged first entry is ignored).
    owner = log_in(
        client, "ursula", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.4", **proxy
    )
    assert owner.status_code == 302
