"""Stored-XSS canaries in headless Chromium (issue 10, "Checks that keep this fixed").

Canaries go into every free-text field, through the services a user's request would call:
the use case's texts and feature descriptions, a member's display name, KPI names, the value
model's notes, a rule's description and pattern, version names, descriptions, parameters,
tags and (where a URL is taken) `javascript:` URLs, a dataset's name and description, class
and segment names inside uploaded CSV files and logged predictions (so they reach
evaluations, charts and reviews), campaign names, instructions, reason tags and review
comments. Then every page and htmx fragment that shows them is rendered, and on each: nothing
ran (`window.__xss` unset, no dialog), no canary became markup (no <img src=x>, no handler or
`javascript:` link, no link inside a chart), `{{7*7}}` is shown as typed (never 49), the
Content-Security-Policy refused nothing, and no request left the live server.
"""

import io
import threading

import pytest
from django.db import connection

from predictions.services import ingest
from promotions.services import requests as promotion_requests
from registry import tasks
from registry.models import Evaluation
from registry.services import evaluations, registering
from reviews.services import campaigns, reviewing
from tests.e2e.conftest import log_in
from tests.factories import UserFactory
from usecases.services import definitions, usecases

pytestmark = pytest.mark.e2e

IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = '"><script>window.__xss=1</script>'
TEMPLATE = "{{7*7}}"
LINK = '<a href="javascript:window.__xss=1">x</a>'
JS_URL = "javascript:window.__xss=1"
TEXT = f"{TEMPLATE} {IMG} {SCRIPT}"  # every free-text field
CLASSES = (LINK, IMG, TEMPLATE)  # class names: CSV labels and predictions
SEGMENTS = (LINK, SCRIPT)
VERSIONS = (IMG, '"><svg onload=window.__xss=1>')  # no "/": a version name is a URL segment
TAGS = (IMG, LINK)
SCREENSHOTS = "/tmp"  # looked at by hand, not kept in the repository

# What a canary would leave behind had it become markup; [] when every one stayed text.
DOM_CHECK = """() => {
  const found = [];
  if (window.__xss !== undefined) found.push("window.__xss was set");
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.trim().toLowerCase();
      if (name.startsWith("on") && value.includes("__xss")) {
        found.push(`${element.tagName} ${name}=${value}`);
      }
      if (value.startsWith("javascript:")) found.push(`${element.tagName} ${name}=${value}`);
    }
  }
  for (const script of document.scripts) {
    if (script.type !== "application/json" && script.text.includes("__xss")) {
      found.push("a script holding a canary");
    }
  }
  if (document.querySelector("img[src='x']")) found.push("an <img src=x>");
  if (document.querySelector("svg[onload]")) found.push("an <svg onload>");
  for (const link of document.querySelectorAll("[data-chart] .main-svg a")) {
    found.push("a link in a chart: " + link.textContent);
  }
  return found;
}"""


def csv_bytes(rows: list[list[str]]) -> bytes:
    import csv

    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def seed_use_case(owner, mallory):
    use_case = usecases.create_use_case(
        by=owner,
        title=TEXT,
        task_type="multiclass",
        phase="poc",
        problem_statement=TEXT,
        decision_supported=TEXT,
        sponsor=TEXT,
        target_definition=TEXT,
        feature_schema=[
            {"name": "store", "type": "category", "description": TEXT},
            {"name": "price", "type": "number", "description": IMG},
        ],
    )
    usecases.add_member(use_case, by=owner, user=mallory, role="expert")
    definitions.create_kpi(
        use_case, by=owner, name=TEXT, metric="accuracy", target=0.9, gate_threshold=0.5
    )
    definitions.create_kpi(
        use_case,
        by=owner,
        name=IMG,
        metric="accuracy",
        target=0.9,
        gate_threshold=0.5,
        segment=LINK,
    )
    definitions.save_value_model(
        use_case,
        by=owner,
        currency="EUR",
        value_true_positive=10,
        value_true_negative=0,
        cost_false_positive=1,
        cost_false_negative=5,
        notes=TEXT,
    )
    definitions.create_rule(
        use_case,
        by=owner,
        field="store",
        kind="regex",
        params={"pattern": "^S0[0-9]$|<img src=x>"},
        severity="warning",
        description=TEXT,
    )
    return use_case


