"""The link's rules without MLflow: what a tracking URI may name, credentials named and never
stored, aliases as MLflow takes them, the scheduler, and the pages' and API's permissions."""

from __future__ import annotations

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone

from mlflow_sync import rest, tasks
from mlflow_sync.models import MlflowLink
from mlflow_sync.services import links, scheduling
from portal.errors import InvalidFields
from usecases.models import AuditEvent

SECRET = "s3cr3t-token-never-shown"


class FakeMlflow:
    """Answers registered-models/get for one model name on 127.0.0.1; records each request's
    path and Authorization header."""

    def __init__(self, model: str = "churn"):
        fake = self
        self.calls: list[tuple[str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.calls.append((self.path, self.headers.get("Authorization")))
                found = f"name={model}" in self.path
                body = {"registered_model": {"name": model}} if found else {"message": "nope"}
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(settings):
    settings.MLFLOW_ALLOWED_HOSTS = ["127.0.0.1"]
    server = FakeMlflow()
    yield server
    server.close()


def save(use_case, personas, uri, **fields):
    fields = {"tracking_uri": uri, "model_name": "churn", **fields}
    return links.save_link(use_case, by=personas["owner"], **fields)


def test_a_private_host_is_refused_unless_an_admin_allowed_it(db, use_case, personas, settings):
    settings.MLFLOW_ALLOWED_HOSTS, settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = [], False
    for uri in ("http://127.0.0.1:5000", "http://10.0.0.8", "http://mlflow.internal", "ftp://x"):
        with pytest.raises(InvalidFields) as refused:
            save(use_case, personas, uri)
        assert refused.value.error_items()[0]["field"] == "tracking_uri"
    with pytest.raises(InvalidFields, match="MLFLOW_ALLOWED_HOSTS"):
        save(use_case, personas, "http://127.0.0.1:5000")
    assert not MlflowLink.objects.exists()


def test_the_link_is_saved_once_mlflow_knows_the_model(db, use_case, personas, fake):
    with pytest.raises(links.InvalidInput, match="no registered model"):
        save(use_case, personas, fake.uri, model_name="other")
    link = save(use_case, personas, fake.uri)
    assert link.aliases == {"production": "champion", "canary": "challenger", "shadow": "shadow"}
    assert fake.calls[-1][0].startswith("/api/2.0/mlflow/registered-models/get?name=churn")
    event = AuditEvent.objects.get(verb=links.VERB_SAVED)
    assert event.after["model_name"] == "churn" and event.actor == personas["owner"]


def test_credentials_are_a_named_set_sent_to_mlflow_and_never_stored_or_audited(
    db, use_case, personas, fake, settings, monkeypatch
):
    settings.MLFLOW_CREDENTIALS = {
        "prod": {"token": SECRET, "hosts": ["127.0.0.1"]},
        "basic": {"username": "u", "password": "p", "hosts": ["127.0.0.1:5000"]},
    }
    with pytest.raises(links.InvalidInput, match="No credentials set"):
        save(use_case, personas, fake.uri, credentials="staging")
    save(use_case, personas, fake.uri, credentials="prod")
    assert fake.calls[-1][1] == f"Bearer {SECRET}"
    links.save_link(use_case, by=personas["owner"], credentials="basic")
    assert fake.calls[-1][1] == "Basic dTpw"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fake.uri)
    links.save_link(use_case, by=personas["owner"], credentials="")
    assert fake.calls[-1][1] == f"Bearer {SECRET}"
    stored = json.dumps(list(MlflowLink.objects.values()), default=str)
    trail = json.dumps(list(AuditEvent.objects.values("before", "after")), default=str)
    assert SECRET not in stored and SECRET not in trail and "dTpw" not in trail


def test_credentials_go_only_to_the_hosts_they_are_for(
    db, use_case, personas, fake, settings, monkeypatch
):
    """An owner cannot have the server's secrets sent to a server of theirs."""
    settings.MLFLOW_CREDENTIALS = {"prod": {"token": SECRET, "hosts": ["mlflow.corp"]}}
    with pytest.raises(links.InvalidInput, match="may not be sent to 127.0.0.1"):
        save(use_case, personas, fake.uri, credentials="prod")
    settings.MLFLOW_CREDENTIALS = {"nohosts": {"token": SECRET}}
    with pytest.raises(links.InvalidInput, match="may not be sent"):
        save(use_case, personas, fake.uri, credentials="nohosts")
    assert fake.calls == []
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.corp")
    save(use_case, personas, fake.uri)  # the environment's token is for mlflow.corp only
    assert fake.calls[-1][1] is None


@pytest.mark.parametrize(
    "uri",
    ["{uri}/admin/secret#", "{uri}/x?y=1", "{uri}/x;params", "{uri}?"],
)
def test_a_tracking_uri_names_no_query_or_fragment(db, use_case, personas, fake, uri):
    """Else the API's path would land in the query or fragment, and the owner would choose
    the path called on an allowed internal host."""
    with pytest.raises(InvalidFields, match="without a query"):
        save(use_case, personas, uri.format(uri=fake.uri))
    assert fake.calls == []


def test_the_api_path_follows_the_tracking_uris_own_path():
    assert rest.api_url("https://h.example/mlflow/", "runs/get?run_id=1") == (
        "https://h.example/mlflow/api/2.0/mlflow/runs/get?run_id=1"
    )


def test_a_model_name_mlflows_search_cannot_express_is_refused(db, use_case, personas, fake):
    for name in ("back\\slash", 'it\'s "quoted"'):
        with pytest.raises(InvalidFields, match="backslash or both kinds of quote"):
            save(use_case, personas, fake.uri, model_name=name)


def test_a_search_that_never_ends_is_stopped(monkeypatch):
    api = rest.Mlflow("https://mlflow.example.com")
    monkeypatch.setattr(api, "get", lambda *a, **k: {"model_versions": [], "next_page_token": "t"})
    with pytest.raises(rest.MlflowError, match="repeated a page"):
        api.versions("churn")


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        ({"production": "latest"}, "reserves"),
        ({"production": "v3"}, "reserves"),
        ({"production": "best model"}, "letters, digits"),
        ({"production": "champ", "canary": "champ"}, "used twice"),
        ({"staging": "x"}, "production, canary and shadow"),
    ],
)
def test_aliases_follow_mlflows_rules(db, use_case, personas, fake, aliases, message):
    with pytest.raises(InvalidFields, match=message):
        save(use_case, personas, fake.uri, aliases=aliases)


