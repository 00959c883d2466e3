"""Signals of the use cases' domain that apps above listen to (an app never imports the
apps above it): each is sent once the change has committed."""

from django.dispatch import Signal

# A data-quality rule of the use case was added, changed or deleted; kwargs: use_case_id.
# predictions recounts its versions' tallies (predictions/apps.py).
rules_changed = Signal()

# The use case's decision threshold (or its task type) changed; kwargs: use_case_id.
# predictions recomputes each binary prediction's distance to the threshold, which
# "lowest confidence" sampling reads (predictions/apps.py).
threshold_changed = Signal()

# Asked, not announced: which segments the use case's data holds (KPI forms offer them and
# warn about a segment that matches none). kwargs: use_case_id; each receiver returns an
# iterable of segment names (registry: its datasets'; predictions: its logs').
segments_requested = Signal()
