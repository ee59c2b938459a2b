"""Signed upload and download URLs for whichever storage is configured.

Local storage: DeepRead serves the URLs itself (storage.signing, ocrjobs.local_storage). S3: real pre-signed URLs from
boto3, with the POST policy holding a content-length range and a key prefix bound to the job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from core.errors import ServiceUnavailable
from storage import signing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadUrls:
    """Where a client uploads: a PUT URL, and a POST URL with the form fields to send with the file."""

    put_url: str
    post_url: str
    post_fields: dict[str, str]


def _absolute(base_url: str, path: str) -> str:
    return (settings.DEEPREAD_PUBLIC_URL or base_url.rstrip("/")) + path


def _s3_client():
    return default_storage.connection.meta.client


def presign_upload(
    *, job_id: str, key: str, key_prefix: str, content_type: str, max_bytes: int, ttl: int, base_url: str
) -> UploadUrls:
    """Upload URLs valid for `ttl` seconds: a PUT URL and a POST form (key under `key_prefix`, 1..max_bytes bytes).

    S3 presigned URLs when DEEPREAD_STORAGE is "s3", else this server's signed /storage URLs under `base_url`.
    """
    if settings.DEEPREAD_STORAGE == "s3":
        client, bucket = _s3_client(), settings.AWS_STORAGE_BUCKET_NAME
        params = {"Bucket": bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        put_url = client.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl)
        post = client.generate_presigned_post(
            bucket,
            key,
            # The key must stay under the job's prefix and the size within the limit; the form may carry a
            # Content-Type (clients send one), which S3 only accepts when a condition names it.
            Conditions=[
                ["starts-with", "$key", key_prefix],
                ["content-length-range", 1, max_bytes],
                ["starts-with", "$Content-Type", ""],
            ],
            ExpiresIn=ttl,
        )
        return UploadUrls(put_url=put_url, post_url=post["url"], post_fields=post["fields"])
    expires = int(signing.clock()) + ttl
    query = urlencode(
        {
            "key": key,
            "content_type": content_type,
            "expires": expires,
            "signature": signing.sign_put(job_id=job_id, key=key, content_type=content_type, expires=expires),
        }
    )
    return UploadUrls(
        put_url=_absolute(base_url, reverse("storage-upload-put", args=[job_id])) + "?" + query,
        post_url=_absolute(base_url, reverse("storage-upload-post")),
        post_fields=signing.sign_post_form(
            job_id=job_id, key=key, key_prefix=key_prefix, max_bytes=max_bytes, expires=expires
        ),
    )


def presign_download(*, key: str, ttl: int, base_url: str, filename: str | None = None) -> str:
    """A download URL for `key`, valid `ttl` seconds (S3 presigned or this server's signed /storage URL); `filename`
    sets the attachment name on S3.
    """
    if settings.DEEPREAD_STORAGE == "s3":
        params = {"Bucket": settings.AWS_STORAGE_BUCKET_NAME, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return _s3_client().generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
    expires = int(signing.clock()) + ttl
    query = urlencode({"key": key, "expires": expires, "signature": signing.sign_download(key=key, expires=expires)})
    return _absolute(base_url, reverse("storage-download")) + "?" + query


STORAGE_UNAVAILABLE = "Storage could not be written while saving the result."
STORAGE_RETRY_AFTER_S = 5


class StorageFault(ServiceUnavailable):
    """Storage refused a read or a write just now (a full disk, an unreachable bucket, a denied PUT): 503
    `storage_unavailable`, retry after STORAGE_RETRY_AFTER_S seconds. Retryable: the task tries again with backoff,
    and a job that still cannot be saved fails saying so, refunded. `message` is public and names no path."""

    code = "storage_unavailable"
    retry_after = STORAGE_RETRY_AFTER_S

    def __init__(self, message: str = STORAGE_UNAVAILABLE) -> None:
        super().__init__(message)


def storage_put(key: str, data: bytes) -> None:
    """Write one object under exactly `key`, replacing what is there. Any storage failure becomes a StorageFault;
    the underlying error goes to the log, never to the caller's public message."""
    try:
        if default_storage.exists(key):
            default_storage.delete(key)
        saved = default_storage.save(key, ContentFile(data))
    except Exception as exc:
        logger.warning("Storage write of %s failed: %s", key, exc, exc_info=True)
        raise StorageFault() from exc
    if saved != key:  # another writer got there between delete and save: keep ours under the reserved name
        default_storage.delete(saved)
        raise StorageFault()


def missing_object(exc: Exception) -> bool:
    """An S3 404 from boto3, told apart from an unreachable or refusing bucket."""
    response = getattr(exc, "response", None)
    code = str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in {"404", "NoSuchKey", "NotFound"}
