from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.tokens import MAX_TOKEN_DAYS, default_token_days, issue_api_token


class Command(BaseCommand):
    help = "Issue an API token for a user and print it, the only time it is shown (only its digest is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS",
            help=f"days until the token stops working (default {default_token_days():g}, SMART_SUPPORT_API_TOKEN_DAYS)",
        )

    def handle(self, *args, username: str, expires_in: int | None, **options) -> None:
        if expires_in is not None and not 1 <= expires_in <= MAX_TOKEN_DAYS:
            raise CommandError(f"--expires-in must be a whole number of days from 1 to {MAX_TOKEN_DAYS}; got {expires_in}", returncode=2)
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user named {username!r}; create it first (manage.py createsuperuser, or in admin)")
        issued = issue_api_token(user=user, expires_in=timedelta(days=expires_in) if expires_in else None)
        self.stderr.write(
            f"API token for {username!r}, valid until {issued.expiry.isoformat(timespec='seconds')}. "
            "It is shown this once: store it now (send it as 'Authorization: Token <token>')."
        )
        self.stdout.write(issued.key)
