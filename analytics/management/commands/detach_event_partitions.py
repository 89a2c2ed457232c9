import time
from datetime import datetime, timezone

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.partitions import BackfillUnderWay, detach_expired_partitions


class Command(BaseCommand):
    help = (
        "Detach the months of analytics events older than the retention (SMART_SUPPORT['EVENT_RETENTION_MONTHS'] "
        "months besides the current one) into plain tables analytics_events_YYYY_MM_detached, to archive or drop. "
        "Dashboard numbers come from the rollups and stay; refused while a backfill is unfinished."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retention-months", type=int, default=settings.SMART_SUPPORT.get("EVENT_RETENTION_MONTHS"),
            help="months kept besides the current one (default: the EVENT_RETENTION_MONTHS setting)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list the months it would detach, change nothing")

    def handle(self, *args, retention_months: int | None, dry_run: bool, **options) -> None:
        if retention_months is None:
            self.stdout.write("DONE detach_event_partitions: no retention set (EVENT_RETENTION_MONTHS), every month is kept")
            return
        if retention_months < 0:
            raise CommandError(f"--retention-months must be 0 or more; got {retention_months}", returncode=2)
        started = time.monotonic()
        suffix = " (dry run)" if dry_run else ""
        self.stdout.write(f"START detach_event_partitions{suffix}: keeping the current month and {retention_months} before it")
        try:
            detached = detach_expired_partitions(retention_months=retention_months, now=datetime.now(timezone.utc), dry_run=dry_run)
        except BackfillUnderWay as error:
            raise CommandError(f"nothing detached: {error}") from error
        for month in detached:
            verb = "WOULD DETACH" if dry_run else "DETACHED"
            self.stdout.write(f"{verb} {month.month.partition} -> {month.table} ({month.rows} events)")
        elapsed_ms = (time.monotonic() - started) * 1000
        self.stdout.write(f"DONE detach_event_partitions{suffix}: {len(detached)} months ({elapsed_ms:.0f} ms)")
