"""Demo data: two realistic use cases, deployed through real promotions, and one account per
role (two experts: the high-risk use case's promotions need both). Safe to run again."""

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from demo.management.commands import _demo_data, _demo_monitoring, _demo_reviews
from demo.management.commands._demo_promotions import promote
from predictions.services import ingest
from promotions.services import phases
from registry.models import ModelVersion
from registry.services import evaluations, reference, registering
from usecases.models import ADMIN_GROUP, MANAGER_GROUP, Role, UseCase
from usecases.services import definitions, usecases

Stage = ModelVersion.Stage
PASSWORD = "quorum-demo"
ACCOUNTS = [
    # username, first name, last name, per-use-case role or global group
    ("olivia", "Olivia", "Owner", Role.OWNER),
    ("erik", "Erik", "Expert", Role.EXPERT),
    ("eva", "Eva", "Expert", Role.EXPERT),
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
    "team": "Supply chain analytics",
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
    "team": "Retail analytics",
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
        team="Finance operations",
        expected_value_per_year=Decimal("300000"),
        effort_person_days=90,
        problem_statement="Duplicate and fake supplier invoices are found months later.",
        days=(30, 300),
        milestones=[("Sponsor found", 45)],
    ),
    dict(
        slug="call-centre-volume",
        title="Call-centre volume forecast",
        task_type="regression",
        phase=UseCase.Phase.SCOPING,
        note="Workforce planning asks for a forecast a week ahead; scoping it with the team leads.",
        risk_tier="low",
        priority="low",
        team="Customer service (UK)",
        expected_value_per_year=Decimal("150000"),
        expected_value_currency="GBP",
        effort_person_days=40,
        problem_statement="Agents are scheduled a week ahead on last year's volumes.",
        days=(-20, 110),
        milestones=[("Team leads agree on the horizon", -5, "done"), ("Data extract", 30)],
    ),
    dict(
        slug="van-maintenance",
        title="Delivery van maintenance",
        task_type="binary",
        phase=UseCase.Phase.DATA,
        note="Telematics of 300 vans since 2024, joined with the workshop's repair log.",
        risk_tier="medium",
        priority="high",
        team="Fleet",
        expected_value_per_year=Decimal("420000"),
        expected_value_currency="USD",
        effort_person_days=150,
        problem_statement="Vans break down on their rounds; repairs are planned after the fact.",
        days=(-60, 180),
        milestones=[("Telematics joined", -10, "done"), ("First model", 40)],
    ),
    dict(
        slug="price-elasticity",
        title="Price elasticity per category",
        task_type="regression",
        phase=UseCase.Phase.IDEA,
        risk_tier="medium",
        team="Pricing",
        problem_statement="Markdowns are set by rule of thumb at the end of each season.",
    ),
]


def _milestones(today: datetime.date, spec: list[tuple]) -> list[dict]:
    """(name, days from today[, "done"]) → the milestones create_use_case takes."""
    now = timezone.now()
    return [
        {
            "name": name,
            "due_date": today + datetime.timedelta(days=days),
            "done_at": now if done else None,
        }
        for name, days, *done in spec
    ]


# Each step of a use case's phase, with the note its history keeps.
GROCERY_PHASES = {
    UseCase.Phase.SCOPING: (
        "Sponsor signed off: fresh produce in 20 stores first. Erik sets the KPIs with the "
        "store managers."
    ),
    UseCase.Phase.DATA: (
        "Till data per store and article since January 2024, joined with prices, promotions, "
        "weather and holidays."
    ),
    UseCase.Phase.POC: "Last four weeks held out; the forecasting team trains its first models.",
    UseCase.Phase.PILOT: (
        "Pilot in 20 stores: their orders follow 1.0.0's forecasts, and every new version "
        "forecasts in shadow first."
    ),
}
CHURN_PHASES = {
    UseCase.Phase.SCOPING: (
        "The retention team's Monday call list is the decision; Erik and Eva set the KPIs "
        "with compliance."
    ),
    UseCase.Phase.DATA: (
        "Three years of closures, products and activity per customer, pseudonymised."
    ),
    UseCase.Phase.POC: "Customers of 2026-Q3 held out; first models trained.",
    UseCase.Phase.PILOT: (
        "Pilot with the retention team: its Monday call list comes from 0.9.0, the experts "
        "review it, and every new version scores in shadow first."
    ),
}
# The baselines served before Quorum and its gates: their promotions record the deployment
# as it stands, past the gates they fail, with a manager's written override.
GROCERY_BASELINE = (
    "Recording the deployment as it stands: 1.0.0 has forecast the pilot stores' orders since "
    "before Quorum and these KPIs, so there is no review campaign or prediction log from that "
    "time. Its holdout misses the WAPE, MAE and cost gates, shown as they are; 1.1.0 must pass "
    "every gate to replace it."
)
CHURN_BASELINE = (
    "Recording the deployment as it stands: 0.9.0 has built the Monday call list since before "
    "Quorum and these KPIs, so there is no review campaign or prediction log from that time. "
    "Its holdout misses the ROC AUC and calibration gates, shown as they are; 1.0.0 must pass "
    "every gate to replace it."
)


