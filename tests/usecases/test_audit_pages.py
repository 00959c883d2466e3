"""The audit pages: a use case's History tab and the global /audit/ page, their filters, their
CSV downloads (portal.exports: formula-safe) and the verbs in words."""

import ast
import csv
import datetime
import io
import json
import re
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PERSONAS, login
from tests.factories import UseCaseFactory
from usecases.audit_labels import KINDS, VERBS, verb_kind
from usecases.models import AuditEvent
from usecases.selectors import AUDIT_COLUMNS, audit_events
from usecases.services import audit, usecases

AUDIT = reverse("usecases:audit")
AUDIT_CSV = reverse("usecases:audit_csv")
# The History tab lists its events as timeline items, the audit page as table rows.
ITEM, ROW = 'class="timeline-item"', 'class="audit-row"'


def record(verb: str, *, use_case=None, by=None, at=None, target=None, **values):
    """Append one event as a service would, at `at` (a datetime) if given."""
    target = target or use_case
    now = at or timezone.now()
    with transaction.atomic(), mock.patch.object(audit.timezone, "now", return_value=now):
        return audit.record(actor=by, verb=verb, target=target, use_case=use_case, **values)


def history_url(use_case, csv_download: bool = False) -> str:
    name = "usecases:history_csv" if csv_download else "usecases:history"
    return reverse(name, args=[use_case.slug])


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert tuple(reader.fieldnames) == AUDIT_COLUMNS
    return list(reader)


@pytest.fixture
def other(personas):
    """A use case that only the outsider (its owner) is a member of."""
    return UseCaseFactory(slug="fraud", title="Fraud", owner=personas["outsider"])


@pytest.fixture
def trail(personas, use_case, other):
    """Five events over three days (UTC), in two use cases, by three people."""
    day = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)
    return {
        "created": record("usecase.created", use_case=use_case, by=personas["owner"], at=day),
        "kpi": record(
            "kpi.created", use_case=use_case, by=personas["expert"], at=day, after={"n": 1}
        ),
        "requested": record(
            "promotion.requested",
            use_case=use_case,
            by=personas["data_scientist"],
            at=day + datetime.timedelta(days=1),
        ),
        "approved": record(
            "promotion.approved",
            use_case=use_case,
            by=personas["owner"],
            at=day + datetime.timedelta(days=2),
        ),
        "fraud": record(
            "promotion.requested",
            use_case=other,
            by=personas["outsider"],
            at=day + datetime.timedelta(days=1),
        ),
    }


def ids_in(response) -> set[int]:
    """The ids of the events a CSV download holds."""
    return {int(row["id"]) for row in csv_rows(response)}


# Permissions


@pytest.mark.parametrize("who", PERSONAS)
def test_only_managers_and_admins_see_the_global_audit_page(client, personas, who):
    expected = {"anonymous": 302, "manager": 200, "admin": 200}.get(who, 403)
    client = login(client, personas, who)
    for url in (AUDIT, AUDIT_CSV):
        response = client.get(url)
        assert response.status_code == expected, (url, who)
    if who == "anonymous":
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("outsider", 404), ("viewer", 200), ("expert", 200), ("manager", 200)],
)
def test_the_history_csv_is_for_those_who_may_view_the_use_case(
    client, personas, use_case, who, status
):
    response = login(client, personas, who).get(history_url(use_case, csv_download=True))
    assert response.status_code == status


def test_a_member_sees_only_the_events_of_use_cases_they_can_see(personas, trail):
    mine = set(audit_events(personas["viewer"]).values_list("pk", flat=True))
    assert trail["fraud"].pk not in mine and trail["approved"].pk in mine
    assert audit_events(personas["manager"]).count() == len(trail)


def test_no_filter_shows_another_use_cases_events_on_the_history_tab(
    client, personas, use_case, trail
):
    client = login(client, personas, "viewer")
    page = html(client.get(history_url(use_case), {"use_case": "fraud", "actor": "oscar"}))
    assert page.count(ITEM) == 0
    rows = ids_in(client.get(history_url(use_case, csv_download=True), {"use_case": "fraud"}))
    assert rows == {trail[k].pk for k in ("created", "kpi", "requested", "approved")}


