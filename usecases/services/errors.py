"""The use cases' own refusals; the convention itself is portal/errors.py."""

from portal.errors import DomainError


class MembershipError(DomainError):
    """A membership change that would leave the use case without an owner, and the like."""


class PhaseError(DomainError):
    """A phase change the lifecycle does not allow."""
