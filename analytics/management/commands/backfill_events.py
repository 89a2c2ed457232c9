import argparse
import sys
import time
from datetime import datetime, time as day_time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

# no monitor thread: the commands fork worker processes, and a fork copies every thread's locks
tqdm.monitor_interval = 0

from analytics.pricing import RepriceResult, run_pending_reprices
from analytics.recorder import get_recorder
from analytics.sync import DATABASE_FAULTS, FollowSettings, SyncSummary, backfill, follow
from analytics.sync_lock import SyncLock, SyncLocked
from replay.checkpoints import PostgresCheckpointSource, checkpoint_conninfo, described_conninfo
from replay.thread_shards import ALL_THREADS, ThreadShard


def parse_date(option: str):
    def parse(value: str) -> datetime:
        try:
            day = datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a date like 2026-11-01; got {value!r}") from None
        return timezone.make_aware(datetime.combine(day, day_time.min))

    return parse


def parse_shard(value: str) -> ThreadShard:
    try:
        return ThreadShard.parse(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class Command(BaseCommand):
    help = "Derive analytics events and conversation rows from LangGraph checkpoints; idempotent and resumable."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=parse_date("--since"), help="only threads active on or after this date")
        parser.add_argument("--until", type=parse_date("--until"), help="only threads active before the day after this date")
        parser.add_argument("--thread", help="only this thread id")
        parser.add_argument(
            "--rebuild", action="store_true",
            help="derive every selected thread again; the previous numbers stay visible until the new ones are complete",
        )
        parser.add_argument(
            "--retry-failed", action="store_true", help="try again the threads that failed (Failed threads in admin)"
        )
        parser.add_argument("--batch-size", type=int, default=500, help="threads per batch handed to a worker (1-10000); each is recorded a chunk of at most 100 at a time")
        parser.add_argument("--dry-run", action="store_true", help="derive and count, write nothing")
        parser.add_argument(
            "--workers", type=int, default=settings.SMART_SUPPORT["BACKFILL_WORKERS"], help="processes deriving in parallel"
        )
        parser.add_argument(
            "--shard", type=parse_shard, default=ALL_THREADS, metavar="i/n",
            help="only shard i (0 to n-1) of the threads split n ways, by a hash of the thread id: run one per machine",
        )
        parser.add_argument("--follow", action="store_true", help="after catching up, keep syncing new checkpoints")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between live-sync polls")
        parser.add_argument(
            "--reconcile-every", type=float, default=60.0,
            help="with --follow: seconds between full comparisons of every thread (catches late commits)",
        )

    def handle(self, *args, **options) -> None:
        if not 1 <= options["workers"] <= 64:
            raise CommandError(f"--workers must be from 1 to 64; got {options['workers']}", returncode=2)
        if not 1 <= options["batch_size"] <= 10_000:
            raise CommandError(f"--batch-size must be from 1 to 10000; got {options['batch_size']}", returncode=2)
        until = options["until"] + timedelta(days=1) if options["until"] else None
        if options["since"] and until and options["since"] >= until:
            raise CommandError("--since must be on or before --until", returncode=2)
        if options["retry_failed"] and (options["thread"] or options["rebuild"]):
            raise CommandError("--retry-failed cannot be combined with --thread or --rebuild", returncode=2)
        if not options["shard"].is_all and (options["thread"] or options["rebuild"] or options["retry_failed"]):
            raise CommandError(
                "--shard cannot be combined with --thread, --rebuild or --retry-failed: they are for every thread, "
                "run them without --shard (after stopping the shards)", returncode=2,
            )
        recorder = get_recorder(dry_run=options["dry_run"])
        try:
            with SyncLock(shard=options["shard"]) as lock, PostgresCheckpointSource() as source:
                shard = "" if options["shard"].is_all else f" --shard {options['shard']}"
                self.stdout.write(f"START backfill_events{shard}{' (dry run)' if options['dry_run'] else ''}")
                self._wait_for_checkpoint_tables(source, follow=options["follow"], interval=options["interval"])
                if not options["follow"]:
                    self._print_summary("DONE backfill_events", self._backfill(source, recorder, options, until))
                    if not options["dry_run"]:
                        started = time.monotonic()
                        for reason, result in run_pending_reprices():
                            self._print_reprice(reason, result, time.monotonic() - started)
                    return
                # Ctrl-C (or the demo stopping its worker) at any point, the catch-up included: a later run resumes
                try:
                    self._catch_up_and_follow(source, recorder, options, lock, until)
                except KeyboardInterrupt:
                    self.stdout.write("STOP backfill_events --follow")
        except SyncLocked as error:
            raise CommandError(str(error)) from None

    def _wait_for_checkpoint_tables(self, source, *, follow: bool, interval: float) -> None:
        """A sync worker may start before the agent has created its tables: it waits for them (a plain
        run stops), saying which database it reads."""
        missing = source.missing_tables()
        if not missing:
            return
        problem = (
            f"the checkpoint database ({described_conninfo(checkpoint_conninfo())}) has no {', '.join(missing)} table: "
            "set CHECKPOINT_DATABASE_URL to your agent's database, or let the agent run PostgresSaver.setup() there first"
        )
        if not follow:
            raise CommandError(problem)
        self.stdout.write(f"WAIT backfill_events --follow: {problem}; looking again every {interval:g} s")
        while missing:
            time.sleep(interval)
            missing = source.missing_tables()
        self.stdout.write("FOUND backfill_events --follow: the checkpoint tables are there")

    def _catch_up_and_follow(self, source, recorder, options, lock: SyncLock, until) -> None:
        # a sync worker outlives database restarts, even one that cuts its first catch-up short
        try:
            self._print_summary("DONE backfill_events", self._backfill(source, recorder, options, until))
        except DATABASE_FAULTS as error:
            self._report_fault(error, during="the catch-up pass")
            self._follow(source, recorder, options, lock, recovering=True)
        else:
            self._follow(source, recorder, options, lock)

    def _backfill(self, source, recorder, options, until) -> SyncSummary:
        if not sys.stderr.isatty() and options["verbosity"] > 0:
            return self._backfill_with_lines(source, recorder, options, until)
        bar = tqdm(unit="thread", desc="threads", disable=options["verbosity"] == 0, file=sys.stderr, mininterval=1.0)
        try:
            return self._run_backfill(
                source, recorder, options, until, lambda total: setattr(bar, "total", total) or bar.refresh(), bar.update
            )
        finally:
            bar.close()

    def _run_backfill(self, source, recorder, options, until, on_start, on_progress) -> SyncSummary:
        return backfill(
            source=source,
            recorder=recorder,
            batch_size=options["batch_size"],
            workers=options["workers"],
            since=options["since"],
            until=until,
            thread_id=options["thread"],
            rebuild=options["rebuild"],
            retry_failed=options["retry_failed"],
            dry_run=options["dry_run"],
            shard=options["shard"],
            on_start=on_start,
            on_progress=on_progress,
        )

    def _backfill_with_lines(self, source, recorder, options, until) -> SyncSummary:
        """Not on a terminal (a log, CI): a plain line per ten percent instead of a redrawn bar."""
        started, progress = time.monotonic(), {"total": 0, "done": 0, "next": 0}

        def on_start(total: int) -> None:
            progress["total"] = total
            self.stderr.write(f"PROGRESS 0/{total} threads")

        def on_progress(done: int) -> None:
            progress["done"] += done
            if progress["done"] >= progress["next"] or progress["done"] == progress["total"]:
                elapsed = time.monotonic() - started
                rate = progress["done"] / elapsed if elapsed else 0
                eta = (progress["total"] - progress["done"]) / rate if rate else 0
                self.stderr.write(
                    f"PROGRESS {progress['done']}/{progress['total']} threads ({rate:.0f}/s, {eta:.0f} s left)"
                )
                progress["next"] = progress["done"] + max(1, progress["total"] // 10)

        return self._run_backfill(source, recorder, options, until, on_start, on_progress)

    def _report_fault(self, error: BaseException, *, during: str) -> None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        self.stderr.write(f"RETRY backfill_events --follow: database unreachable ({reason}) during {during}")

    def _follow(self, source, recorder, options, lock: SyncLock, *, recovering: bool = False) -> None:
        self.stdout.write("FOLLOW backfill_events: syncing new checkpoints (Ctrl-C to stop)")

        def on_sync(summary: SyncSummary, seconds: float) -> None:
            failed = f", {summary.failed} failed" if summary.failed else ""
            self.stdout.write(f"SYNC {summary.threads} threads, {summary.events} events{failed} ({seconds * 1000:.0f} ms)")

        def on_fault(error: BaseException, delay: float) -> None:
            self._report_fault(error, during=f"a live pass; retrying in {delay:.1f} s")

        follow(
            source=source,
            recorder=recorder,
            follow_settings=FollowSettings(interval=options["interval"], reconcile_every=options["reconcile_every"]),
            on_sync=on_sync,
            on_fault=on_fault,
            on_recovered=lambda: self.stdout.write("RECOVERED backfill_events --follow: database reachable again"),
            on_reprice=self._print_reprice,
            keep_lock=lock.ensure_held,
            recovering=recovering,
            shard=options["shard"],
        )

    def _print_reprice(self, reason: str, result: RepriceResult, seconds: float) -> None:
        self.stdout.write(
            f"REPRICE {reason}: {result.changed_calls} calls in {result.changed_conversations} conversations, "
            f"{result.difference_usd:+.6f} USD ({seconds * 1000:.0f} ms)"
        )

    def _print_summary(self, label: str, summary: SyncSummary) -> None:
        rate = summary.threads / summary.seconds if summary.seconds else 0
        unpriced = ", ".join(sorted(summary.unpriced_models)) or "none"
        self.stdout.write(
            f"{label}: {summary.threads} threads, {summary.events} events in {summary.seconds:.1f} s "
            f"({rate:.0f} threads/s); unpriced tokens {summary.unpriced_tokens} (models: {unpriced}); "
            f"warnings {summary.unknown_steps} unreadable steps; failed threads {summary.failed}"
        )
        if summary.failed:
            self.stderr.write(
                f"WARNING {summary.failed} threads could not be derived and were skipped: see Failed threads in "
                "admin, fix the data or the code, then run backfill_events --retry-failed"
            )