# Filters on the global page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"created", "kpi", "requested", "approved", "fraud"}),
        ({"use_case": "fraud"}, {"fraud"}),
        ({"use_case": "demand-forecast"}, {"created", "kpi", "requested", "approved"}),
        ({"actor": "olivia"}, {"created", "approved"}),
        ({"actor": "OLIVIA "}, {"created", "approved"}),  # as typed
        ({"kind": "promotion"}, {"requested", "approved", "fraud"}),
        ({"kind": "promotion.requested"}, {"requested", "fraud"}),
        ({"kind": "kpi"}, {"kpi"}),
        ({"date_from": "2026-03-11"}, {"requested", "approved", "fraud"}),
        ({"date_to": "2026-03-11"}, {"created", "kpi", "requested", "fraud"}),
        ({"date_from": "2026-03-11", "date_to": "2026-03-11"}, {"requested", "fraud"}),
        ({"use_case": "demand-forecast", "kind": "promotion", "actor": "olivia"}, {"approved"}),
    ],
)
def test_each_filter_narrows_the_audit_page_and_its_csv(client, personas, trail, query, expected):
    client = login(client, personas, "manager")
    assert html(client.get(AUDIT, query)).count(ROW) == len(expected)
    assert ids_in(client.get(AUDIT_CSV, query)) == {trail[name].pk for name in expected}


def test_dates_are_whole_days_in_the_sites_time_zone(client, personas, use_case, settings):
    settings.TIME_ZONE = "Europe/Paris"  # UTC+1 in March
    late = record(
        "usecase.updated",
        use_case=use_case,
        by=personas["owner"],
        at=datetime.datetime(2026, 3, 10, 23, 30, tzinfo=datetime.UTC),  # 11 March in Paris
    )
    client = login(client, personas, "manager")
    assert ids_in(client.get(AUDIT_CSV, {"date_from": "2026-03-11"})) == {late.pk}
    assert ids_in(client.get(AUDIT_CSV, {"date_to": "2026-03-10"})) == set()


def test_the_use_case_filter_offers_the_use_cases_and_the_kind_filter_every_kind(
    client, personas, use_case, other
):
    page = html(login(client, personas, "manager").get(AUDIT))
    assert '<option value="fraud">Fraud (fraud)</option>' in page
    assert '<option value="demand-forecast">' in page
    for kind in ("promotion", "version", "usecase", "kpi", "member", "dataset", "webhook"):
        assert f'<option value="{kind}">' in page
    assert '<option value="promotion.approved">Approved a promotion</option>' in page


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "not-a-date"}, "date_from"),
        ({"date_to": "2026-02-30"}, "date_to"),
        ({"date_from": "2026-03-12", "date_to": "2026-03-10"}, "date_to"),
        ({"kind": "nonsense"}, "kind"),
        ({"use_case": "no-such-use-case"}, "use_case"),
    ],
)
def test_invalid_filters_are_form_errors_not_server_errors(
    client, personas, use_case, trail, query, field
):
    client = login(client, personas, "manager")
    page = html(client.get(AUDIT, query))
    assert 'class="errorlist"' in page and f"field-{field} has-error" in page
    assert page.count(ROW) == 0  # never the unfiltered trail
    assert "Download CSV" not in page
    refused = client.get(AUDIT_CSV, query)
    assert refused.status_code == 400 and field in refused.content.decode()
    assert all(value not in refused.content.decode() for value in query.values())  # no echo
    page = html(client.get(history_url(use_case), query))
    if field != "use_case":  # the History tab has no use case filter: ignored
        assert f"field-{field} has-error" in page and page.count(ITEM) == 0


def test_an_empty_filter_form_shows_everything_and_offers_the_csv(client, personas, trail):
    page = html(login(client, personas, "manager").get(AUDIT, {"actor": "", "kind": ""}))
    assert page.count(ROW) == len(trail)
    assert f'href="{AUDIT_CSV}?actor=&amp;kind="' in page


