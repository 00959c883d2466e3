"""Chat webhooks, as the worker posts them: once, to the address checked (never a private
one, whatever the name resolves to the second time), without any proxy of the environment,
escaped for Slack, retried on a 429/5xx or no answer and recorded on anything else: a
refusal (of which only the first bytes are read), an untrusted certificate, the task's time
limit. The receiver is real, on loopback, speaking https with a certificate for HOOK's host;
only DNS is faked."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading

import certifi
import pytest
import urllib3.util.connection
from celery.exceptions import SoftTimeLimitExceeded

from notifications.services import delivery, preferences
from notifications.services.preferences import Channels
from notifications.tasks import post_webhook_task
from tests.notifications.factories import (
    PUBLIC_ADDRESS,
    Receiver,
    make,
    resolving_to,
    trusting_the_receiver,
)
from usecases.models import UseCaseMember

MENTIONS_TO_THE_WEBHOOK = {"mention": Channels(True, "off", True)}


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def hooked(personas, monkeypatch, settings, receiver):
    """The expert's mentions go to `receiver`: hooks.example.com resolves to 127.0.0.1 (so
    private hosts are allowed), and the receiver's certificate is trusted."""
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    resolving_to(monkeypatch, "127.0.0.1")
    trusting_the_receiver(monkeypatch)
    preferences.save_preferences(
        personas["expert"], kinds=MENTIONS_TO_THE_WEBHOOK, webhook_url=receiver.url
    )
    return personas["expert"]


def test_a_webhook_posts_the_text_and_link_once_over_verified_https(hooked, receiver, settings):
    settings.SITE_URL = "https://quorum.example.com"
    note = make(hooked, url="/usecases/x/")
    post_webhook_task.apply(args=[note.pk])
    post_webhook_task.apply(args=[note.pk])
    [call] = receiver.calls
    assert call.json() == {"text": "Erik mentioned you\nhttps://quorum.example.com/usecases/x/"}
    assert call.path == "/services/T0/B0/xyz"
    assert call.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert call.headers["User-Agent"] == delivery.USER_AGENT
    note.refresh_from_db()
    assert note.webhook_sent_at is not None and note.webhook_error == ""


def test_the_text_is_escaped_so_slack_reads_it_literally(hooked, receiver, settings):
    settings.SITE_URL = "https://quorum.example.com"
    note = make(hooked, text="<!channel> see <https://evil.example|the fix> & approve", url="/")
    post_webhook_task.apply(args=[note.pk])
    [call] = receiver.calls
    assert call.json()["text"] == (
        "&lt;!channel&gt; see &lt;https://evil.example|the fix&gt; &amp; approve\n"
        "https://quorum.example.com/"
    )


def test_a_webhook_answering_503_is_retried_then_recorded(hooked, receiver):
    receiver.answers[:], receiver.body = [503], b""
    note = make(hooked)
    post_webhook_task.apply(args=[note.pk])
    assert len(receiver.calls) == post_webhook_task.max_retries + 1
    note.refresh_from_db()
    assert note.webhook_failed_at is not None
    assert note.webhook_error == "the receiver answered 503"


def test_a_webhook_answering_404_is_recorded_at_once(hooked, receiver):
    receiver.answers[:], receiver.body = [404], b"no_service"
    note = make(hooked)
    post_webhook_task.apply(args=[note.pk])
    assert len(receiver.calls) == 1
    note.refresh_from_db()
    assert note.webhook_error == "the receiver answered 404: no_service"


def test_only_the_first_bytes_of_an_answer_are_read(hooked, receiver, settings):
    """A receiver announcing 10 MB and sending 1 KB: the worker reads 300 bytes and is done,
    rather than waiting for (or holding) the rest."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.answers[:], receiver.body, receiver.length = [404], b"x" * 1000, 10_000_000
    receiver.hold = 3
    note = make(hooked)
    assert delivery.post_webhook(note.pk) is False  # not raised for a retry
    note.refresh_from_db()
    assert note.webhook_error == "the receiver answered 404: " + "x" * delivery.SNIPPET_BYTES


def test_a_certificate_the_worker_does_not_trust_fails_for_good(hooked, receiver, monkeypatch):
    monkeypatch.setattr("requests.certs.where", certifi.where)  # self-signed: not trusted
    note = make(hooked)
    assert delivery.post_webhook(note.pk) is False  # not raised for a retry
    assert receiver.calls == []
    note.refresh_from_db()
    assert note.webhook_failed_at is not None and note.webhook_sent_at is None
    assert "certificate verify failed" in note.webhook_error


@contextlib.contextmanager
def soft_time_limit_in(seconds: float):
    """What billiard does when a task reaches its soft time limit: SIGUSR1, whose handler
    raises SoftTimeLimitExceeded in the task's thread."""

    def raise_soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, raise_soft_limit)
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


