"""The one error convention (STYLE.md): a service that refuses raises a `DomainError`.

An error carries a `message` fit for the user, the `field` of the input it is about (empty
for the request as a whole) and a machine-readable `code`. portal/web.py turns it into form
errors, portal/api.py into a JSON body with `status_code`; each in one place. An error about
several fields at once is an `InvalidFields` holding one `InvalidInput` per field.
"""

from __future__ import annotations


class DomainError(Exception):
    """A broken business rule: 409 in the API, a form error in the browser."""

    status_code = 409
    default_code = "conflict"

    def __init__(self, message: str, *, field: str = "", code: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)  # for logs and tracebacks
        self.message = message
        self.field = field
        self.code = code or self.default_code

    def error_items(self) -> list[dict]:
        """One {"field", "message"} per bad field or row, for the API's `errors` list."""
        return [{"field": self.field, "message": self.message}] if self.field else []

    def body_extras(self) -> dict:
        """More members of the API's error body (a rejected file's counts per check)."""
        return {}


class InvalidInput(DomainError):
    """The input breaks a rule (a name taken, a value out of range): 400."""

    status_code = 400
    default_code = "invalid"


class InvalidFields(InvalidInput):
    """Several fields are wrong at once; `errors` holds one InvalidInput per field."""

    def __init__(self, errors: list[InvalidInput]) -> None:
        if not errors:
            raise ValueError("InvalidFields needs at least one error.")
        first = errors[0]
        super().__init__(first.message, field=first.field, code=first.code)
        self.errors = list(errors)

    def error_items(self) -> list[dict]:
        return [item for error in self.errors for item in error.error_items()]


class NotFound(DomainError):
    """What the input refers to does not exist (for this user): 404."""

    status_code = 404
    default_code = "not_found"


class TooLarge(InvalidInput):
    """The input is over a size or row limit: 413."""

    status_code = 413
    default_code = "too_large"