def test_the_audit_page_is_paginated_newest_first_and_keeps_its_filters(client, personas, use_case):
    events = [record("kpi.updated", use_case=use_case, by=personas["expert"]) for _ in range(30)]
    client = login(client, personas, "manager")
    first = html(client.get(AUDIT, {"kind": "kpi"}))
    assert first.count(ROW) == 25
    assert "page=2" in first and "kind=kpi&amp;page=2" in first
    second = html(client.get(AUDIT, {"kind": "kpi", "page": 2}))
    assert second.count(ROW) == 5
    rows = csv_rows(client.get(AUDIT_CSV, {"kind": "kpi"}))
    assert [int(row["id"]) for row in rows] == [event.pk for event in reversed(events)]


def test_the_audit_page_shows_each_event_in_words(client, personas, use_case):
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="Finance")
    record("promotion.gates_overridden", use_case=use_case, by=personas["manager"])
    record("something.new", use_case=use_case, by=personas["owner"])
    page = html(login(client, personas, "admin").get(AUDIT))
    assert "Olivia edited the definition (sponsor Finance)" in page and "<ins>Finance</ins>" in page
    assert "maria overrode the gates of a promotion, with a justification" in page
    assert "something.new" in page  # a verb without words shows as stored


# CSV


def test_the_csv_has_every_column_of_every_matching_event(client, personas, use_case, trail):
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="Finance")
    event = AuditEvent.objects.latest("id")
    rows = csv_rows(login(client, personas, "manager").get(AUDIT_CSV, {"kind": "usecase"}))
    assert [int(row["id"]) for row in rows] == [event.pk, trail["created"].pk]
    row = rows[0]
    assert row["created_at"] == event.created_at.isoformat()
    assert datetime.datetime.fromisoformat(row["created_at"]) == event.created_at
    assert (row["actor"], row["verb"], row["use_case"]) == (
        "olivia",
        "usecase.updated",
        use_case.slug,
    )
    assert (row["target_type"], row["target_id"]) == ("usecase", str(use_case.pk))
    assert row["target"] == str(use_case)
    assert json.loads(row["before"]) == event.before and json.loads(row["after"]) == event.after
    assert (row["hash"], row["previous_hash"]) == (event.hash, event.previous_hash)
    assert rows[1]["before"] == ""  # nothing before a creation


def test_the_csv_neutralises_a_formula_in_an_event(client, personas, use_case):
    hostile = UseCaseFactory(slug="formula", title='=HYPERLINK("http://127.0.0.1:9/")')
    event = record(
        "usecase.updated",
        use_case=hostile,
        by=personas["owner"],
        after={"title": "=1+1"},
    )
    assert event.target_repr.startswith("=")
    rows = csv_rows(login(client, personas, "admin").get(AUDIT_CSV, {"use_case": "formula"}))
    assert rows[0]["target"] == "'" + event.target_repr
    assert json.loads(rows[0]["after"]) == {"title": "=1+1"}  # JSON starts with {
    text = b"".join(client.get(AUDIT_CSV).streaming_content).decode()
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_the_csv_is_streamed_in_one_query_whatever_its_length(client, personas, use_case):
    client = login(client, personas, "manager")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            len(csv_rows(client.get(AUDIT_CSV)))
        return len(captured)

    record("kpi.updated", use_case=use_case)
    few = queries()
    for _ in range(40):
        record("kpi.updated", use_case=use_case)
    assert queries() == few
    assert client.get(AUDIT_CSV)["Content-Disposition"] == 'attachment; filename="audit.csv"'


# The History tab


def test_the_history_tab_filters_its_events_and_downloads_them(client, personas, use_case, trail):
    client = login(client, personas, "viewer")
    query = {"kind": "promotion", "date_to": "2026-03-11"}
    page = html(client.get(history_url(use_case), query))
    assert page.count(ITEM) == 1 and "requested a promotion" in page
    csv_url = history_url(use_case, csv_download=True)
    assert f'href="{csv_url}?kind=promotion&amp;date_to=2026-03-11"' in page
    assert ids_in(client.get(csv_url, query)) == {trail["requested"].pk}
    assert ids_in(client.get(csv_url, {"actor": "erik"})) == {trail["kpi"].pk}
    response = client.get(csv_url)
    assert response["Content-Disposition"] == 'attachment; filename="demand-forecast-audit.csv"'


