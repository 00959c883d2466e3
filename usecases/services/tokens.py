"""Personal API tokens (django-rest-knox): create and revoke, each with its audit event."""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from knox.models import AuthToken

from portal.errors import InvalidInput
from usecases.services import audit

logger = logging.getLogger(__name__)

EXPIRY_DAYS_CHOICES = (30, 90, 365, None)  # None: the token never expires


@transaction.atomic
def create_token(user, *, expiry_days: int | None) -> tuple[AuthToken, str]:
    """A new token for `user`; the clear text is returned here once and never stored."""
    if expiry_days not in EXPIRY_DAYS_CHOICES:
        raise InvalidInput("Choose an expiry of 30, 90 or 365 days, or never.")
    expiry = datetime.timedelta(days=expiry_days) if expiry_days else None
    token, text = AuthToken.objects.create(user=user, expiry=expiry)
    audit.record(
        actor=user,
        verb="token.created",
        target=token,
        after={"token_key": token.token_key, "expiry": audit.to_json_value(token.expiry)},
    )
    logger.info("user %s created API token %s", user.pk, token.token_key)
    return token, text


@transaction.atomic
def revoke_token(user, token_key: str) -> bool:
    """Delete `user`'s token with this key; False if they have none (others' are untouchable)."""
    token = AuthToken.objects.filter(user=user, token_key=token_key).first()
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
