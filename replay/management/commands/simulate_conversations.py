import os

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

# no monitor thread: the commands fork worker processes, and a fork copies every thread's locks
tqdm.monitor_interval = 0

from replay.checkpoints import checkpoint_conninfo, setup_checkpoint_tables
from smart_support.agent.simulate import simulate_conversations


class Command(BaseCommand):
    help = "Run the reference LangGraph support agent over N seeded conversations spread over the last D days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=100, help="conversations to write (at least 1)")
        parser.add_argument("--days", type=int, default=30, help="spread them over this many days (at least 1)")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same conversations")
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes to use")

    def handle(self, *args, count: int, days: int, seed: int, workers: int, **options) -> None:
        for option, value in (("--count", count), ("--days", days), ("--workers", workers)):
            if value < 1:
                raise CommandError(f"{option} must be a whole number of at least 1; got {value}", returncode=2)
        setup_checkpoint_tables()
        with tqdm(total=count, desc="conversations", unit="conv", disable=options["verbosity"] == 0) as bar:
            result = simulate_conversations(
                count=count,
                days=days,
                seed=seed,
                conninfo=checkpoint_conninfo(),
                workers=workers,
                on_progress=bar.update,
            )
            bar.update(result.skipped)
        self.stdout.write(
            f"DONE simulate_conversations: {result.created} written, {result.skipped} already present (seed {seed})"
        )