def test_the_history_tab_says_when_nothing_matches(client, personas, use_case, trail):
    page = html(login(client, personas, "viewer").get(history_url(use_case), {"actor": "nobody"}))
    assert "No change matches these filters." in page


def test_the_history_tab_keeps_its_filters_across_pages(client, personas, use_case):
    for n in range(30):
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"Sponsor {n}")
    client = login(client, personas, "viewer")
    first = html(client.get(history_url(use_case), {"actor": "olivia"}))
    assert first.count(ITEM) == 25 and "actor=olivia&amp;page=2" in first
    assert html(client.get(history_url(use_case), {"actor": "olivia", "page": 2})).count(ITEM) == 5


# Query counts


@pytest.mark.parametrize("url", [AUDIT, f"{AUDIT}?kind=kpi&date_from=2020-01-01"])
def test_the_audit_page_costs_the_same_queries_for_3_or_30_events(client, personas, use_case, url):
    client = login(client, personas, "manager")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            html(client.get(url))
        return len(captured)

    for _ in range(3):
        usecases.update_use_case(use_case, by=personas["owner"], sponsor="A")
        record("kpi.updated", use_case=use_case, by=personas["expert"], after={"n": 1})
    few = queries()
    for n in range(27):
        UseCaseFactory()
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"S{n}")
        record("kpi.updated", use_case=use_case, by=personas["expert"], after={"n": n})
    assert queries() == few


def test_the_filtered_history_tab_costs_the_same_queries_for_3_or_30_events(
    client, personas, use_case, django_assert_max_num_queries
):
    client = login(client, personas, "viewer")
    url = history_url(use_case)
    query = {"actor": "olivia", "kind": "usecase", "date_from": "2020-01-01"}
    for n in range(3):
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"A{n}")
    with CaptureQueriesContext(connection) as captured:
        html(client.get(url, query))
    for n in range(27):
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"S{n}")
    with django_assert_max_num_queries(len(captured)):
        assert html(client.get(url, query)).count(ITEM) == 25


# Words for every verb

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "portal",
    "usecases",
    "registry",
    "predictions",
    "reviews",
    "promotions",
    "monitoring",
    "notifications",
    "collaboration",
    "portfolio",
    "demo",
)


def verbs_recorded_in(tree: ast.AST) -> set[str]:
    """The string constants given as `verb=` (directly, or in a conditional expression) and
    assigned to module constants named VERB."""
    found = set()
    for node in ast.walk(tree):
        given = isinstance(node, ast.keyword) and node.arg == "verb"
        named = isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id.endswith("VERB") for target in node.targets
        )
        if given or named:
            found |= {
                value.value
                for value in ast.walk(node.value)
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
            }
    return found


def test_every_verb_the_code_records_has_words_and_a_kind():
    recorded = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                recorded |= verbs_recorded_in(ast.parse(path.read_text()))
    assert {"promotion.approved", "promotion.rejected", "predictions.uploaded"} <= recorded
    assert sorted(recorded - set(VERBS)) == []
    assert {verb_kind(verb) for verb in VERBS} == set(KINDS)


def test_the_verb_finder_sees_each_way_a_verb_is_given():
    code = 'VERB = "a.b"\nf(verb="c.d")\ng(verb="e.f" if x else "g.h")\nh(verb=VERB)\n'
    assert verbs_recorded_in(ast.parse(code)) == {"a.b", "c.d", "e.f", "g.h"}


@pytest.mark.parametrize(("who", "shown"), [("manager", True), ("admin", True), ("owner", False)])
def test_the_nav_links_the_audit_trail_for_managers_and_admins(client, personas, who, shown):
    html = login(client, personas, who).get(reverse("home")).content.decode()
    assert (f'href="{reverse("usecases:audit")}"' in html) is shown


# Every app's real events in words: no code, no ISO date in the sentences and change tables

SNAKE_CASE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")  # "lowest_confidence"
DOTTED = re.compile(r"\b[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*\b")  # "stages.changed"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")  # "2026-06-30", "2026-06-30T10:00:00+00:00"
TYPED = re.compile(r"https?://\S+|\b[\w-]+\.csv\b")  # URLs and file names: as people typed them


