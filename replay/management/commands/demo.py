from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token

from replay.checkpoints import count_checkpoint_rows, setup_checkpoint_tables

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "smart-support"


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
        self._ensure_admin_user()
        if count_checkpoint_rows()["threads"] == 0:
            self.stdout.write(f"START demo: simulating {conversations} conversations over {days} days")
            call_command("simulate_conversations", count=conversations, days=days, seed=1)
        else:
            self.stdout.write("demo: checkpoints already present, not simulating again")
        call_command("backfill_events", verbosity=options["verbosity"])
        self._print_summary(addrport)
        if not no_serve:
            call_command("runserver", addrport, use_reloader=False)

    def _ensure_admin_user(self) -> None:
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", DEMO_PASSWORD)

    def _print_summary(self, addrport: str) -> None:
        counts = count_checkpoint_rows()
        token, _ = Token.objects.get_or_create(user=get_user_model().objects.get(username=DEMO_USERNAME))
        self.stdout.write(
            "DONE demo: checkpoint tables hold "
            f"{counts['threads']} threads, {counts['checkpoints']} checkpoints, "
            f"{counts['checkpoint_blobs']} blobs, {counts['checkpoint_writes']} writes"
        )
        self.stdout.write(
            f"Admin: http://{addrport}/admin/  user {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r} "
            "(set on the first run; change it in admin)"
        )
        self.stdout.write(
            f"Dashboard: http://{addrport}/admin/analytics/dashboard/   API: http://{addrport}/api/docs/ "
            f"(token: curl -H 'Authorization: Token {token.key}' http://{addrport}/api/analytics?range=30d)"
        )
