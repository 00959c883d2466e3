"""Promotions: gated, approved moves of a model version through shadow, canary and
production, with rollback, the use case's phase rules, the deployment API and its webhook
(DESIGN.md "Deployment stages and promotion")."""