@pytest.fixture
def every_event(personas, use_case):
    """Each verb recorded once or more by the services of every app, as people use them."""
    from collaboration.services import comments
    from promotions.models import WebhookDelivery
    from promotions.services import execution, phases, webhooks
    from promotions.services import requests as promotion_requests
    from promotions.services import settings as promotion_settings
    from registry.services import evaluations, reference, registering
    from reviews.services import campaigns
    from tests.factories import dataset_csv, log_predictions, make_version, predictions_csv
    from tests.promotions import evidence
    from usecases.models import UseCaseMember
    from usecases.services import definitions, notifications, tokens

    owner, expert = personas["owner"], personas["expert"]
    scientist, manager = personas["data_scientist"], personas["manager"]
    # usecases: a use case created with milestones, edited (a new owner), deleted.
    churn = usecases.create_use_case(
        by=owner,
        title="Churn",
        task_type="binary",
        slug="churn",
        start_date=datetime.date(2026, 1, 5),
        target_date=datetime.date(2026, 9, 30),
        milestones=[{"name": "Pilot", "due_date": datetime.date(2026, 6, 30)}],
    )
    done = [{"name": "Pilot", "due_date": datetime.date(2026, 6, 30), "done_at": timezone.now()}]
    usecases.update_use_case(
        churn, by=owner, owner=personas["viewer"], task_type="multiclass", milestones=done
    )
    usecases.delete_use_case(churn, by=owner)
    phases.change_phase(use_case, by=owner, phase="scoping", note="Framed")
    kpi = definitions.create_kpi(
        use_case, by=expert, name="MAE", metric="mae", target=3, gate_threshold=5
    )
    definitions.update_kpi(kpi, by=expert, target=4, gate_mode="bound")
    definitions.delete_kpi(kpi, by=expert)
    definitions.save_value_model(use_case, by=owner, cost_per_unit_under=2, cost_per_unit_over=1)
    definitions.save_value_model(use_case, by=owner, cost_per_unit_under=3)
    rule = definitions.create_rule(
        use_case, by=expert, field="price", kind="range", params={"min": 0, "max": 9}
    )
    definitions.update_rule(rule, by=expert, params={"min": 1, "max": 9}, severity="warning")
    definitions.delete_rule(rule, by=expert)
    member = usecases.add_member(use_case, by=owner, user=manager, role="viewer")
    member = usecases.change_member_role(member, by=owner, role="data_scientist")
    UseCaseMember.objects.filter(pk=member.pk).update(
        notify_failed_at=timezone.now(), notify_error="SMTP down"
    )
    member.refresh_from_db()
    notifications.resend_welcome(member, by=owner)
    usecases.remove_member(member, by=owner)
    token, _ = tokens.create_token(scientist, expiry_days=30)
    tokens.revoke_token(scientist, token.token_key)
    tokens.create_token(scientist, expiry_days=30)
    tokens.revoke_all_tokens(scientist, reason="password changed")
    # registry: a version, a dataset, predictions (twice), an evaluation run (twice).
    version = registering.register_version(use_case, by=scientist, version="1.0.0")
    registering.update_version(version, by=scientist, description="First", tags={"team": "a"})
    dataset = registering.upload_dataset(
        use_case, by=scientist, name="holdout", source=io.BytesIO(dataset_csv(6)), filename="h.csv"
    )
    for _ in range(2):
        registering.upload_predictions(
            version,
            by=scientist,
            dataset=dataset,
            source=io.BytesIO(predictions_csv([f"r{n}" for n in range(1, 7)])),
            filename="p.csv",
        )
    reference.mark_reference(dataset, by=owner)
    evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk)
    evaluations.start_evaluation(version, by=scientist, dataset=dataset)  # supersedes it
    spare = registering.upload_dataset(
        use_case, by=scientist, name="spare", source=io.BytesIO(dataset_csv(6)), filename="s.csv"
    )
    registering.delete_dataset(spare, by=owner)
    # reviews: a blind pairwise campaign of the least confident predictions, closed.
    a, b = make_version(use_case, "3.0.0", scientist), make_version(use_case, "3.1.0", scientist)
    log_predictions(a, 40)
    log_predictions(b, 40)
    campaign = campaigns.create_campaign(
        use_case,
        by=owner,
        name="Pairs",
        model_version=b,
        other_version=a,
        mode="pairwise",
        strategy="lowest_confidence",
        sample_size=5,
    )
    campaigns.close_campaign(campaign, by=owner)
    # promotions: to production twice, a rollback, a rejection, a withdrawal, an override, a
    # refusal at execution, the policy and a webhook sent again.
    promotion_settings.save_policy(
        use_case, by=owner, webhook_url="https://hooks.example.com/q", webhook_secret="s" * 20
    )
    for name in ("4.0.0", "5.0.0"):
        ready = evidence.ready_version(use_case, personas, name, stage="canary")
        request = promotion_requests.open_request(
            use_case, by=scientist, version=ready, target_stage="production", rationale="Better."
        )
        promotion_requests.approve(request, by=expert)
    execution.rollback(use_case, by=owner, reason="Errors in stores")
    other = evidence.ready_version(use_case, personas, "6.0.0")
    for verb in ("reject", "withdraw"):
        request = promotion_requests.open_request(
            use_case, by=scientist, version=other, target_stage="shadow", rationale="Try."
        )
        if verb == "reject":
            promotion_requests.reject(request, by=expert, comment="Not now")
        else:
            promotion_requests.withdraw(request, by=scientist)
    bold = make_version(use_case, "7.0.0", scientist)
    request = promotion_requests.open_request(
        use_case, by=scientist, version=bold, target_stage="shadow", rationale="Bold."
    )
    promotion_requests.override(request, by=manager, justification="Shadow serves no one.")
    late = evidence.ready_version(use_case, personas, "8.0.0", stage="canary")
    request = promotion_requests.open_request(
        use_case, by=scientist, version=late, target_stage="production", rationale="Later."
    )
    promotion_settings.save_policy(
        use_case, by=owner, acceptance_bound="wilson", acceptance_threshold=0.99
    )
    promotion_requests.approve(request, by=expert)  # the review gate now fails: refused
    delivery = WebhookDelivery.objects.create(
        use_case=use_case,
        event=webhooks.EVENT_STAGES_CHANGED,
        body="{}",
        url="https://hooks.example.com/q",
        status=WebhookDelivery.Status.FAILED,
    )
    webhooks.resend(delivery, by=owner)
    # collaboration: a comment, a reply, an edit, a deletion.
    comment = comments.post_comment(
        use_case, by=expert, target=f"use_case:{use_case.pk}", body="Hi @olivia"
    )
    comments.post_comment(
        use_case, by=owner, target=f"use_case:{use_case.pk}", body="Yes", parent=comment
    )
    comments.edit_comment(comment, by=expert, body="Hello @olivia")
    comments.delete_comment(comment, by=expert)
    # monitoring: the nightly job opens and closes alerts (no actor); members handle them.
    from monitoring.models import Alert
    from monitoring.services import alerts

    today = datetime.date(2026, 11, 30)
    for kind, subject in (("drift", "plan"), ("quality", "age")):
        alert = Alert.objects.create(
            use_case=use_case,
            model_version=version,
            kind=kind,
            subject=subject,
            value=0.31,
            threshold=0.2,
            day=today,
            last_seen_day=today,
        )
        audit.record(actor=None, verb="alert.opened", target=alert, use_case=use_case)
    alerts.acknowledge_alert(alert, by=expert, note="Looking")
    alerts.resolve_alert(alert, by=owner, note="Fixed upstream")
    audit.record(actor=None, verb="alert.closed", target=alert, use_case=use_case)
    alerts.save_policy(use_case, by=owner, psi_threshold=0.25, is_p_value_alerting=True)

    # MLflow: the owner links the use case, a data scientist imports, the owner unlinks.
    from unittest import mock

    from mlflow_sync.services import importing, links
    from tests.mlflow_sync.fakes import CannedMlflow

    with mock.patch.object(links.rest, "Mlflow", CannedMlflow):
        link = links.save_link(
            use_case, by=owner, tracking_uri="https://mlflow.example.com", model_name="churn"
        )
        importing.import_versions(link, by=personas["data_scientist"])
        links.remove_link(use_case, by=owner)
    return list(AuditEvent.objects.order_by("id"))


