"""API tokens die with the password: a change (by the user, an admin or a command) or a
deactivation revokes every token of the account, and the user is told."""

import pytest
from django.contrib.auth.hashers import make_password
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory
from usecases.models import AuditEvent
from usecases.services import tokens

UC = "/api/v1/usecases/demand-forecast/"
NEW_PASSWORD = "a-new-and-longer-passphrase-42"


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def owner_tokens(personas, use_case):
    """Two working tokens of the owner."""
    texts = [tokens.create_token(personas["owner"], expiry_days=90)[1] for _ in range(2)]
    for text in texts:
        assert with_token(text).get(UC).status_code == 200
    return texts


def test_changing_the_password_revokes_every_token_and_says_so(client, personas, owner_tokens):
    client.force_login(personas["owner"])
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post(reverse("password_change"), form, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your 2 API tokens were revoked" in html
    assert reverse("usecases:api_tokens") in html
    for text in owner_tokens:
        response = with_token(text).get(UC)
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(user=personas["owner"]).exists()
    assert client.get(reverse("home")).status_code == 200  # the browser session stays


def test_the_revocation_is_in_the_audit_trail(personas, owner_tokens):
    user = personas["owner"]
    keys = set(AuthToken.objects.filter(user=user).values_list("token_key", flat=True))
    user.set_password(NEW_PASSWORD)
    user.save()
    events = AuditEvent.objects.filter(verb="token.revoked")
    assert {event.before["token_key"] for event in events} == keys
    assert {event.after["reason"] for event in events} == {"password changed"}


def test_an_admin_setting_the_password_revokes_the_users_tokens(client, personas, owner_tokens):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:auth_user_password_change", args=[personas["owner"].pk])
    form = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)


def test_set_password_outside_any_view_revokes_the_tokens(personas, owner_tokens):
    """What `manage.py changepassword` and a shell do."""
    user = personas["owner"]
    user.set_password(NEW_PASSWORD)
    user.save()
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)


def test_deactivating_an_account_revokes_its_tokens(personas, owner_tokens):
    user = personas["owner"]
    user.is_active = False
    user.save()
    assert not AuthToken.objects.filter(user=user).exists()
    user.is_active = True  # reactivated: the old tokens stay dead
    user.save()
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)


def test_other_changes_to_the_account_keep_the_tokens(client, personas, owner_tokens):
    user = personas["owner"]
    user.first_name = "Liv"
    user.save()
    client.force_login(user)  # updates last_login
    assert all(with_token(text).get(UC).status_code == 200 for text in owner_tokens)


def test_other_users_tokens_are_untouched(personas, owner_tokens, use_case):
    _, viewer_token = tokens.create_token(personas["viewer"], expiry_days=30)
    personas["owner"].set_password(NEW_PASSWORD)
    personas["owner"].save()
    assert with_token(viewer_token).get(UC).status_code == 200


def test_the_tokens_page_and_the_password_pages_explain_the_rule(client, personas):
    client.force_login(personas["viewer"])
    tokens_page = client.get(reverse("usecases:api_tokens")).content.decode()
    assert "Changing your password revokes every token" in tokens_page
    form_page = client.get(reverse("password_change")).content.decode()
    assert "revokes your API tokens" in form_page


@pytest.fixture
def outdated_hash(personas, settings):
    """The owner's hash is MD5 and the preferred hasher PBKDF2: the next check of the right
    password re-hashes it, as a login after a Django upgrade does."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    user = personas["owner"]
    assert user.password.startswith("md5$")
    return user


def log_in(client, username: str, password: str, url: str):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_a_hash_upgrade_at_login_is_not_a_password_change(client, outdated_hash, owner_tokens, url):
    """Logging in re-hashes the same password with the preferred hasher: tokens stay."""
    user = outdated_hash
    user.is_staff = True  # for the admin's login form
    user.save(update_fields=["is_staff"])
    response = log_in(client, user.username, PASSWORD, url)
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_")
    assert all(with_token(text).get(UC).status_code == 200 for text in owner_tokens)


def test_a_wrong_password_at_login_changes_nothing(client, outdated_hash, owner_tokens):
    user = outdated_hash
    log_in(client, user.username, "not-the-password", "/accounts/login/")
    user.refresh_from_db()
    assert user.password.startswith("md5$")
    assert all(with_token(text).get(UC).status_code == 200 for text in owner_tokens)


def test_an_unusable_password_saved_alone_revokes_the_tokens(personas, owner_tokens):
    # Before: kept, as it looked like check_password()'s hash upgrade (the password alone,
    # `_password` not set).
    user = personas["owner"]
    user.set_unusable_password()
    user.save(update_fields=["password"])
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)


def test_a_hash_assigned_and_saved_alone_revokes_the_tokens(personas, owner_tokens):
    # Before: kept, for the same reason.
    user = personas["owner"]
    user.password = make_password(NEW_PASSWORD)
    user.save(update_fields=["password"])
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)


def test_a_hash_upgrade_outside_a_login_counts_as_a_change(outdated_hash, owner_tokens):
    """Only the login backend can vouch that the password is the same; a re-hash anywhere
    else (check_password() in a form or a shell) revokes: the safe side."""
    assert outdated_hash.check_password(PASSWORD)
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)


def test_a_password_changed_during_a_login_of_another_user_revokes(personas, owner_tokens):
    from usecases import auth

    token = auth._checking.set(personas["viewer"].username)
    try:
        personas["owner"].password = make_password(NEW_PASSWORD)
        personas["owner"].save(update_fields=["password"])
    finally:
        auth._checking.reset(token)
    assert all(with_token(text).get(UC).status_code == 401 for text in owner_tokens)
