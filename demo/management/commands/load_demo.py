"""Demo data: two realistic use cases and one account per role. Safe to run again."""

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from demo.management.commands import _demo_data, _demo_reviews
from registry.models import ModelVersion
from registry.services import evaluations, registering
from usecases.models import ADMIN_GROUP, MANAGER_GROUP, Role, UseCase
from usecases.services import definitions, usecases

PASSWORD = "quorum-demo"
ACCOUNTS = [
    # username, first name, last name, per-use-case role or global group
    ("olivia", "Olivia", "Owner", Role.OWNER),
    ("erik", "Erik", "Expert", Role.EXPERT),
    ("dana", "Dana", "Scientist", Role.DATA_SCIENTIST),
    ("victor", "Victor", "Viewer", Role.VIEWER),
    ("maria", "Maria", "Manager", MANAGER_GROUP),
    ("adam", "Adam", "Admin", ADMIN_GROUP),
]
STORES = [f"S{n:02d}" for n in range(1, 21)]

GROCERY = {
    "slug": "grocery-demand-forecast",
    "title": "Grocery demand forecast",
    "problem_statement": (
        "Store managers order fresh products by gut feeling: 20 stores throw away about 4 % "
        "of fresh produce and run out of best-sellers on most Saturdays."
    ),
    "decision_supported": "Daily order quantity per store and product, placed at 06:00.",
    "sponsor": "Head of Supply Chain",
    "priority": UseCase.Priority.HIGH,
    "risk_tier": UseCase.RiskTier.MEDIUM,
    "expected_value_per_year": Decimal("1200000"),
    "effort_person_days": 180,
    "task_type": UseCase.TaskType.REGRESSION,
    "target_definition": "Units sold per store, product and day; known the next morning.",
    "feature_schema": [
        {"name": "store", "type": "category", "description": "Store code S01…S20"},
        {"name": "product", "type": "category", "description": "Article number"},
        {"name": "day_of_week", "type": "integer", "description": "0 = Monday"},
        {"name": "price", "type": "number", "description": "Shelf price in EUR"},
        {"name": "promo", "type": "boolean", "description": "On promotion that day"},
        {"name": "temperature", "type": "number", "description": "Forecast °C at noon"},
        {"name": "holiday", "type": "boolean"},
    ],
}
GROCERY_KPIS = [
    dict(
        name="Weighted error (WAPE)",
        metric="wape",
        target=0.22,
        gate_threshold=0.28,
        gate_mode="bound",
    ),
    dict(name="Bias", metric="bias", target=0.0, gate_threshold=0.2, is_gating=False),
    dict(name="Mean absolute error", metric="mae", target=3.5, gate_threshold=4.2),
    dict(
        name="Cost of forecast errors (4-week holdout)",
        metric="business_value",
        target=-100000,
        gate_threshold=-150000,
    ),
]
GROCERY_RULES = [
    dict(field="store", kind="allowed_values", params={"values": STORES}),
    dict(field="price", kind="range", params={"min": 0, "max": 500}),
    dict(field="day_of_week", kind="range", params={"min": 0, "max": 6}),
    dict(field="temperature", kind="range", params={"min": -30, "max": 50}, severity="warning"),
    dict(field="temperature", kind="max_null_rate", params={"max_rate": 0.05}, severity="warning"),
    dict(field="product", kind="regex", params={"pattern": r"^P\d{5}$"}),
]