def shows_a_code(text: str) -> bool:
    shown = TYPED.sub("", text)
    return any(pattern.search(shown) for pattern in (SNAKE_CASE, DOTTED, ISO))


def test_every_apps_events_read_without_codes_or_iso_dates(every_event):
    from usecases.activity import sentences
    from usecases.audit_labels import coded_values

    assert {event.verb for event in every_event} == set(VERBS)  # real events, every verb
    codes = {code for values in coded_values().values() for code, label in values.items()}
    labels = {label for values in coded_values().values() for label in values.values()}
    entries = sentences(every_event)
    for entry in entries:
        assert not shows_a_code(entry.text), (entry.event.verb, entry.text)
        for row in entry.changes:
            assert not any(shows_a_code(cell) for cell in row if cell), (entry.event.verb, row)
            # A coded value shows as its label ("Closed", not "closed").
            assert not (set(row[1:]) & codes) - labels, (entry.event.verb, row)
    rows = {(entry.event.verb, *row) for entry in entries for row in entry.changes}
    for row in (
        ("usecase.updated", "owner", "Olivia", "Victor"),  # people by name, every user field
        ("usecase.updated", "task type", "Binary classification", "Multiclass classification"),
        ("usecase.created", "target date", None, "30 Sep 2026"),
        ("review_campaign.created", "strategy", None, "Lowest confidence"),
        ("review_campaign.created", "mode", None, "Blind pairwise (two versions, A or B)"),
        ("review_campaign.closed", "status", "Open", "Closed"),
        ("webhook.resent", "event", None, "stage changes"),
    ):
        assert row in rows
    hidden = {"request", "stage changes", "supersedes", "of", "thread"}  # ids of other rows
    assert not [row for row in rows if row[1] in hidden]
    texts = {entry.event.verb: entry.text for entry in entries}
    assert "owner Olivia → Victor" in texts["usecase.updated"]
    assert "Point estimate → Lower bound of the Wilson" in texts["promotion_policy.changed"]
    assert (
        "(alerts on p-values no → yes, PSI threshold 0.2 → 0.25)"
        in texts["monitoring_policy.changed"]
    )


