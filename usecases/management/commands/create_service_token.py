"""manage.py create_service_token <username> [--create] [--expiry-days N|never] [--name LABEL]

Prints a new API token for a script or CI job, and only the token, on stdout, so that
`TOKEN=$(manage.py create_service_token ci-bot)` works; what happened goes to stderr. With
--create a missing user becomes a service account (active, not staff, no usable password).
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.errors import DomainError, NotFound
from usecases.services import tokens

CHOICES = ", ".join(str(days) for days in tokens.EXPIRY_DAYS_CHOICES if days)


def expiry_days(text: str) -> int | None:
    """`--expiry-days`: one of the service's choices in days, or "never"."""
    if text.strip().lower() == "never":
        return None
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days not in tokens.EXPIRY_DAYS_CHOICES:
        raise CommandError(f"--expiry-days must be {CHOICES} or never, not {text!r}.")
    return days


class Command(BaseCommand):
    help = (
        "Create an API token for a user (a script's or CI's) and print only the token on "
        "stdout; --create makes a missing user a service account."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--create",
            action="store_true",
            help="Create the user if missing, as a service account: active, not staff, "
            "with no usable password.",
        )
        parser.add_argument(
            "--expiry-days",
            default="90",
            help=f"Days until the token expires: {CHOICES}, or never (default 90).",
        )
        parser.add_argument(
            "--name", default="", help="A label for the token, kept in its audit event."
        )

    def handle(self, *args, **options) -> None:
        days = expiry_days(options["expiry_days"])
        try:
            token, text, created = tokens.create_service_token(
                options["username"],
                expiry_days=days,
                name=options["name"],
                create_user=options["create"],
            )
        except NotFound as error:
            raise CommandError(f"{error.message} Add --create to make a service account.") from None
        except DomainError as error:
            raise CommandError(error.message) from None
        user = token.user.get_username()
        expires = f"expires {token.expiry:%Y-%m-%d %H:%M} UTC" if token.expiry else "never expires"
        account = f"Created the service account {user}. " if created else ""
        self.stderr.write(
            f"{account}API token {token.token_key}… for {user}, {expires}; it is printed once, "
            "on stdout.",
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(text)
