"""Receivers for writes that no single view owns, each a thin caller of one service.

A password can change in the password form, the admin, `manage.py changepassword` or a
shell, and an account can be deactivated in the admin or a shell: only the user row's save
sees them all, so that is where every API token of the account is revoked. A hash that
changes is a password change unless the login backend says it is the re-hash of a password
it has just checked (usecases/auth.py); an unusable password always is one.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import is_password_usable
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from usecases.auth import hash_upgrade_of
from usecases.services import tokens

CREDENTIAL_FIELDS = {"password", "is_active"}


def _revocation_reason(sender, user, update_fields) -> str | None:
    """Why this save revokes the user's tokens, or None. One query, only for a save that may
    write the password or is_active of an existing user."""
    if user._state.adding or user.pk is None:
        return None
    if update_fields is not None and not CREDENTIAL_FIELDS & set(update_fields):
        return None
    old = sender._default_manager.filter(pk=user.pk).values("password", "is_active").first()
    if old is None:
        return None
    if old["password"] != user.password and not _hash_upgrade(user, old, update_fields):
        return "password changed"
    if old["is_active"] and not user.is_active:
        return "account deactivated"
    return None


def _hash_upgrade(user, old: dict, update_fields) -> bool:
    """A login re-hashing the password it just found right (usecases/auth.py): the same
    password, so the tokens stay. Only a save of the password alone, from one usable hash to
    another, while the login backend checks this user's password; anything else that writes
    the hash (set_password, assigning it, set_unusable_password) is a change."""
    return (
        update_fields is not None
        and set(update_fields) == {"password"}
        and is_password_usable(old["password"])
        and user.has_usable_password()
        and hash_upgrade_of(user)
    )


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def note_credential_change(sender, instance, update_fields=None, **kwargs) -> None:
    instance._token_revocation_reason = _revocation_reason(sender, instance, update_fields)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def revoke_tokens_on_credential_change(sender, instance, created, **kwargs) -> None:
    reason = instance.__dict__.pop("_token_revocation_reason", None)
    if reason:
        tokens.revoke_all_tokens(instance, reason=reason)
