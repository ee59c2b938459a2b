from django.core.management.base import BaseCommand, CommandParser

from accounts.services import api_key_create, user_get_or_create
from accounts.tiers import Tier


class Command(BaseCommand):
    """`manage.py create_api_key EMAIL [--tier T] [--name N]`."""

    help = "Create an API key for EMAIL (creating the account if missing). The key is printed alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        """Positional e-mail, `--tier` (a Tier value) and `--name` for the key."""
        parser.add_argument("email")
        parser.add_argument("--tier", choices=list(Tier.values), default=None, help="set the account's tier")
        parser.add_argument("--name", default="default", help="a name for the key")

    def handle(self, *args: object, email: str, tier: str | None, name: str, **options: object) -> None:
        """Create the account if needed and a key; the plaintext key goes alone to stdout, details to stderr."""
        user, created = user_get_or_create(email=email, tier=tier)
        key, raw = api_key_create(user=user, name=name)
        verb = "Created account" if created else "Account"
        self.stderr.write(f"{verb} {user.email} ({user.get_tier_display()}); key {key.prefix}… named {key.name!r}:")
        self.stdout.write(raw)
