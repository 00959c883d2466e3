"""notify(): one row per event and person, the deliveries each person chose queued when the
caller commits; and the preferences that choose them."""

from __future__ import annotations

import pytest
from django.db import transaction

from notifications import selectors
from notifications.models import ChatWebhook, Notification, Preference
from notifications.services import preferences
from notifications.services.notify import notify
from notifications.services.preferences import Channels
from portal.errors import InvalidInput
from tests.notifications.factories import HOOK

EMAIL, WEBHOOK = "notifications.send_email", "notifications.post_webhook"


def tell(user, use_case=None, kind="mention", key="", text="Erik mentioned you"):
    return notify(user, kind=kind, text=text, url="/usecases/x/", use_case=use_case, key=key)


def test_notify_writes_the_row_and_queues_the_email_when_the_caller_commits(
    personas, use_case, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        made = tell(personas["expert"], use_case)
        assert queued.of(EMAIL) == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert queued.of(EMAIL) == [made.pk]
    assert made.use_case == use_case and made.is_unread and not made.in_digest


def test_nothing_is_queued_when_the_callers_transaction_rolls_back(
    personas, queued, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tell(personas["expert"])
        raise RuntimeError
    assert queued == [] and not Notification.objects.exists()


def test_a_key_tells_nobody_twice_even_inside_the_callers_transaction(
    personas, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = tell(personas["expert"], key="comment:7")
        assert tell(personas["expert"], key="comment:7") is None
        assert tell(personas["viewer"], key="comment:7") is not None  # another person
        Notification.objects.count()  # the transaction is still usable
    assert Notification.objects.filter(recipient=personas["expert"]).get() == first
    assert len(queued.of(EMAIL)) == 2


def test_without_a_key_every_call_is_news(personas, queued):
    tell(personas["expert"])
    tell(personas["expert"])
    assert Notification.objects.count() == 2


def test_an_inactive_person_is_never_notified(personas, queued):
    personas["expert"].is_active = False
    personas["expert"].save()
    assert tell(personas["expert"]) is None
    assert not Notification.objects.exists() and queued == []


def test_nobody_is_notified_of_a_use_case_they_do_not_see(personas, use_case, queued):
    assert tell(personas["outsider"], use_case) is None
    assert tell(personas["manager"], use_case) is not None  # managers see every use case
    assert Notification.objects.count() == 1


def test_with_the_app_turned_off_the_row_is_kept_already_read(personas, queued, committed):
    preferences.save_preferences(
        personas["expert"],
        kinds={"mention": Channels(in_app=False, email="immediately")},
        webhook_url="",
    )
    with committed():
        made = tell(personas["expert"])
    assert made.read_at is not None
    assert selectors.unread_count(personas["expert"]) == 0
    assert queued.of(EMAIL) == [made.pk]


def test_comments_go_to_the_digest_by_default_and_mentions_are_emailed_at_once(
    personas, queued, committed
):
    with committed():
        comment = tell(personas["expert"], kind="comment")
        mention = tell(personas["expert"], kind="mention")
    assert comment.in_digest and not mention.in_digest
    assert queued.of(EMAIL) == [mention.pk]


def test_email_off_queues_nothing_and_a_chosen_webhook_is_queued(personas, queued, committed):
    preferences.save_preferences(
        personas["expert"],
        kinds={"alert": Channels(in_app=True, email="off", webhook=True)},
        webhook_url=HOOK,
    )
    with committed():
        made = tell(personas["expert"], kind="alert")
    assert queued.of(EMAIL) == [] and queued.of(WEBHOOK) == [made.pk]


# Preferences


def test_preferences_default_to_the_app_and_email_with_comments_in_the_digest(personas):
    mine = preferences.preferences_of(personas["expert"])
    assert mine["approval_needed"] == Channels(True, "immediately", False)
    assert mine["comment"] == Channels(True, "digest", False)
    assert list(mine) == [kind for kind, _ in Notification.Kind.choices]


def test_saving_preferences_keeps_the_kinds_not_given(personas):
    user = personas["expert"]
    preferences.save_preferences(
        user, kinds={"comment": Channels(False, "off", True)}, webhook_url=HOOK
    )
    preferences.save_preferences(
        user, kinds={"mention": Channels(True, "digest", False)}, webhook_url=HOOK
    )
    mine = preferences.preferences_of(user)
    assert mine["comment"] == Channels(False, "off", True)
    assert mine["mention"] == Channels(True, "digest", False)
    assert Preference.objects.filter(user=user).count() == 2
    assert ChatWebhook.objects.get(user=user).url == HOOK


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "must start with https://"),
        ("https://user:secret@hooks.example.com/x", "no user name or password"),
        ("https://127.0.0.1/x", "loopback, private or local"),
        ("https://10.1.2.3/x", "loopback, private or local"),
        ("https://169.254.169.254/latest/meta-data", "loopback, private or local"),
        ("https://[::ffff:127.0.0.1]/x", "loopback, private or local"),
        ("https://localhost/x", "loopback, private or local"),
        ("https://hooks.internal/x", "loopback, private or local"),
        ("ftp://hooks.example.com/x", "must start with https://"),
        # Numbers a resolver reads as 127.0.0.1 or 10.0.0.1.
        ("https://2130706433/x", "loopback, private or local"),
        ("https://0x7f000001/x", "loopback, private or local"),
        ("https://127.1/x", "loopback, private or local"),
        ("https://0177.0.0.1/x", "loopback, private or local"),
        ("https://10.1/x", "loopback, private or local"),
        # Private IPv4 addresses wrapped in IPv6: 6to4, NAT64, IPv4-compatible, SIIT.
        ("https://[2002:7f00:1::]/x", "loopback, private or local"),
        ("https://[2002:a9fe:a9fe::1]/x", "loopback, private or local"),
        ("https://[64:ff9b::10.0.0.1]/x", "loopback, private or local"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "loopback, private or local"),
        ("https://[::127.0.0.1]/x", "loopback, private or local"),
        ("https://[::ffff:0:7f00:1]/x", "loopback, private or local"),
        ("https://[64:ff9b:1::808:808]/x", "loopback, private or local"),
        ("https://[fec0::1]/x", "loopback, private or local"),
        # Not URLs at all (urlsplit raises).
        ("https://[::1", "not a valid URL"),
        ("https://[hooks.example.com]/x", "not a valid URL"),
    ],
)
def test_a_webhook_url_must_be_public_https_without_credentials(personas, settings, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    settings.DEBUG = False
    with pytest.raises(InvalidInput, match=message) as refused:
        preferences.save_preferences(personas["expert"], kinds={}, webhook_url=url)
    assert refused.value.field == "webhook_url"
    assert not ChatWebhook.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/x",
        "https://[2606:4700::1111]/x",
        "https://[64:ff9b::808:808]/x",  # a public address behind NAT64 (DNS64 networks)
        "https://[2002:808:808::1]/x",  # and behind 6to4
    ],
)
def test_a_public_address_in_any_spelling_is_accepted(personas, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    settings.DEBUG = False
    preferences.save_preferences(personas["expert"], kinds={}, webhook_url=url)
    assert ChatWebhook.objects.get().url == url


def test_http_is_allowed_for_a_webhook_in_debug_only(personas, settings):
    settings.DEBUG = True
    preferences.save_preferences(
        personas["expert"], kinds={}, webhook_url="http://hooks.example.com/x"
    )
    assert ChatWebhook.objects.get().url == "http://hooks.example.com/x"


def test_a_webhook_chosen_for_a_kind_needs_a_url(personas):
    with pytest.raises(InvalidInput, match="Give a webhook URL"):
        preferences.save_preferences(
            personas["expert"], kinds={"alert": Channels(True, "off", True)}, webhook_url=""
        )
    assert not Preference.objects.exists()
