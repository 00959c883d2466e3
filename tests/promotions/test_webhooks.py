"""The deployment webhook: after each executed change a signed JSON call to the use case's
URL, retried with backoff by a Celery task, every delivery listed for the owner with a
"Send again" button (DESIGN.md; docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.errors import InvalidInput
from promotions.models import WebhookDelivery
from promotions.services import execution, requests, webhooks
from promotions.tasks import deliver_webhook_task
from tests.conftest import login
from tests.promotions.evidence import ready_version
from tests.promotions.factories import (
    SECRET,
    Receiver,
    executed_promotion,
    open_request,
    recording_tasks,
    webhook_policy,
)
from usecases.models import AuditEvent

Status = WebhookDelivery.Status
DELIVER = "promotions.deliver_webhook"


@pytest.fixture(autouse=True)
def _fast_webhooks(settings):
    """The receivers run on loopback; retries wait 0 s (the schedule is tested apart)."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    settings.WEBHOOK_BACKOFF_SECONDS = 0
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_MAX_ATTEMPTS = 5


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def queued(monkeypatch):
    with recording_tasks(monkeypatch) as queued:
        yield queued


def promote(use_case, personas, django_capture_on_commit_callbacks, name="2.0.0"):
    """Execute a promotion and run what its commit triggers (the tasks are only queued)."""
    with django_capture_on_commit_callbacks(execute=True):
        return executed_promotion(use_case, personas, name)


def signature_ok(call, secret: str = SECRET) -> bool:
    """The receiver's own check, written from docs/webhooks.md (not with webhooks.verify)."""
    parts = dict(item.split("=", 1) for item in call.headers["X-Quorum-Signature"].split(","))
    signed = parts["t"].encode() + b"." + call.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) < 60
    return fresh and hmac.compare_digest(expected, parts["v1"])


def test_the_receiver_gets_a_signed_body_with_the_change_and_the_deployment(
    use_case, personas, receiver, queued, django_capture_on_commit_callbacks
):
    webhook_policy(use_case, receiver.url)
    request = promote(use_case, personas, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert queued.of(DELIVER) == [delivery.pk]
    assert receiver.calls == []  # the approval only queued it

    deliver_webhook_task.apply(args=[delivery.pk])  # what the worker does

    [call] = receiver.calls
    assert call.path == "/hooks/quorum"
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["X-Quorum-Event"] == "stages.changed"
    assert call.headers["X-Quorum-Delivery"] == str(delivery.pk)
    assert signature_ok(call)
    assert not signature_ok(call, secret="another-secret-of-16+")
    assert call.body == delivery.body.encode()  # exactly the bytes stored
    body = json.loads(call.body)
    assert body["event"] == "stages.changed"
    assert body["use_case"] == "demand-forecast"
    [change] = body["changes"]
    assert change["version"] == "2.0.0"
    assert (change["from"], change["to"]) == ("registered", "shadow")
    assert change["request"] == request.pk and change["rollback"] is False
    assert change["traffic_percent"] is None and change["at"]
    assert body["deployment"]["production"] is None and body["deployment"]["canary"] is None
    assert [v["version"] for v in body["deployment"]["shadow"]] == ["2.0.0"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        Status.SUCCEEDED,
        1,
        200,
    )
    assert delivery.delivered_at is not None and delivery.error == ""


def test_a_receiver_failing_twice_then_succeeding_gets_one_delivery_that_succeeded(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    receiver = Receiver(answers=[500, 503, 200])
    try:
        webhook_policy(use_case, receiver.url)
        promote(use_case, personas, django_capture_on_commit_callbacks)
        [delivery_id] = queued.of(DELIVER)
        deliver_webhook_task.apply(args=[delivery_id])
    finally:
        receiver.close()
    delivery = WebhookDelivery.objects.get()
    assert delivery.pk == delivery_id
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        Status.SUCCEEDED,
        3,
        200,
    )
    assert len(receiver.calls) == 3
    assert {call.headers["X-Quorum-Delivery"] for call in receiver.calls} == {str(delivery_id)}
    assert {call.body for call in receiver.calls} == {delivery.body.encode()}
    assert all(signature_ok(call) for call in receiver.calls)


def test_a_receiver_that_times_out_does_not_block_the_approval(
    use_case, personas, queued, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver = Receiver(delay=3)
    try:
        webhook_policy(use_case, receiver.url)
        request = open_request(use_case, personas)
        with django_capture_on_commit_callbacks(execute=True):
            requests.approve(request, by=personas["expert"])
        # The approval committed with the call only queued: nothing reached the receiver.
        assert receiver.calls == []
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == (Status.PENDING, 0)
        assert queued.of(DELIVER) == [delivery.pk]

        deliver_webhook_task.apply(args=[delivery.pk])
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 2)
    assert delivery.response_code is None
    assert delivery.error == "no answer within 0.5 s"


def test_a_permanent_refusal_is_recorded_without_retrying(use_case, personas, queued):
    receiver = Receiver(answers=[410])
    try:
        webhook_policy(use_case, receiver.url)
        delivery = webhooks.queue_stage_changes(use_case.pk, [])
        deliver_webhook_task.apply(args=[delivery.pk])
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Status.FAILED, 1, 410)
    assert delivery.error == "the receiver answered 410: receiver says no"
    assert len(receiver.calls) == 1


