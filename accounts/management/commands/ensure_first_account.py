import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


class Command(BaseCommand):
    help = "On a new installation, create a first account that can log in, and write its password under var/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="admin@localhost.localdomain")

    def handle(self, *args: object, email: str, **options: object) -> None:
        credentials = settings.VAR_DIR / "first-account.txt"
        if User.objects.exists():
            if credentials.exists():
                self.stdout.write(credentials.read_text().strip())
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password)
        credentials.write_text(f"e-mail: {email}\npassword: {password}\n")
        credentials.chmod(0o600)
        self.stdout.write(credentials.read_text().strip())
