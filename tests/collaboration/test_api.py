"""The comments and activity API: the permission matrix, per-field errors, the thread
filter, edits and deletions, and constant queries."""

import datetime

import pytest

from collaboration.models import Comment
from collaboration.services import comments
from tests.collaboration.conftest import post
from tests.conftest import PERSONAS, expected_status, fields_in, queries_for

READERS = {"viewer", "data_scientist", "expert", "owner", "manager", "admin"}


def comments_url(use_case, suffix: str = "") -> str:
    return f"/api/v1/usecases/{use_case.slug}/comments/{suffix}"


def activity_url(use_case) -> str:
    return f"/api/v1/usecases/{use_case.slug}/activity/"


@pytest.mark.parametrize("who", PERSONAS)
def test_every_reader_may_list_and_post_comments(api, personas, use_case, who):
    post(use_case, personas["expert"], "First")
    client = api(who)
    listed = client.get(comments_url(use_case))
    assert listed.status_code == expected_status(who, READERS, 200)
    assert client.get(activity_url(use_case)).status_code == expected_status(who, READERS, 200)
    body = {"target": f"use_case:{use_case.pk}", "body": f"By {who}"}
    created = client.post(comments_url(use_case), body, format="json")
    assert created.status_code == expected_status(who, READERS, 201)
    if created.status_code == 201:
        assert created.json()["author"] == personas[who].get_username()


@pytest.mark.parametrize("who", PERSONAS)
def test_edit_is_the_authors_and_delete_the_authors_owners_or_admins(api, personas, use_case, who):
    comment = post(use_case, personas["expert"], "Mine")
    client = api(who)
    edited = client.patch(comments_url(use_case, f"{comment.pk}/"), {"body": "x"}, format="json")
    assert edited.status_code == expected_status(who, {"expert"}, 200)
    deleted = client.delete(comments_url(use_case, f"{comment.pk}/"))
    assert deleted.status_code == expected_status(who, {"expert", "owner", "admin"}, 200)
    if deleted.status_code == 200:
        assert deleted.json()["is_deleted"] and deleted.json()["body"] == ""


def test_an_outsider_never_reads_a_comment_through_their_own_use_case(api, personas, use_case):
    from tests.factories import UseCaseFactory

    comment = post(use_case, personas["expert"], "Private")
    mine = UseCaseFactory(slug="fraud", owner=personas["outsider"])
    client = api("outsider")
    assert client.get(comments_url(mine, f"{comment.pk}/")).status_code == 404
    assert client.get(comments_url(mine)).json()["results"] == []


def test_bad_input_answers_400_naming_each_field(api, personas, use_case):
    client = api("expert")
    response = client.post(comments_url(use_case), {}, format="json")
    assert response.status_code == 400 and fields_in(response) == {"target", "body"}
    response = client.post(
        comments_url(use_case), {"target": "version:999", "body": "x"}, format="json"
    )
    assert response.status_code == 400 and fields_in(response) == {"target"}
    response = client.post(
        comments_url(use_case), {"target": f"use_case:{use_case.pk}", "body": "  "}, format="json"
    )
    assert response.status_code == 400 and fields_in(response) == {"body"}
    assert client.get(comments_url(use_case), {"target": "nope"}).status_code == 400


def test_an_edit_after_the_window_is_a_409_that_says_why(api, personas, use_case):
    comment = post(use_case, personas["expert"], "Old")
    Comment.objects.filter(pk=comment.pk).update(
        created_at=comment.created_at - comments.EDIT_WINDOW - datetime.timedelta(seconds=5)
    )
    response = api("expert").patch(
        comments_url(use_case, f"{comment.pk}/"), {"body": "New"}, format="json"
    )
    assert response.status_code == 409 and "10 minutes" in response.json()["detail"]


def test_the_list_filters_by_target_and_renders_safe_html(api, personas, use_case, version):
    post(use_case, personas["expert"], "On the use case <img src=x onerror=alert(1)>")
    post(use_case, personas["expert"], "On the version @dana", f"version:{version.pk}")
    rows = api("viewer").get(comments_url(use_case), {"target": f"version:{version.pk}"}).json()
    assert [row["body"] for row in rows["results"]] == ["On the version @dana"]
    assert 'class="mention"' in rows["results"][0]["body_html"]
    everything = api("viewer").get(comments_url(use_case)).json()["results"]
    assert "<img" not in everything[0]["body_html"]


def test_the_activity_reads_in_sentences(api, personas, use_case):
    post(use_case, personas["expert"], "Hi")
    (entry,) = api("viewer").get(activity_url(use_case)).json()["results"]
    assert entry["text"] == "Erik commented on the use case" and entry["verb"] == "comment.posted"


@pytest.mark.parametrize("url", [comments_url, activity_url])
def test_lists_cost_the_same_queries_for_5_or_50_rows(api, personas, use_case, url):
    client = api("viewer")
    for n in range(5):
        post(use_case, personas["expert"], f"C{n} @olivia")
    few = queries_for(client, url(use_case), 5)
    for n in range(45):
        post(use_case, personas["owner"], f"D{n}")
    assert queries_for(client, url(use_case) + "?page_size=50", 50) == few
