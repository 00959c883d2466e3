"""Human review in headless Chromium: an expert reviews three items with the keyboard only,
without a page load between them, and watches the campaign's progress move; blind pairwise
by keyboard. Screenshots land in test-results/ (tests/e2e/conftest.py)."""

import pytest
from playwright.sync_api import expect

from reviews.models import Review
from reviews.services import campaigns, reviewing
from tests.e2e.conftest import RESULTS, log_in, shot
from tests.factories import log_forecasts, make_version

pytestmark = pytest.mark.e2e

FEATURES = [
    {"name": "store", "type": "category", "description": "Store id"},
    {"name": "price", "type": "number", "description": "Shelf price (EUR)"},
]


@pytest.fixture
def forecast(use_case, personas):
    use_case.feature_schema = FEATURES
    use_case.save(update_fields=["feature_schema"])
    version = make_version(use_case, "2.1", personas["data_scientist"])
    log_forecasts(version, 40)
    return use_case, version


def progress_reads(page, text: str) -> None:
    """Wait for the campaign's progress to read `text` and the next item's form to be live."""
    page.wait_for_selector(f"#campaign-done:text-is('{text}')")
    page.wait_for_selector("#review-form[data-ready], #all-done")


def test_an_expert_reviews_three_items_by_keyboard_and_sees_the_progress_move(
    live_server, page, personas, forecast
):
    use_case, version = forecast
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["data_scientist"],
        name="October check",
        model_version=version,
        sample_size=10,
        reason_tags=["promotion", "weather", "new store"],
        instructions="Check the weekend peaks against what the store really sold.",
    )
    log_in(page, live_server, personas["expert"].username)
    page.click("nav.mainnav >> text=Reviews")
    page.wait_for_selector("#to-review >> text=October check")
    shot(page, "review-inbox")
    page.click("#to-review >> text=Start reviewing")
    page.wait_for_selector("#review-form[data-ready]")
    assert page.inner_text("#campaign-done") == "0 / 10"
    page.evaluate("window.quorumNoReload = true")  # a full page load would forget it
    shot(page, "review-screen")

    # 1: correct, with a reason tag (key 5 = the second tag) → Enter.
    first = page.get_attribute("#review-form", "action")
    page.keyboard.press("1")
    page.keyboard.press("5")
    assert page.is_checked("input[name=verdict][value=correct]")
    assert page.is_checked("input[name=reason_tags][value=weather]")
    page.keyboard.press("Enter")
    progress_reads(page, "1 / 10")
    assert page.get_attribute("#review-form", "action") != first

    # 2: incorrect (X), a corrected value (V), a comment (/), Esc, then Enter.
    page.keyboard.press("x")
    page.keyboard.press("v")
    page.keyboard.type("21.5")
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    page.keyboard.type("Rain all week in this store.")
    page.keyboard.press("Escape")
    shot(page, "review-screen-incorrect")
    page.keyboard.press("Enter")
    progress_reads(page, "2 / 10")

    # Enter without a verdict: the error shows inline, nothing is lost or sent.
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-errors >> text=Choose a verdict")
    page.wait_for_selector("#review-form[data-ready]")
    shot(page, "review-screen-error")
    # 3: unsure (U) → Enter.
    page.keyboard.press("u")
    page.keyboard.press("Enter")
    progress_reads(page, "3 / 10")
    assert page.inner_text("#my-reviewed") == "3"
    assert page.evaluate("window.quorumNoReload") is True
    shot(page, "review-screen-after-three")

    reviews = list(Review.objects.filter(campaign=campaign).order_by("created_at"))
    assert [r.verdict for r in reviews] == ["correct", "incorrect", "unsure"]
    assert reviews[0].reason_tags == ["weather"]
    assert reviews[1].corrected_value == 21.5
    assert reviews[1].comment == "Rain all week in this store."
    assert all(r.seconds_spent is not None and r.seconds_spent > 0 for r in reviews)

    # S skips: another item, no review.
    before = page.get_attribute("#review-form", "action")
    page.keyboard.press("s")
    page.wait_for_function(
        "(before) => document.querySelector('#review-form').getAttribute('action') !== before",
        arg=before,
    )
    assert Review.objects.filter(campaign=campaign).count() == 3

    page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/{campaign.pk}/")
    page.wait_for_selector("[data-chart] .main-svg")
    shot(page, "review-results")
    page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/")
    shot(page, "review-campaigns-tab")
    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    page.wait_for_selector("#feedback >> text=Rain all week in this store.")
    page.locator("#feedback").screenshot(path=str(RESULTS / "version-feedback.png"))
    assert page.external_requests == []
    assert page.errors == []


