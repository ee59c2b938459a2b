"""Safe file names and storage keys (DESIGN.md, "Storage keys")."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath

MAX_NAME = 180
_UNSAFE = re.compile(r"[^\w.\- ()+,@=]+", re.UNICODE)


def safe_filename(name: str, *, fallback: str = "upload") -> str:
    """A base name with no directories, control or bidi characters, at most MAX_NAME characters.

    `../../etc/passwd` gives `passwd`, `a\\b.png` gives `b.png`, and a name that reduces to nothing gives `fallback`.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    # Drop control (Cc) and format (Cf: RTL marks, zero-width) characters, NUL and newlines included.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = _UNSAFE.sub("_", name).strip(" ._")
    if not name:
        return fallback
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME - len(ext) - 1].rstrip(" ._") + "." + ext
        else:
            name = name[:MAX_NAME]
    return name


def file_stem(filename: str) -> str:
    """The filename without its directory and last extension; "upload" when nothing is left."""
    return PurePosixPath(filename).stem or "upload"


def upload_key_prefix(*, account_id: int, job_id: str) -> str:
    """Storage prefix of a job's upload: `uploads/<account>/<job>/`."""
    return f"uploads/{account_id}/{job_id}/"


def result_storage_key(*, account_id: int, output_key: str) -> str:
    """Storage key of a result file named by the API's `output_key`: `outputs/<account>/<output_key>`."""
    return f"outputs/{account_id}/{output_key}"


def artifact_file_path(*, output_key: str, name: str) -> str:
    """A page artifact (a cropped figure, an annotated page) as clients name it: `<mode>/<stem>/<name>`."""
    return f"{output_key.removesuffix('.json')}/{name}"


def artifact_storage_key(*, account_id: int, output_key: str, name: str) -> str:
    """Beside the result: `outputs/<account>/<mode>/<stem>/<name>` (`name` empty gives the folder)."""
    return result_storage_key(account_id=account_id, output_key=artifact_file_path(output_key=output_key, name=name))


def output_key_release(*, account_id: int, output_key: str) -> None:
    """Keep a deleted job's `output_key` from being given to another job while download URLs signed for it may
    still be valid (DEEPREAD_SIGNED_URL_TTL_S, and a minute): S3 presigned URLs cannot be revoked, so they must
    find nothing, not a later job's result. Held in the cache shared by the web and worker processes."""
    from django.conf import settings
    from django.core.cache import cache

    cache.set(_released_cache_key(account_id, output_key), 1, settings.DEEPREAD_SIGNED_URL_TTL_S + 60)


def released_output_key(*, account_id: int, output_key: str) -> bool:
    """Whether `output_key` belonged to a job deleted less than a signed URL's lifetime ago (output_key_release)."""
    from django.core.cache import cache

    return cache.get(_released_cache_key(account_id, output_key)) is not None


def _released_cache_key(account_id: int, output_key: str) -> str:
    return "deepread:released-output:" + hashlib.sha256(f"{account_id}:{output_key}".encode()).hexdigest()
