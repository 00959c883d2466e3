"""The Monitoring tab in headless Chromium: 30 days of a production version with a drift that
starts on day 20, drawn without a CSP or script error; screenshots of the tab and of a
feature's drill-down land in test-results/ (monitoring-tab.png, monitoring-drift-feature.png)."""

import datetime

import pytest
from django.utils import timezone

from monitoring.models import WeeklyKPI
from monitoring.services import weeks
from monitoring.services.jobs import utc_today
from registry.models import ModelVersion
from tests.e2e.conftest import log_in, shot
from tests.factories import RuleFactory, make_version
from tests.monitoring.test_comparison import store_compared_days
from tests.monitoring.test_pages import monitor_days

pytestmark = pytest.mark.e2e


@pytest.fixture
def watched(churn, personas) -> ModelVersion:
    version = make_version(churn, "1.0.0", personas["owner"])
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    RuleFactory(use_case=churn, field="feature_0", params={"min": 0, "max": 100})
    yesterday = utc_today() - datetime.timedelta(days=1)
    days = [yesterday - datetime.timedelta(days=29 - i) for i in range(30)]
    monitor_days(version, days, drift_from=19, features=4)  # day 20 on (alerts, if any, open)
    return version


def test_a_viewer_reads_the_monitoring_tab_and_drills_into_a_drifting_feature(
    live_server, page, personas, watched
):
    log_in(page, live_server, personas["viewer"].username)
    page.goto(f"{live_server.url}/usecases/churn/monitoring/")
    page.wait_for_selector("[data-chart=chart-drift] .main-svg")
    page.wait_for_selector("[data-chart=chart-quality] .main-svg")
    assert page.locator(".chart .main-svg").count() >= 5  # 3 KPIs, drift, quality
    assert page.locator("#runs-table tbody tr").count() == 30
    shot(page, "monitoring-tab")

    page.click("#features-table a >> text=feature_0")
    page.wait_for_selector("[data-chart=chart-histograms] .main-svg")
    page.wait_for_selector("[data-chart=chart-psi-trend] .main-svg")
    assert page.inner_text("h2.subheader-title code") == "feature_0"
    shot(page, "monitoring-drift-feature")
    assert page.errors == []
    assert page.external_requests == []


def test_an_owner_compares_the_shadow_reads_weeks_and_tightens_the_alert_policy(
    live_server, page, personas, watched
):
    shadow = make_version(watched.use_case, "2.0.0", personas["owner"])
    ModelVersion.objects.filter(pk=shadow.pk).update(stage=ModelVersion.Stage.SHADOW)
    shadow.refresh_from_db()
    yesterday = utc_today() - datetime.timedelta(days=1)
    days = [yesterday - datetime.timedelta(days=13 - i) for i in range(14)]
    store_compared_days(shadow, watched, days, better_from=7)
    monday = weeks.monday_of(days[0])
    for kpi in watched.use_case.kpis.all():
        WeeklyKPI.objects.create(
            model_version=shadow,
            week=monday,
            kpi=kpi,
            value=0.9,
            low=0.88,
            high=0.92,
            n=5000,
            computed_at=timezone.now(),
        )
    log_in(page, live_server, personas["owner"].username)
    page.goto(f"{live_server.url}/usecases/churn/monitoring/")
    page.click("#comparison-none a >> text=Compare 2.0.0")
    page.wait_for_selector("[data-chart=chart-disagreement] .main-svg")
    assert page.locator("#comparison-table tbody tr").count() == 3
    assert page.locator("#comparison [data-chart]").count() == 4  # disagreement + 3 KPIs
    page.locator("#comparison").scroll_into_view_if_needed()
    shot(page, "monitoring-comparison")

    page.click("#kpi-grain >> text=Per week")
    page.wait_for_selector("#kpis .chart .main-svg")
    assert page.locator('#kpi-grain a[aria-current="page"]').inner_text() == "Per week"

    page.click("#policy-link")
    page.fill("#id_psi_threshold", "0.15")
    page.click("button >> text=Save the policy")
    page.wait_for_selector(".messages >> text=saved", timeout=10_000)
    policy = watched.use_case.monitoring_policy
    policy.refresh_from_db()
    assert policy.psi_threshold == 0.15
    shot(page, "monitoring-policy")
    assert page.errors == []
    assert page.external_requests == []