class Command(BaseCommand):
    help = "Load demo accounts and use cases (idempotent: existing ones are left as they are)."

    def handle(self, *args, **options):
        users = self._accounts()
        today = datetime.date.today()
        # One transaction per use case: it is there whole or not at all, so a second run
        # (or a run after a failed one) finds it complete or starts it afresh.
        if not UseCase.objects.filter(slug=GROCERY["slug"]).exists():
            with transaction.atomic():
                self._grocery(users, today)
        if not UseCase.objects.filter(slug=CHURN["slug"]).exists():
            with transaction.atomic():
                self._churn(users, today)
        for spec in SMALLER:
            spec = dict(spec)
            phase, note = spec.pop("phase"), spec.pop("note", "")
            start, target = spec.pop("days", (None, None))
            if start is not None:
                spec["start_date"] = today + datetime.timedelta(days=start)
                spec["target_date"] = today + datetime.timedelta(days=target)
            spec["milestones"] = _milestones(today, spec.pop("milestones", []))
            if not UseCase.objects.filter(slug=spec["slug"]).exists():
                with transaction.atomic():
                    created = usecases.create_use_case(by=users["olivia"], **spec)
                    if phase != UseCase.Phase.IDEA:  # step by step, each with the note
                        notes = dict.fromkeys(UseCase.Phase.values, note)
                        self._walk(created, users["olivia"], notes, phase)
        _demo_reviews.load(users)
        _demo_monitoring.load(users)  # after the reviews' log: its days include it
        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in with any of these:"))
        for username, _first, _last, role in ACCOUNTS:
            label = role.label if isinstance(role, Role) else role
            self.stdout.write(f"  {username:<8} / {PASSWORD}   {label}")

    def _grocery(self, users: dict, today: datetime.date) -> None:
        """Pilot: 1.0.0 in production (recorded past its gates), 1.1.0 in shadow, and a
        request for a 10 % canary of 1.1.0 that Dana approved and that waits for Erik."""
        olivia, erik, dana, maria = (users[n] for n in ("olivia", "erik", "dana", "maria"))
        grocery = self._use_case(
            users,
            GROCERY,
            ["erik", "dana", "victor"],
            start_date=today - datetime.timedelta(days=200),
            target_date=today + datetime.timedelta(days=60),
            milestones=_milestones(
                today,
                [
                    ("Holdout agreed", -120, "done"),
                    ("Pilot in 20 stores", -30, "done"),
                    ("Roll-out to 120 stores", 50),
                ],
            ),
        )
        grocery = self._walk(grocery, olivia, GROCERY_PHASES, UseCase.Phase.POC)
        self._define(
            grocery,
            erik,
            GROCERY_KPIS,
            GROCERY_RULES,
            dict(
                currency="EUR",
                cost_per_unit_under=Decimal("2.40"),
                cost_per_unit_over=Decimal("0.65"),
                notes="Lost margin per missing unit; waste per unsold unit.",
            ),
        )
        versions = self._registry(
            grocery, dana, olivia, _demo_data.grocery, "Holdout, last 4 weeks", GROCERY_VERSIONS
        )
        baseline, candidate = versions["1.0.0"], versions["1.1.0"]
        approvals = [(erik, ""), (dana, "")]
        promote(
            baseline,
            Stage.SHADOW,
            by=olivia,
            rationale="The baseline already forecasts for the pilot stores: first, shadow.",
            approvers=approvals,
            override=(maria, GROCERY_BASELINE),
        )
        grocery = self._walk(grocery, olivia, GROCERY_PHASES, UseCase.Phase.PILOT)
        promote(
            baseline,
            Stage.PRODUCTION,
            by=olivia,
            rationale="1.0.0 is what the pilot stores order from: record it as production.",
            approvers=approvals,
            override=(maria, GROCERY_BASELINE),
        )
        # Evaluated now, 1.1.0 is compared with the production version on the same rows.
        self._evaluate(candidate, dana)
        promote(
            candidate,
            Stage.SHADOW,
            by=olivia,
            rationale=(
                "Passes every gating KPI on the 4-week holdout, where 1.0.0 fails three. "
                "Let it forecast in shadow beside 1.0.0 before any store orders from it."
            ),
            approvers=[
                (erik, "Weekend and promotion peaks look right to the store managers."),
                (dana, "Holdout figures checked, store by store."),
            ],
        )
        now = timezone.now().replace(microsecond=0)
        ingest.log_predictions(grocery, by=dana, rows=_demo_data.grocery_log(now))
        promote(
            candidate,
            Stage.CANARY,
            traffic_percent=10,
            by=olivia,
            rationale=(
                "Two weeks in shadow with clean data apart from the new store S21. Let two "
                "of the 20 stores (10 % of orders) order from 1.1.0's forecasts."
            ),
            approvers=[(dana, "Two weeks logged cleanly; S21 joins the store list this week.")],
        )

    def _churn(self, users: dict, today: datetime.date) -> None:
        """Pilot: 0.9.0 in production (recorded past its gates) and 1.0.0 in shadow; high
        risk, so each promotion has two experts' and a manager's approval."""
        olivia, erik, eva, dana, maria = (
            users[n] for n in ("olivia", "erik", "eva", "dana", "maria")
        )
        churn = self._use_case(
            users,
            CHURN,
            ["erik", "eva", "dana", "victor"],
            start_date=today - datetime.timedelta(days=90),
            target_date=today + datetime.timedelta(days=120),
            milestones=_milestones(
                today, [("Compliance sign-off", -40, "done"), ("Call list from the model", 75)]
            ),
        )
        churn = self._walk(churn, olivia, CHURN_PHASES, UseCase.Phase.POC)
        self._define(
            churn,
            erik,
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
        versions = self._registry(
            churn, dana, olivia, _demo_data.churn, "Holdout customers 2026-Q3", CHURN_VERSIONS
        )
        baseline, candidate = versions["0.9.0"], versions["1.0.0"]
        approvals = [(erik, ""), (eva, ""), (maria, "")]
        promote(
            baseline,
            Stage.SHADOW,
            by=dana,
            rationale="0.9.0 already builds the call list: first, shadow, as every version.",
            approvers=approvals,
            override=(maria, CHURN_BASELINE),
        )
        churn = self._walk(churn, olivia, CHURN_PHASES, UseCase.Phase.PILOT)
        promote(
            baseline,
            Stage.PRODUCTION,
            by=dana,
            rationale="0.9.0 is what the retention team calls from: record it as production.",
            approvers=approvals,
            override=(maria, CHURN_BASELINE),
        )
        self._evaluate(candidate, dana)
        promote(
            candidate,
            Stage.SHADOW,
            by=dana,
            rationale=(
                "Passes every gating KPI on the Q3 holdout, where 0.9.0 fails two. Let it score "
                "customers in shadow beside 0.9.0 before anyone is called from its list."
            ),
            approvers=[
                (erik, "The customers it ranks first are the ones we lose."),
                (eva, "Checked the holdout results country by country."),
                (maria, "Shadow only: no customer is called from it yet."),
            ],
        )

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

    def _use_case(self, users: dict, spec: dict, members: list[str], **dates) -> UseCase:
        owner = users["olivia"]
        use_case = usecases.create_use_case(by=owner, **spec, **dates)
        roles = {username: role for username, _first, _last, role in ACCOUNTS}
        for username in members:
            usecases.add_member(use_case, by=owner, user=users[username], role=roles[username])
        return use_case

    def _walk(self, use_case: UseCase, owner, notes: dict, phase: str) -> UseCase:
        """Step by step up to `phase`, each step with its note (phases check the versions)."""
        steps = UseCase.Phase.values
        for step in steps[steps.index(use_case.phase) + 1 : steps.index(phase) + 1]:
            use_case = phases.change_phase(use_case, by=owner, phase=step, note=notes[step])
        return use_case

    def _registry(self, use_case, scientist, owner, make_files, dataset_name, versions) -> dict:
        """A holdout dataset (the reference for promotions) and the versions' predictions on
        it; the first version evaluated, the others left for after it is in production."""
        dataset_file, prediction_files = make_files()
        dataset = registering.upload_dataset(
            use_case,
            by=scientist,
            name=dataset_name,
            source=dataset_file,
            filename="holdout.csv",
            description="Rows the models never saw in training.",
        )
        reference.mark_reference(dataset, by=owner)
        registered = {}
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
            registered[version] = model_version
        self._evaluate(next(iter(registered.values())), scientist)
        return registered

    def _evaluate(self, model_version, scientist) -> None:
        dataset = model_version.use_case.datasets.get()
        evaluation = evaluations.start_evaluation(model_version, by=scientist, dataset=dataset)
        # Run here rather than wait for a worker, so the demo opens on finished results;
        # the queued task then finds nothing to claim.
        evaluations.run_evaluation(evaluation.pk)

    def _define(self, use_case, expert, kpis, rules, value_model):
        for kpi in kpis:
            definitions.create_kpi(use_case, by=expert, **kpi)
        for rule in rules:
            definitions.create_rule(use_case, by=expert, **rule)
        definitions.save_value_model(use_case, by=expert, **value_model)
