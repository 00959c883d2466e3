"""The thread fragment and its pages (GET, post, edit and delete inline, without JS too), the
mention options, the includes on the pages of lower apps, the permission matrix and the
query counts."""

import pytest
from django.urls import reverse

from collaboration.models import Comment
from collaboration.services import comments
from tests.collaboration.conftest import post, thread_url
from tests.conftest import PERSONAS, login
from tests.factories import UseCaseFactory

HX = {"HTTP_HX_REQUEST": "true"}


def on_use_case(use_case) -> str:
    return thread_url(use_case, f"use_case:{use_case.pk}")


def edit_url(comment) -> str:
    return reverse("collaboration:comment_edit", args=[comment.use_case.slug, comment.pk])


def delete_url(comment) -> str:
    return reverse("collaboration:comment_delete", args=[comment.use_case.slug, comment.pk])


def mentions_url(use_case, q: str) -> str:
    return f"{reverse('collaboration:mention_options', args=[use_case.slug])}?q={q}"


# Permissions

READERS = {"viewer", "data_scientist", "expert", "owner", "manager", "admin"}


@pytest.mark.parametrize("who", PERSONAS)
def test_every_reader_of_the_use_case_sees_and_joins_the_thread(client, personas, use_case, who):
    comment = post(use_case, personas["expert"], "Seen by members only")
    client = login(client, personas, who)
    expected = 200 if who in READERS else {"anonymous": 302, "outsider": 404}[who]
    for url in (on_use_case(use_case), mentions_url(use_case, "er")):
        assert client.get(url, **HX).status_code == expected, url
    response = client.post(on_use_case(use_case), {"body": f"Hello from {who}"}, **HX)
    assert response.status_code == expected
    assert Comment.objects.filter(body=f"Hello from {who}").exists() is (who in READERS)
    deleted = client.post(delete_url(comment), **HX).status_code
    assert deleted == {"owner": 200, "admin": 200, "expert": 200}.get(
        who, expected if expected != 200 else 403
    )


@pytest.mark.parametrize("who", ["viewer", "owner", "outsider"])
def test_only_the_author_may_open_the_edit_form(client, personas, use_case, who):
    comment = post(use_case, personas["expert"], "Mine")
    status = login(client, personas, who).get(edit_url(comment), **HX).status_code
    assert status == (404 if who == "outsider" else 403)
    assert login(client, personas, "expert").get(edit_url(comment), **HX).status_code == 200


def test_an_outsider_gets_404_for_a_comment_of_a_use_case_they_are_not_in(
    client, personas, use_case
):
    comment = post(use_case, personas["expert"], "Private")
    client = login(client, personas, "outsider")
    mine = UseCaseFactory(slug="fraud", owner=personas["outsider"])
    # Through their own use case's URLs, with the other's comment id or target.
    assert client.get(edit_url(comment).replace(use_case.slug, mine.slug)).status_code == 404
    assert client.post(delete_url(comment).replace(use_case.slug, mine.slug)).status_code == 404
    assert client.get(thread_url(mine, f"use_case:{use_case.pk}")).status_code == 404


def test_an_unknown_target_is_404(client, personas, use_case):
    client = login(client, personas, "owner")
    for on in ("version:999999", "bogus:1", "", "use_case:abc"):
        assert client.get(thread_url(use_case, on)).status_code == 404


# The thread with htmx


