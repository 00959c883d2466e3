"""Activity in sentences (usecases/activity.py) and its feeds: a use case's Activity tab and
a person's /activity/ (the use cases they are a member of), their permissions and queries."""

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.collaboration.conftest import post
from tests.conftest import PERSONAS, login
from tests.factories import UseCaseFactory
from tests.promotions.factories import executed_promotion
from usecases.activity import WORDING, sentences
from usecases.audit_labels import VERBS
from usecases.models import AuditEvent
from usecases.services import audit, definitions, usecases

CODE = re.compile(r"\b[a-z_]+\.[a-z_]+\b")  # "evaluation.queued"
RAW = re.compile(r"[{}\[\]]|\"\w+\":")  # JSON


def text_of(event) -> str:
    return sentences([event])[0].text


def latest(verb: str) -> AuditEvent:
    return AuditEvent.objects.filter(verb=verb).latest("id")


def test_every_verb_has_its_own_wording():
    assert sorted(set(VERBS) - set(WORDING)) == []


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_no_sentence_shows_a_code_or_raw_json(use_case, personas, verb):
    """Every verb, with the values its service records (a rule's params, a version's…)."""
    values = {
        "before": {"phase": "data", "role": "viewer", "params": {"min": 0.0}, "stage": "shadow"},
        "after": {
            "phase": "poc",
            "role": "expert",
            "params": {"min": 1.0, "max": 9},
            "version": "2.0.0",
            "stage": "production",
            "user": "erik",
            "kind": "range",
            "dataset": "holdout",
            "name": "MAE",
            "on": "the use case",
        },
    }
    with transaction.atomic():
        event = audit.record(actor=personas["owner"], verb=verb, target=use_case, **values)
    text = text_of(event)
    assert text.startswith("Olivia ")
    assert not CODE.search(text), text
    assert not RAW.search(text), text
    assert verb not in text


def test_a_phase_change_reads_its_labels(use_case, personas):
    usecases.change_phase(use_case, by=personas["owner"], phase="scoping", note="Framed")
    assert text_of(latest("usecase.phase_changed")) == (
        "Olivia changed the phase from Idea to Scoping"
    )


def test_a_kpi_edit_names_the_kpi_and_what_changed(use_case, personas):
    kpi = definitions.create_kpi(
        use_case, by=personas["expert"], name="MAE", metric="mae", target=3, gate_threshold=5
    )
    definitions.update_kpi(kpi, by=personas["expert"], target=4)
    assert text_of(latest("kpi.created")) == "Erik added the KPI “MAE”"
    assert text_of(latest("kpi.updated")) == "Erik edited the KPI “MAE” (target 3 → 4)"


def test_a_rule_reads_as_the_rule_not_its_parameters(use_case, personas):
    rule = definitions.create_rule(
        use_case, by=personas["expert"], field="price", kind="range", params={"min": 0, "max": 9}
    )
    definitions.update_rule(rule, by=personas["expert"], params={"min": 1, "max": 9})
    created, updated = sentences([latest("rule.created"), latest("rule.updated")])
    assert "price" in created.text and "params" not in created.text and "{" not in created.text
    assert updated.changes and updated.changes[0][0] == "rule"
    assert "{" not in str(updated.changes)


def test_a_member_is_named_and_their_role_in_words(use_case, personas, newcomer):
    newcomer.first_name = "Nina"
    newcomer.save()
    usecases.add_member(use_case, by=personas["owner"], user=newcomer, role="data_scientist")
    assert text_of(latest("member.added")) == "Olivia added Nina as data scientist"


def test_a_promotion_reads_as_a_sentence_with_its_version_and_stage(use_case, personas):
    request = executed_promotion(use_case, personas)
    approved = sentences([latest("promotion.approved")])[0]
    assert approved.text.startswith("Erik approved the promotion of version 2.0.0 to shadow")
    assert approved.url == request.get_absolute_url()
    assert text_of(latest("version.stage_changed")) == (
        "Erik moved version 2.0.0 from registered to shadow"
    )


