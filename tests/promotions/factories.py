"""Helpers of the notification, webhook and policy tests: a promotion executed through the
services, a policy with a webhook, a local HTTP receiver, and a recorder of queued tasks."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from promotions import tasks
from promotions.models import PromotionPolicy, PromotionRequest
from promotions.services import requests
from tests.promotions.evidence import ready_version

SECRET = "whsec-0123456789abcdef-tests"


def webhook_policy(use_case, url: str, secret: str = SECRET, **fields) -> PromotionPolicy:
    """The use case's policy with a webhook (set directly: the settings tests use the form)."""
    return PromotionPolicy.objects.update_or_create(
        use_case=use_case, defaults={"webhook_url": url, "webhook_secret": secret, **fields}
    )[0]


def open_request(use_case, personas, name: str = "2.0.0", target: str = "shadow", **kwargs):
    """A request by the data scientist for a version whose every gate passes."""
    version = ready_version(use_case, personas, name)
    return requests.open_request(
        use_case,
        by=personas["data_scientist"],
        version=version,
        target_stage=target,
        rationale="Better on every store.",
        **kwargs,
    )


def executed_promotion(use_case, personas, name: str = "2.0.0") -> PromotionRequest:
    """A low-risk promotion to shadow, opened and approved by the expert: executed."""
    request = open_request(use_case, personas, name)
    request = requests.approve(request, by=personas["expert"])
    assert request.status == PromotionRequest.Status.EXECUTED, request.outcome_note
    return request


class Queued(list):
    """(task name, args) of every task sent to the broker; nothing is sent."""

    def of(self, name: str) -> list[int]:
        return [args[0] for task, args in self if task == name]


@contextlib.contextmanager
def recording_tasks(monkeypatch):
    queued = Queued()
    for task in (tasks.deliver_webhook_task, tasks.send_notification_email_task):

        def record(args=None, kwargs=None, _name=task.name, **options):
            queued.append((_name, tuple(args or ())))

        monkeypatch.setattr(task, "apply_async", record)
    yield queued


@dataclass
class Call:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers `answers` in turn (the last one repeats),
    after `delay` seconds; records every call."""

    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.calls.append(Call(self.path, dict(self.headers.items()), body))
                time.sleep(receiver.delay)
                status = (
                    receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the client gave up (a timeout test): nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/quorum"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json(self, index: int = -1) -> dict:
        return json.loads(self.calls[index].body)