CHURN = {
    "slug": "bank-churn",
    "title": "Bank customer churn",
    "problem_statement": (
        "Retail customers close their accounts without warning; retention offers go out too "
        "late and to the wrong people."
    ),
    "decision_supported": "Which customers the retention team calls each Monday.",
    "sponsor": "Director of Retail Banking",
    "priority": UseCase.Priority.CRITICAL,
    "risk_tier": UseCase.RiskTier.HIGH,
    "expected_value_per_year": Decimal("850000"),
    "effort_person_days": 120,
    "task_type": UseCase.TaskType.BINARY,
    "decision_threshold": 0.3,  # churners are ~20 %: flag a customer from a 30 % risk
    "target_definition": "1 if the customer closes every account within 90 days.",
    "feature_schema": [
        {"name": "age", "type": "integer"},
        {"name": "tenure_months", "type": "integer"},
        {"name": "balance", "type": "number", "description": "EUR"},
        {"name": "products", "type": "integer"},
        {"name": "has_credit_card", "type": "boolean"},
        {"name": "is_active_member", "type": "boolean"},
        {"name": "country", "type": "category"},
        {"name": "salary", "type": "number", "description": "Estimated, EUR per year"},
    ],
}
CHURN_KPIS = [
    dict(
        name="Ranking quality (ROC AUC)",
        metric="roc_auc",
        target=0.86,
        gate_threshold=0.80,
        gate_mode="bound",
    ),
    dict(name="Churners caught (recall)", metric="recall", target=0.70, gate_threshold=0.60),
    dict(name="Calibration (Brier)", metric="brier", target=0.10, gate_threshold=0.14),
    dict(
        name="Precision of the call list",
        metric="precision",
        target=0.55,
        gate_threshold=0.45,
        is_gating=False,
    ),
]
CHURN_RULES = [
    dict(field="age", kind="range", params={"min": 18, "max": 120}),
    dict(field="balance", kind="range", params={"min": 0}),
    dict(field="country", kind="allowed_values", params={"values": ["FR", "DE", "ES"]}),
    dict(field="salary", kind="not_null", params={}),
]

GROCERY_VERSIONS = {
    "1.0.0": dict(
        description="Baseline: store size and price only.",
        framework="lightgbm 4.6",
        parameters={"num_leaves": 31, "learning_rate": 0.05},
        artifact_uri="s3://models/grocery/1.0.0/model.txt",
        git_commit="3f2c9e1",
        training_data_ref="sales 2024-01..2026-06",
        tags={"team": "forecasting"},
    ),
    "1.1.0": dict(
        description="Adds weekday, promotions and holidays.",
        framework="lightgbm 4.6",
        parameters={"num_leaves": 63, "learning_rate": 0.03},
        artifact_uri="s3://models/grocery/1.1.0/model.txt",
        git_commit="8a41d07",
        training_data_ref="sales 2024-01..2026-09",
        tags={"team": "forecasting"},
    ),
}
CHURN_VERSIONS = {
    "0.9.0": dict(
        description="Logistic regression on tenure and activity.",
        framework="scikit-learn 1.9",
        parameters={"C": 1.0},
        mlflow_run_id="a1b2c3d4e5f6",
        tags={"team": "retail-analytics"},
    ),
    "1.0.0": dict(
        description="Gradient boosting with product and country features.",
        framework="xgboost 3.1",
        parameters={"max_depth": 5, "eta": 0.1},
        mlflow_run_id="f6e5d4c3b2a1",
        tags={"team": "retail-analytics"},
    ),
}

SMALLER = [
    dict(
        slug="invoice-fraud-screening",
        title="Invoice fraud screening",
        task_type="binary",
        phase=UseCase.Phase.IDEA,
        risk_tier="high",
        expected_value_per_year=Decimal("300000"),
        effort_person_days=90,
        problem_statement="Duplicate and fake supplier invoices are found months later.",
    ),
    dict(
        slug="call-centre-volume",
        title="Call-centre volume forecast",
        task_type="regression",
        phase=UseCase.Phase.SCOPING,
        risk_tier="low",
        expected_value_per_year=Decimal("150000"),
        effort_person_days=40,
        problem_statement="Agents are scheduled a week ahead on last year's volumes.",
    ),
]


