import pytest

from tests.conftest import PERSONAS
from tests.factories import UseCaseFactory
from usecases.models import UseCase
from usecases.permissions import Action, can

# The rules of DESIGN.md, spelt out once more as the test's expectation.
EXPECTED = {
    "anonymous": set(),
    "outsider": set(),
    "viewer": {Action.VIEW},
    "data_scientist": {
        Action.VIEW,
        Action.MANAGE_MODELS,
        Action.MANAGE_REVIEWS,
        Action.PROMOTE,
        Action.HANDLE_ALERTS,
    },
    "expert": {
        Action.VIEW,
        Action.EDIT,
        Action.MANAGE_REVIEWS,
        Action.REVIEW,
        Action.HANDLE_ALERTS,
    },
    "owner": set(Action) - {Action.OVERRIDE_GATE},  # a manager's alone
    "manager": {Action.VIEW, Action.ROLLBACK, Action.OVERRIDE_GATE, Action.HANDLE_ALERTS},
    "admin": set(Action),
}


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("action", list(Action))
def test_each_role_may_do_exactly_what_the_design_says(use_case, personas, who, action):
    from django.contrib.auth.models import AnonymousUser

    user = AnonymousUser() if who == "anonymous" else personas[who]
    assert can(user, action, use_case) is (action in EXPECTED[who])


def test_members_see_only_their_use_cases_and_managers_see_all(use_case, personas):
    other = UseCaseFactory(title="Someone else's")
    assert list(UseCase.objects.visible_to(personas["viewer"])) == [use_case]
    assert list(UseCase.objects.visible_to(personas["outsider"])) == []
    assert set(UseCase.objects.visible_to(personas["manager"])) == {use_case, other}
    assert set(UseCase.objects.visible_to(personas["admin"])) == {use_case, other}


def test_a_deactivated_member_sees_nothing(use_case, personas):
    viewer = personas["viewer"]
    viewer.is_active = False
    viewer.save()
    assert not UseCase.objects.visible_to(viewer).exists()
    assert not can(viewer, Action.VIEW, use_case)
