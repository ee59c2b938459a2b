"""Models of job control (issue 16): account settings, idempotency keys, the usage log and webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccountJobSettings(models.Model):
    """Per-account job settings. `retention_days` None keeps results and uploads until deleted (the default)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_settings")
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    # The Standard Webhooks secret (`whsec_<base64>`) that signs per-job `callback_url` deliveries.
    callback_secret = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(retention_days__isnull=True) | models.Q(retention_days__gte=1),
                name="retention_days_positive",
            )
        ]

    def __str__(self) -> str:
        return f"settings of {self.user_id}"


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one API key: the request's fingerprint and, once it finished, its response."""

    class State(models.TextChoices):
        """Whether the stored call is still running or its response is stored."""

        RUNNING = "running"
        DONE = "done"

    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "endpoint", "key"], name="idempotency_key_unique_per_api_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.endpoint} {self.key}"


class UsageRecord(models.Model):
    """One counted request, for `GET /usage` by day, mode and API key (the quota itself is MonthlyUsage)."""

    class Kind(models.TextChoices):
        """What a usage record counts: an asynchronous job or a synchronous /v1/ocr call."""

        JOB = "job"
        SYNC = "sync"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records")
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    mode = models.CharField(max_length=64)
    day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "day"], name="usage_record_user_day")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.kind} {self.mode}"


WEBHOOK_EVENTS = ("job.completed", "job.failed", "job.cancelled", "job.page_completed")


class WebhookEndpoint(models.Model):
    """An account's webhook URL, the events it wants, and the secret that signs its deliveries."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One message to one URL, with its attempts. Deleted with its job or its endpoint."""

    class Status(models.TextChoices):
        """Where a delivery stands: pending, sending, succeeded or failed (after its last retry)."""

        PENDING = "pending"
        SENDING = "sending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE)
    job = models.ForeignKey("ocrjobs.Job", null=True, blank=True, on_delete=models.CASCADE)
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=32)
    msg_id = models.CharField(max_length=64, db_index=True)  # a redelivery sends the same message id again
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["owner", "-created_at"], name="webhook_delivery_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.url} ({self.status})"