class Command(BaseCommand):
    help = "Load demo accounts and use cases (idempotent: existing ones are left as they are)."

    def handle(self, *args, **options):
        users = self._accounts()
        owner = users["olivia"]
        today = datetime.date.today()
        with transaction.atomic():
            grocery = self._use_case(
                owner,
                users,
                GROCERY,
                UseCase.Phase.PILOT,
                start_date=today - datetime.timedelta(days=200),
                target_date=today + datetime.timedelta(days=60),
            )
            if grocery:
                self._define(
                    grocery,
                    users["erik"],
                    GROCERY_KPIS,
                    GROCERY_RULES,
                    dict(
                        currency="EUR",
                        cost_per_unit_under=Decimal("2.40"),
                        cost_per_unit_over=Decimal("0.65"),
                        notes="Lost margin per missing unit; waste per unsold unit.",
                    ),
                )
            churn = self._use_case(
                owner,
                users,
                CHURN,
                UseCase.Phase.POC,
                start_date=today - datetime.timedelta(days=90),
                target_date=today + datetime.timedelta(days=120),
            )
            if churn:
                self._define(
                    churn,
                    users["erik"],
                    CHURN_KPIS,
                    CHURN_RULES,
                    dict(
                        currency="EUR",
                        value_true_positive=Decimal("180"),
                        value_true_negative=Decimal("0"),
                        cost_false_positive=Decimal("25"),
                        cost_false_negative=Decimal("300"),
                        notes="TP: margin kept minus the offer; FP: the offer wasted.",
                    ),
                )
            for spec in SMALLER:
                spec = dict(spec)
                phase = spec.pop("phase")
                if not UseCase.objects.filter(slug=spec["slug"]).exists():
                    created = usecases.create_use_case(by=owner, **spec)
                    if phase != UseCase.Phase.IDEA:
                        usecases.change_phase(created, by=owner, phase=phase)
        self._registry(
            users["dana"],
            "grocery-demand-forecast",
            _demo_data.grocery,
            "Holdout, last 4 weeks",
            GROCERY_VERSIONS,
            production="1.0.0",
        )
        self._registry(
            users["dana"],
            "bank-churn",
            _demo_data.churn,
            "Holdout customers 2026-Q3",
            CHURN_VERSIONS,
            production="0.9.0",
        )
        _demo_reviews.load(users)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in with any of these:"))
        for username, _first, _last, role in ACCOUNTS:
            label = role.label if isinstance(role, Role) else role
            self.stdout.write(f"  {username:<8} / {PASSWORD}   {label}")

    def _accounts(self) -> dict:
        User = get_user_model()
        users = {}
        for username, first, last, role in ACCOUNTS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@quorum.example",
                },
            )
            if created:
                user.set_password(PASSWORD)
                if role == ADMIN_GROUP:
                    user.is_staff = user.is_superuser = True
                user.save()
            if role in (MANAGER_GROUP, ADMIN_GROUP):
                user.groups.add(Group.objects.get_or_create(name=role)[0])
            users[username] = user
        return users

    def _use_case(self, owner, users, spec, phase, **dates):
        if UseCase.objects.filter(slug=spec["slug"]).exists():
            return None
        use_case = usecases.create_use_case(by=owner, **spec, **dates)
        for username, role in (
            ("erik", Role.EXPERT),
            ("dana", Role.DATA_SCIENTIST),
            ("victor", Role.VIEWER),
        ):
            usecases.add_member(use_case, by=owner, user=users[username], role=role)
        for step in UseCase.Phase.values[1 : UseCase.Phase.values.index(phase) + 1]:
            use_case = usecases.change_phase(use_case, by=owner, phase=step)
        return use_case

    def _registry(self, scientist, slug, make_files, dataset_name, versions, production):
        """Versions, a holdout dataset, their predictions and finished evaluations."""
        use_case = UseCase.objects.get(slug=slug)
        if use_case.datasets.filter(name=dataset_name).exists():
            return
        dataset_file, prediction_files = make_files()
        dataset = registering.upload_dataset(
            use_case,
            by=scientist,
            name=dataset_name,
            source=dataset_file,
            filename="holdout.csv",
            description="Rows the models never saw in training.",
        )
        for version, fields in versions.items():
            model_version = registering.register_version(
                use_case, by=scientist, version=version, **fields
            )
            registering.upload_predictions(
                model_version,
                by=scientist,
                dataset=dataset,
                source=prediction_files[version],
                filename=f"predictions-{version}.csv",
            )
            evaluation = evaluations.start_evaluation(model_version, by=scientist, dataset=dataset)
            # Run here rather than wait for a worker, so the demo opens on finished results;
            # the queued task then finds nothing to claim.
            evaluations.run_evaluation(evaluation.pk)
            if model_version.version == production:
                # Until promotions exist, the demo's baseline is marked as in production, so
                # that the newer version's evaluation compares itself with it.
                ModelVersion.objects.filter(pk=model_version.pk).update(
                    stage=ModelVersion.Stage.PRODUCTION
                )

    def _define(self, use_case, expert, kpis, rules, value_model):
        for kpi in kpis:
            definitions.create_kpi(use_case, by=expert, **kpi)
        for rule in rules:
            definitions.create_rule(use_case, by=expert, **rule)
        definitions.save_value_model(use_case, by=expert, **value_model)
