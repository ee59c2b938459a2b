import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


class Command(BaseCommand):
    """`manage.py ensure_first_account [--email E]`: the first superuser on a fresh installation."""

    help = (
        "On a new installation, create a first account that can log in and print its password, once: it is not "
        "stored anywhere. Later runs print nothing secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """`--email` of the superuser to create (default admin@localhost.localdomain)."""
        parser.add_argument("--email", default="admin@localhost.localdomain")

    def handle(self, *args: object, email: str, **options: object) -> None:
        """Create a superuser with a random password printed once, unless any account exists; remove the legacy
        password file.
        """
        # Earlier versions kept the password in a file and printed it on every start: remove that copy.
        legacy = settings.VAR_DIR / "first-account.txt"
        if legacy.exists():
            legacy.unlink()
            self.stdout.write(f"Removed {legacy}, which held the first account's password in clear.")
        if User.objects.exists():
            self.stdout.write(
                "Accounts exist. Forgot a password? `.venv/bin/python manage.py changepassword EMAIL` sets a new one."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(
            f"e-mail: {email}\npassword: {password}\n"
            "This password is shown only now and is not stored: note it, or change it after logging in."
        )
