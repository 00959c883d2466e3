"""The login backend: Django's ModelBackend, saying when a save is a password-hash upgrade.

When a password is right but its hash is out of date (a newer hasher, more iterations after
a Django upgrade), `User.check_password` hashes the same password again and saves it with
`save(update_fields=["password"])`. The user row's receivers (usecases/signals.py) revoke
API tokens on a password change, and must not on that upgrade, but the save alone does not
tell one from a password set by assignment or `set_unusable_password()`. The backend knows:
a hash saved while it checks a password it was given is the upgrade, since Django only
re-hashes a password that was right. `hash_upgrade_of` names the username being checked.

Only logins through `authenticate()` (or `aauthenticate()`) are marked: the login form,
the admin's, DRF's authentication. A re-hash anywhere else (a `check_password()` call in a
form or a shell) counts as a change and revokes the tokens: the safe side.
"""

from __future__ import annotations

import contextvars

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

_checking = contextvars.ContextVar("checking_password_of", default=None)


def hash_upgrade_of(user) -> bool:
    """Whether a save of `user`'s password right now is the upgrade of a hash whose password
    this backend has just found right."""
    checking = _checking.get()
    return checking is not None and checking == user.get_username()


def _username(username, kwargs) -> str | None:
    return username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)


class PasswordBackend(ModelBackend):
    """ModelBackend, marking the username whose password it checks while it checks it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        token = _checking.set(_username(username, kwargs))
        try:
            return super().authenticate(request, username, password, **kwargs)
        finally:
            _checking.reset(token)

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        token = _checking.set(_username(username, kwargs))  # asave() carries the context
        try:
            return await super().aauthenticate(request, username, password, **kwargs)
        finally:
            _checking.reset(token)