def seed_registry(use_case, owner):
    """Two versions with canary names, a dataset whose classes and segments are canaries,
    predictions for both, the first evaluated, the second left queued (to poll on its page)."""
    versions = [
        registering.register_version(
            use_case,
            by=owner,
            version=name,
            description=TEXT,
            artifact_uri=JS_URL,
            training_data_ref=JS_URL,
            framework=IMG,
            mlflow_run_id=SCRIPT,
            parameters={IMG: TEXT, "depth": 3},
            tags={"team": TEXT, IMG: True},
        )
        for name in VERSIONS
    ]
    rows = [["id", "store", "price", "label", "segment"]]
    rows += [
        [f"r{i}", f"S0{i % 3}", f"{1 + i % 4}.5", CLASSES[i % 3], SEGMENTS[i % 2]]
        for i in range(36)
    ]
    dataset = registering.upload_dataset(
        use_case,
        by=owner,
        name=TEXT,
        description=TEXT,
        source=io.BytesIO(csv_bytes(rows)),
        filename="holdout.csv",
    )
    for shift, version in enumerate(versions):
        predictions = [["id", "prediction"]]
        predictions += [[f"r{i}", CLASSES[(i + shift * (i % 2)) % 3]] for i in range(36)]
        registering.upload_predictions(
            version,
            by=owner,
            dataset=dataset,
            source=io.BytesIO(csv_bytes(predictions)),
            filename="predictions.csv",
        )
    evaluation = evaluations.start_evaluation(versions[0], by=owner, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk, task_id="canaries")
    queued = evaluations.start_evaluation(versions[1], by=owner, dataset=dataset)
    return versions, dataset, Evaluation.objects.get(pk=evaluation.pk), queued


def seed_reviews(use_case, owner, mallory, versions):
    """The prediction log of both versions, a single and a pairwise campaign, reviews."""
    ingest.log_predictions(
        use_case,
        by=owner,
        rows=[
            {
                "version": version.version,
                "request_id": f"{IMG}{i}",
                "timestamp": f"2026-11-{i + 1:02d}T10:00:00Z",
                "features": {"store": IMG, "price": 2.5},
                "prediction": CLASSES[(i + shift) % 3],
                "segment": SEGMENTS[i % 2],
            }
            for shift, version in enumerate(versions)
            for i in range(12)
        ],
    )
    single = campaigns.create_campaign(
        use_case,
        by=owner,
        name=TEXT,
        instructions=TEXT,
        model_version=versions[0],
        sample_size=6,
        reason_tags=list(TAGS),
    )
    pairwise = campaigns.create_campaign(
        use_case,
        by=owner,
        name=f"{IMG} pairwise",
        instructions=TEXT,
        model_version=versions[0],
        other_version=versions[1],
        mode="pairwise",
        sample_size=4,
    )
    for answer in range(3):
        slot = reviewing.claim_next(single, reviewer=mallory)
        reviewing.submit_review(
            slot,
            reviewer=mallory,
            verdict="incorrect" if answer else "correct",
            # a class other than the item's prediction ("incorrect" with it is refused)
            corrected_value=(
                next(c for c in CLASSES if c != slot.item.prediction.prediction) if answer else None
            ),
            reason_tags=[TAGS[answer % 2]],
            comment=TEXT,
            seconds_spent=4.0,
        )
    for preference in ("a", "b"):
        slot = reviewing.claim_next(pairwise, reviewer=mallory)
        reviewing.submit_review(slot, reviewer=mallory, preference=preference, comment=TEXT)
    return single, pairwise


@pytest.fixture
def canaries(personas, monkeypatch):
    # No worker here: the queued evaluation is run by the test, in a thread, while its page polls.
    monkeypatch.setattr(
        type(tasks.run_evaluation_task._get_current_object()), "delay", lambda self, pk: None
    )
    owner = personas["owner"]
    mallory = UserFactory(username="mallory", first_name=TEXT, last_name=IMG)
    use_case = seed_use_case(owner, mallory)
    versions, dataset, evaluation, queued = seed_registry(use_case, owner)
    single, pairwise = seed_reviews(use_case, owner, mallory, versions)
    promotion = promotion_requests.open_request(
        use_case, by=owner, version=versions[0], target_stage="shadow", rationale=TEXT
    )
    return {
        "promotion": promotion,
        "use_case": use_case,
        "versions": versions,
        "dataset": dataset,
        "evaluation": evaluation,
        "queued": queued,
        "single": single,
        "pairwise": pairwise,
    }


