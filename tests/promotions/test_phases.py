"""A use case's phase follows the evidence: one step at a time with a note, Pilot needs a
version in shadow or canary, Production one in production; an Admin may skip with an
audited justification. The service, the page (and the detail page's Phase card) and the
API, with their permission matrices."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.errors import InvalidInput
from promotions.services import phases
from registry.models import ModelVersion
from tests.conftest import PERSONAS, expected_status, fields_in, login
from tests.factories import UseCaseFactory, make_version
from usecases.models import AuditEvent, UseCase
from usecases.services.errors import PhaseError

Stage = ModelVersion.Stage
OWNERS = {"owner", "admin"}
UC = "/api/v1/usecases/demand-forecast"


def in_phase(use_case: UseCase, phase: str) -> UseCase:
    """The use case put in `phase` directly (the rules are what the tests exercise)."""
    UseCase.objects.filter(pk=use_case.pk).update(phase=phase)
    use_case.refresh_from_db()
    return use_case


def version_in(use_case, personas, stage: str, name: str = "1.2") -> ModelVersion:
    """A version put in `stage` directly (executing promotions is promotions' own tests')."""
    version = make_version(use_case, name, personas["data_scientist"])
    ModelVersion.objects.filter(pk=version.pk).update(stage=stage)
    return version


def move(use_case, personas, who: str = "owner", **kwargs) -> UseCase:
    kwargs.setdefault("note", "Agreed in the steering committee")
    return phases.change_phase(use_case, by=personas[who], **kwargs)


def last_phase_event() -> AuditEvent:
    return AuditEvent.objects.filter(verb="usecase.phase_changed").latest("id")


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# The service


def test_a_phase_moves_one_step_forward_and_back_with_its_note(use_case, personas):
    assert move(use_case, personas, phase="scoping").phase == "scoping"
    event = last_phase_event()
    assert event.before == {"phase": "idea"}
    assert event.after == {"phase": "scoping", "note": "Agreed in the steering committee"}
    assert move(use_case, personas, phase="idea", note="Framing was premature").phase == "idea"
    assert last_phase_event().after == {"phase": "idea", "note": "Framing was premature"}


def test_skipping_a_step_is_refused_naming_the_steps_allowed(use_case, personas):
    in_phase(use_case, "scoping")
    with pytest.raises(PhaseError) as refused:
        move(use_case, personas, phase="poc")
    assert refused.value.status_code == 409
    assert refused.value.message == (
        "A use case moves one step at a time: from Scoping it may move to Idea, Data or "
        "Retired, not to Proof of concept."
    )
    use_case.refresh_from_db()
    assert use_case.phase == "scoping"
    assert not AuditEvent.objects.filter(verb="usecase.phase_changed").exists()


@pytest.mark.parametrize("note", ["", "   \n "])
def test_every_move_needs_a_note(use_case, personas, note):
    with pytest.raises(InvalidInput) as refused:
        move(use_case, personas, phase="scoping", note=note)
    assert (refused.value.field, refused.value.status_code) == ("note", 400)
    assert "note" in refused.value.message


def test_the_current_phase_is_a_conflict(use_case, personas):
    with pytest.raises(PhaseError, match="already in Idea"):
        move(use_case, personas, phase="idea")


def test_pilot_without_a_version_in_shadow_or_canary_names_what_is_missing(use_case, personas):
    in_phase(use_case, "poc")
    with pytest.raises(PhaseError) as refused:
        move(use_case, personas, phase="pilot")
    assert refused.value.message == (
        "Moving to Pilot needs a version in shadow or canary; the use case has no version "
        "yet. Register one and promote it first."
    )
    version_in(use_case, personas, Stage.REGISTERED)
    with pytest.raises(PhaseError) as refused:
        move(use_case, personas, phase="pilot")
    assert refused.value.message == (
        "Moving to Pilot needs a version in shadow or canary; version 1.2 is only registered. "
        "Promote it first."
    )


def test_the_refusal_names_the_furthest_versions_and_says_when_all_are_archived(use_case, personas):
    in_phase(use_case, "poc")
    version_in(use_case, personas, Stage.ARCHIVED, "0.9")
    with pytest.raises(PhaseError, match="every version is archived"):
        move(use_case, personas, phase="pilot")
    for name in ("1.0", "1.1"):
        version_in(use_case, personas, Stage.REGISTERED, name)
    with pytest.raises(PhaseError, match=r"versions 1\.1 and 1\.0 are only registered\. Prom"):
        move(use_case, personas, phase="pilot")


@pytest.mark.parametrize("stage", [Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION])
def test_pilot_is_reached_with_a_version_in_shadow_canary_or_beyond(use_case, personas, stage):
    in_phase(use_case, "poc")
    version_in(use_case, personas, stage)
    assert move(use_case, personas, phase="pilot").phase == "pilot"


def test_production_without_a_version_in_production_is_refused(use_case, personas):
    in_phase(use_case, "pilot")
    version_in(use_case, personas, Stage.CANARY, "2.0")
    version_in(use_case, personas, Stage.SHADOW, "2.1")
    with pytest.raises(PhaseError) as refused:
        move(use_case, personas, phase="production")
    assert refused.value.message == (
        "Moving to Production needs a version in production; version 2.0 is only in canary. "
        "Promote it first."
    )
    ModelVersion.objects.filter(version="2.0").update(stage=Stage.PRODUCTION)
    assert move(use_case, personas, phase="production").phase == "production"


def test_an_admin_skips_with_a_justification_the_audit_keeps(use_case, personas):
    moved = move(
        use_case, personas, "admin", phase="pilot", skip_justification="Piloted outside Quorum"
    )
    assert moved.phase == "pilot"
    after = last_phase_event().after
    assert after["skip_justification"] == "Piloted outside Quorum"
    assert after["note"] == "Agreed in the steering committee"
    assert "one step at a time" in after["skipped"]
    assert "needs a version in shadow or canary" in after["skipped"]


def test_an_admin_skip_without_a_justification_is_refused_on_that_field(use_case, personas):
    with pytest.raises(InvalidInput) as refused:
        move(use_case, personas, "admin", phase="data", skip_justification="  ")
    assert refused.value.field == "skip_justification"
    assert "As an Admin you may skip this with a justification" in refused.value.message
    use_case.refresh_from_db()
    assert use_case.phase == "idea"


@pytest.mark.parametrize("who", ["owner", "manager"])
def test_nobody_but_an_admin_may_skip_even_with_a_justification(use_case, personas, who):
    with pytest.raises(PhaseError, match="Only an Admin may skip it"):
        move(use_case, personas, who, phase="data", skip_justification="Trust me")
    in_phase(use_case, "poc")
    with pytest.raises(PhaseError, match="needs a version in shadow or canary"):
        move(use_case, personas, who, phase="pilot", skip_justification="Trust me")


def test_a_justification_for_a_move_that_skips_nothing_is_not_recorded(use_case, personas):
    move(use_case, personas, "admin", phase="scoping", skip_justification="Not needed")
    assert last_phase_event().after == {
        "phase": "scoping",
        "note": "Agreed in the steering committee",
    }


@pytest.mark.parametrize("phase", ["idea", "data", "pilot", "production"])
def test_any_phase_may_retire_with_a_note(use_case, personas, phase):
    in_phase(use_case, phase)
    assert move(use_case, personas, phase="retired", note="Sponsor left").phase == "retired"


def test_a_retired_use_case_returns_to_the_phase_it_left_or_to_idea(use_case, personas):
    in_phase(use_case, "data")
    move(use_case, personas, phase="retired")
    with pytest.raises(PhaseError) as refused:
        move(use_case, personas, phase="poc")
    assert refused.value.message == (
        "A retired use case returns to the phase it was retired from or starts over: it may "
        "move to Idea or Data, not to Proof of concept."
    )
    assert move(use_case, personas, phase="data").phase == "data"
    move(use_case, personas, phase="retired")
    assert move(use_case, personas, phase="idea").phase == "idea"


def test_a_use_case_retired_from_production_needs_its_version_to_return(use_case, personas):
    in_phase(use_case, "production")
    move(use_case, personas, phase="retired")
    with pytest.raises(PhaseError, match="needs a version in production"):
        move(use_case, personas, phase="production")
    version_in(use_case, personas, Stage.PRODUCTION)
    assert move(use_case, personas, phase="production").phase == "production"


def test_a_use_case_created_retired_may_only_start_over(personas):
    use_case = UseCaseFactory(owner=personas["owner"], phase="retired")
    with pytest.raises(PhaseError, match="it may move to Idea, not to Production"):
        move(use_case, personas, phase="production")
    assert move(use_case, personas, phase="idea").phase == "idea"


# The page and the detail page's Phase card

PAGE_STATUSES = {"anonymous": 302, "outsider": 404} | {
    who: 200 if who in OWNERS else 403 for who in PERSONAS if who not in ("anonymous", "outsider")
}


@pytest.mark.parametrize("who", PERSONAS)
def test_the_phase_page_is_for_owners_and_admins(client, personas, use_case, who):
    login(client, personas, who)
    url = reverse("promotions:phase", args=[use_case.slug])
    response = client.get(url)
    assert response.status_code == PAGE_STATUSES[who]
    body = {"phase": "scoping", "note": "Framing agreed", "confirmed": "yes"}
    posted = client.post(url, body)
    assert posted.status_code == (302 if who in OWNERS else PAGE_STATUSES[who])
    use_case.refresh_from_db()
    assert use_case.phase == ("scoping" if who in OWNERS else "idea")
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))


def test_moving_in_the_browser_keeps_the_note_in_the_history(client, personas, use_case):
    browser = login(client, personas, "owner")
    url = reverse("promotions:phase", args=[use_case.slug])
    body = {"phase": "scoping", "note": "Framing agreed", "confirmed": "yes"}
    response = browser.post(url, body)
    assert response.status_code == 302 and response.url == use_case.get_absolute_url()
    assert "Moved to Scoping." in page(browser.get(response.url))
    history = page(browser.get(reverse("usecases:history", args=[use_case.slug])))
    assert "changed the phase" in history and "Framing agreed" in history


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"phase": "data", "note": "Go"}, "moves one step at a time"),
        ({"phase": "scoping", "note": ""}, "the note is kept in its history"),
        ({"phase": "idea", "note": "Again"}, "already in Idea"),
    ],
)
def test_a_refused_move_shows_why_on_the_form(client, personas, use_case, body, message):
    html = page(
        login(client, personas, "owner").post(
            reverse("promotions:phase", args=[use_case.slug]), body
        )
    )
    assert message in html
    use_case.refresh_from_db()
    assert use_case.phase == "idea"


def test_the_page_says_what_pilot_is_missing_and_links_to_promotions(client, personas, use_case):
    in_phase(use_case, "poc")
    version_in(use_case, personas, Stage.REGISTERED)
    url = reverse("promotions:phase", args=[use_case.slug])
    html = page(login(client, personas, "owner").post(url, {"phase": "pilot", "note": "Go"}))
    assert "version 1.2 is only registered. Promote it first." in html
    assert reverse("promotions:use_case", args=[use_case.slug]) in html


def test_an_admin_skips_in_the_browser_with_a_justification(client, personas, use_case):
    browser = login(client, personas, "admin")
    url = reverse("promotions:phase", args=[use_case.slug])
    form = page(browser.get(url))
    assert 'name="skip_justification"' in form and "Skipping steps" in form
    refused = page(browser.post(url, {"phase": "poc", "note": "Go"}))
    assert "As an Admin you may skip this with a justification" in refused
    body = {"phase": "poc", "note": "Go", "skip_justification": "Data work done elsewhere"}
    confirm = page(browser.post(url, body))
    assert 'name="skip_justification" value="Data work done elsewhere"' in confirm
    assert browser.post(url, body | {"confirmed": "yes"}).status_code == 302
    assert last_phase_event().after["skip_justification"] == "Data work done elsewhere"


def test_an_owner_is_offered_only_the_next_steps_and_no_skip(client, personas, use_case):
    in_phase(use_case, "data")
    form = page(
        login(client, personas, "owner").get(reverse("promotions:phase", args=[use_case.slug]))
    )
    offered = form.split('name="phase"')[1].split("</select>")[0]
    assert all(f'value="{p}"' in offered for p in ("scoping", "poc", "retired"))
    assert all(f'value="{p}"' not in offered for p in ("idea", "pilot", "production"))
    assert 'name="skip_justification"' not in form


@pytest.mark.parametrize(("who", "skip"), [("owner", False), ("admin", True)])
def test_the_detail_pages_phase_card_posts_to_the_phase_page(client, personas, use_case, who, skip):
    html = page(login(client, personas, who).get(use_case.get_absolute_url()))
    card = html.split('id="phase-title"')[1].split("</section>")[0]
    assert f'action="{reverse("promotions:phase", args=[use_case.slug])}"' in card
    options = card.split('name="phase"')[1].split("</select>")[0]
    assert 'value="scoping"' in options and 'value="retired"' in options
    assert ('value="production"' in options) is skip
    assert 'name="note"' in card
    assert ('name="skip_justification"' in card) is skip


def test_the_phase_page_costs_the_same_queries_with_many_versions(client, personas, use_case):
    browser = login(client, personas, "owner")
    url = reverse("promotions:phase", args=[use_case.slug])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(browser.get(url))
        return len(captured)

    version_in(use_case, personas, Stage.SHADOW, "s0")
    few = queries()
    for n in range(1, 10):
        version_in(use_case, personas, Stage.SHADOW, f"s{n}")
    assert queries() == few


# The API


@pytest.mark.parametrize("who", PERSONAS)
def test_the_api_lets_owners_and_admins_move_the_phase(api, use_case, who):
    body = {"phase": "scoping", "note": "Framing agreed"}
    response = api(who).post(f"{UC}/phase", body, format="json")
    assert response.status_code == expected_status(who, OWNERS, 200)
    if response.status_code == 200:
        assert response.json()["phase"] == "scoping"
        assert response.json()["slug"] == "demand-forecast"
    use_case.refresh_from_db()
    assert use_case.phase == ("scoping" if who in OWNERS else "idea")


def test_the_api_refuses_a_skip_with_409_and_the_steps_allowed(api, use_case):
    response = api("owner").post(f"{UC}/phase", {"phase": "pilot", "note": "Go"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert body["detail"].startswith("A use case moves one step at a time: from Idea")


def test_the_api_needs_a_note(api, use_case):
    for body in ({"phase": "scoping"}, {"phase": "scoping", "note": ""}):
        response = api("owner").post(f"{UC}/phase", body, format="json")
        assert response.status_code == 400 and fields_in(response) == {"note"}


def test_the_api_says_what_production_is_missing(api, personas, use_case):
    in_phase(use_case, "pilot")
    version_in(use_case, personas, Stage.SHADOW, "3.0")
    body = {"phase": "production", "note": "Go live"}
    response = api("owner").post(f"{UC}/phase", body, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Moving to Production needs a version in production; version 3.0 is only in shadow. "
        "Promote it first."
    )


def test_an_admin_skips_through_the_api_only_with_a_justification(api, use_case):
    body = {"phase": "production", "note": "Imported"}
    refused = api("admin").post(f"{UC}/phase", body, format="json")
    assert refused.status_code == 400 and fields_in(refused) == {"skip_justification"}
    body["skip_justification"] = "Running in production since 2024, before Quorum"
    assert api("admin").post(f"{UC}/phase", body, format="json").status_code == 200
    after = last_phase_event().after
    assert after["skip_justification"] == body["skip_justification"]
    assert "needs a version in production" in after["skipped"]


def test_an_owners_justification_does_not_let_them_skip(api, use_case):
    body = {"phase": "data", "note": "Go", "skip_justification": "Trust me"}
    response = api("owner").post(f"{UC}/phase", body, format="json")
    assert response.status_code == 409
    assert response.json()["detail"].endswith("Only an Admin may skip it.")


def test_the_browser_and_the_api_take_notes_of_the_same_length(client, api, personas, use_case):
    """A note the API takes (phases.NOTE_LENGTH characters) the form takes too; one more is
    refused by both, naming the field."""
    longest, too_long = "x" * phases.NOTE_LENGTH, "x" * (phases.NOTE_LENGTH + 1)
    browser = login(client, personas, "owner")
    url = reverse("promotions:phase", args=[use_case.slug])
    refused = browser.post(url, {"phase": "scoping", "note": too_long})
    assert refused.status_code == 200 and "at most 2000 characters" in page(refused)
    body = {"phase": "scoping", "note": too_long}
    response = api("owner").post(f"{UC}/phase", body, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "note"
    moved = browser.post(url, {"phase": "scoping", "note": longest, "confirmed": "yes"})
    assert moved.status_code == 302
    assert last_phase_event().after["note"] == longest


@pytest.mark.parametrize(
    ("start", "target", "says"),
    [
        ("idea", "scoping", "The roadmap shows it under Scoping"),
        ("scoping", "idea", "A step back: it leaves Scoping"),
        ("pilot", "retired", "retiring does not stop serving"),
    ],
)
def test_a_move_is_confirmed_with_what_it_means_before_it_happens(
    client, personas, use_case, start, target, says
):
    in_phase(use_case, start)
    browser = login(client, personas, "owner")
    url = reverse("promotions:phase", args=[use_case.slug])
    confirm = page(browser.post(url, {"phase": target, "note": "Steering committee"}))
    assert 'id="phase-confirm"' in confirm and says in confirm
    assert "Your note: “Steering committee”" in confirm
    use_case.refresh_from_db()
    assert use_case.phase == start  # asking moves nothing
    assert not AuditEvent.objects.filter(verb="usecase.phase_changed").exists()
    body = {"phase": target, "note": "Steering committee", "confirmed": "yes"}
    assert browser.post(url, body).status_code == 302
    use_case.refresh_from_db()
    assert use_case.phase == target


def test_a_refused_move_is_refused_before_any_confirmation(client, personas, use_case):
    browser = login(client, personas, "owner")
    url = reverse("promotions:phase", args=[use_case.slug])
    html = page(browser.post(url, {"phase": "data", "note": "Go"}))
    assert "moves one step at a time" in html and 'id="phase-confirm"' not in html