def test_every_apps_events_read_without_codes_on_the_pages(client, personas, use_case, every_event):
    """The audit page and the History tab, page by page, as people read them: the text
    between tags (a <time datetime=…> attribute is no text), the filters' menus set aside."""
    client = login(client, personas, "admin")
    mine = [event for event in every_event if event.use_case_id_ref == use_case.pk]
    for url, events, marker in ((AUDIT, every_event, ROW), (history_url(use_case), mine, ITEM)):
        shown = 0
        for number in range(1, (len(events) + 24) // 25 + 1):
            page = html(client.get(url, {"page": number}))
            shown += page.count(marker)
            main = page.split("<main", 1)[1].split("</main>", 1)[0]
            main = re.sub(r"<select\b.*?</select>", " ", main, flags=re.S)
            text = re.sub(r"<[^>]+>", " ", main)
            assert not [line for line in text.splitlines() if shows_a_code(line)], url
        assert shown == len(events)


def test_moments_in_the_changes_read_as_the_pages_show_them_in_the_sites_time_zone(
    personas, use_case, settings
):
    from usecases.activity import sentences

    settings.TIME_ZONE = "Europe/Paris"  # UTC+1 in March
    event = record(
        "usecase.updated",
        use_case=use_case,
        by=personas["owner"],
        before={"target_date": "2026-03-31", "phase_changed_at": None},
        after={"target_date": "2026-04-30", "phase_changed_at": "2026-03-10T23:30:00+00:00"},
    )
    assert sentences([event])[0].changes == [
        ("in this phase since", None, "11 Mar 2026, 00:30"),
        ("target date", "31 Mar 2026", "30 Apr 2026"),
    ]
