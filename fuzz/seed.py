"""Seed the fuzz database through the real services and print what the fuzzer needs as JSON.

Run by fuzz/run.py with DJANGO_SETTINGS_MODULE set, after `migrate`: the demo data
(`load_demo`: a regression and a binary use case with versions, datasets, evaluations, a
prediction log and a review campaign), plus a multiclass use case with the same, plus
throwaway objects for the operations that destroy or close what they act on (so that a
DELETE or a close does not take away the objects every other operation is pointed at), an
API token of the owner, Olivia, one of the owner of the use case that DELETE removes and one
that DELETE /api/v1/auth/token revokes. The multiclass use case is linked to an MLflow model
with imported versions, so that the MLflow operations reach a link; no MLflow runs here, so
the link's check is skipped and the versions come from a stand-in (`_StandInMlflow`).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import sys
from pathlib import Path
from unittest import mock

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from mlflow_sync.services import importing, links  # noqa: E402
from predictions.services import ingest  # noqa: E402
from registry.services import evaluations, registering  # noqa: E402
from reviews.services import campaigns  # noqa: E402
from usecases.models import Role, UseCase  # noqa: E402
from usecases.services import definitions, tokens, usecases  # noqa: E402

CLASSES = ["ground", "air", "sea"]
MULTICLASS = {
    "slug": "parcel-routing",
    "title": "Parcel routing",
    "task_type": UseCase.TaskType.MULTICLASS,
    "problem_statement": "Which carrier each parcel goes with.",
    "feature_schema": [
        {"name": "weight_kg", "type": "number", "description": "Parcel weight"},
        {"name": "distance_km", "type": "number"},
        {"name": "country", "type": "category"},
    ],
}


def main() -> None:
    call_command("load_demo", stdout=io.StringIO())
    users = {user.username: user for user in get_user_model().objects.all()}
    owner = users["olivia"]
    multiclass = _multiclass_use_case(owner, users)
    _link_to_mlflow(multiclass, owner)
    churn = UseCase.objects.get(slug="bank-churn")
    grocery = UseCase.objects.get(slug="grocery-demand-forecast")
    real = [churn, grocery, multiclass]
    _, token = tokens.create_token(owner, expiry_days=None)
    seed = {
        "token": token,
        "slugs": [use_case.slug for use_case in real],
        "versions": sorted({v for u in real for v in u.versions.values_list("version", flat=True)}),
        "ids": {
            "kpis": _ids(u.kpis for u in real),
            "rules": _ids(u.data_quality_rules for u in real),
            "datasets": _ids(u.datasets for u in real),
            "evaluations": _ids(u.evaluations for u in real),
            "members": _ids(u.members for u in real),
            "campaigns": _ids(u.campaigns for u in real),
            "promotions": _ids(u.promotions for u in real),
        },
        "request_ids": sorted(
            {
                request_id
                for u in real
                for request_id in u.predictions.order_by("pk").values_list("request_id", flat=True)[
                    :4
                ]
            }
        ),
        "scratch": _scratch(owner, users, churn),
    }
    json.dump(seed, sys.stdout)


def _ids(querysets) -> list[int]:
    return sorted(pk for queryset in querysets for pk in queryset.values_list("pk", flat=True))


def _multiclass_use_case(owner, users) -> UseCase:
    """A multiclass use case with a version, a holdout, an evaluation and a prediction log."""
    use_case = usecases.create_use_case(by=owner, **MULTICLASS)
    usecases.add_member(use_case, by=owner, user=users["erik"], role=Role.EXPERT)
    usecases.add_member(use_case, by=owner, user=users["dana"], role=Role.DATA_SCIENTIST)
    definitions.create_kpi(
        use_case, by=owner, name="Accuracy", metric="accuracy", target=0.9, gate_threshold=0.8
    )
    definitions.create_rule(
        use_case, by=owner, field="country", kind="allowed_values", params={"values": ["FR", "DE"]}
    )
    rows = [
        (f"P{n:04d}", 1 + n % 30, 10 * (n % 70), "FR" if n % 3 else "DE", CLASSES[n % 3])
        for n in range(120)
    ]
    dataset = registering.upload_dataset(
        use_case,
        by=owner,
        name="Holdout parcels",
        source=_csv(["id", "weight_kg", "distance_km", "country", "label"], rows),
        filename="holdout.csv",
    )
    version = registering.register_version(use_case, by=owner, version="1.0.0")
    predicted = [(row[0], CLASSES[(i // 4) % 3]) for i, row in enumerate(rows)]
    registering.upload_predictions(
        version,
        by=owner,
        dataset=dataset,
        source=_csv(["id", "prediction"], predicted),
        filename="predictions.csv",
    )
    evaluation = evaluations.start_evaluation(version, by=owner, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk)
    now = timezone.now().replace(microsecond=0)
    logged = [
        {
            "version": "1.0.0",
            "request_id": f"parcel-{i:04d}",
            "timestamp": (now - datetime.timedelta(minutes=i)).isoformat(),
            "features": {"weight_kg": 1.5 + i, "distance_km": 40 * i, "country": "FR"},
            "prediction": CLASSES[i % 3],
            "segment": "FR",
        }
        for i in range(60)
    ]
    ingest.log_predictions(use_case, by=owner, rows=logged)
    campaigns.create_campaign(
        use_case, by=owner, name="Routing check", model_version=version, sample_size=10
    )
    return use_case


class _StandInMlflow:
    """What the import reads from MLflow (rest.Mlflow's calls): a model with two versions of
    one finished run."""

    requests = 0

    def registered_model(self, name: str) -> dict:
        return {"name": name, "aliases": [{"alias": "champion", "version": "1"}]}

    def versions(self, name: str) -> list[dict]:
        return [
            {"version": str(n), "status": "READY", "run_id": "fuzzrun1", "source": f"models:/{n}"}
            for n in (1, 2)
        ]

    def run(self, run_id: str) -> dict:
        info = {"run_id": run_id, "experiment_id": "1", "status": "FINISHED"}
        return {"info": info, "data": {"metrics": [{"key": "f1", "value": 0.8}]}}


def _link_to_mlflow(use_case: UseCase, by, *, imported: bool = True):
    """A link saved through the service, its MLflow check skipped (nothing answers at
    mlflow.invalid, a name that never resolves: a fuzzed PUT or PATCH there gets a 400)."""
    with mock.patch.object(links, "check_connection"):
        link = links.save_link(
            use_case, by=by, tracking_uri="https://mlflow.invalid", model_name="fuzz-model"
        )
    if imported:
        importing.import_versions(link, by=by, api=_StandInMlflow())
    return link


def _scratch(owner, users, use_case: UseCase) -> dict:
    """Objects the destructive operations act on, so the real ones stay for the others."""
    User = get_user_model()
    extra = User.objects.create_user("fuzz-extra", email="fuzz-extra@quorum.example")
    # DELETE of a use case goes out with this owner's token: schemathesis also fills the
    # slug from earlier responses (its resource pool, stateful links), and with Olivia's
    # token that once deleted bank-churn and took every other operation's objects with it.
    deleter = User.objects.create_user("fuzz-deleter", email="fuzz-deleter@quorum.example")
    delete_me = usecases.create_use_case(by=deleter, title="Delete me", task_type="binary")
    _, deleter_token = tokens.create_token(deleter, expiry_days=None)
    # DELETE of the MLflow link, with the same token: a use case of its own to unlink, and
    # a slug taken from a response (parcel-routing) answers 404 instead of unlinking it.
    unlink_me = usecases.create_use_case(by=deleter, title="Unlink me", task_type="binary")
    _link_to_mlflow(unlink_me, deleter, imported=False)
    # DELETE /api/v1/auth/token revokes the token it is sent with: this one, of a user of
    # its own, never Olivia's, which every other operation needs.
    revoker = User.objects.create_user("fuzz-revoker", email="fuzz-revoker@quorum.example")
    _, revoke_token = tokens.create_token(revoker, expiry_days=None)
    phases = usecases.create_use_case(by=owner, title="Phase changes", task_type="binary")
    kpi = definitions.create_kpi(
        use_case, by=owner, name="Scratch KPI", metric="recall", target=0.7, gate_threshold=0.6
    )
    rule = definitions.create_rule(use_case, by=owner, field="age", kind="not_null", params={})
    member = usecases.add_member(use_case, by=owner, user=extra, role=Role.VIEWER)
    dataset = registering.upload_dataset(
        use_case,
        by=owner,
        name="Scratch dataset",
        source=_csv(
            ["id", "age", "tenure_months", "balance", "products", "has_credit_card"]
            + ["is_active_member", "country", "salary", "label"],
            [(f"X{n}", 40, 12, 1000.0, 1, 1, 0, "FR", 30000.0, n % 2) for n in range(20)],
        ),
        filename="scratch.csv",
    )
    campaign = campaigns.create_campaign(
        use_case,
        by=owner,
        name="Scratch campaign",
        model_version=use_case.versions.get(version="1.0.0"),
        sample_size=5,
    )
    owner_member = use_case.members.get(user=owner)
    return {
        "usecase_delete": delete_me.slug,
        "deleter_token": deleter_token,
        "usecase_unlink": unlink_me.slug,
        "revoke_token": revoke_token,
        "usecase_phase": phases.slug,
        "kpi": kpi.pk,
        "rule": rule.pk,
        "members": [member.pk, owner_member.pk],
        "dataset": dataset.pk,
        "campaign": campaign.pk,
    }


def _csv(header: list[str], rows: list[tuple]) -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return io.BytesIO(text.getvalue().encode())


if __name__ == "__main__":
    main()
