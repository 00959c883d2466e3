"""The promotions' refusals; the convention itself is portal/errors.py."""

from portal.errors import DomainError


class PromotionError(DomainError):
    """A step the request's state does not allow (already decided, approved twice): 409."""

    default_code = "conflict"


class NotAllowed(DomainError):
    """The person may not take this step on this request (approving their own): 403."""

    status_code = 403
    default_code = "forbidden"
