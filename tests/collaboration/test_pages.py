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


# Targets named with other digits than 0-9


def _digits(number: int, zero: str) -> str:
    """`number` written in the digits that start at `zero` (Arabic-Indic: "٠")."""
    return "".join(chr(ord(zero) + int(digit)) for digit in str(number))


def test_a_target_id_in_other_digits_names_nothing(client, api, personas, use_case):
    client = login(client, personas, "viewer")
    api_client = api("viewer")
    comments_api = f"/api/v1/usecases/{use_case.slug}/comments/"
    for key in ("use_case:²", "use_case:①", f"use_case:{_digits(use_case.pk, '٠')}"):
        assert client.get(thread_url(use_case, key)).status_code == 404, key
        assert api_client.get(comments_api, {"target": key}).status_code == 400, key
        posted = api_client.post(comments_api, {"target": key, "body": "x"}, format="json")
        assert posted.status_code == 400 and posted.json()["errors"][0]["field"] == "target"
    assert not Comment.objects.exists()


def test_a_nul_in_the_mention_prefix_names_nobody(client, personas, use_case):
    client = login(client, personas, "viewer")
    for q in ("\x00", "er\x00"):
        response = client.get(
            reverse("collaboration:mention_options", args=[use_case.slug]), {"q": q}
        )
        assert response.status_code == 200 and "No member by that name" in response.content.decode()


# A refused inline edit or reply


def _closed(comment) -> None:
    import datetime

    Comment.objects.filter(pk=comment.pk).update(
        created_at=comment.created_at - comments.EDIT_WINDOW - datetime.timedelta(minutes=1)
    )


@pytest.mark.parametrize("why", ["window closed", "empty", "too long"])
def test_a_refused_inline_edit_keeps_the_thread_with_the_form_in_place(
    client, personas, use_case, why
):
    from collaboration.models import MAX_BODY

    comment = post(use_case, personas["expert"], "Old")
    post(use_case, personas["owner"], "Another comment")
    body = {"window closed": "New", "empty": " ", "too long": "x" * (MAX_BODY + 1)}[why]
    if why == "window closed":
        _closed(comment)
    client = login(client, personas, "expert")
    response = client.post(edit_url(comment), {"body": body}, **HX)
    html = response.content.decode()
    # The form's target (the thread) comes back whole: the other comments stay, and the edit
    # form sits in place of the comment with the reason, its Save and Cancel still aimed at
    # the thread.
    thread_id = f"comments-use_case-{use_case.pk}"
    assert response.status_code == 200 and html.lstrip().startswith('<section class="card')
    assert f'id="{thread_id}"' in html and "Another comment" in html
    assert html.count(f'id="comment-{comment.pk}"') == 1 and "comment-editing" in html
    assert 'class="errorlist"' in html and f'hx-target="#{thread_id}"' in html
    assert f'hx-post="{edit_url(comment)}"' in html
    assert Comment.objects.get(pk=comment.pk).body == "Old"


def test_the_edit_form_does_not_open_once_it_cannot_be_used(client, personas, use_case):
    late, gone = (
        post(use_case, personas["expert"], "Late"),
        post(use_case, personas["expert"], "Gone"),
    )
    _closed(late)
    comments.delete_comment(gone, by=personas["expert"])
    client = login(client, personas, "expert")
    html = client.get(edit_url(late), **HX).content.decode()
    assert "<textarea" not in html and "10 minutes to edit this comment are over" in html
    assert f'id="comment-{late.pk}"' in html and "Late" in html
    html = client.get(edit_url(gone), **HX).content.decode()
    assert "<textarea" not in html and "This comment was deleted." in html
    response = client.get(edit_url(late))  # without JavaScript: back to the thread
    assert response.status_code == 302 and response["Location"].endswith(f"#comment-{late.pk}")


