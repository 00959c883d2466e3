"""What happens after a promotion's step commits: notifications and the deployment webhook.

Called through transaction.on_commit by requests.py and execution.py, with ids only (the
rows are read fresh). Each function must be quick and must not raise: slow or failing
work (e-mail, the webhook's HTTP call) goes to Celery tasks. The step has committed by
then, so a failure here is logged, never shown to the person who took it.
"""

from __future__ import annotations

import logging

from promotions import signals
from promotions.services import notify, webhooks

logger = logging.getLogger(__name__)


def request_opened(request_id: int) -> None:
    """A request was opened: its approvers are told."""
    try:
        notify.notify_approvers(request_id)
    except Exception:
        logger.exception("request %s: approvers not notified", request_id)


def request_approved(request_id: int) -> None:
    """An approval that was not the last one: the approvers it settled stop being asked."""
    try:
        notify.settle(request_id)
    except Exception:
        logger.exception("request %s: approval notifications not settled", request_id)


def request_decided(request_id: int) -> None:
    """A request was executed, refused, rejected or withdrawn: its requester is told, and
    nobody is asked to approve it any more."""
    request_approved(request_id)
    try:
        notify.notify_requester(request_id)
    except Exception:
        logger.exception("request %s: requester not notified", request_id)


def stages_changed(use_case_id: int, change_ids: list[int]) -> None:
    """Versions changed stage (a promotion or a rollback): the webhook is called, and the
    apps above are told (an MLflow link syncs its aliases)."""
    try:
        webhooks.queue_stage_changes(use_case_id, change_ids)
    except Exception:
        logger.exception("use case %s: webhook for changes %s not queued", use_case_id, change_ids)
    for receiver, result in signals.stages_changed.send_robust(
        sender=None, use_case_id=use_case_id, change_ids=change_ids
    ):
        if isinstance(result, Exception):
            logger.error(
                "use case %s: %s failed on changes %s",
                use_case_id,
                getattr(receiver, "__qualname__", receiver),
                change_ids,
                exc_info=result,
            )
