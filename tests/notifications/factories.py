"""Helpers of the notification centre's tests: a notification written directly, a recorder of
the queued delivery tasks, a resolver answering a fixed address (the only DNS a test needs),
and a chat webhook receiver on loopback speaking https with a certificate for HOOK's host."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from notifications import tasks
from notifications.models import Notification

HOOK = "https://hooks.example.com/services/T0/B0/xyz"
PUBLIC_ADDRESS = "93.184.216.34"
# A self-signed certificate (and its key) for hooks.example.com, valid until 2126: trusted
# by `trusting_the_receiver`, refused otherwise.
CERTIFICATE = Path(__file__).with_name("hooks.example.com.pem")


def make(recipient, use_case=None, **fields) -> Notification:
    """A notification of `recipient`, written without the service."""
    fields = {"kind": "mention", "text": "Erik mentioned you", "url": "/", **fields}
    return Notification.objects.create(recipient=recipient, use_case=use_case, **fields)


class Queued(list):
    """(task name, args) of every notification task sent to the broker; nothing is sent."""

    def of(self, name: str) -> list:
        return [args[0] if len(args) == 1 else args for task, args in self if task == name]


@contextlib.contextmanager
def recording_tasks(monkeypatch):
    queued = Queued()
    for task in (
        tasks.send_email_task,
        tasks.post_webhook_task,
        tasks.send_digest_task,
        tasks.send_digests_task,
    ):

        def record(args=None, kwargs=None, _name=task.name, **options):
            queued.append((_name, tuple(args or ())))

        monkeypatch.setattr(task, "apply_async", record)
    yield queued


def resolving_to(monkeypatch, address: str = PUBLIC_ADDRESS) -> None:
    """Every host name resolves to `address`."""

    def getaddrinfo(host, port, *args, **kwargs):
        host.encode("idna")  # as the real one does first: UnicodeError for a bad label
        return [(2, 1, 6, "", (address, port))]

    monkeypatch.setattr("portal.outbound.socket.getaddrinfo", getaddrinfo)


def trusting_the_receiver(monkeypatch) -> None:
    """Certificates are checked against CERTIFICATE alone (the receiver's)."""
    monkeypatch.setattr("requests.certs.where", lambda: str(CERTIFICATE))


@dataclass
class Call:
    path: str
    headers: dict
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A chat webhook receiver on 127.0.0.1 (https unless `tls` is off): answers `answers` in
    turn (the last one repeats) with `body`, announcing `length` bytes of it (more than it
    sends, to stall), then holds the connection `hold` seconds; records every call."""

    answers: list[int] = field(default_factory=lambda: [200])
    body: bytes = b"ok"
    length: int | None = None
    hold: float = 0.0
    tls: bool = True
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                size = int(self.headers.get("Content-Length", 0))
                call = Call(self.path, dict(self.headers.items()), self.rfile.read(size))
                receiver.calls.append(call)
                answers = receiver.answers
                self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(receiver.length or len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)
                self.wfile.flush()
                time.sleep(receiver.hold)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the client hung up or refused the certificate: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(CERTIFICATE)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        """HOOK on this receiver's port (resolve hooks.example.com to 127.0.0.1)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://hooks.example.com:{self.port}/services/T0/B0/xyz"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
