"""The Client's calls about monitoring: daily and weekly figures, the comparison of shadow
and canary versions with production, drift and alerts
(/api/v1/usecases/{slug}/monitoring/…). Days are UTC days, YYYY-MM-DD (or dates)."""

from __future__ import annotations

import datetime

from quorum_client.session import Session, segment, use_case_path

Day = str | datetime.date | None


def _filters(**values) -> dict:
    return {
        key: value.isoformat() if isinstance(value, datetime.date) else value
        for key, value in values.items()
        if value is not None
    }


class MonitoringCalls(Session):
    def _monitoring(self, slug: str, what: str, **filters) -> list[dict]:
        path = f"{use_case_path(slug)}monitoring/{what}/"
        return self._get_all(path, _filters(**filters) or None)

    def monitoring_days(
        self, slug: str, *, version: str | None = None, start: Day = None, end: Day = None
    ) -> list[dict]:
        """Each version's monitored days, oldest first: predictions, outcomes, each KPI with
        its 95 % interval, live data quality per rule, rows refused at ingestion."""
        return self._monitoring(slug, "days", version=version, start=start, end=end)

    def monitoring_weeks(
        self, slug: str, *, version: str | None = None, start: Day = None, end: Day = None
    ) -> list[dict]:
        """Each KPI per version and week (its Monday), with its 95 % interval."""
        return self._monitoring(slug, "weeks", version=version, start=start, end=end)

    def monitoring_comparison(
        self, slug: str, *, version: str | None = None, start: Day = None, end: Day = None
    ) -> list[dict]:
        """Each shadow or canary day against production on the requests both logged:
        disagreement, and each KPI's paired difference with its interval and p-value."""
        return self._monitoring(slug, "comparison", version=version, start=start, end=end)

    def monitoring_drift(
        self,
        slug: str,
        *,
        version: str | None = None,
        feature: str | None = None,
        start: Day = None,
        end: Day = None,
    ) -> list[dict]:
        """PSI, KS or chi-square per version, day and feature against the reference."""
        return self._monitoring(
            slug, "drift", version=version, feature=feature, start=start, end=end
        )

    def list_alerts(
        self,
        slug: str,
        *,
        version: str | None = None,
        status: str | None = None,
        kind: str | None = None,
    ) -> list[dict]:
        """Alerts, newest first; status open, acknowledged, resolved or closed; kind
        kpi_below_gate, drift, quality, refused or silence."""
        return self._monitoring(slug, "alerts", version=version, status=status, kind=kind)

    def acknowledge_alert(self, slug: str, alert_id: int, note: str = "") -> dict:
        """Say an open alert is being looked at; 409 unless it is open."""
        return self._alert_action(slug, alert_id, "acknowledge", note)

    def resolve_alert(self, slug: str, alert_id: int, note: str = "") -> dict:
        """Mark an open or acknowledged alert resolved; 409 if resolved or closed already."""
        return self._alert_action(slug, alert_id, "resolve", note)

    def _alert_action(self, slug: str, alert_id: int, verb: str, note: str) -> dict:
        path = f"{use_case_path(slug)}monitoring/alerts/{segment(alert_id)}/{verb}"
        return self._request("POST", path, json={"note": note})
