"""Comments: posting on each kind of target, replies, the edit window, deletion markers, who
may do what, the audit events and the notifications of mentions and replies."""

import datetime
from unittest import mock

import pytest
from django.utils import timezone

from collaboration.models import MAX_BODY, Comment
from collaboration.services import comments
from notifications.models import Notification
from portal.errors import DomainError, InvalidInput
from tests.collaboration.conftest import post, thread_url
from tests.factories import UseCaseFactory
from usecases.models import AuditEvent


def notified(user, kind=None) -> list[Notification]:
    rows = Notification.objects.filter(recipient=user)
    return list(rows.filter(kind=kind) if kind else rows)


def test_a_comment_can_be_posted_on_every_kind_of_target(use_case, personas, targets):
    for kind, target in targets.items():
        comment = post(use_case, personas["expert"], f"About this {kind}", target)
        assert comment.target_key == target
    assert Comment.objects.filter(use_case=use_case).count() == len(targets)


def test_a_target_of_another_use_case_or_unknown_is_refused(use_case, personas, version):
    other = UseCaseFactory(slug="fraud", owner=personas["outsider"])
    for target in (f"use_case:{other.pk}", "version:999999", "nothing:1", "version:", "x"):
        with pytest.raises(InvalidInput) as refused:
            post(use_case, personas["expert"], "Hello", target)
        assert refused.value.field == "target"


def test_an_outsider_may_not_comment_a_manager_may(use_case, personas):
    with pytest.raises(comments.CommentForbidden):
        post(use_case, personas["outsider"], "Let me in")
    assert post(use_case, personas["manager"], "Approved once the gates pass.").pk


@pytest.mark.parametrize(
    ("body", "code"), [("   ", "required"), ("x" * (MAX_BODY + 1), "max_length")]
)
def test_an_empty_or_too_long_comment_is_refused(use_case, personas, body, code):
    with pytest.raises(InvalidInput) as refused:
        post(use_case, personas["expert"], body)
    assert (refused.value.field, refused.value.code) == ("body", code)


def test_a_reply_to_a_reply_joins_the_top_level_comment(use_case, personas):
    first = post(use_case, personas["expert"], "Question")
    reply = post(use_case, personas["owner"], "Answer", parent=first)
    again = post(use_case, personas["expert"], "Thanks", parent=reply.pk)
    assert (reply.parent_id, again.parent_id) == (first.pk, first.pk)


def test_a_reply_must_be_in_the_same_thread(use_case, personas, version):
    elsewhere = post(use_case, personas["expert"], "On the version", f"version:{version.pk}")
    with pytest.raises(InvalidInput):
        post(use_case, personas["expert"], "Reply", parent=elsewhere)


def test_the_author_edits_within_ten_minutes_then_gets_a_clear_error(use_case, personas):
    comment = post(use_case, personas["expert"], "Frist")
    edited = comments.edit_comment(comment, by=personas["expert"], body="First")
    assert edited.body == "First" and edited.edited_at is not None
    later = timezone.now() + comments.EDIT_WINDOW + datetime.timedelta(seconds=1)
    with (
        mock.patch.object(comments.timezone, "now", return_value=later),
        pytest.raises(DomainError) as refused,
    ):
        comments.edit_comment(comment, by=personas["expert"], body="Second")
    assert refused.value.code == "edit_window_closed"
    assert "10 minutes" in refused.value.message


def test_only_the_author_may_edit(use_case, personas):
    comment = post(use_case, personas["expert"], "Mine")
    for who in ("owner", "admin"):
        with pytest.raises(comments.CommentForbidden):
            comments.edit_comment(comment, by=personas[who], body="Theirs")


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("expert", True), ("owner", True), ("admin", True), ("viewer", False), ("manager", False)],
)
def test_the_author_the_owner_or_an_admin_may_delete(use_case, personas, who, allowed):
    comment = post(use_case, personas["expert"], "To go")
    if not allowed:
        with pytest.raises(comments.CommentForbidden):
            comments.delete_comment(comment, by=personas[who])
        return
    comments.delete_comment(comment, by=personas[who])
    comment.refresh_from_db()
    assert comment.is_deleted and comment.body == "" and comment.deleted_by == personas[who]


def test_a_deleted_comment_keeps_its_replies_under_a_marker(use_case, personas):
    first = post(use_case, personas["expert"], "Question")
    post(use_case, personas["owner"], "Answer", parent=first)
    comments.delete_comment(first, by=personas["expert"])
    assert Comment.objects.filter(use_case=use_case).count() == 2
    with pytest.raises(DomainError):
        comments.edit_comment(first, by=personas["expert"], body="Back")


def test_each_change_is_audited_with_what_it_was_about(use_case, personas, version):
    comment = post(use_case, personas["expert"], "Nice", f"version:{version.pk}")
    comments.edit_comment(comment, by=personas["expert"], body="Very nice")
    comments.delete_comment(comment, by=personas["owner"])
    events = AuditEvent.objects.filter(target_type="comment").order_by("id")
    assert [e.verb for e in events] == ["comment.posted", "comment.edited", "comment.deleted"]
    assert events[0].after["on"] == "version 2.0.0"
    assert all("Nice" not in str(e.after) for e in events)  # the text stays out of the trail


