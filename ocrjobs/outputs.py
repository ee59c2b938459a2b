"""Other shapes of a completed job's result: a searchable PDF and hOCR (inference/searchable.py draws them).

Each is made from the stored upload and result the first time it is asked for, then stored beside the result
(`<mode>/<stem>/searchable.pdf`, `<mode>/<stem>/result.hocr`) and served from there.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import User
from core.errors import InvalidInput
from inference.searchable import hocr, searchable_pdf
from ocrjobs.models import Job
from ocrjobs.page_images import document_info
from ocrjobs.selectors import job_get_by_output_key
from storage.keys import artifact_storage_key, file_stem

#: output_format → (the stored name beside the result, the download's extension, its content type)
FORMATS = {
    "pdf": ("searchable.pdf", "pdf", "application/pdf"),
    "hocr": ("result.hocr", "hocr", "text/vnd.hocr+html; charset=utf-8"),
}
OUTPUT_FORMATS = ("json", *FORMATS)


def pdf_font_path() -> str | None:
    """The TrueType font for text outside Latin-1 in searchable PDFs: DEEPREAD_PDF_FONT, if the file exists."""
    path = settings.DEEPREAD_PDF_FONT
    return path if path and Path(path).is_file() else None


def output_build(*, job: Job, output_format: str) -> bytes:
    """The bytes of `output_format` (`pdf` or `hocr`) for a completed job, drawn from its upload and result."""
    with default_storage.open(job.result_key) as fh:
        document = json.loads(fh.read())
    if output_format == "hocr":
        return hocr(
            document["pages"], title=job.filename or "DeepRead", engine=document.get("model") or "DeepRead"
        ).encode()
    with default_storage.open(job.upload_key) as fh:
        data = fh.read()
    info = document_info(job=job, data=data)  # from the row: the upload was inspected when it arrived
    return searchable_pdf(
        data,
        info,
        document["pages"],
        dpi=settings.DEEPREAD_PDF_DPI,
        max_pixels=settings.DEEPREAD_MAX_PIXELS,
        font_path=pdf_font_path(),
    )


def output_prepare(*, job: Job, output_format: str) -> tuple[str, str, str]:
    """Store `output_format` beside the job's result if it is not there yet; returns (storage key, download file
    name, content type). Raises InvalidInput for a format that is not one of OUTPUT_FORMATS' files."""
    if output_format not in FORMATS:
        raise InvalidInput(
            f"output_format must be one of {', '.join(OUTPUT_FORMATS)}; got {output_format!r}.", param="output_format"
        )
    name, extension, content_type = FORMATS[output_format]
    key = artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name)
    if not default_storage.exists(key):
        saved = default_storage.save(key, ContentFile(output_build(job=job, output_format=output_format)))
        if saved != key:  # another request drew it at the same moment: keep the first
            default_storage.delete(saved)
    return key, f"{file_stem(job.filename or 'upload')}.{extension}", content_type


def output_key_for(*, user: User, file_path: str, output_format: str) -> tuple[str, str, str]:
    """For the download endpoint: the caller's own completed job named by its output_key, in `output_format`."""
    job = job_get_by_output_key(user=user, output_key=file_path)
    return output_prepare(job=job, output_format=output_format)