def test_a_blank_alias_means_that_stage_sets_none(db, use_case, personas, fake):
    link = save(use_case, personas, fake.uri, aliases={"production": "prod", "canary": ""})
    assert link.aliases == {"production": "prod", "canary": "", "shadow": ""}


def test_scheduled_imports_are_due_after_their_interval(db, use_case, personas, fake):
    link = save(use_case, personas, fake.uri)
    assert scheduling.due_links() == []  # on demand only
    MlflowLink.objects.filter(pk=link.pk).update(import_every_hours=6)
    assert scheduling.due_links() == [link.pk]  # never imported
    now = timezone.now()
    MlflowLink.objects.filter(pk=link.pk).update(last_import_at=now - datetime.timedelta(hours=5))
    assert scheduling.due_links(now) == []
    MlflowLink.objects.filter(pk=link.pk).update(last_import_at=now - datetime.timedelta(hours=6))
    assert scheduling.due_links(now) == [link.pk]


def test_a_sync_backs_off_exponentially(settings):
    settings.MLFLOW_SYNC_BACKOFF_SECONDS = 10
    assert [scheduling.backoff(n) for n in range(4)] == [10, 20, 40, 80]
    assert scheduling.backoff(20) == 3600


def test_mlflows_error_message_is_what_the_user_reads():
    from portal.outbound import Answer

    body = json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Model x not found"})
    answer = Answer(code=404, error=f"the receiver answered 404: {body}")
    assert rest._reason(answer) == "MLflow answered 404: Model x not found"
    assert "refused the credentials" in rest._reason(Answer(code=401, error="x: denied"))
    assert rest.search_filter("it's") == 'name="it\'s"'


# Pages and API ------------------------------------------------------------------------------

API = "/api/v1/usecases/demand-forecast/mlflow"