def test_a_redirect_is_not_followed(use_case, personas, queued):
    receiver = Receiver(answers=[302])
    try:
        webhook_policy(use_case, receiver.url)
        delivery = webhooks.queue_stage_changes(use_case.pk, [])
        deliver_webhook_task.apply(args=[delivery.pk])
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code) == (Status.FAILED, 302)
    assert "not followed" in delivery.error


def test_a_second_run_of_the_task_sends_nothing_more(use_case, receiver, queued):
    webhook_policy(use_case, receiver.url)
    delivery = webhooks.queue_stage_changes(use_case.pk, [])
    deliver_webhook_task.apply(args=[delivery.pk])
    deliver_webhook_task.apply(args=[delivery.pk])  # a duplicate delivery of the message
    assert len(receiver.calls) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_a_delivery_another_worker_holds_is_left_alone(use_case, receiver, queued):
    webhook_policy(use_case, receiver.url)
    delivery = webhooks.queue_stage_changes(use_case.pk, [])
    held = timezone.now() + webhooks.LEASE
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1, claimed_until=held)
    assert webhooks.deliver(delivery.pk) == ""
    assert receiver.calls == []


def test_the_retries_wait_longer_each_time(use_case, receiver, settings, queued):
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    receiver.answers[:] = [503]
    webhook_policy(use_case, receiver.url)
    delivery = webhooks.queue_stage_changes(use_case.pk, [])
    waits = []
    for _ in range(4):
        with pytest.raises(webhooks.RetryLater) as retry:
            webhooks.deliver(delivery.pk)
        waits.append(retry.value.countdown)
    assert waits == [10, 30, 90, 270]
    assert webhooks.deliver(delivery.pk) == Status.FAILED  # the fifth and last attempt
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code) == (5, 503)


def test_a_receiver_dripping_its_answer_past_the_tasks_soft_limit_is_tried_again(
    use_case, receiver, queued, monkeypatch
):
    webhook_policy(use_case, receiver.url)
    delivery = webhooks.queue_stage_changes(use_case.pk, [])

    def dripping(*args):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(webhooks, "post", dripping)
    with pytest.raises(webhooks.RetryLater):
        webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.claimed_until) == (Status.PENDING, 1, None)
    assert delivery.error == "the receiver kept the call open too long"


