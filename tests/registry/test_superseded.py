"""Evaluations are never overwritten: running a finished one again makes a new row and marks
the old one superseded. Lists, the leaderboard, the API and the promotion selectors read the
current one; the superseded one stays readable at its own URL, saying what replaced it."""

import datetime
import threading

import pytest
from django.db import connection
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone

from registry import selectors, tasks
from registry.models import Evaluation
from registry.services import evaluations, registering
from tests.conftest import login
from tests.factories import KPIFactory, upload_holdout, upload_holdout_predictions

UC = "/api/v1/usecases/demand-forecast"
SUPERSEDED_MAE = 99.125  # written into the old run's results, to spot it on a page


@pytest.fixture
def scientist(personas):
    return personas["data_scientist"]


@pytest.fixture
def pair(use_case, scientist):
    """Version 1.4.0 with predictions on “holdout”, and a gating MAE KPI."""
    KPIFactory(use_case=use_case, name="Forecast error", metric="mae", target=1, gate_threshold=2)
    dataset = upload_holdout(use_case, scientist)
    version = registering.register_version(use_case, by=scientist, version="1.4.0")
    upload_holdout_predictions(version, dataset, scientist)
    return version, dataset


def run(version, dataset, by) -> Evaluation:
    evaluation = evaluations.start_evaluation(version, by=by, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.SUCCEEDED, evaluation.error
    return evaluation


@pytest.fixture
def runs(pair, scientist):
    """(old, new): the pair evaluated twice; the old run's MAE reads SUPERSEDED_MAE."""
    old = run(*pair, scientist)
    results = old.results
    results["overall"]["mae"] = {"value": SUPERSEDED_MAE, "low": None, "high": None}
    Evaluation.objects.filter(pk=old.pk).update(results=results)
    new = run(*pair, scientist)
    old.refresh_from_db()
    return old, new


def html_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def detail_url(use_case, evaluation) -> str:
    return reverse("registry:evaluation_detail", args=[use_case.slug, evaluation.pk])


# Pages


def test_lists_and_the_leaderboard_show_only_the_current_evaluation(
    client, personas, use_case, pair, runs
):
    (version, dataset), (old, new) = pair, runs
    ahead = timezone.now() + datetime.timedelta(hours=1)
    # A clock ahead on the server that queued the old run: the current run still wins.
    Evaluation.objects.filter(pk=old.pk).update(queued_at=ahead)
    login(client, personas, "viewer")
    pages = {
        "evaluations": reverse("registry:evaluations", args=[use_case.slug]),
        "versions": reverse("registry:versions", args=[use_case.slug]),
        "version": version.get_absolute_url(),
        "dataset": dataset.get_absolute_url(),
    }
    for name, url in pages.items():
        html = html_of(client, url)
        assert f'{detail_url(use_case, new)}"' in html, name
        assert f'{detail_url(use_case, old)}"' not in html, name
    board = html_of(client, pages["evaluations"]).split('id="leaderboard"')[1]
    assert board.split("</section>")[0].count("1.4.0</a>") == 1
    assert "99.1" not in board


def test_the_dataset_list_counts_only_current_evaluations(client, personas, use_case, runs):
    html = html_of(
        login(client, personas, "viewer"), reverse("registry:datasets", args=[use_case.slug])
    )
    row = html.split('id="dataset-table"')[1].split("</tr>")[1]
    cells = [cell.split(">", 1)[1].strip() for cell in row.split("</td>")[:-1]]
    assert cells[5] == "1"  # prediction sets, then evaluations: 1 current of 2 rows


def test_a_superseded_evaluation_stays_readable_and_says_what_replaced_it(
    client, personas, use_case, runs
):
    old, new = runs
    login(client, personas, "data_scientist")
    html = " ".join(html_of(client, detail_url(use_case, old)).split())
    when = date_filter(timezone.localtime(old.superseded_at), "j M Y H:i")
    notice = html.split('id="superseded-notice"')[1].split("</p>")[0]
    assert f"evaluation {new.pk}</a> on {when}." in notice
    assert "Superseded by" in notice and f'href="{detail_url(use_case, new)}"' in notice
    assert reverse("registry:evaluation_rerun", args=[use_case.slug, old.pk]) not in html
    assert "99.1" in html  # its own results, as they were
    html = " ".join(html_of(client, detail_url(use_case, new)).split())
    assert 'id="superseded-notice"' not in html
    assert f'It replaces <a href="{detail_url(use_case, old)}">evaluation {old.pk}</a>' in html
    assert reverse("registry:evaluation_rerun", args=[use_case.slug, new.pk]) in html


def test_running_a_superseded_evaluation_again_supersedes_the_current_one(
    client, personas, use_case, runs
):
    old, new = runs
    login(client, personas, "data_scientist")
    response = client.post(reverse("registry:evaluation_rerun", args=[use_case.slug, old.pk]))
    third = Evaluation.objects.current().get()
    assert response.url == third.get_absolute_url()
    new.refresh_from_db()
    assert new.superseded_by == third and old.superseded_by == new  # the old link stays


# API


def test_the_api_lists_current_evaluations_and_reads_a_superseded_one_by_id(api, pair, runs):
    (_, dataset), (old, new) = pair, runs
    client = api("viewer")
    for query in ("", "?version=1.4.0", f"?dataset={dataset.pk}", "?status=succeeded"):
        listed = client.get(f"{UC}/evaluations/{query}").json()["results"]
        assert [row["id"] for row in listed] == [new.pk], query
    body = client.get(f"{UC}/evaluations/{old.pk}/").json()
    assert body["superseded_by"] == new.pk
    assert body["superseded_at"] == old.superseded_at.isoformat().replace("+00:00", "Z")
    assert body["results"]["overall"]["mae"]["value"] == SUPERSEDED_MAE
    current = client.get(f"{UC}/evaluations/{new.pk}/").json()
    assert (current["superseded_at"], current["superseded_by"]) == (None, None)
    listed_version = client.get(f"{UC}/versions/").json()["results"][0]
    assert listed_version["latest_evaluation"]["id"] == new.pk
    assert client.get(f"{UC}/versions/1.4.0/").json()["latest_evaluation"]["id"] == new.pk


def test_a_versions_latest_evaluation_is_its_current_one_whatever_the_clocks(api, runs):
    old, new = runs
    ahead = timezone.now() + datetime.timedelta(hours=1)
    Evaluation.objects.filter(pk=old.pk).update(queued_at=ahead)
    client = api("viewer")
    assert client.get(f"{UC}/versions/").json()["results"][0]["latest_evaluation"]["id"] == new.pk
    assert client.get(f"{UC}/versions/1.4.0/").json()["latest_evaluation"]["id"] == new.pk


# Selectors the promotions app calls


def test_latest_succeeded_evaluation_is_the_current_one_only_when_it_succeeded(
    use_case, pair, scientist
):
    version, dataset = pair
    assert selectors.latest_succeeded_evaluation(version, dataset) is None
    first = run(version, dataset, scientist)
    assert selectors.latest_succeeded_evaluation(version, dataset) == first
    second = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    assert selectors.latest_succeeded_evaluation(version, dataset) is None  # re-run pending
    evaluations.run_evaluation(second.pk)
    assert selectors.latest_succeeded_evaluation(version, dataset) == second
    third = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    Evaluation.objects.filter(pk=third.pk).update(status="failed", error="boom")
    assert selectors.latest_succeeded_evaluation(version, dataset) is None
    other = upload_holdout(use_case, scientist, name="other")
    assert selectors.latest_succeeded_evaluation(version, other) is None


# Two starts at once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("finished_before", [True, False], ids=["re-run", "first run"])
def test_two_starts_at_once_make_exactly_one_new_evaluation(
    pair, personas, monkeypatch, finished_before
):
    version, dataset = pair
    people = [personas["data_scientist"], personas["owner"]]
    old = None
    if finished_before:
        old = Evaluation.objects.create(
            use_case=version.use_case,
            model_version=version,
            dataset=dataset,
            requested_by=people[0],
            status=Evaluation.Status.SUCCEEDED,
            finished_at=timezone.now(),
        )
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_evaluation_task, "delay_on_commit", sent.append)
    started: list[Evaluation] = []
    refused: list[Exception] = []
    barrier = threading.Barrier(len(people))

    def start(user):
        try:
            barrier.wait()
            started.append(evaluations.start_evaluation(version, by=user, dataset=dataset))
        except evaluations.EvaluationError as error:
            refused.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started) == 1 and len(refused) == 1, (started, refused)
    assert "already queued or running" in refused[0].message
    (new,) = started
    assert list(Evaluation.objects.current().values_list("pk", flat=True)) == [new.pk]
    assert Evaluation.objects.count() == (2 if finished_before else 1)
    assert sent == [new.pk]
    if old is not None:
        old.refresh_from_db()
        assert old.superseded_by_id == new.pk and old.superseded_at is not None
