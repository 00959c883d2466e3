import sys

from django.core.management.base import BaseCommand

from usecases.services import audit


class Command(BaseCommand):
    help = "Check the audit chain: exit 1 if any event was modified or deleted."

    def handle(self, *args, **options):
        count, problems = audit.verify_chain()
        for problem in problems:
            self.stderr.write(f"event {problem.event_id}: {problem.message}")
        if problems:
            self.stderr.write(f"Audit chain BROKEN: {len(problems)} problem(s) in {count} events.")
            sys.exit(1)
        self.stdout.write(f"Audit chain intact: {count} events verified.")
