import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import UserFactory, ValueModelFactory


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