@pytest.mark.parametrize(
    ("who", "read", "write", "import_"),
    [
        ("owner", 200, 200, 202),
        ("admin", 200, 200, 202),
        ("data_scientist", 200, 403, 202),
        ("expert", 200, 403, 403),
        ("viewer", 200, 403, 403),
        ("manager", 200, 403, 403),
        ("outsider", 404, 404, 404),
    ],
)
def test_the_api_answers_each_role(
    db,
    client,
    use_case,
    personas,
    fake,
    who,
    read,
    write,
    import_,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    save(use_case, personas, fake.uri)
    queued = []
    monkeypatch.setattr(tasks.import_link, "delay", lambda *args: queued.append(args))
    client.force_login(personas[who])
    assert client.get(API).status_code == read
    body = {"model_name": "churn", "import_every_hours": 24}
    answer = client.patch(API, body, content_type="application/json")
    assert answer.status_code == write, answer.content
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/import").status_code == import_
    assert client.get(f"{API}/versions/").status_code == read
    assert client.get(f"{API}/syncs/").status_code == read
    assert len(queued) == (1 if import_ == 202 else 0)
    monkeypatch.setattr(tasks.sync_aliases, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/syncs/").status_code == import_
    assert len(queued) == (2 if import_ == 202 else 0)


def test_the_api_refuses_bad_input_with_a_message_per_field(db, client, use_case, personas, fake):
    client.force_login(personas["owner"])
    assert client.get(API).status_code == 404  # not linked yet
    body = {"tracking_uri": "javascript:alert(1)", "model_name": "", "aliases": {"canary": "v1"}}
    answer = client.put(API, body, content_type="application/json")
    assert answer.status_code == 400
    fields = {item.get("field") for item in answer.json()["errors"]}
    assert {"model_name"} <= fields
    body = {
        "tracking_uri": "javascript:alert(1)",
        "model_name": "churn",
        "aliases": {"canary": "v1"},
    }
    answer = client.put(API, body, content_type="application/json")
    assert answer.status_code == 400
    assert {"tracking_uri", "aliases"} <= {item.get("field") for item in answer.json()["errors"]}
    body = {"tracking_uri": fake.uri, "model_name": "churn\x00"}
    assert client.put(API, body, content_type="application/json").status_code == 400
    assert not MlflowLink.objects.exists()
    body = {"tracking_uri": fake.uri, "model_name": "churn"}
    answer = client.put(API, body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["versions"] == {
        "imported": 0,
        "deleted_in_mlflow": 0,
    }
    assert "credentials" in answer.json() and SECRET not in answer.content.decode()
    assert client.delete(API).status_code == 204
    assert client.delete(API).status_code == 404


def test_the_page_shows_the_form_to_the_owner_and_the_link_to_every_member(
    db, client, use_case, personas, fake
):
    url = reverse("mlflow_sync:link", args=[use_case.slug])
    client.force_login(personas["viewer"])
    page = client.get(url).content.decode()
    assert "Not linked" in page and 'id="link-form"' not in page
    assert client.post(url, {"tracking_uri": fake.uri}).status_code == 403

    client.force_login(personas["owner"])
    answer = client.post(url, {"tracking_uri": "http://", "model_name": "churn"})
    assert answer.status_code == 200 and "Nothing is saved" in answer.content.decode()
    form = {
        "tracking_uri": fake.uri,
        "model_name": "churn",
        "credentials": "",
        "production_alias": "champion",
        "canary_alias": "",
        "shadow_alias": "shadow",
        "import_every_hours": "24",
    }
    assert client.post(url, form).status_code == 302
    link = MlflowLink.objects.get()
    assert link.aliases == {"production": "champion", "canary": "", "shadow": "shadow"}
    assert link.import_every_hours == 24

    client.force_login(personas["viewer"])
    page = client.get(url).content.decode()
    assert "Linked to" in page and "Import now" not in page and "Nothing imported yet" in page
    client.force_login(personas["data_scientist"])
    assert "Import now" in client.get(url).content.decode()
    history = client.get(reverse("usecases:history", args=[use_case.slug])).content.decode()
    assert "linked the use case to MLflow" in history
