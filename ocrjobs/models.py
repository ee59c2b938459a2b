import uuid

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    """A job's internal status; `Job.public_status` maps it to the API's names."""

    AWAITING_UPLOAD = "awaiting_upload", "Awaiting upload"
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
PUBLIC_STATUS = {
    JobStatus.AWAITING_UPLOAD: "pending",
    JobStatus.QUEUED: "pending",
    JobStatus.PROCESSING: "processing",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


class Job(models.Model):
    """One file processed in one mode. This row, not the Celery result backend, is the truth about the job."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.AWAITING_UPLOAD)

    # The mode as it was when the job was made, so editing a custom mode never changes a job in flight.
    mode = models.CharField(max_length=64)
    prompt = models.TextField()
    output_kind = models.CharField(max_length=16)

    filename = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    upload_key = models.CharField(max_length=512)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    # What inspecting the upload found when it arrived (inference.documents.DocumentInfo), so nothing inspects
    # it again: the file's type (png, jpeg, bmp, tiff, pdf) and its own number of pages, whatever `pages` asked.
    source_kind = models.CharField(max_length=8, blank=True, default="")
    source_pages = models.PositiveIntegerField(null=True, blank=True)
    pages_done = models.PositiveIntegerField(default=0)

    output_key = models.CharField(max_length=512, null=True, blank=True)
    result_key = models.CharField(max_length=600, blank=True, default="")
    # The ML model that read the pages (e.g. "deepseek-ai/DeepSeek-OCR"); the column keeps its first name, "model".
    model_name = models.CharField(max_length=100, blank=True, default="", db_column="model")
    error = models.TextField(blank=True, default="")

    # Job control (ocrjobs/control.py): the pages asked for (`1-3,7`, empty for all), the job this one retries,
    # a per-job webhook URL, the custom mode's version, the API key that asked, the last status notified.
    page_range = models.CharField(max_length=200, blank=True, default="")
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    callback_url = models.URLField(max_length=2000, blank=True, default="")
    mode_version = models.PositiveIntegerField(null=True, blank=True)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    notified_status = models.CharField(max_length=16, blank=True, default="")

    usage_month = models.DateField()
    refunded = models.BooleanField(default=False)
    # Shortcuts (ocrjobs/shortcuts.py): OCR every page even where a text layer or an earlier result could answer it.
    force_ocr = models.BooleanField(default=False)
    # SHA-256 of the uploaded file, set when the job first runs: an identical re-upload reuses the whole result.
    source_sha256 = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Who holds the lease (`host:pid:token` of the worker process that claimed the job): only it renews the lease
    # or hands the job back, so a worker that lost the job to a takeover cannot extend the new owner's lease.
    lease_owner = models.CharField(max_length=100, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="job_owner_created"),
            models.Index(fields=["owner", "mode", "-created_at"], name="job_owner_mode_created"),
            models.Index(fields=["status", "updated_at"], name="job_status_updated"),
            models.Index(fields=["owner", "status"], name="job_owner_status"),
            models.Index(fields=["owner", "source_sha256"], name="job_owner_source"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "output_key"],
                condition=models.Q(output_key__isnull=False),
                name="job_output_key_unique_per_owner",
            ),
            models.CheckConstraint(condition=models.Q(status__in=JobStatus.values), name="job_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="completed") | models.Q(output_key__isnull=False),
                name="job_completed_has_output",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.mode} {self.filename} ({self.status})"

    @property
    def public_status(self) -> str:
        """The status as the API names it (e.g. "pending" for queued/awaiting upload)."""
        return PUBLIC_STATUS[self.status]

    @property
    def public_output_key(self) -> str | None:
        """The result's name, shown once it exists (a running job reserves its name for its page artifacts)."""
        return self.output_key if self.status == JobStatus.COMPLETED else None

    @property
    def duration(self) -> str:
        """How long processing took, for people: `4.2 s`, `3 min 5 s`; empty until it ends."""
        if not (self.started_at and self.finished_at):
            return ""
        seconds = (self.finished_at - self.started_at).total_seconds()
        return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"

    @property
    def is_terminal(self) -> bool:
        """True once the job has ended (completed, failed or cancelled)."""
        return self.status in TERMINAL_STATUSES


class JobPage(models.Model):
    """One recognised page, stored as soon as it is done so a restarted job does not redo it."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="pages")
    page = models.PositiveIntegerField()
    result = models.JSONField()
    # Who may reuse this result for an identical page: a hash of the account, mode, prompt, model and page image.
    reuse_key = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["page"]
        constraints = [models.UniqueConstraint(fields=["job", "page"], name="job_page_unique")]

    def __str__(self) -> str:
        return f"{self.job_id} p{self.page}"


from ocrjobs.control_models import (  # noqa: E402  (the job-control models live beside, registered with this app)
    AccountJobSettings,
    IdempotencyRecord,
    UsageRecord,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "AccountJobSettings",
    "IdempotencyRecord",
    "Job",
    "JobPage",
    "JobStatus",
    "UsageRecord",
    "WebhookDelivery",
    "WebhookEndpoint",
]


class JobText(models.Model):
    """A completed job's recognised text, for search (ocrjobs.search). One row per job, deleted with it."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="search_text")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField()

    def __str__(self) -> str:
        return f"text of {self.job_id}"
