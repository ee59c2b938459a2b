"""Fewer GPU seconds per page: answers that need no model request.

Per page, in this order (each can be turned off; `force_ocr` on the job turns off the last two):
1. a blank page (no ink) is answered empty (`source: "blank"`) — DEEPREAD_SKIP_BLANK;
2. in `ocr` mode, a PDF page whose own text layer is good is answered from it (`source: "text_layer"`) —
   DEEPREAD_TEXT_LAYER;
3. a page identical to one this account already had recognised in the same mode, prompt and model reuses that
   result (`source: "reuse"`, `reused_from`) — DEEPREAD_REUSE_RESULTS. Pages are matched by a key that hashes the
   account, mode, prompt, output kind, model and the page's image (`JobPage.reuse_key`).
Per job: an identical re-upload (same file bytes, account, mode, prompt and model) reuses every page of the earlier
result at once (`job_reuse_whole`). Pages answered this way spend no tokens (`usage` is zero).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re

from django.conf import settings
from django.core.files.storage import default_storage

from inference.documents import DocumentInfo, PageImage
from inference.shortcuts import image_digest, is_blank, text_layer_page
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.results import page_document
from storage.keys import artifact_storage_key, result_storage_key

logger = logging.getLogger(__name__)
REUSE_VERSION = "1"  # bump when a change to parsing makes stored results unfit for reuse
_FIGURE = re.compile(r"page-\d+-(image-\d+\.png)")


def page_reuse_key(*, job: Job, digest: str, model: str) -> str:
    """The key under which a page's result may be reused: the account, mode, prompt, model and image."""
    parts = [str(job.owner_id), job.mode, job.prompt, job.output_kind, model, digest, REUSE_VERSION]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _empty(page: PageImage, model: str, source: str) -> dict:
    width, height = page.image.size
    document = {
        "page": page.number,
        "width": width,
        "height": height,
        "text": "",
        "blocks": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "finish_reason": "stop",
        "source": source,
        "model": model,
    }
    return document


def _copy_figures(*, job: Job, number: int, document: dict) -> None:
    """A reused page's figure crops are copied beside this job's result, and its links renamed to them."""
    for block in document.get("blocks", []):
        old = block.get("image")
        match = _FIGURE.search(old or "")
        if not match:
            continue
        name = f"page-{number}-{match.group(1)}"
        with default_storage.open(result_storage_key(account_id=job.owner_id, output_key=old)) as fh:
            data = fh.read()
        from storage.objects import storage_put

        storage_put(artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name), data)
        document["text"] = document["text"].replace(f"]({old.rsplit('/', 1)[-1]})", f"]({name})")
        block["image"] = f"{job.output_key.removesuffix('.json')}/{name}"


def _reused(*, job: Job, number: int, source_job: str, source_page: int, stored: dict) -> dict:
    document = copy.deepcopy(stored)
    document.update(
        page=number,
        source="reuse",
        reused_from={"job_id": str(source_job), "page": source_page},
        usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    )
    document.pop("annotated_image", None)
    _copy_figures(job=job, number=number, document=document)
    return document


def page_shortcut(
    *, job: Job, page: PageImage, model: str, data: bytes | None = None, info: DocumentInfo | None = None
) -> tuple[dict | None, str]:
    """(a page document answered without the model, or None; the page's reuse key, to store with its result)."""
    if settings.DEEPREAD_SKIP_BLANK and is_blank(page.image):
        return _empty(page, model, "blank"), ""
    if (
        settings.DEEPREAD_TEXT_LAYER
        and not job.force_ocr
        and job.mode == "ocr"
        and data is not None
        and info is not None
        and info.kind == "pdf"
    ):
        answer, why = text_layer_page(data, page.number, page.image.size)
        if answer is not None:
            return page_document(answer, number=page.number, model=model), ""
        logger.debug("Job %s page %s: text layer not used (%s)", job.pk, page.number, why)
    if not settings.DEEPREAD_REUSE_RESULTS:
        return None, ""
    key = page_reuse_key(
        job=job, digest=image_digest(page.image, page.source.data if page.source else None), model=model
    )
    if job.force_ocr:
        return None, key
    earlier = (
        JobPage.objects.filter(reuse_key=key, job__owner_id=job.owner_id)
        .exclude(job_id=job.pk)
        .values_list("job_id", "page", "result")
        .first()
    )
    if earlier is None or earlier[2].get("error"):
        return None, key
    return _reused(job=job, number=page.number, source_job=earlier[0], source_page=earlier[1], stored=earlier[2]), key


def job_reuse_whole(*, job: Job, data: bytes, model: str) -> list[tuple[int, dict, str]]:
    """An identical re-upload: the pages of the newest completed job of this account with the same file bytes,
    mode, prompt and model, as (page number, document, reuse key) for this job; [] when there is none. Records the
    file's SHA-256 on the job either way."""
    digest = hashlib.sha256(data).hexdigest()
    if job.source_sha256 != digest:
        Job.objects.filter(pk=job.pk).update(source_sha256=digest)
        job.source_sha256 = digest
    if not settings.DEEPREAD_REUSE_RESULTS or job.force_ocr:
        return []
    earlier = (
        Job.objects.filter(
            owner_id=job.owner_id,
            source_sha256=digest,
            status=JobStatus.COMPLETED,
            mode=job.mode,
            prompt=job.prompt,
            output_kind=job.output_kind,
            page_range=job.page_range,
        )
        .exclude(pk=job.pk)
        .order_by("-finished_at")
        .first()
    )
    if earlier is None:
        return []
    pages = list(JobPage.objects.filter(job=earlier).order_by("page").values_list("page", "result", "reuse_key"))
    if not pages or any(r.get("error") or r.get("model") != model for _, r, _ in pages):
        return []
    return [(n, _reused(job=job, number=n, source_job=earlier.pk, source_page=n, stored=r), key) for n, r, key in pages]
