"""Notifications: the approvers are told when a request needs them, the requester when it is
decided; in the app (a bell with an unread count, refreshed by htmx) and by e-mail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.models import Notification
from notifications.tasks import post_webhook_task
from notifications.tasks import send_email_task as send_notification_email_task
from promotions import context_processors
from promotions.models import PromotionRequest
from promotions.services import events, notify, requests
from tests.conftest import login
from tests.factories import UserFactory
from tests.promotions.factories import executed_promotion, open_request, recording_tasks
from usecases.models import MANAGER_GROUP

Kind = Notification.Kind
EMAIL = "notifications.send_email"


@pytest.fixture
def queued(monkeypatch):
    with recording_tasks(monkeypatch) as queued:
        for task in (send_notification_email_task, post_webhook_task):

            def record(args=None, kwargs=None, _name=task.name, **options):
                queued.append((_name, tuple(args or ())))

            monkeypatch.setattr(task, "apply_async", record)
        yield queued


def opened(use_case, personas, callbacks, **kwargs) -> PromotionRequest:
    with callbacks(execute=True):
        return open_request(use_case, personas, **kwargs)


def recipients(kind: str) -> list[str]:
    rows = Notification.objects.filter(kind=kind).order_by("recipient__username")
    return [row.recipient.get_username() for row in rows]


def test_opening_a_request_tells_the_expert_it_needs_in_the_app_and_by_email(
    use_case, personas, queued, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://quorum.example.com"
    request = opened(use_case, personas, django_capture_on_commit_callbacks)
    assert recipients(Kind.APPROVAL_NEEDED) == ["erik"]  # low risk: one domain expert
    notification = Notification.objects.get()
    assert notification.url == request.get_absolute_url()
    assert notification.use_case == use_case
    assert notification.key == f"promotion-request:{request.pk}"
    assert "approval as domain expert is needed" in notification.text
    assert "version 2.0.0 of “Demand forecast” to shadow" in notification.text
    assert queued.of(EMAIL) == [notification.pk]

    send_notification_email_task.apply(args=[notification.pk])  # what the worker does
    [email] = mail.outbox
    assert email.to == [personas["expert"].email]
    assert email.subject == "[Quorum] Your approval is needed on Demand forecast"
    assert f"https://quorum.example.com{request.get_absolute_url()}" in email.body
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_a_high_risk_request_tells_the_experts_and_the_managers_never_the_requester(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    use_case.risk_tier = "high"
    use_case.save()
    second_expert = UserFactory(username="eva")
    use_case.members.create(user=second_expert, role="expert")
    UserFactory(username="mona", groups=[MANAGER_GROUP], is_active=False)
    opened(use_case, personas, django_capture_on_commit_callbacks)
    # Not the requester (dana), the owner, the viewer, an admin, nor an inactive manager.
    assert recipients(Kind.APPROVAL_NEEDED) == ["erik", "eva", "maria"]
    assert len(queued.of(EMAIL)) == 3


def test_a_medium_risk_request_tells_a_data_scientist_other_than_the_requester(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    use_case.risk_tier = "medium"
    use_case.save()
    use_case.members.create(user=UserFactory(username="dmitri"), role="data_scientist")
    opened(use_case, personas, django_capture_on_commit_callbacks)
    assert recipients(Kind.APPROVAL_NEEDED) == ["dmitri", "erik"]


def test_an_event_handled_twice_tells_nobody_twice(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    request = open_request(use_case, personas)
    with django_capture_on_commit_callbacks(execute=True):
        events.request_opened(request.pk)
        events.request_opened(request.pk)
    assert Notification.objects.count() == 1
    assert len(queued.of(EMAIL)) == 1


def test_the_events_never_raise(use_case, personas, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("database gone")

    monkeypatch.setattr(notify, "notify_approvers", broken)
    monkeypatch.setattr(notify, "notify_requester", broken)
    monkeypatch.setattr("promotions.services.events.webhooks.queue_stage_changes", broken)
    events.request_opened(1)
    events.request_decided(1)
    events.stages_changed(1, [2])
    assert [record.levelname for record in caplog.records] == ["ERROR"] * 3


def test_the_requester_is_told_when_the_request_is_executed(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = executed_promotion(use_case, personas)
    [told] = Notification.objects.filter(kind=Kind.REQUEST_DECIDED)
    assert told.recipient == personas["data_scientist"]
    assert told.text == (
        f"Your request #{request.pk}, version 2.0.0 of “Demand forecast” to shadow, is executed."
    )
    send_notification_email_task.apply(args=[told.pk])
    assert mail.outbox[0].to == [personas["data_scientist"].email]
    assert "is decided" in mail.outbox[0].subject


def test_the_requester_is_told_who_rejected_the_request_and_why(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    request = open_request(use_case, personas)
    with django_capture_on_commit_callbacks(execute=True):
        requests.reject(request, by=personas["expert"], comment="Store 12 is off by 40 %.")
    [told] = Notification.objects.filter(kind=Kind.REQUEST_DECIDED)
    assert told.recipient == personas["data_scientist"]
    assert "was rejected by Erik: Store 12 is off by 40 %." in told.text


def test_nobody_is_told_of_a_withdrawal(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    request = open_request(use_case, personas)
    with django_capture_on_commit_callbacks(execute=True):
        requests.withdraw(request, by=personas["data_scientist"])
    assert not Notification.objects.filter(kind=Kind.REQUEST_DECIDED).exists()


def test_the_email_is_sent_once_however_often_the_task_runs(use_case, personas, queued):
    request = open_request(use_case, personas)
    [notification] = notify.notify_approvers(request.pk)
    send_notification_email_task.apply(args=[notification.pk])
    send_notification_email_task.apply(args=[notification.pk])
    assert len(mail.outbox) == 1


def test_a_recipient_without_an_address_is_recorded_not_retried(use_case, personas, queued):
    personas["expert"].email = ""
    personas["expert"].save()
    request = open_request(use_case, personas)
    [notification] = notify.notify_approvers(request.pk)
    send_notification_email_task.apply(args=[notification.pk])
    notification.refresh_from_db()
    assert notification.email_failed_at is not None
    assert notification.email_error == "erik has no e-mail address."
    assert mail.outbox == []


# The bell and the notifications page


def bell(client) -> str:
    response = client.get(reverse("notifications:bell"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_the_bell_counts_unread_notifications_and_requests_waiting_for_the_user(
    client, use_case, personas, queued
):
    request = open_request(use_case, personas)
    notify.notify_approvers(request.pk)
    html = bell(login(client, personas, "expert"))
    assert 'data-count="1"' in html and "has-unread" in html
    assert '1<span class="visually-hidden"> waiting for your approval' in html
    assert 'hx-trigger="every 60s, notifications-changed from:body"' in html

    client.post(reverse("notifications:read_all"))
    html = bell(client)
    assert 'data-count="0"' in html and "has-unread" not in html
    assert "waiting for your approval" in html  # the request still waits for erik


def test_the_bell_of_someone_with_nothing_shows_zero(client, use_case, personas, queued):
    request = open_request(use_case, personas)
    notify.notify_approvers(request.pk)
    html = bell(login(client, personas, "viewer"))
    assert 'data-count="0"' in html and "waiting for your approval" not in html


def test_the_bell_answers_nothing_once_the_session_expired(client):
    response = client.get(reverse("notifications:bell"), headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.content == b""


def test_the_context_processor_counts_only_when_read(
    use_case, personas, queued, django_assert_num_queries
):
    request = open_request(use_case, personas)
    notify.notify_approvers(request.pk)
    http_request = RequestFactory().get("/")
    http_request.user = personas["expert"]
    with django_assert_num_queries(0):
        counts = context_processors.notifications(http_request)
    assert counts["unread_notifications"]() == 1
    with django_assert_num_queries(0):
        assert counts["unread_notifications"]() == 1  # counted once per render
    assert counts["waiting_approvals"]() == 1
    http_request.user = AnonymousUser()
    assert context_processors.notifications(http_request) == {}


def test_the_notifications_page_lists_ones_own_and_opening_one_marks_it_read(
    client, use_case, personas, queued
):
    request = open_request(use_case, personas)
    [mine] = notify.notify_approvers(request.pk)
    Notification.objects.create(
        recipient=personas["viewer"],
        use_case=use_case,
        kind=Kind.REQUEST_DECIDED,
        text="Someone else's news",
        url="/",
    )
    html = login(client, personas, "expert").get(reverse("notifications:centre")).content.decode()
    assert "Your approval as domain expert is needed" in html
    assert "Someone else" not in html
    assert "Mark all read" in html
    opened_one = client.get(reverse("notifications:open", args=[mine.pk]))
    assert opened_one.status_code == 302 and opened_one["Location"] == request.get_absolute_url()
    mine.refresh_from_db()
    assert mine.read_at is not None


def test_nobody_opens_another_persons_notification(client, use_case, personas, queued):
    theirs = Notification.objects.create(
        recipient=personas["viewer"],
        use_case=use_case,
        kind=Kind.REQUEST_DECIDED,
        text="News",
        url="/",
    )
    url = reverse("notifications:open", args=[theirs.pk])
    assert login(client, personas, "expert").get(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_a_notification_never_sends_its_reader_off_site(client, use_case, personas):
    odd = Notification.objects.create(
        recipient=personas["expert"],
        use_case=use_case,
        kind=Kind.REQUEST_DECIDED,
        text="News",
        url="//evil.example.com/",
    )
    response = login(client, personas, "expert").get(reverse("notifications:open", args=[odd.pk]))
    assert response["Location"] == reverse("notifications:centre")


def test_marking_all_read_is_a_post(client, personas, use_case):
    url = reverse("notifications:read_all")
    assert login(client, personas, "expert").get(url).status_code == 405


def test_the_notifications_page_has_an_empty_state_and_needs_a_login(client, personas):
    url = reverse("notifications:centre")
    assert client.get(url).status_code == 302
    html = login(client, personas, "outsider").get(url).content.decode()
    assert "No notifications yet" in html


def test_the_notifications_page_costs_the_same_queries_for_3_or_30_rows(client, use_case, personas):
    login(client, personas, "expert")
    counts = []
    for rows in (3, 27):
        Notification.objects.bulk_create(
            Notification(
                recipient=personas["expert"],
                use_case=use_case,
                kind=Kind.REQUEST_DECIDED,
                text=f"News {i}",
                url="/",
            )
            for i in range(rows)
        )
        with CaptureQueriesContext(connection) as context:
            assert client.get(reverse("notifications:centre")).status_code == 200
        counts.append(len(context))
    assert counts[0] == counts[1]


# Settled requests stop asking


def unread_asks() -> list[str]:
    rows = Notification.objects.filter(kind=Kind.APPROVAL_NEEDED, read_at__isnull=True)
    return sorted(row.recipient.get_username() for row in rows)


def test_an_approval_settles_the_asks_it_answered_and_keeps_the_others(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    """High risk: two experts and a manager. Erik's approval fills the expert capacity once
    Eva approved too; maria is still asked until she decides."""
    use_case.risk_tier = "high"
    use_case.save()
    eva = UserFactory(username="eva")
    use_case.members.create(user=eva, role="expert")
    request = opened(use_case, personas, django_capture_on_commit_callbacks)
    assert unread_asks() == ["erik", "eva", "maria"]
    with django_capture_on_commit_callbacks(execute=True):
        requests.approve(request, by=personas["expert"])
    assert unread_asks() == ["eva", "maria"]  # erik decided; two experts are still needed
    with django_capture_on_commit_callbacks(execute=True):
        requests.approve(request, by=eva)
    assert unread_asks() == ["maria"]
    with django_capture_on_commit_callbacks(execute=True):
        decided = requests.approve(request, by=personas["manager"])
    assert decided.status == PromotionRequest.Status.EXECUTED
    assert unread_asks() == []
    # The requester's news stays unread: it is news, not an ask.
    assert Notification.objects.get(kind=Kind.REQUEST_DECIDED).read_at is None


@pytest.mark.parametrize("how", ["reject", "withdraw"])
def test_a_closed_request_asks_nobody_any_more(
    use_case, personas, queued, django_capture_on_commit_callbacks, how
):
    request = opened(use_case, personas, django_capture_on_commit_callbacks)
    assert unread_asks() == ["erik"]
    with django_capture_on_commit_callbacks(execute=True):
        if how == "reject":
            requests.reject(request, by=personas["expert"], comment="Not yet.")
        else:
            requests.withdraw(request, by=personas["data_scientist"])
    assert unread_asks() == []


def test_the_bell_no_longer_counts_an_ask_once_the_request_is_decided(
    client, use_case, personas, queued, django_capture_on_commit_callbacks
):
    request = opened(use_case, personas, django_capture_on_commit_callbacks)
    assert 'data-count="1"' in bell(login(client, personas, "expert"))
    with django_capture_on_commit_callbacks(execute=True):
        requests.withdraw(request, by=personas["data_scientist"])
    html = bell(client)
    assert 'data-count="0"' in html and "waiting for your approval" not in html


# The API


def test_the_api_lists_only_the_callers_notifications_and_marks_them_read(
    api, use_case, personas, queued, django_capture_on_commit_callbacks
):
    use_case.risk_tier = "high"
    use_case.save()
    opened(use_case, personas, django_capture_on_commit_callbacks)
    erik, maria = api("expert"), api("manager")
    [mine] = erik.get("/api/v1/notifications/").json()["results"]
    assert mine["kind"] == "approval_needed" and mine["unread"] is True
    assert mine["use_case"] == "demand-forecast" and mine["read_at"] is None
    assert mine["url"] == PromotionRequest.objects.get().get_absolute_url()
    # Another person's notification does not exist for the caller.
    assert maria.get(f"/api/v1/notifications/{mine['id']}/").status_code == 404
    assert maria.post(f"/api/v1/notifications/{mine['id']}/read").status_code == 404
    assert Notification.objects.get(pk=mine["id"]).read_at is None

    marked = erik.post(f"/api/v1/notifications/{mine['id']}/read")
    assert marked.status_code == 200 and marked.json()["unread"] is False
    assert erik.get("/api/v1/notifications/?unread=true").json()["results"] == []
    assert len(erik.get("/api/v1/notifications/").json()["results"]) == 1

    assert maria.post("/api/v1/notifications/read-all").json() == {"marked": 1}
    assert maria.post("/api/v1/notifications/read-all").json() == {"marked": 0}
    assert api("anonymous").get("/api/v1/notifications/").status_code == 401
