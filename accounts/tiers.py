"""Account tiers and their monthly limits (API.md §1)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Tier(models.TextChoices):
    """Account tiers; each has a TierPolicy (monthly request limit, trial expiry)."""

    TRIAL = "trial", "Trial"
    STANDARD = "standard", "Standard"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


@dataclass(frozen=True)
class TierPolicy:
    """A tier's limits: requests per calendar month (None: unlimited) and whether it expires after the trial."""

    monthly_limit: int | None  # None: unlimited
    expires: bool  # trial: refused after DEEPREAD_TRIAL_DAYS


TIER_POLICIES: dict[str, TierPolicy] = {
    Tier.TRIAL: TierPolicy(monthly_limit=1000, expires=True),
    Tier.STANDARD: TierPolicy(monthly_limit=1000, expires=False),
    Tier.PRO: TierPolicy(monthly_limit=10_000, expires=False),
    Tier.ENTERPRISE: TierPolicy(monthly_limit=None, expires=False),
}