class Inspector:
    """Checks each page the test shows; collects every finding, so one run lists them all."""

    def __init__(self, page, live_server):
        self.page, self.base = page, live_server.url
        self.dialogs: list[str] = []
        self.findings: list[str] = []
        self.visited: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def visit(self, path: str, *, shows_text: bool = True) -> None:
        self.page.goto(self.base + path)
        self.check(path, shows_text=shows_text)

    def check(self, where: str, *, shows_text: bool = True) -> None:
        page = self.page
        page.wait_for_load_state("networkidle")
        for chart in page.locator("[data-chart]").all():
            chart.locator(".main-svg").first.wait_for()
            chart.locator(".nsewdrag").first.hover()  # hover labels hold names too
        found = page.evaluate(DOM_CHECK)
        text = page.inner_text("body")
        if "49 <img" in text or "49 " + IMG in text:
            found.append("{{7*7}} was evaluated")
        if shows_text and TEMPLATE not in text:
            found.append("the canary text is not shown as typed")
        self.findings += [f"{where}: {finding}" for finding in found]
        self.visited.append(where)

    def fragments(self, path: str) -> None:
        """Click every link that loads an htmx fragment (one per fresh page), then save any
        inline form it brings unchanged: both answers are swapped in and checked."""
        page = self.page
        clickable = "[hx-get]:not([hx-trigger])"
        page.goto(self.base + path)
        for index in range(page.locator(clickable).count()):
            page.goto(self.base + path)
            link = page.locator(clickable).nth(index)
            if not link.is_visible():
                continue
            self.swap(link, f"{path} fragment {index}")
            form = page.locator("form.inline-form[hx-post]")
            if form.count() == 1:
                self.swap(form.locator("button[type=submit]"), f"{path} form {index}")

    def swap(self, trigger, where: str) -> None:
        with self.page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            trigger.click()
        self.page.wait_for_timeout(150)  # htmx settles, charts.js and app.js run
        self.check(where)


def urls(canaries) -> list[tuple[str, bool]]:
    """(path, whether it shows the canary text) of every page that shows canaries."""
    use_case = canaries["use_case"]
    base = use_case.get_absolute_url()
    single, pairwise = canaries["single"], canaries["pairwise"]
    first, second = canaries["versions"]
    return [
        ("/", True),
        ("/roadmap/", True),
        ("/promotions/", False),
        ("/usecases/", True),
        (base, True),
        (f"{base}edit/", True),
        (f"{base}history/", True),
        (f"{base}members/", True),
        (f"{base}model-versions/", False),
        (first.get_absolute_url(), True),
        (second.get_absolute_url(), True),
        (f"{base}datasets/", True),
        (canaries["dataset"].get_absolute_url(), True),
        (f"{base}evaluations/", True),
        (canaries["evaluation"].get_absolute_url(), True),
        (f"{base}reviews/", True),
        (f"{base}reviews/{single.pk}/", True),
        (f"{base}reviews/{pairwise.pk}/", True),
        ("/reviews/", True),
        ("/account/tokens/", False),
        (f"{base}promotions/", False),
        (canaries["promotion"].get_absolute_url(), True),
        (f"{first.get_absolute_url()}deployment/", False),
        (f"{base}phase/", False),
        (f"{base}promotion-policy/", False),
        (f"{base}webhook-deliveries/", False),
        ("/notifications/", False),
    ]