def test_blind_pairwise_by_keyboard_until_all_done(live_server, page, personas, forecast):
    use_case, version = forecast
    other = make_version(use_case, "2.2", personas["data_scientist"])
    log_forecasts(other, 40, seed=2)
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["expert"],
        name="2.1 or 2.2?",
        model_version=version,
        other_version=other,
        mode="pairwise",
        sample_size=2,
    )
    log_in(page, live_server, personas["expert"].username)
    page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/{campaign.pk}/review/")
    page.wait_for_selector(".pairwise [data-side=A]")
    page.wait_for_selector("#review-form[data-ready]")
    workspace = page.inner_text("#review-workspace")
    assert "2.1" not in workspace and "2.2" not in workspace
    shot(page, "review-pairwise")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    progress_reads(page, "1 / 2")
    page.keyboard.press("e")
    page.keyboard.press("Enter")
    page.wait_for_selector("#all-done >> text=All done")
    shot(page, "review-all-done")
    assert sorted(Review.objects.values_list("preference", flat=True)) == ["a", "equal"]
    assert page.errors == []


def test_an_expert_reviews_ten_items_then_drills_into_the_disagreements(
    live_server, page, personas, forecast
):
    """Issue 11's journey: review 10 items, open the results, filter to the disagreements."""
    from tests.factories import UserFactory

    use_case, version = forecast
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["data_scientist"],
        name="Two opinions",
        model_version=version,
        sample_size=10,
        reviewers_per_item=2,
        reason_tags=["promotion", "weather"],
    )
    eva = UserFactory(username="eva", first_name="Eva")
    use_case.members.create(user=eva, role="expert")
    for _ in range(10):  # Eva has said "correct" to every item already
        slot = reviewing.claim_next(campaign, reviewer=eva)
        reviewing.submit_review(slot, reviewer=eva, verdict="correct", seconds_spent=3.0)

    log_in(page, live_server, personas["expert"].username)
    page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/{campaign.pk}/review/")
    page.wait_for_selector("#review-form[data-ready]")
    for n in range(10):  # Erik disagrees on every third item
        page.keyboard.press("1" if n % 3 else "3")
        page.keyboard.press("Enter")
        if n < 9:
            progress_reads(page, f"{11 + n} / 20")
    page.wait_for_selector("#all-done")
    assert Review.objects.filter(campaign=campaign).count() == 20

    page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/{campaign.pk}/")
    assert "Fleiss' κ" in page.inner_text("#agreement")
    page.click("text=Browse the items")
    page.wait_for_selector("#item-list")
    assert page.locator("article.review-item").count() == 10
    page.check("#id_disagreement")  # htmx: the list swaps in place, the URL keeps the filter
    expect(page.locator("article.review-item")).to_have_count(4)
    assert "disagreement=on" in page.url
    assert page.locator("article.review-item.has-disagreement").count() == 4
    assert page.inner_text("#item-count") == "4 items match"
    first = page.inner_text("article.review-item >> nth=0")
    assert "Eva" in first and "Erik" in first and "Unsure" in first
    shot(page, "review-items-disagreements")


def test_on_a_phone_the_prediction_and_verdicts_come_first_and_submit_stays_in_reach(
    live_server, browser, personas, forecast
):
    """Issue 11, item 15: a 390 × 844 touch screen."""
    use_case, version = forecast
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["data_scientist"],
        name="On the road",
        model_version=version,
        sample_size=5,
        instructions="Check the weekend peaks.\n" * 6,
    )
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server, personas["expert"].username)
        page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/{campaign.pk}/review/")
        page.wait_for_selector("#review-form[data-ready]")
        top = {
            name: page.locator(selector).bounding_box()["y"]
            for name, selector in (
                ("prediction", ".review-predictions"),
                ("verdicts", ".verdicts"),
                ("features", ".review-features"),
            )
        }
        assert top["prediction"] < top["verdicts"] < top["features"]
        assert top["verdicts"] < 844  # the verdict bar is on the first screen
        submit = page.locator("[data-submit]").bounding_box()
        assert submit["y"] + submit["height"] <= 844  # the sticky bar, in reach
        assert not page.locator(".review-card kbd").first.is_visible()  # no key hints
        assert not page.locator(".keymap").is_visible()
        page.click("#review-instructions > summary")  # the instructions fold away
        assert not page.locator("#review-instructions p").is_visible()
        # The screen as the phone shows it (a full-page shot re-lays the page out as a desktop).
        RESULTS.mkdir(exist_ok=True)
        page.mouse.wheel(0, -5000)  # back to the top: the prediction, the verdicts, submit
        page.wait_for_timeout(300)
        page.screenshot(path=str(RESULTS / "review-screen-phone.png"))
        page.locator("label.choice-correct").tap()
        page.locator("[data-submit]").tap()
        progress_reads(page, "1 / 5")
    finally:
        context.close()