def test_no_webhook_url_means_no_delivery(
    use_case, personas, queued, django_capture_on_commit_callbacks
):
    promote(use_case, personas, django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 0
    assert queued.of(DELIVER) == []


def test_a_rollback_is_sent_with_its_flag_and_the_deployment_it_leaves(
    use_case, personas, receiver, queued, django_capture_on_commit_callbacks
):
    webhook_policy(use_case, receiver.url)
    for name in ("1.0.0", "2.0.0"):
        version = ready_version(use_case, personas, name, stage="shadow")
        request = requests.open_request(
            use_case,
            by=personas["data_scientist"],
            version=version,
            target_stage="production",
            rationale="Better on every store.",
        )
        requests.approve(request, by=personas["expert"])
    with django_capture_on_commit_callbacks(execute=True):
        execution.rollback(use_case, by=personas["owner"], reason="Errors in stores")
    delivery = WebhookDelivery.objects.get()  # the promotions' commits ran nothing here
    body = json.loads(delivery.body)
    assert [
        (c["version"], c["from"], c["to"], c["rollback"], c["request"]) for c in body["changes"]
    ] == [
        ("2.0.0", "production", "archived", True, None),
        ("1.0.0", "archived", "production", True, None),
    ]
    assert body["deployment"]["production"]["version"] == "1.0.0"
    assert queued.of(DELIVER) == [delivery.pk]


# Signing


def test_a_signature_checks_the_body_the_secret_and_the_time():
    body = '{"event":"stages.changed"}'
    now = int(time.time())
    header = webhooks.sign(SECRET, body, now)
    assert header.startswith(f"t={now},v1=")
    assert webhooks.verify(SECRET, body, header)
    assert not webhooks.verify(SECRET, body.replace("stages", "stage"), header)
    assert not webhooks.verify("another secret, 16+", body, header)
    assert not webhooks.verify(SECRET, body, webhooks.sign(SECRET, body, now - 600))
    assert not webhooks.verify(SECRET, body, "t=abc,v1=00")


# Where a webhook may point


@pytest.mark.parametrize(
    "url",
    [
        "ftp://deploy.example.com/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "gopher://deploy.example.com/",
        "https://",
        "https://user:password@deploy.example.com/hook",
        "https://deploy.example.com:99999/hook",
    ],
)
def test_a_webhook_url_must_be_http_or_https_to_a_host(url):
    with pytest.raises(InvalidInput) as refused:
        webhooks.check_url(url)
    assert refused.value.field == "webhook_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://LOCALHOST./hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://deploy.internal/hook",
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "http://[::10.0.0.1]/hook",
    ],
)
def test_private_and_loopback_hosts_are_refused_unless_allowed(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(InvalidInput, match="public addresses only"):
        webhooks.check_url(url)
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    webhooks.check_url(url)


def test_a_public_https_url_is_accepted(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    webhooks.check_url("https://deploy.example.com/hooks/quorum?team=ml")


def fake_dns(monkeypatch, name: str, address: str) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, args[0]))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_resolving_to_a_private_address_is_refused_when_sending(
    use_case, receiver, settings, monkeypatch, queued
):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    fake_dns(monkeypatch, "hooks.example.com", "127.0.0.1")
    url = f"http://hooks.example.com:{receiver.port}/hooks/quorum"
    webhook_policy(use_case, url)
    webhooks.check_url(url)  # a public-looking name passes the check on saving
    delivery = webhooks.queue_stage_changes(use_case.pk, [])
    deliver_webhook_task.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and delivery.attempts == 1
    assert "resolves to a private address" in delivery.error
    assert receiver.calls == []


def test_the_call_goes_to_the_address_checked_with_the_hosts_name(
    use_case, receiver, monkeypatch, queued
):
    fake_dns(monkeypatch, "hooks.example.com", "127.0.0.1")
    webhook_policy(use_case, f"http://hooks.example.com:{receiver.port}/hooks/quorum?x=1")
    delivery = webhooks.queue_stage_changes(use_case.pk, [])
    deliver_webhook_task.apply(args=[delivery.pk])
    [call] = receiver.calls
    assert call.path == "/hooks/quorum?x=1"
    assert call.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert call.headers["User-Agent"] == webhooks.USER_AGENT


