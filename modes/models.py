from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from inference.base import OutputKind

mode_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$", "Use lower-case letters, digits, '-' and '_' (at most 64 characters)."
)


class CustomMode(models.Model):
    """A mode an account defines with its own prompt."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="custom_modes")
    name = models.CharField(max_length=64, validators=[mode_name_validator])
    display_name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    prompt = models.TextField(max_length=4000)
    output_kind = models.CharField(
        max_length=16, choices=[(k.value, k.label) for k in OutputKind], default=OutputKind.TEXT.value
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="custom_mode_unique_name")]

    def __str__(self) -> str:
        return self.name


class CustomModeVersion(models.Model):
    """Every version a custom mode has had: editing its prompt (or kind, name shown, description) adds one."""

    mode = models.ForeignKey(CustomMode, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    display_name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    prompt = models.TextField(max_length=4000)
    output_kind = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["mode", "version"], name="custom_mode_version_unique")]

    def __str__(self) -> str:
        return f"{self.mode_id} v{self.version}"
