"""The audit pages: a use case's History tab and the global /audit/ page, their filters, their
CSV downloads (portal.exports: formula-safe) and the verbs in words."""

import ast
import csv
import datetime
import io
import json
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
