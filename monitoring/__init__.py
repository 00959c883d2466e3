"""Monitoring of deployed models (issue 14): KPIs over time, drift, live data quality, shadow
comparisons and alerts, on a schedule. Between promotions (below) and collaboration."""
