"""A comment with an @mention in headless Chromium: the owner types "@er" on the use case's
page, picks Erik from the members the server suggests, posts, and the comment appears in
the thread without a page load; one XSS canary posted the same way stays text. Erik then
has the mention notification. Screenshot in test-results/."""

import pytest

from notifications.models import Notification
from tests.e2e.conftest import log_in, shot
from tests.e2e.test_xss_canaries import DOM_CHECK, IMG

pytestmark = pytest.mark.e2e


def test_a_comment_with_a_mention_posted_through_the_autocomplete(
    live_server, page, personas, use_case
):
    log_in(page, live_server, "olivia")
    page.goto(f"{live_server.url}{use_case.get_absolute_url()}")
    thread = page.locator(f"#comments-use_case-{use_case.pk}")
    thread.wait_for()
    page.evaluate("window.__samePage = true")  # gone if the page reloads

    textarea = thread.locator("form.comment-form > .mention-box textarea").last
    textarea.click()
    textarea.press_sequentially("Could you check the weekend peaks, @er", delay=20)
    option = thread.locator(".mention-option", has_text="Erik")
    option.wait_for()
    assert thread.locator(".mention-option").count() == 1  # only the members named so
    option.click()
    assert textarea.input_value().endswith("@erik ")
    textarea.press_sequentially("? **Thanks**")
    thread.locator("form.comment-form > .form-actions button").last.click()

    comment = page.locator(".comment-body", has_text="Could you check")
    comment.wait_for()
    assert comment.locator("span.mention").inner_text() == "@erik"
    assert comment.locator("strong").inner_text() == "Thanks"
    assert page.evaluate("window.__samePage") is True
    assert textarea.input_value() == "" or page.locator("textarea").first.input_value() == ""

    # A canary posted the same way stays text.
    fresh = page.locator(
        f"#comments-use_case-{use_case.pk} form.comment-form > .mention-box textarea"
    ).last
    fresh.fill(f"Canary {IMG}")
    page.locator(
        f"#comments-use_case-{use_case.pk} form.comment-form > .form-actions button"
    ).last.click()
    page.locator(".comment-body", has_text="Canary").wait_for()
    assert page.evaluate(DOM_CHECK) == []
    assert page.evaluate("window.__samePage") is True
    shot(page, "comment-with-mention")
    assert page.errors == [] and page.external_requests == []

    mention = Notification.objects.get(recipient=personas["expert"], kind="mention")
    assert "Olivia mentioned you on “Demand forecast”: “Could you check" in mention.text
