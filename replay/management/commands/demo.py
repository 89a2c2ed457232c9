import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from access.tokens import issue_api_token
from replay.checkpoints import count_checkpoint_rows, setup_checkpoint_tables

DEMO_USERNAME = "admin"
# How long the sync worker gets to finish its pass after being asked to stop.
SYNC_WORKER_STOP_SECONDS = 10


class Command(BaseCommand):
    help = "Bring this machine to a working back office: database, migrations, demo data, admin user, server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", type=int, default=300, help="simulated on the first run only")
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="prepare everything but do not start the server")

    def handle(self, *args, conversations: int, days: int, addrport: str, no_serve: bool, **options) -> None:
        self.stdout.write("START demo: migrations")
        call_command("migrate", interactive=False, verbosity=0)
        setup_checkpoint_tables()
        credentials = self._create_admin_user()
        if count_checkpoint_rows()["threads"] == 0:
            self.stdout.write(f"START demo: simulating {conversations} conversations over {days} days")
            call_command("simulate_conversations", count=conversations, days=days, seed=1)
        else:
            self.stdout.write("demo: checkpoints already present, not simulating again")
        call_command("backfill_events", verbosity=options["verbosity"])
        self._print_summary(addrport, credentials)
        if not no_serve:
            with sync_worker(), sigterm_as_exit():
                call_command("runserver", addrport, use_reloader=False)

    def _create_admin_user(self) -> tuple[str, str] | None:
        """On the first run, the admin user with a generated password and an API token: (password, token),
        printed once and stored only as hashes."""
        User = get_user_model()
        if User.objects.filter(username=DEMO_USERNAME).exists():
            return None
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
        return password, issue_api_token(user=user).key

    def _print_summary(self, addrport: str, credentials: tuple[str, str] | None) -> None:
        counts = count_checkpoint_rows()
        self.stdout.write(
            "DONE demo: checkpoint tables hold "
            f"{counts['threads']} threads, {counts['checkpoints']} checkpoints, "
            f"{counts['checkpoint_blobs']} blobs, {counts['checkpoint_writes']} writes"
        )
        self.stdout.write(f"Dashboard: http://{addrport}/admin/analytics/dashboard/   API docs: http://{addrport}/api/docs/")
        if credentials is None:
            self.stdout.write(
                f"Admin: http://{addrport}/admin/  user {DEMO_USERNAME!r}, with the password printed on the first run "
                f"(forgotten? manage.py changepassword {DEMO_USERNAME}; a new API token: manage.py create_api_token {DEMO_USERNAME})"
            )
            return
        password, token = credentials
        self.stdout.write(
            f"Admin: http://{addrport}/admin/  user {DEMO_USERNAME!r}, password {password!r}\n"
            f"API token: {token}  (curl -H 'Authorization: Token {token}' 'http://{addrport}/api/analytics?range=30d')\n"
            "The password and the token are shown this once (only their hashes are stored): note them now."
        )


@contextmanager
def sync_worker() -> Iterator[subprocess.Popen]:
    """``backfill_events --follow`` in a process of its own while the block runs, so conversations written
    during the demo reach the list and the dashboard; stopped (Ctrl-C, SIGTERM or an error) when it ends."""
    # a session of its own: Ctrl-C in the terminal reaches the demo only, which then stops the worker once
    worker = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "backfill_events", "--follow"],
        env=os.environ.copy(), start_new_session=True,
    )
    try:
        yield worker
    finally:
        stop_sync_worker(worker)


def stop_sync_worker(worker: subprocess.Popen) -> None:
    """Ask as Ctrl-C does (the worker finishes its pass and says STOP); kill it if it does not stop in time."""
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGINT)
    try:
        worker.wait(timeout=SYNC_WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (a service manager, ``kill``) ends the server like Ctrl-C, so the worker is stopped too; by
    default it would end this process at once and leave the worker running."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