def test_posting_returns_the_updated_thread_and_an_empty_form(client, personas, use_case):
    client = login(client, personas, "expert")
    response = client.post(on_use_case(use_case), {"body": "**Looks good** @olivia"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "<strong>Looks good</strong>" in html and 'class="mention">@olivia' in html
    assert f'id="comments-use_case-{use_case.pk}"' in html


def test_a_refused_comment_comes_back_as_a_form_error_with_status_200(client, personas, use_case):
    response = login(client, personas, "expert").post(on_use_case(use_case), {"body": " "}, **HX)
    assert response.status_code == 200 and "errorlist" in response.content.decode()


def test_without_javascript_a_post_redirects_to_the_thread_page(client, personas, use_case):
    client = login(client, personas, "expert")
    response = client.post(on_use_case(use_case), {"body": "No JS"})
    comment = Comment.objects.get(body="No JS")
    assert response.status_code == 302 and response["Location"].endswith(f"#comment-{comment.pk}")
    page = client.get(response["Location"]).content.decode()
    assert "<html" in page and "No JS" in page and "Back to the use case" in page


def test_a_reply_lands_under_its_comment(client, personas, use_case):
    first = post(use_case, personas["expert"], "Question")
    client = login(client, personas, "owner")
    html = client.post(on_use_case(use_case), {"body": "Answer", "parent": first.pk}, **HX)
    html = html.content.decode()
    assert html.index("Question") < html.index('class="comment-replies"') < html.index("Answer")


def test_the_author_edits_inline_and_the_thread_comes_back(client, personas, use_case):
    comment = post(use_case, personas["expert"], "Frist")
    client = login(client, personas, "expert")
    form = client.get(edit_url(comment), **HX).content.decode()
    assert f'id="comment-{comment.pk}"' in form and "Frist</textarea>" in form
    html = client.post(edit_url(comment), {"body": "First"}, **HX).content.decode()
    assert "First" in html and "(edited)" in html and "comment-thread" in html


def test_an_edit_after_the_window_shows_the_reason(client, personas, use_case, monkeypatch):
    import datetime

    comment = post(use_case, personas["expert"], "Old")
    Comment.objects.filter(pk=comment.pk).update(
        created_at=comment.created_at - comments.EDIT_WINDOW - datetime.timedelta(minutes=1)
    )
    client = login(client, personas, "expert")
    html = client.post(edit_url(comment), {"body": "New"}, **HX).content.decode()
    assert "10 minutes" in html
    thread = client.get(on_use_case(use_case), **HX).content.decode()
    assert edit_url(comment) not in thread  # no Edit link once the window has closed


def test_a_deleted_comment_leaves_a_marker_in_the_thread(client, personas, use_case):
    comment = post(use_case, personas["expert"], "Oops, wrong thread")
    html = login(client, personas, "owner").post(delete_url(comment), **HX).content.decode()
    assert "Oops" not in html and "A comment was deleted by" in html


def test_the_mention_options_list_members_only(client, personas, use_case):
    client = login(client, personas, "owner")
    assert "@erik" in client.get(mentions_url(use_case, "er")).content.decode()
    # A non-member (the outsider, a manager) and an unknown name answer alike.
    oscar = client.get(mentions_url(use_case, "osc")).content.decode()
    nobody = client.get(mentions_url(use_case, "zzz")).content.decode()
    maria = client.get(mentions_url(use_case, "mar")).content.decode()
    assert oscar == nobody == maria and "No member by that name" in oscar


@pytest.mark.parametrize("kind", ["use_case", "version", "evaluation", "promotion"])
def test_each_page_of_a_target_includes_its_thread_with_one_hx_get(
    client, personas, use_case, targets, kind
):
    from promotions.models import PromotionRequest
    from registry.models import Evaluation, ModelVersion

    pk = int(targets[kind].split(":")[1])
    page = {
        "use_case": lambda: use_case.get_absolute_url(),
        "version": lambda: ModelVersion.objects.get(pk=pk).get_absolute_url(),
        "evaluation": lambda: Evaluation.objects.get(pk=pk).get_absolute_url(),
        "promotion": lambda: PromotionRequest.objects.get(pk=pk).get_absolute_url(),
    }[kind]()
    html = login(client, personas, "viewer").get(page).content.decode()
    url = thread_url(use_case, targets[kind])
    assert html.count(f'hx-get="{url}" hx-trigger="load"') == 1
    assert f'href="{url}"' in html  # and a plain link without JavaScript


# Query counts


@pytest.mark.parametrize("who", ["viewer", "owner", "manager"])
def test_a_thread_costs_the_same_queries_for_5_or_50_comments(
    client, personas, use_case, who, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(n):
        for i in range(n):
            top = post(use_case, personas["expert"], f"Comment {i} @dana")
            post(use_case, personas["owner"], f"Reply {i}", parent=top)

    add(3)  # 6 comments with their replies
    client = login(client, personas, who)
    with CaptureQueriesContext(connection) as five:
        assert client.get(on_use_case(use_case), **HX).status_code == 200
    add(22)
    comments.delete_comment(Comment.objects.first(), by=personas["owner"])
    with django_assert_num_queries(len(five)):
        html = client.get(on_use_case(use_case), **HX).content.decode()
    assert html.count('class="comment-entry"') == 50
