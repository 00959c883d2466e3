"""manage.py recount_quality [--use-case SLUG]: rebuild the versions' data-quality tallies
from their stored predictions (services/tally.py), e.g. once after the tallies were added,
or after a use case's rules changed."""

from django.core.management.base import BaseCommand, CommandError

from predictions.services import tally
from registry.models import ModelVersion
from usecases.models import UseCase


class Command(BaseCommand):
    help = (
        "Recount each model version's data-quality tally (rows checked, rows violating an "
        "error rule) from its stored predictions, with the rules as they stand now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--use-case", metavar="SLUG", help="Only this use case's versions.")
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=tally.RECOUNT_CHUNK,
            help="Stored predictions read and checked at a time (default %(default)s).",
        )

    def handle(self, *args, use_case=None, chunk_size=tally.RECOUNT_CHUNK, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        versions = ModelVersion.objects.select_related("use_case").order_by("use_case_id", "pk")
        if use_case is not None:
            if not UseCase.objects.filter(slug=use_case).exists():
                raise CommandError(f"No use case with the slug “{use_case}”.")
            versions = versions.filter(use_case__slug=use_case)
        count = 0
        for version in versions:
            counted = tally.recount_version(version, chunk_size=chunk_size)
            count += 1
            rate = counted.rows_violating / counted.rows_checked if counted.rows_checked else None
            shown = "—" if rate is None else f"{rate:.2%}"
            self.stdout.write(
                f"{version.use_case.slug} {version.version}: {counted.rows_violating:,} of "
                f"{counted.rows_checked:,} rows violating ({shown})"
            )
        self.stdout.write(f"Recounted {count} model version(s).")
