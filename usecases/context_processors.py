"""What base.html needs on every page from usecases: whether the nav links the audit trail
(templates must not compare roles; usecases/permissions.py decides)."""

from usecases.permissions import can_view_audit_trail


def audit_link(request) -> dict:
    # No user on a page answered before authentication ran (a NUL in the path: 404).
    user = getattr(request, "user", None)
    return {"may_see_audit": user is not None and can_view_audit_trail(user)}
