"""The promotions API: requests, decisions, the deployment lookup with its ETag, rollback,
and who may do what."""

from __future__ import annotations

import pytest

from promotions.models import PromotionRequest
from registry.models import ModelVersion
from tests.conftest import expected_status
from tests.factories import make_version
from tests.promotions import evidence

Stage = ModelVersion.Stage
BASE = "/api/v1/usecases/demand-forecast"
PERSONAS = [
    "anonymous",
    "owner",
    "expert",
    "data_scientist",
    "viewer",
    "outsider",
    "manager",
    "admin",
]


def create(api, who="data_scientist", **body):
    payload = {"version": "2.0.0", "target_stage": "shadow", "rationale": "Better.", **body}
    return api(who).post(f"{BASE}/promotions/", payload, format="json")


def test_open_read_approve_and_the_deployment_shows_it(use_case, personas, api):
    evidence.ready_version(use_case, personas, stage=Stage.CANARY)
    opened = create(api, target_stage="production")
    assert opened.status_code == 201, opened.json()
    body = opened.json()
    assert body["status"] == "pending" and body["waiting_for"] == {"expert": 1}
    assert {g["kind"]: g["status"] for g in body["gates"]} == {
        "evaluation": "passed",
        "review": "passed",
        "data_quality": "passed",
    }
    assert all(
        g["evaluation"] or g["campaign"] or g["kind"] == "data_quality" for g in body["gates"]
    )
    url = f"{BASE}/promotions/{body['id']}/"
    assert api("viewer").get(url).json()["id"] == body["id"]
    approved = api("expert").post(f"{url}approve", {"comment": "Looks right."}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "executed"
    deployment = api("viewer").get(f"{BASE}/deployment")
    assert deployment.status_code == 200
    assert deployment.json()["production"]["version"] == "2.0.0"
    assert deployment.json()["canary"] is None and deployment.json()["shadow"] == []


def test_deployment_etag_answers_304_until_something_changes(use_case, personas, api):
    client = api("viewer")
    first = client.get(f"{BASE}/deployment")
    etag = first["ETag"]
    same = client.get(f"{BASE}/deployment", HTTP_IF_NONE_MATCH=etag)
    assert same.status_code == 304 and same.content == b""
    version = make_version(use_case, "2.0.0", personas["owner"])
    create(api)
    api("expert").post(
        f"{BASE}/promotions/{PromotionRequest.objects.get().pk}/approve", {}, format="json"
    )
    version.refresh_from_db()
    # No evidence: the gate is incomplete, so execution refused and nothing changed.
    assert version.stage == Stage.REGISTERED
    assert client.get(f"{BASE}/deployment", HTTP_IF_NONE_MATCH=etag).status_code == 304
    evidence.at_stage(version, Stage.SHADOW)
    changed = client.get(f"{BASE}/deployment", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert [v["version"] for v in changed.json()["shadow"]] == ["2.0.0"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_stage": "production"}, "target_stage"),
        ({"target_stage": "canary", "traffic_percent": 10}, "target_stage"),
        ({"target_stage": "shadow", "traffic_percent": 60}, "traffic_percent"),
        ({"version": "9.9.9"}, "version"),
        ({"rationale": ""}, "rationale"),
        ({"target_stage": "archived"}, "target_stage"),
    ],
)
def test_bad_requests_are_400_naming_the_field(use_case, personas, api, body, field):
    make_version(use_case, "2.0.0", personas["owner"])
    response = create(api, **body)
    assert response.status_code == 400, response.json()
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not PromotionRequest.objects.exists()


def test_own_twice_and_decided_are_403_or_409(use_case, personas, api):
    make_version(use_case, "2.0.0", personas["owner"])
    url = f"{BASE}/promotions/{create(api).json()['id']}/"
    own = api("data_scientist").post(f"{url}approve", {}, format="json")
    assert own.status_code == 403 and "own request" in own.json()["detail"]
    assert api("expert").post(f"{url}approve", {}, format="json").status_code == 200
    again = api("expert").post(f"{url}approve", {}, format="json")
    assert again.status_code == 409
    no_comment = api("manager").post(f"{url}reject", {}, format="json")
    assert no_comment.status_code == 400


def opened_request(use_case, personas) -> PromotionRequest:
    from promotions.services import requests

    version = make_version(use_case, "2.0.0", personas["owner"])
    return requests.open_request(
        use_case, by=personas["owner"], version=version, target_stage="shadow", rationale="Go."
    )


# Who may take each step: expected success statuses per persona. The request is opened by
# the owner; the use case is low risk (one expert decides).
MATRIX = {
    "list": ({"owner", "expert", "data_scientist", "viewer", "manager", "admin"}, 200),
    "create": ({"owner", "data_scientist", "admin"}, 201),
    "approve": ({"expert"}, 200),
    "reject": ({"expert", "data_scientist", "manager", "admin"}, 200),
    "withdraw": ({"owner"}, 200),
    "override": ({"manager", "admin"}, 200),
    "rollback": ({"owner", "manager", "admin"}, 409),  # allowed, but nothing to roll back to
    "deployment": ({"owner", "expert", "data_scientist", "viewer", "manager", "admin"}, 200),
}


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("step", list(MATRIX))
def test_permission_matrix(use_case, personas, api, who, step):
    allowed, ok = MATRIX[step]
    request = opened_request(use_case, personas)
    make_version(use_case, "3.0.0", personas["owner"])
    url = f"{BASE}/promotions/{request.pk}/"
    client = api(who)
    calls = {
        "list": lambda: client.get(f"{BASE}/promotions/"),
        "create": lambda: client.post(
            f"{BASE}/promotions/",
            {"version": "3.0.0", "target_stage": "shadow", "rationale": "Go."},
            format="json",
        ),
        "approve": lambda: client.post(f"{url}approve", {}, format="json"),
        "reject": lambda: client.post(f"{url}reject", {"comment": "No."}, format="json"),
        "withdraw": lambda: client.post(f"{url}withdraw", {}, format="json"),
        "override": lambda: client.post(f"{url}override", {"justification": "Ok."}, format="json"),
        "rollback": lambda: client.post(f"{BASE}/rollback", {"reason": "Bad."}, format="json"),
        "deployment": lambda: client.get(f"{BASE}/deployment"),
    }
    response = calls[step]()
    expected = expected_status(who, allowed, ok)
    if step == "approve" and who in ("data_scientist", "manager", "admin"):
        expected = 409  # they may decide, but a low-risk request needs an expert's approval
    assert response.status_code == expected, (who, step, response.content[:300])