# Mentions and notifications


def test_a_mentioned_member_is_notified_and_the_mention_is_kept(use_case, personas):
    comment = post(use_case, personas["owner"], "@erik can you check? cc @victor.")
    assert comment.mentioned == ["erik", "victor"]
    (mention,) = notified(personas["expert"], "mention")
    assert "mentioned you" in mention.text and f"#comment-{comment.pk}" in mention.url
    assert notified(personas["viewer"], "mention")


def test_a_notification_says_where_and_quotes_the_comments_first_words(use_case, personas):
    long = "@erik " + " ".join(["the weekend peaks are off"] * 10)
    post(use_case, personas["owner"], "@erik can you check\nthe **weekend** peaks?")
    post(use_case, personas["owner"], long)
    short, cut = notified(personas["expert"], "mention")[::-1]
    assert (
        short.text
        == "Olivia mentioned you on “Demand forecast”: “@erik can you check the **weekend** peaks?”"
    )
    assert cut.text.endswith("…”") and len(cut.text) < len(long)


def test_mentioning_a_non_member_or_an_unknown_name_notifies_nobody(use_case, personas):
    comment = post(use_case, personas["owner"], "@oscar and @nobody and @maria look")
    assert comment.mentioned == []
    assert not Notification.objects.exists()


def test_the_author_is_never_notified_of_their_own_comment(use_case, personas):
    first = post(use_case, personas["owner"], "@olivia note to self")
    post(use_case, personas["owner"], "again", parent=first)
    assert notified(personas["owner"]) == []


def test_a_new_comment_notifies_the_threads_earlier_participants_once(use_case, personas):
    first = post(use_case, personas["expert"], "Question")
    post(use_case, personas["data_scientist"], "Me too", parent=first)
    post(use_case, personas["owner"], "Answer @erik", parent=first)
    assert sorted(n.kind for n in notified(personas["expert"])) == ["comment", "mention"]
    assert [n.kind for n in notified(personas["data_scientist"])] == ["comment"]


def test_a_participant_removed_from_the_use_case_hears_no_more(use_case, personas):
    from usecases.services import usecases

    post(use_case, personas["viewer"], "Watching this")
    member = use_case.members.get(user=personas["viewer"])
    usecases.remove_member(member, by=personas["owner"])
    post(use_case, personas["owner"], "A secret plan")
    assert notified(personas["viewer"]) == []


def test_an_edit_notifies_only_the_newly_mentioned(use_case, personas):
    comment = post(use_case, personas["owner"], "@erik look")
    comments.edit_comment(comment, by=personas["owner"], body="@erik and @dana look")
    assert len(notified(personas["expert"], "mention")) == 1
    assert len(notified(personas["data_scientist"], "mention")) == 1


def test_a_name_that_does_not_render_as_a_mention_notifies_nobody(use_case, personas):
    comment = post(
        use_case,
        personas["owner"],
        "See `@erik` and [the page](https://x.example/@erik), https://x.example/@erik",
    )
    assert comment.mentioned == []
    assert notified(personas["expert"]) == []


# Targets deleted since (a dataset's deletion takes its evaluations)


@pytest.fixture
def orphan(use_case, personas):
    """A comment by the viewer on an evaluation whose dataset has been deleted since."""
    from registry.services import registering
    from tests.factories import finished_evaluation

    schema, use_case.feature_schema = use_case.feature_schema, []  # a file of id and label
    evaluation = finished_evaluation(use_case, personas["data_scientist"], {}, version="9.0.0")
    use_case.feature_schema = schema
    comment = post(use_case, personas["viewer"], "About this run", f"evaluation:{evaluation.pk}")
    registering.delete_dataset(evaluation.dataset, by=personas["owner"])
    assert Comment.objects.filter(pk=comment.pk).exists()
    return comment


def test_a_comment_on_a_deleted_target_is_still_edited_and_deleted_in_words(orphan, personas):
    comments.edit_comment(orphan, by=personas["viewer"], body="About that run")
    comments.delete_comment(orphan, by=personas["owner"])
    events = AuditEvent.objects.filter(target_type="comment").order_by("id")
    ons = [event.after["on"] for event in events]
    assert ons[1:] == ["an evaluation that was deleted"] * 2
    assert all("evaluation:" not in on for on in ons)


# Where a notification of a comment on a review item leads


def test_a_review_items_notification_leads_to_its_thread_page(use_case, personas, targets):
    comment = post(use_case, personas["owner"], "@erik is this right?", targets["review_item"])
    (mention,) = notified(personas["expert"], "mention")
    thread = thread_url(use_case, targets["review_item"])
    assert mention.url == f"{thread}#comment-{comment.pk}"  # not the item browser's page 1
