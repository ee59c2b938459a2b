from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.tiers import Tier


class UserManager(BaseUserManager["User"]):
    """Manager for the e-mail-keyed User model (no username)."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        """Create and save an account for `email` (lower-cased); no password means an unusable one.

        Raises ValidationError for a malformed field and IntegrityError when the address already has an account
        (the unique index decides, so concurrent sign-ups cannot both win).
        """
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        # No unique check before the INSERT (a check-then-act): the database's unique index decides, and a second
        # account for one address is an IntegrityError for the caller to handle.
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        """Log-in looks the address up case-insensitively (it is stored lower-cased; `Lower(email)` is unique)."""
        return self.get(email__iexact=(username or "").strip())

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        """Create a staff superuser on the Enterprise tier; errors as `create_user`."""
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("tier", Tier.ENTERPRISE)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """An account. People log in with their e-mail address; API keys belong to it."""

    username = None
    email = models.EmailField("e-mail address", unique=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.TRIAL)
    default_mode = models.CharField(max_length=64, default="ocr")
    email_verified = models.BooleanField(
        default=True, help_text="False for a sign-up until the link mailed to the address is opened."
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_unique_ci")]

    def __str__(self) -> str:
        return self.email


class ApiKey(models.Model):
    """An API key, stored as a SHA-256 hash with a short visible prefix (Sentry's ApiToken)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="After this the key is refused; none: never.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        """Not revoked and not past its expiry date."""
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        """True when the key has an expiry (`expires_at`, aware datetime) that is now or past."""
        return self.expires_at is not None and self.expires_at <= timezone.now()


class MonthlyUsage(models.Model):
    """Requests counted per account and calendar month (UTC). Incremented by a conditional UPDATE."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="usage")
    month = models.DateField(help_text="The first day of the month, UTC.")
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "month"], name="usage_one_row_per_month"),
            models.CheckConstraint(condition=models.Q(used__gte=0), name="usage_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.month:%Y-%m}: {self.used}"


class DailyUsage(models.Model):
    """Requests per account and day, for the usage chart. Not used for enforcement."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="daily_usage_one_row_per_day")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}: {self.used}"


class RateWindow(models.Model):
    """Hits of one key in one fixed window, for limits that must hold across threads and processes (the mode
    preview's). Spent with a conditional UPDATE like the quota; see accounts/ratelimit.py."""

    key = models.CharField(max_length=200)
    window = models.DateTimeField(help_text="The window's start, UTC.")
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="rate_window_one_row")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window:%Y-%m-%d %H:%M:%S}: {self.hits}"


class QuotaHold(models.Model):
    """One request of the quota spent on a call that is still running in a web process (`POST /v1/ocr`). The call
    deletes it when it ends (and refunds if it failed); a hold still here after `expires_at` belongs to a process
    that died mid-call, and the scheduler's sweep gives the request back (`accounts.quota_holds`)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="quota_holds")
    month = models.DateField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.month:%Y-%m} until {self.expires_at:%H:%M:%S}"
