"""`quorum usecases create` from docs/examples/usecase.yaml, `quorum members …` and the
exit statuses of refusals, against the real API on a live server."""

import json
from pathlib import Path

import pytest
from knox.models import AuthToken

from quorum_client import Client, QuorumError, cli
from quorum_client.errors import UseCaseIncomplete
from usecases.models import UseCase

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "usecase.yaml"
SLUG = "fresh-produce-forecast"


@pytest.fixture
def server(live_server, personas, use_case) -> dict:
    tokens = {who: AuthToken.objects.create(user)[1] for who, user in personas.items()}
    return {"url": live_server.url, "tokens": tokens}


def quorum(capsys, server, who: str, *argv: str) -> tuple[int, str, str]:
    status = cli.main(["--url", server["url"], "--token", server["tokens"][who], *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_example_file_creates_the_use_case_with_everything_in_it(capsys, server):
    status, out, err = quorum(capsys, server, "owner", "usecases", "create", str(EXAMPLE))
    assert status == 0, err
    assert out.splitlines() == [
        f"Created use case {SLUG} “Fresh produce demand forecast” with 3 KPIs, the value "
        "model, 3 data-quality rules and 2 members.",
        f"Next: quorum versions register {SLUG} VERSION",
    ]
    assert "Creating KPI 2 of 3 “Weighted error”…" in err
    use_case = UseCase.objects.get(slug=SLUG)
    assert (use_case.task_type, use_case.risk_tier, str(use_case.start_date)) == (
        "regression",
        "medium",
        "2027-01-11",
    )
    assert [f["name"] for f in use_case.feature_schema] == [
        "store",
        "price",
        "promotion",
        "day_of_week",
    ]
    with Client(server["url"], token=server["tokens"]["viewer"]) as viewer:
        with pytest.raises(QuorumError) as raised:
            viewer.get_use_case(SLUG)  # not a member of the new one
        assert raised.value.status == 404
    with Client(server["url"], token=server["tokens"]["data_scientist"]) as client:
        kpis = {k["name"]: k for k in client.list_kpis(SLUG)}
        value_model = client.get_value_model(SLUG)
        rules = client.list_rules(SLUG)
        members = {m["username"]: m["role"] for m in client.list_members(SLUG)}
    assert kpis["Forecast error"]["gate_mode"] == "bound"
    assert kpis["Forecast error"]["direction"] == "lower"  # the metric's natural one
    assert kpis["Bias on promotions"]["is_gating"] is False
    assert kpis["Bias on promotions"]["segment"] == "promotion"
    assert (value_model["currency"], float(value_model["cost_per_unit_under"])) == ("EUR", 2.4)
    assert sorted((r["field"], r["kind"], r["params"]) for r in rules) == [
        ("price", "range", {"min": 0, "max": 500}),
        ("promotion", "max_null_rate", {"max_rate": 0.05}),
        ("store", "not_null", {}),
    ]
    assert members == {"olivia": "owner", "erik": "expert", "dana": "data_scientist"}


def test_the_same_file_as_json_with_json_output(capsys, server, tmp_path):
    import yaml

    definition = yaml.safe_load(EXAMPLE.read_text())
    definition.update(slug="json-copy", members=[])
    path = tmp_path / "usecase.json"
    path.write_text(json.dumps(definition, default=str))
    status, out, err = quorum(
        capsys, server, "expert", "--json", "-q", "usecases", "create", str(path)
    )
    assert status == 0 and err == ""
    created = json.loads(out)
    assert created["use_case"]["slug"] == "json-copy"
    assert [k["metric"] for k in created["kpis"]] == ["mae", "wape", "bias"]
    assert created["members"] == [] and len(created["data_quality_rules"]) == 3


def test_a_refused_part_stops_and_says_what_was_created(capsys, server, tmp_path):
    path = tmp_path / "usecase.yaml"
    path.write_text(
        "slug: half-done\n"
        "title: Half done\n"
        "task_type: regression\n"
        "kpis:\n"
        "  - {name: Error, metric: mae, target: 1, gate_threshold: 2}\n"
        "  - {name: Ranking, metric: roc_auc, target: 0.9, gate_threshold: 0.8}\n"
        "  - {name: Spread, metric: rmse, target: 1, gate_threshold: 2}\n"
        "value_model: {currency: EUR, cost_per_unit_under: 1, cost_per_unit_over: 1}\n"
        "rules:\n"
        "  - {field: price, kind: not_null, params: {}, severity: error}\n"
    )
    status, out, err = quorum(capsys, server, "owner", "usecases", "create", str(path))
    assert status == 1 and out == ""
    assert (
        "quorum: Created use case half-done, KPI “Error”; then KPI 2 of 3 “Ranking” was "
        "refused: " in err
    )
    assert "Not sent: the value model, 1 KPI, 1 data-quality rule." in err
    assert "delete half-done and create it again" in err
    use_case = UseCase.objects.get(slug="half-done")
    assert [k.name for k in use_case.kpis.all()] == ["Error"]
    # Again: the use case itself is refused now (its slug is taken), so nothing is created.
    status, out, err = quorum(capsys, server, "owner", "--json", "usecases", "create", str(path))
    assert status == 1 and "Created" not in err
    assert [item["field"] for item in json.loads(out)["errors"]] == ["slug"]
    assert UseCase.objects.filter(title="Half done").count() == 1


def test_the_client_raises_with_what_was_created(server, tmp_path):
    definition = {
        "title": "Members later",
        "task_type": "regression",
        "members": [
            {"username": "erik", "role": "expert"},
            {"username": "nobody", "role": "viewer"},
        ],
    }
    client = Client(server["url"], token=server["tokens"]["owner"])
    with client, pytest.raises(UseCaseIncomplete) as raised:
        client.create_use_case(definition)
    error = raised.value
    assert error.status == 400 and error.step == "member 2 of 2 (nobody)"
    assert [m["username"] for m in error.created["members"]] == ["erik"]
    assert error.created["use_case"]["slug"] == "members-later"
    assert [item["field"] for item in error.errors] == ["username"]


def test_a_misspelt_field_is_refused_before_anything_is_sent(capsys, server, tmp_path):
    path = tmp_path / "usecase.yaml"
    path.write_text("title: Typo\ntask_type: regression\nkpis:\n  - {name: E, metrik: mae}\n")
    status, _, err = quorum(capsys, server, "owner", "usecases", "create", str(path))
    assert status == 1
    assert f"quorum: {path}: KPI 1 has unknown field metrik; known: name, metric," in err
    assert not UseCase.objects.filter(title="Typo").exists()


def test_members_are_listed_added_changed_and_removed(capsys, server):
    status, out, _ = quorum(capsys, server, "viewer", "members", "list", "demand-forecast")
    assert status == 0
    assert sorted(line.split()[:2] for line in out.splitlines()[1:]) == [
        ["dana", "data_scientist"],
        ["erik", "expert"],
        ["olivia", "owner"],
        ["victor", "viewer"],
    ]
    status, out, _ = quorum(
        capsys, server, "owner", "members", "add", "demand-forecast", "oscar", "viewer"
    )
    assert (status, out) == (0, "Added oscar to demand-forecast as viewer.\n")
    status, out, _ = quorum(
        capsys, server, "owner", "members", "role", "demand-forecast", "oscar", "expert"
    )
    assert (status, out) == (0, "oscar is now expert on demand-forecast.\n")
    status, out, _ = quorum(
        capsys, server, "owner", "--json", "members", "remove", "demand-forecast", "oscar"
    )
    assert status == 0 and json.loads(out)["removed"] is True
    status, _, err = quorum(
        capsys, server, "owner", "members", "remove", "demand-forecast", "oscar"
    )
    assert status == cli.NOT_FOUND and "oscar is not a member of demand-forecast." in err
    status, _, err = quorum(
        capsys, server, "data_scientist", "members", "add", "demand-forecast", "oscar", "viewer"
    )
    assert status == cli.FORBIDDEN and "(HTTP 403)" in err
    status, _, err = quorum(
        capsys, server, "owner", "members", "remove", "demand-forecast", "olivia"
    )
    assert status == 1 and "(HTTP 409)" in err


def test_an_unknown_use_case_exits_8_and_a_bad_token_6(capsys, server):
    status, _, err = quorum(capsys, server, "viewer", "usecases", "show", "nope")
    assert status == cli.NOT_FOUND == 8 and "(HTTP 404)" in err
    status = cli.main(["--url", server["url"], "--token", "not-a-token", "usecases", "list"])
    assert status == cli.NOT_AUTHENTICATED == 6
    assert "The token was refused" in capsys.readouterr().err


def test_usecases_list_filters_and_kpis_list(capsys, server):
    status, out, _ = quorum(capsys, server, "viewer", "usecases", "list", "--phase", "retired")
    assert (status, out) == (0, "No use cases.\n")
    status, out, _ = quorum(capsys, server, "viewer", "usecases", "list", "--search", "demand")
    assert "demand-forecast" in out
