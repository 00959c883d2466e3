"""Domain errors: a broken business rule with a message fit for the user."""


class DomainError(Exception):
    """Shown as a form error in the browser; a JSON body with `status_code` in the API."""

    status_code = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status_code = 400


class MembershipError(DomainError):
    pass


class PhaseError(DomainError):
    pass