def test_canaries_in_every_free_text_field_stay_text_on_every_page(
    live_server, page, personas, canaries
):
    inspector = Inspector(page, live_server)
    log_in(page, live_server, personas["owner"].username)
    for path, shows_text in urls(canaries):
        inspector.visit(path, shows_text=shows_text)
    inspector.fragments(canaries["use_case"].get_absolute_url())
    for version in canaries["versions"]:  # the experts' feedback comes in with hx-get
        page.goto(live_server.url + version.get_absolute_url())
        page.wait_for_selector("#feedback:not([hx-get])")  # swapped in
        inspector.check(f"feedback on {version.version}")

    # The chart labels: the class and segment names show as typed, and are no links.
    inspector.visit(canaries["evaluation"].get_absolute_url())
    segments = page.locator("[data-chart='chart-segments'] .main-svg").first
    assert LINK in segments.text_content()
    confusion = page.locator("[data-chart='chart-confusion-matrix'] .main-svg").first
    assert IMG in confusion.text_content()
    page.screenshot(path=f"{SCREENSHOTS}/xss-canaries-evaluation.png", full_page=True)

    review_screens(inspector, canaries)
    polled_evaluation(inspector, canaries)
    assert inspector.findings == []
    assert inspector.dialogs == []
    assert page.errors == []  # scripts that failed, and anything the CSP refused
    assert page.external_requests == []
    assert len(inspector.visited) >= 40, inspector.visited


def review_screens(inspector: Inspector, canaries) -> None:
    """The review screen of both campaigns, and the next item swapped in by htmx."""
    page, base = inspector.page, canaries["use_case"].get_absolute_url()
    for campaign in (canaries["single"], canaries["pairwise"]):
        inspector.visit(f"{base}reviews/{campaign.pk}/review/")
        page.wait_for_selector("#review-form[data-ready]")
        if campaign == canaries["pairwise"]:
            page.check("input[name=preference][value=equal]", force=True)  # styled radios
        else:
            page.check("input[name=verdict][value=incorrect]", force=True)
            page.fill("#id_comment", TEXT)
            page.screenshot(path=f"{SCREENSHOTS}/xss-canaries-review.png", full_page=True)
        inspector.swap(page.locator("#review-form [data-submit]"), f"review of {campaign.pk}")


def polled_evaluation(inspector: Inspector, canaries) -> None:
    """The queued evaluation's page polls its status fragment; a worker (a thread here) runs
    it, and the results, charts and all, arrive through htmx."""
    page, queued = inspector.page, canaries["queued"]
    inspector.visit(queued.get_absolute_url())
    assert page.locator("#evaluation-status[hx-trigger]").count() == 1

    def work():
        try:
            evaluations.run_evaluation(queued.pk, task_id="canaries-polled")
        finally:
            connection.close()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    page.wait_for_selector("[data-chart='chart-segments'] .main-svg", timeout=60_000)
    worker.join(timeout=60)
    inspector.check(f"{queued.get_absolute_url()} after polling")


def test_the_admin_shows_canaries_as_text(live_server, page, canaries):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    inspector = Inspector(page, live_server)
    log_in(page, live_server, "root")
    use_case = canaries["use_case"]
    for path in (
        "/admin/",
        "/admin/usecases/usecase/",
        f"/admin/usecases/usecase/{use_case.pk}/change/",
        "/admin/usecases/auditevent/",
        "/admin/usecases/kpi/",
        "/admin/usecases/dataqualityrule/",
        "/admin/usecases/valuemodel/",
        "/admin/auth/user/",
    ):
        inspector.visit(
            path, shows_text=path not in ("/admin/", "/admin/usecases/dataqualityrule/")
        )
    assert inspector.findings == [] and inspector.dialogs == []
    assert page.errors == [] and page.external_requests == []


def test_exports_and_api_answers_with_canaries_are_never_rendered_as_pages(
    live_server, page, personas, canaries
):
    log_in(page, live_server, personas["owner"].username)
    slug, single = canaries["use_case"].slug, canaries["single"]
    download = page.request.get(
        f"{live_server.url}/usecases/{slug}/reviews/{single.pk}/corrections.csv"
    )
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert IMG in download.text()  # as text, for a spreadsheet: never HTML
    api = page.request.get(f"{live_server.url}/api/v1/usecases/{slug}/")
    assert api.headers["content-type"] == "application/json"
    assert api.json()["title"] == TEXT
    page.goto(f"{live_server.url}/api/v1/usecases/{slug}/")  # what a browser shows of it
    assert page.evaluate(DOM_CHECK) == []
    assert page.errors == [] and page.external_requests == []
