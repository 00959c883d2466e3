"""What promotions tell the apps above them (they connect receivers in their apps.py)."""

from django.dispatch import Signal

# Versions changed stage (a promotion executed, or a rollback), sent after the commit with
# use_case_id and change_ids (StageChange rows). Receivers must be quick and must not raise.
stages_changed = Signal()