def test_a_refused_reply_shows_its_errors_on_its_own_form(client, personas, use_case, version):
    from collaboration.models import MAX_BODY

    question = post(use_case, personas["expert"], "Question")
    client = login(client, personas, "owner")
    long_reply = "y" * (MAX_BODY + 1)
    html = client.post(
        on_use_case(use_case), {"body": long_reply, "parent": question.pk}, **HX
    ).content.decode()
    reply_form = html.split('class="comment-reply" open>', 1)[1].split("</details>", 1)[0]
    main_form = html.rsplit('<form class="comment-form"', 1)[1]
    assert 'class="errorlist"' in reply_form and long_reply in reply_form
    assert 'class="errorlist"' not in main_form and long_reply not in main_form
    # A parent from another thread: the error shows (on the form below, with the text).
    elsewhere = post(use_case, personas["expert"], "On the version", f"version:{version.pk}")
    html = client.post(
        on_use_case(use_case), {"body": "my reply", "parent": elsewhere.pk}, **HX
    ).content.decode()
    assert "not in this thread" in html and "my reply</textarea>" in html


# Comments whose target has been deleted since


@pytest.fixture
def orphan(use_case, personas):
    """A comment by the viewer on an evaluation whose dataset has been deleted since."""
    from registry.services import registering
    from tests.factories import finished_evaluation

    schema, use_case.feature_schema = use_case.feature_schema, []
    evaluation = finished_evaluation(use_case, personas["data_scientist"], {}, version="9.0.0")
    use_case.feature_schema = schema
    comment = post(use_case, personas["viewer"], "About this run", f"evaluation:{evaluation.pk}")
    registering.delete_dataset(evaluation.dataset, by=personas["owner"])
    return comment


def test_a_comment_on_a_deleted_target_is_edited_and_deleted_in_the_browser(
    client, personas, use_case, orphan
):
    client = login(client, personas, "viewer")
    edited = client.post(edit_url(orphan), {"body": "About that run"}, **HX)
    assert edited.status_code == 200 and "About that run" in edited.content.decode()
    assert "an evaluation that was deleted" in edited.content.decode()
    deleted = login(client, personas, "owner").post(delete_url(orphan), **HX)
    assert deleted.status_code == 200 and "A comment was deleted by" in deleted.content.decode()
    response = client.post(delete_url(orphan))  # without JavaScript: to its thread, which is
    assert response.status_code == 302  # still there (a deleted comment stays deleted)
    assert client.get(response["Location"]).status_code == 200


def test_the_feeds_link_to_a_comment_on_a_deleted_target_still_answers(
    client, personas, use_case, orphan
):
    from usecases.activity import sentences
    from usecases.models import AuditEvent

    entry = sentences([AuditEvent.objects.filter(verb="comment.posted").latest("id")])[0]
    page = login(client, personas, "expert").get(entry.url)
    html = page.content.decode()
    assert page.status_code == 200 and "About this run" in html
    assert "has been deleted" in html and "Back to the use case" in html
    assert 'name="body"' not in html  # nobody adds to it
    # An id nobody commented on stays unknown.
    assert client.get(thread_url(use_case, "evaluation:999999")).status_code == 404


# Review items: the link to the item browser's page that lists the item


def test_a_review_items_back_link_opens_the_page_that_lists_it(client, personas, use_case):
    from reviews.services import campaigns, reviewing
    from tests.factories import log_forecasts, make_version

    version = make_version(use_case, "5.0.0", personas["data_scientist"])
    log_forecasts(version, 30)
    campaign = campaigns.create_campaign(
        use_case, by=personas["owner"], name="Big", model_version=version, sample_size=25
    )
    for _ in range(24):  # the last item is never reviewed
        slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
        reviewing.submit_review(slot, reviewer=personas["expert"], verdict="correct")
    reviewed = campaign.items.filter(reviews__isnull=False)
    on_page_2 = reviewed.order_by("position")[21]
    unreviewed = campaign.items.exclude(pk__in=reviewed.values("pk")).get()
    client = login(client, personas, "viewer")
    html = client.get(thread_url(use_case, f"review_item:{on_page_2.pk}")).content.decode()
    items_url = reverse("reviews:campaign_items", args=[use_case.slug, campaign.pk])
    back = f'href="{items_url}?page=2#item-{on_page_2.position + 1}"'
    assert back in html
    listed = client.get(f"{items_url}?page=2").content.decode()
    assert f'id="item-{on_page_2.position + 1}"' in listed
    html = client.get(thread_url(use_case, f"review_item:{unreviewed.pk}")).content.decode()
    results = reverse("reviews:campaign_detail", args=[use_case.slug, campaign.pk])
    assert f'<a href="{results}">' in html
