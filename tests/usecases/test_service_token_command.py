"""manage.py create_service_token: a token for a script or CI job, printed alone on stdout."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.test_settings import manage
from usecases.models import AuditEvent

User = get_user_model()
ME = "/api/v1/notifications/"  # any endpoint that needs a login


def create_service_token(*args: str) -> tuple[str, str]:
    """Run the command; its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("create_service_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def works(token: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get(ME).status_code == 200


def test_it_prints_only_a_working_token_on_stdout(db):
    bot = UserFactory(username="ci-bot")
    out, err = create_service_token("ci-bot")
    token = out.strip()
    assert out == f"{token}\n" and " " not in token
    assert works(token)
    key = AuthToken.objects.get(user=bot).token_key
    assert token.startswith(key)
    assert f"API token {key}… for ci-bot" in err and token not in err


def test_create_makes_a_service_account_that_cannot_log_in_with_a_password(db):
    out, err = create_service_token("ci-bot", "--create")
    bot = User.objects.get(username="ci-bot")
    assert bot.is_active and not bot.is_staff and not bot.is_superuser
    assert not bot.has_usable_password()
    assert "Created the service account ci-bot" in err
    assert works(out.strip())


def test_create_uses_an_existing_user_as_it_is(db):
    person = UserFactory(username="dana")
    out, err = create_service_token("dana", "--create")
    person.refresh_from_db()
    assert person.has_usable_password()
    assert "Created" not in err
    assert works(out.strip())


def test_the_default_expiry_is_ninety_days_and_never_is_offered(db):
    UserFactory(username="ci-bot")
    create_service_token("ci-bot")
    create_service_token("ci-bot", "--expiry-days", "never")
    create_service_token("ci-bot", "--expiry-days", "365")
    days = sorted(
        round((token.expiry - token.created).total_seconds() / 86400) if token.expiry else 0
        for token in AuthToken.objects.all()
    )
    assert days == [0, 90, 365]


def test_the_creation_is_audited_with_its_label_and_no_actor(db):
    create_service_token("ci-bot", "--create", "--name", "nightly evaluation")
    event = AuditEvent.objects.get(verb="token.created")
    assert event.actor is None  # whoever ran the command
    assert event.after["user"] == "ci-bot"
    assert event.after["name"] == "nightly evaluation"
    assert event.after["via"] == "command"
    assert event.after["service_account_created"] is True


def test_a_missing_user_without_create_is_an_error_that_says_how(db):
    with pytest.raises(CommandError, match="no user called “ghost”.*--create"):
        create_service_token("ghost")
    assert not User.objects.filter(username="ghost").exists()
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize("expiry", ["7", "0", "-30", "soon", ""])
def test_an_expiry_not_offered_is_an_error(db, expiry):
    UserFactory(username="ci-bot")
    with pytest.raises(CommandError, match="--expiry-days must be 30, 90, 365 or never"):
        create_service_token("ci-bot", "--expiry-days", expiry)
    assert not AuthToken.objects.exists()


def test_an_inactive_user_is_an_error(db):
    UserFactory(username="old-bot", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        create_service_token("old-bot", "--create")
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize("username", ["bad name!", "x" * 151])
def test_create_refuses_a_username_django_would_not_accept(db, username):
    with pytest.raises(CommandError, match="username|150"):
        create_service_token(username, "--create")
    assert not User.objects.exists()


def test_a_label_too_long_is_an_error(db):
    UserFactory(username="ci-bot")
    with pytest.raises(CommandError, match="200 characters"):
        create_service_token("ci-bot", "--name", "n" * 201)
    assert not AuthToken.objects.exists()


def test_the_token_can_be_captured_from_a_shell(tmp_path):
    """`TOKEN=$(manage.py create_service_token ci-bot --create)`: stdout is the token only."""
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env = {"DATABASE_URL": database, "QUORUM_VAR_DIR": str(tmp_path), "DEBUG": "true"}
    assert manage("migrate", "--no-input", "-v0", **env).returncode == 0
    result = manage("create_service_token", "ci-bot", "--create", **env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and len(lines[0]) >= 32 and " " not in lines[0]
    assert "ci-bot" in result.stderr and lines[0] not in result.stderr
    missing = manage("create_service_token", "ghost", **env)
    assert missing.returncode == 1
    assert missing.stdout == "" and "--create" in missing.stderr
