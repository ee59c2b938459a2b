"""Duplicate uploads (issue 18): before the upload page spends anything, it asks whether this account already has a
job for the same file in the same mode, so it can say "already uploaded on <date>: view / upload again".

A file is the same when its SHA-256 matches `Job.source_sha256` (recorded by the worker when it reads the upload,
ocrjobs.shortcuts.job_reuse_whole). A job whose hash is not recorded yet (queued, or from before the column) matches
by file name and size instead. Only jobs whose file arrived count; cancelled ones too (the file is stored), deleted
ones are gone.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from django.db.models import Q

from accounts.models import User
from core.errors import InvalidInput
from ocrjobs.models import Job

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_MODES = 20


@dataclass(frozen=True)
class Duplicate:
    """An earlier job for the same file in `mode`: its id, filename, creation time and public status."""

    mode: str
    job_id: uuid.UUID
    filename: str
    created_at: dt.datetime
    status: str


def upload_duplicates(
    *, user: User, sha256: str, filename: str, size: int | None, modes: list[str]
) -> dict[str, Duplicate]:
    """The newest of `user`'s jobs per mode in `modes` for the same file: same SHA-256 (64 lower-case hex digits, or
    "" when the browser could not hash), or, for a job without a recorded hash, the same `filename` and `size`
    (bytes). Returns {mode: Duplicate} for the modes that have one; one query.

    Raises InvalidInput (400) for a malformed sha256 or a number of modes outside 1..MAX_MODES.
    """
    sha256 = sha256.strip().lower()
    if sha256 and not SHA256.match(sha256):
        raise InvalidInput("sha256 must be 64 hexadecimal digits.")
    modes = [m for m in dict.fromkeys(modes) if m]
    if not modes or len(modes) > MAX_MODES:
        raise InvalidInput(f"Give between 1 and {MAX_MODES} modes.")
    same = Q(source_sha256="", filename=filename, size=size) if filename and size else Q(pk__in=[])
    if sha256:
        same |= Q(source_sha256=sha256)
    rows = (
        Job.objects.filter(same, owner=user, mode__in=modes, uploaded_at__isnull=False)
        .order_by("-created_at", "-pk")
        .only("id", "mode", "filename", "created_at", "status")
    )
    found: dict[str, Duplicate] = {}
    for job in rows[:200]:
        if job.mode not in found:
            found[job.mode] = Duplicate(job.mode, job.pk, job.filename, job.created_at, job.public_status)
    return found
