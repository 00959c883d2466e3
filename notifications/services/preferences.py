"""How each person hears of each kind of notification: in the app, by e-mail (off, at once
or in the daily digest) and on their chat webhook. A kind without a saved row follows
DEFAULTS, so a new kind reaches people sensibly before anyone chose."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from notifications.models import ChatWebhook, EmailMode, Kind, Preference
from portal import outbound
from portal.errors import InvalidInput

FIELD = "webhook_url"


@dataclass(frozen=True)
class Channels:
    in_app: bool
    email: str
    webhook: bool = False


# Asks and news about one's own work by e-mail at once; comments, which come in numbers,
# once a day.
DEFAULTS: dict[str, Channels] = {
    Kind.APPROVAL_NEEDED: Channels(True, EmailMode.IMMEDIATELY),
    Kind.REQUEST_DECIDED: Channels(True, EmailMode.IMMEDIATELY),
    Kind.MENTION: Channels(True, EmailMode.IMMEDIATELY),
    Kind.COMMENT: Channels(True, EmailMode.DIGEST),
    Kind.ALERT: Channels(True, EmailMode.IMMEDIATELY),
    Kind.REVIEW_ASSIGNED: Channels(True, EmailMode.IMMEDIATELY),
}


def _channels(row: Preference) -> Channels:
    return Channels(in_app=row.in_app, email=row.email, webhook=row.webhook)


def channels_for(user, kind: str) -> Channels:
    """How `user` hears of `kind` now (one query)."""
    row = Preference.objects.filter(user=user, kind=kind).first()
    return _channels(row) if row is not None else DEFAULTS[kind]


def preferences_of(user) -> dict[str, Channels]:
    """{kind: channels} for every kind, in Kind's order (one query)."""
    saved = {row.kind: _channels(row) for row in Preference.objects.filter(user=user)}
    return {kind: saved.get(kind, DEFAULTS[kind]) for kind in Kind.values}


def webhook_url_of(user) -> str:
    """`user`'s chat webhook URL, or "" (one query)."""
    return ChatWebhook.objects.filter(user=user).values_list("url", flat=True).first() or ""


def check_webhook_url(url: str) -> None:
    """Refuse a chat webhook URL that is not https (http too in DEBUG), names a user, or a
    loopback or private host; its name is resolved and checked again at each send."""
    problem = outbound.url_problem(url, allow_http=settings.DEBUG)
    if problem:
        raise InvalidInput(problem, field=FIELD)


@transaction.atomic
def save_preferences(user, *, kinds: dict[str, Channels], webhook_url: str) -> dict[str, Channels]:
    """Store `user`'s channels for the kinds given (the others keep theirs) and their webhook
    URL ("" removes it); a webhook chosen for a kind needs a URL."""
    webhook_url = webhook_url.strip()
    if webhook_url:
        check_webhook_url(webhook_url)
    unknown = set(kinds) - set(Kind.values)
    if unknown:
        raise InvalidInput(f"Unknown kind: {', '.join(sorted(unknown))}.", field="kinds")
    wanted = {**preferences_of(user), **kinds}
    if not webhook_url and any(channels.webhook for channels in wanted.values()):
        raise InvalidInput("Give a webhook URL to send notifications to it.", field=FIELD)
    for kind, channels in kinds.items():
        Preference.objects.update_or_create(
            user=user,
            kind=kind,
            defaults={
                "in_app": channels.in_app,
                "email": channels.email,
                "webhook": channels.webhook,
            },
        )
    if webhook_url:
        ChatWebhook.objects.update_or_create(user=user, defaults={"url": webhook_url})
    else:
        ChatWebhook.objects.filter(user=user).delete()
    return wanted