def test_a_comment_event_links_to_the_comment(use_case, personas):
    comment = post(use_case, personas["expert"], "Hi")
    entry = sentences([latest("comment.posted")])[0]
    assert entry.text == "Erik commented on the use case"
    assert entry.url.endswith(f"?on=use_case:{use_case.pk}#comment-{comment.pk}")


def test_sentences_cost_one_query_whatever_the_number_of_events(use_case, personas):
    for n in range(30):
        usecases.update_use_case(use_case, by=personas[("owner", "expert")[n % 2]], sponsor=f"S{n}")
    events = list(AuditEvent.objects.all())
    with CaptureQueriesContext(connection) as captured:
        entries = sentences(events)
    assert len(captured) == 1 and len(entries) == 30


# Feeds

ACTIVITY = reverse("collaboration:my_activity")


def tab(use_case) -> str:
    return reverse("collaboration:activity", args=[use_case.slug])


@pytest.mark.parametrize("who", PERSONAS)
def test_the_activity_tab_is_for_those_who_may_view_the_use_case(client, personas, use_case, who):
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="Finance")
    response = login(client, personas, who).get(tab(use_case))
    expected = {"anonymous": 302, "outsider": 404}.get(who, 200)
    assert response.status_code == expected
    if expected == 200:
        assert "Olivia edited the definition (sponsor Finance)" in response.content.decode()


@pytest.mark.parametrize("who", PERSONAS)
def test_my_feed_lists_only_the_use_cases_i_am_a_member_of(client, personas, use_case, who):
    other = UseCaseFactory(slug="fraud", title="Fraud", owner=personas["outsider"])
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="Finance")
    usecases.update_use_case(other, by=personas["outsider"], sponsor="Secret sponsor")
    response = login(client, personas, who).get(ACTIVITY)
    if who == "anonymous":
        assert response.status_code == 302
        return
    html = response.content.decode()
    assert ("Finance" in html) is (who in {"viewer", "data_scientist", "expert", "owner"})
    assert ("Secret sponsor" in html) is (who == "outsider")  # fraud's owner
    if who in ("manager", "admin"):
        assert "Nothing has happened on your use cases yet" in html


@pytest.mark.parametrize("who", PERSONAS)
def test_managers_and_admins_may_follow_every_use_case_and_nobody_else(
    client, personas, use_case, who
):
    other = UseCaseFactory(slug="fraud", title="Fraud", owner=personas["outsider"])
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="Finance")
    usecases.update_use_case(other, by=personas["outsider"], sponsor="Secret sponsor")
    response = login(client, personas, who).get(ACTIVITY, {"scope": "all"})
    if who == "anonymous":
        assert response.status_code == 302
        return
    html = response.content.decode()
    sees_all = who in ("manager", "admin")
    assert ("Secret sponsor" in html) is (sees_all or who == "outsider")  # fraud's owner
    assert ("Finance" in html) is (who != "outsider")
    assert ("Every use case" in html) is sees_all


@pytest.mark.parametrize("url", ["tab", "mine"])
def test_a_feed_costs_the_same_queries_for_5_or_50_events(
    client, personas, use_case, url, django_assert_num_queries
):
    address = tab(use_case) if url == "tab" else ACTIVITY
    client = login(client, personas, "expert")
    for n in range(5):
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"A{n}")
    with CaptureQueriesContext(connection) as five:
        assert client.get(address).status_code == 200
    for n in range(45):
        post(use_case, personas[("owner", "expert")[n % 2]], f"Comment {n}")
    with django_assert_num_queries(len(five)):
        html = client.get(address).content.decode()
    assert html.count('class="timeline-item activity-entry"') == 25 and "page=2" in html


def test_the_use_case_header_links_the_activity_tab(client, personas, use_case):
    html = login(client, personas, "viewer").get(use_case.get_absolute_url()).content.decode()
    assert f'href="{tab(use_case)}"' in html