# Deliveries page and "Send again"


def failed_delivery(use_case, url: str) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        use_case=use_case,
        event="stages.changed",
        body='{"event":"stages.changed","id":"e1"}',
        url=url,
        status=Status.FAILED,
        attempts=5,
        response_code=502,
        error="the receiver answered 502",
    )


def test_the_owner_sees_each_delivery_with_its_status_attempts_and_answer(
    client, use_case, personas, receiver
):
    webhook_policy(use_case, receiver.url)
    failed = failed_delivery(use_case, receiver.url)
    page = login(client, personas, "owner").get(
        reverse("promotions:deliveries", args=[use_case.slug])
    )
    html = page.content.decode()
    assert f"#{failed.pk}" in html
    assert "Failed" in html and "502" in html and "the receiver answered 502" in html
    assert reverse("promotions:delivery_resend", args=[use_case.slug, failed.pk]) in html
    assert SECRET not in html


def test_send_again_makes_a_new_delivery_of_the_same_body_and_sends_it(
    client, use_case, personas, receiver, queued, django_capture_on_commit_callbacks
):
    webhook_policy(use_case, receiver.url)
    failed = failed_delivery(use_case, "http://old.example.com/hook")
    url = reverse("promotions:delivery_resend", args=[use_case.slug, failed.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = login(client, personas, "owner").post(url, follow=True)
    assert f"Delivery #{failed.pk} is sent again" in response.content.decode()
    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.body, again.url, again.resent_from, again.resent_by) == (
        failed.body,
        receiver.url,  # the URL set now
        failed,
        personas["owner"],
    )
    assert queued.of(DELIVER) == [again.pk]
    assert AuditEvent.objects.filter(verb="webhook.resent").count() == 1
    deliver_webhook_task.apply(args=[again.pk])
    again.refresh_from_db()
    assert again.status == Status.SUCCEEDED
    assert receiver.calls[0].body == failed.body.encode()
    failed.refresh_from_db()
    assert failed.status == Status.FAILED  # its own history stays


def test_a_pending_delivery_cannot_be_sent_again(client, use_case, personas, receiver, queued):
    webhook_policy(use_case, receiver.url)
    pending = webhooks.queue_stage_changes(use_case.pk, [])
    url = reverse("promotions:delivery_resend", args=[use_case.slug, pending.pk])
    response = login(client, personas, "owner").post(url)
    assert response.status_code == 200
    assert "still being sent" in response.content.decode()
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 302), ("admin", 302), ("expert", 403), ("manager", 403), ("outsider", 404)],
)
def test_only_owners_send_a_delivery_again(
    client, use_case, personas, receiver, queued, who, status
):
    webhook_policy(use_case, receiver.url)
    failed = failed_delivery(use_case, receiver.url)
    url = reverse("promotions:delivery_resend", args=[use_case.slug, failed.pk])
    assert login(client, personas, who).post(url).status_code == status


def test_the_deliveries_page_costs_the_same_queries_for_3_or_30_rows(
    client, use_case, personas, receiver
):
    webhook_policy(use_case, receiver.url)
    login(client, personas, "owner")
    url = reverse("promotions:deliveries", args=[use_case.slug])
    counts = []
    for rows in (3, 27):
        for _ in range(rows):
            failed = failed_delivery(use_case, receiver.url)
            WebhookDelivery.objects.create(
                use_case=use_case,
                event="stages.changed",
                body="{}",
                url=receiver.url,
                resent_from=failed,
                resent_by=personas["owner"],
            )
        with CaptureQueriesContext(connection) as context:
            assert client.get(url).status_code == 200
        counts.append(len(context))
    assert counts[0] == counts[1]
