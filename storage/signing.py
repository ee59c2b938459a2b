"""Signed URLs for local storage, where DeepRead itself stands in for S3.

- PUT URL: bound to one job, its object key, its Content-Type and an expiry; HMAC-SHA256 over all of them.
- POST form: the S3 v2 shape clients already read by name (`key`, `AWSAccessKeyId`, `policy`, `signature`). The
  policy is base64 JSON with an expiration and conditions (a key prefix bound to the job and a content-length range);
  the signature is an HMAC of the policy.
- Download URL: bound to one object key and an expiry.
Changing any signed part (path, key, expiry, content type) invalidates the signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from django.conf import settings

from core.errors import PermissionDenied

ACCESS_KEY_ID = "deepread-local"


def _sign(purpose: str, message: str) -> str:
    key = hashlib.sha256(f"deepread.signing.{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _verify(purpose: str, message: str, signature: str) -> bool:
    return hmac.compare_digest(_sign(purpose, message), signature or "")


def clock() -> float:
    """Seconds since the epoch, as signed-URL expiry is checked against it. Tests replace it to move time on."""
    return time.time()


class InvalidSignature(PermissionDenied):
    """A signed URL or form policy is malformed, expired or does not match: 403 `invalid_signature`."""

    code = "invalid_signature"


def _check_expiry(expires: str) -> int:
    try:
        value = int(expires)
    except (TypeError, ValueError):
        raise InvalidSignature("The signed URL is malformed.") from None
    if value < clock():
        raise InvalidSignature("The signed URL has expired; ask for a new one.")
    return value


# --- PUT ------------------------------------------------------------------------------------------------------
def _put_message(job_id: str, key: str, content_type: str, expires: int) -> str:
    return f"PUT\n{job_id}\n{key}\n{content_type}\n{expires}"


def sign_put(*, job_id: str, key: str, content_type: str, expires: int) -> str:
    """HMAC signature for a local upload PUT URL; `expires` is a Unix time in seconds."""
    return _sign("put", _put_message(job_id, key, content_type, expires))


def verify_put(*, job_id: str, key: str, content_type: str, expires: str, signature: str) -> None:
    """Check a local upload URL; raises InvalidSignature (403) when it is malformed, expired or its signature does
    not match."""
    value = _check_expiry(expires)
    if not _verify("put", _put_message(job_id, key, content_type, value), signature):
        raise InvalidSignature("The signature does not match this upload URL.")


# --- POST form ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PostPolicy:
    """A verified POST form policy: the job, the key prefix the file must go under, its byte cap and expiry (Unix
    seconds).
    """

    job_id: str
    key_prefix: str
    max_bytes: int
    expires: int


def sign_post_form(*, job_id: str, key: str, key_prefix: str, max_bytes: int, expires: int) -> dict[str, str]:
    """Form fields for a browser POST upload: key, access key id, base64 policy (job, key prefix, 1..max_bytes) and
    signature.

    `expires` is a Unix time in seconds.
    """
    policy = {
        "expiration": dt.datetime.fromtimestamp(expires, tz=dt.UTC).isoformat().replace("+00:00", "Z"),
        "conditions": [
            {"x-deepread-job": job_id},
            ["starts-with", "$key", key_prefix],
            ["content-length-range", 1, max_bytes],
        ],
    }
    encoded = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
    return {
        "key": key,
        "AWSAccessKeyId": ACCESS_KEY_ID,
        "policy": encoded,
        "signature": _sign("post", encoded),
    }


def verify_post_policy(*, policy: str, signature: str, access_key_id: str) -> PostPolicy:
    """Check a POST form's signed policy and return its job, key prefix, size cap and expiry.

    Raises InvalidSignature when the signature or access key does not match, the policy is malformed or expired.
    """
    if access_key_id != ACCESS_KEY_ID or not _verify("post", policy, signature):
        raise InvalidSignature("The form's policy signature does not match.")
    try:
        doc = json.loads(base64.b64decode(policy, validate=True))
        expires = int(dt.datetime.fromisoformat(doc["expiration"].replace("Z", "+00:00")).timestamp())
        conditions = doc["conditions"]
        job_id = next(c["x-deepread-job"] for c in conditions if isinstance(c, dict))
        prefix = next(c[2] for c in conditions if isinstance(c, list) and c[0] == "starts-with")
        max_bytes = next(c[2] for c in conditions if isinstance(c, list) and c[0] == "content-length-range")
    except (ValueError, KeyError, TypeError, StopIteration, IndexError):
        raise InvalidSignature("The form's policy is malformed.") from None
    _check_expiry(str(expires))
    return PostPolicy(job_id=job_id, key_prefix=prefix, max_bytes=int(max_bytes), expires=expires)


# --- download -------------------------------------------------------------------------------------------------
def sign_download(*, key: str, expires: int) -> str:
    """HMAC signature for a local download URL of `key`, valid until `expires` (Unix seconds)."""
    return _sign("get", f"GET\n{key}\n{expires}")


def verify_download(*, key: str, expires: str, signature: str) -> None:
    """Check a local download URL; raises InvalidSignature when it is malformed, expired or does not match `key`."""
    value = _check_expiry(expires)
    if not _verify("get", f"GET\n{key}\n{value}", signature):
        raise InvalidSignature("The signature does not match this download URL.")
