from django.core.management.base import BaseCommand, CommandParser

from analytics.management.commands.backfill_events import parse_date
from analytics.pricing import reprice


class Command(BaseCommand):
    help = "Recompute stored LLM costs at the current model prices and print the difference per model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=parse_date("--since"), help="only calls on or after this date")
        parser.add_argument("--dry-run", action="store_true", help="show the difference, change nothing")

    def handle(self, *args, since, dry_run: bool, **options) -> None:
        lines = reprice(since=since, dry_run=dry_run).lines
        self.stdout.write(f"{'model':<28} {'calls':>8} {'before USD':>14} {'after USD':>14} {'difference':>14} unpriced")
        for line in lines:
            self.stdout.write(
                f"{line.model or '(none)':<28} {line.calls:>8} {line.before_usd:>14.6f} {line.after_usd:>14.6f} "
                f"{line.difference_usd:>+14.6f} {line.unpriced_calls}"
            )
        total = sum((line.difference_usd for line in lines), start=0)
        self.stdout.write(f"DONE reprice{' (dry run, nothing changed)' if dry_run else ''}: difference {total:+.6f} USD")
