from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics.retention import CheckpointTablesMissing, PruneRunning, PruneSummary, prune_checkpoints
from replay.checkpoint_pruning import CheckpointDatabaseReadOnly, DeleteNotGranted
from replay.checkpoints import checkpoint_conninfo, described_conninfo


class Command(BaseCommand):
    help = (
        "Delete the checkpoints of threads idle for longer than --older-than days whose analytics are derived; "
        "their conversations and events stay. Resumable, one transaction per batch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # read as text and checked in handle(): a bad value is then one line, not argparse's usage block
        parser.add_argument("--older-than", required=True, metavar="DAYS", help="idle for longer than this many days (at least 1)")
        parser.add_argument("--batch-size", type=int, default=200, help="threads deleted per transaction (1-10000)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")

    def handle(self, *args, **options) -> None:
        raw = str(options["older_than"])
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise CommandError(f"--older-than must be a whole number of days, at least 1; got {raw!r}", returncode=2)
        if not 1 <= options["batch_size"] <= 10_000:
            raise CommandError(f"--batch-size must be from 1 to 10000; got {options['batch_size']}", returncode=2)
        days, dry_run = int(raw), options["dry_run"]
        label = f"prune_checkpoints{' (dry run)' if dry_run else ''}"
        now = timezone.now()
        idle_since = now - timedelta(days=days)
        self.stdout.write(f"START {label}: threads idle since {idle_since:%Y-%m-%d %H:%M} UTC ({days} days)")
        try:
            summary = prune_checkpoints(
                older_than=timedelta(days=days), batch_size=options["batch_size"], dry_run=dry_run,
                now=now, on_batch=self._print_batch if options["verbosity"] > 0 else lambda batch: None,
            )
        except DeleteNotGranted as error:
            raise CommandError(
                f"role {error.role!r} may not DELETE from {', '.join(error.tables)} in the checkpoint database "
                f"({described_conninfo(checkpoint_conninfo())}); nothing was deleted. "
                f"As the tables' owner, run: {error.grant}"
            ) from None
        except CheckpointDatabaseReadOnly:
            raise CommandError(
                f"the checkpoint database ({described_conninfo(checkpoint_conninfo())}) is read-only (a replica?); "
                "nothing was deleted. Pruning deletes from the agent's primary: point CHECKPOINT_DATABASE_URL at it "
                "for this command"
            ) from None
        except CheckpointTablesMissing as error:
            raise CommandError(
                f"the checkpoint database ({described_conninfo(checkpoint_conninfo())}) has no {error} table: "
                "set CHECKPOINT_DATABASE_URL to your agent's database"
            ) from None
        except PruneRunning as error:
            raise CommandError(str(error)) from None
        self._print_summary(f"DONE {label}", summary, days=days, dry_run=dry_run)

    def _print_batch(self, batch: PruneSummary) -> None:
        self.stderr.write(f"PROGRESS +{batch.threads} threads ({batch.rows.checkpoints} checkpoints)")

    def _print_summary(self, label: str, summary: PruneSummary, *, days: int, dry_run: bool) -> None:
        verb = "would be pruned" if dry_run else "pruned"
        rows = summary.rows
        grown = f", {summary.grown} went on while being pruned" if summary.grown else ""
        self.stdout.write(
            f"{label}: {summary.threads} threads {verb} ({rows.checkpoints} checkpoints, {rows.blobs} blobs, "
            f"{rows.writes} writes) in {summary.seconds:.1f} s; kept {summary.not_derived} not derived, "
            f"{summary.stale} derived at an older checkpoint, {summary.awaiting_approval} awaiting approval, "
            f"{summary.failed} failed{grown}, {summary.recent} active within {days} days"
        )
