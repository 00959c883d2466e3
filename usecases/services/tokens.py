"""Personal API tokens (django-rest-knox): create and revoke, each with its audit event."""

from __future__ import annotations

import datetime
import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from knox.models import AuthToken

from portal.errors import InvalidInput, NotFound
from portal.text import single_line
from usecases.services import audit

logger = logging.getLogger(__name__)

EXPIRY_DAYS_CHOICES = (30, 90, 365, None)  # None: the token never expires
NAME_MAX_LENGTH = 200  # a token's label ("quorum CLI on laptop"), kept in its audit event


@transaction.atomic
def create_token(
    user, *, expiry_days: int | None, name: str = "", via: str = ""
) -> tuple[AuthToken, str]:
    """A new token for `user`; the clear text is returned here once and never stored.
    `name` labels it and `via` says where it was asked for ("api": the password-for-token
    endpoint); knox's tokens have no column for either, so both live in the audit event."""
    return _create(user, actor=user, expiry_days=expiry_days, name=name, via=via)


@transaction.atomic
def create_service_token(
    username: str, *, expiry_days: int | None, name: str = "", create_user: bool = False
) -> tuple[AuthToken, str, bool]:
    """A token for `username` made at the shell (manage.py create_service_token), and
    whether the account was created for it. With `create_user` a missing account becomes a
    service account: active, not staff, with no usable password (it can only use tokens).
    The actor is unknown (whoever runs the command), as in revoke_all_tokens."""
    User = get_user_model()
    username = User.normalize_username(username)
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
    created = user is None
    if user is None:
        if not create_user:
            raise NotFound(f"There is no user called “{username}”.", field="username")
        _check_new_username(User, username)
        user = User._default_manager.create_user(username, password=None)
        logger.info("service account %s created for an API token", user.pk)
    elif not user.is_active:
        raise InvalidInput(
            f"The user “{username}” is inactive; reactivate the account first.", field="username"
        )
    extra = {"user": user.get_username(), "service_account_created": created}
    token, text = _create(
        user, actor=None, expiry_days=expiry_days, name=name, via="command", extra=extra
    )
    return token, text, created


def _check_new_username(User, username: str) -> None:
    field = User._meta.get_field(User.USERNAME_FIELD)
    try:
        field.clean(username, None)  # the length and the characters a username may hold
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), field="username") from None


def _create(
    user, *, actor, expiry_days: int | None, name: str, via: str, extra: dict | None = None
) -> tuple[AuthToken, str]:
    if expiry_days not in EXPIRY_DAYS_CHOICES:
        raise InvalidInput("Choose an expiry of 30, 90 or 365 days, or never.")
    name = _checked_name(name)
    expiry = datetime.timedelta(days=expiry_days) if expiry_days else None
    token, text = AuthToken.objects.create(user=user, expiry=expiry)
    after = {"token_key": token.token_key, "expiry": audit.to_json_value(token.expiry)}
    after.update({key: value for key, value in (("name", name), ("via", via)) if value})
    audit.record(actor=actor, verb="token.created", target=token, after={**after, **(extra or {})})
    logger.info("user %s got API token %s%s", user.pk, token.token_key, f" ({via})" if via else "")
    return token, text


def _checked_name(name: str) -> str:
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"Keep the name to {NAME_MAX_LENGTH} characters.", field="name")
    try:
        single_line(name)  # no NUL, line break or other control character
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), field="name") from None
    return name


@transaction.atomic
def revoke_token(user, token_key: str, *, digest: str = "") -> bool:
    """Delete `user`'s token with this key; False if they have none (others' are untouchable).
    With `digest` (the API's DELETE of the token a request carries), only that very token."""
    mine = AuthToken.objects.filter(user=user, token_key=token_key)
    token = (mine.filter(digest=digest) if digest else mine).first()
    if token is None:
        return False
    audit.record(
        actor=user,
        verb="token.revoked",
        target=token,
        before={"token_key": token.token_key, "expiry": audit.to_json_value(token.expiry)},
    )
    token.delete()
    logger.info("user %s revoked API token %s", user.pk, token_key)
    return True


@transaction.atomic
def revoke_all_tokens(user, *, reason: str) -> int:
    """Delete every token of `user` (password changed, account deactivated), each with its
    audit event; how many. The actor is unknown here (the user, an admin or a command)."""
    revoked = list(AuthToken.objects.select_for_update().filter(user=user))
    for token in revoked:
        audit.record(
            actor=None,
            verb="token.revoked",
            target=token,
            before={
                "token_key": token.token_key,
                "user": user.get_username(),
                "expiry": audit.to_json_value(token.expiry),
            },
            after={"reason": reason},
        )
    AuthToken.objects.filter(pk__in=[token.pk for token in revoked]).delete()
    if revoked:
        logger.info("user %s: %s API tokens revoked (%s)", user.pk, len(revoked), reason)
    return len(revoked)