def test_a_call_cut_off_by_the_soft_time_limit_is_recorded_not_left_as_sent(hooked, receiver):
    receiver.length, receiver.hold = 1000, 3  # the answer's body never comes
    note = make(hooked)
    with soft_time_limit_in(0.3):
        assert delivery.post_webhook(note.pk) is False
    note.refresh_from_db()
    assert note.webhook_sent_at is None and note.webhook_failed_at is not None
    assert note.webhook_error == delivery.CUT_OFF


def test_proxies_of_the_environment_are_never_used(hooked, receiver, monkeypatch):
    proxy = socket.create_server(("127.0.0.1", 0))
    proxy.setblocking(False)
    address = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    note = make(hooked)
    try:
        delivery.post_webhook(note.pk, is_last_attempt=True)
        with pytest.raises(BlockingIOError):
            proxy.accept()  # nobody connected to the proxy
    finally:
        proxy.close()
    assert len(receiver.calls) == 1


# Where a webhook may point, at each send


def test_a_webhook_host_resolving_to_a_private_address_is_never_called(
    hooked, receiver, settings, monkeypatch
):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    resolving_to(monkeypatch, "64:ff9b::a00:7")  # 10.0.0.7 behind NAT64
    note = make(hooked)
    post_webhook_task.apply(args=[note.pk])
    assert receiver.calls == []
    note.refresh_from_db()
    assert "resolves to a private address" in note.webhook_error


def test_a_name_resolving_elsewhere_the_second_time_is_called_at_the_address_checked(
    personas, monkeypatch, settings
):
    """DNS rebinding: the name resolves to a public address for the check, then to loopback;
    the connection goes to the public one, checked, and nothing reaches loopback."""
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    answers = iter([PUBLIC_ADDRESS])

    def rebinding(host, port, *args, **kwargs):
        address = host if host in (PUBLIC_ADDRESS, "127.0.0.1") else next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    connected = []
    real_connect = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        if address[0] == PUBLIC_ADDRESS:  # no Internet in tests: nobody answers there
            raise ConnectionRefusedError(111, "Connection refused")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    preferences.save_preferences(
        personas["expert"],
        kinds=MENTIONS_TO_THE_WEBHOOK,
        webhook_url=f"https://rebind.example.com:{port}/hook",
    )
    note = make(personas["expert"])
    try:
        assert delivery.post_webhook(note.pk, is_last_attempt=True) is False
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached loopback
    finally:
        listener.close()
    assert connected == [(PUBLIC_ADDRESS, port)]
    note.refresh_from_db()
    assert note.webhook_failed_at is not None and "refused" in note.webhook_error


def test_nothing_is_posted_of_a_use_case_the_recipient_has_left(hooked, receiver, use_case):
    note = make(hooked, use_case)
    UseCaseMember.objects.filter(use_case=use_case, user=hooked).delete()
    post_webhook_task.apply(args=[note.pk])
    assert receiver.calls == []
    note.refresh_from_db()
    assert note.webhook_error == delivery.HIDDEN


def test_a_host_name_no_resolver_takes_fails_for_good(hooked):
    url = f"https://{'a' * 70}.example.com/hook"  # a label over 63 characters
    preferences.save_preferences(hooked, kinds=MENTIONS_TO_THE_WEBHOOK, webhook_url=url)
    note = make(hooked)
    assert delivery.post_webhook(note.pk) is False  # recorded, not raised
    note.refresh_from_db()
    assert note.webhook_error.endswith("is not a valid host name")
