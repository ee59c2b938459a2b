"""`Idempotency-Key` on `POST /api/v1/upload/signed-url` and `POST /v1/ocr`, with Stripe's semantics.

- A key is scoped to the API key that sends it (and the endpoint). The first request with it runs; its response
  (2xx and 4xx alike, as Stripe stores them) is kept for DEEPREAD_IDEMPOTENCY_TTL_S (24 h), and a later request with
  the same key and the same request (query and parsed body) gets that response again, with
  `Idempotent-Replayed: true`, having spent nothing and created nothing.
- The same key with a different request is a 422 (`idempotency_key_reused`).
- Only a success is kept. A refusal (a 4xx, say an exhausted quota) or an error releases the key, so the same
  request can be sent again with it once the cause is fixed (Stripe keeps no result for a request that failed
  validation either).
- A duplicate that arrives while the first is still running waits for it (no double spend: the first request
  inserts the key's row under a unique constraint, so exactly one of any number of concurrent duplicates runs),
  then answers the same. One that waits past DEEPREAD_IDEMPOTENCY_WAIT_S gets a 409 to retry later.
- A request whose process died mid-way leaves a row that is taken over after DEEPREAD_IDEMPOTENCY_LOCK_S.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiKey
from core.errors import ApplicationError, Conflict, InvalidInput
from ocrjobs.models import IdempotencyRecord

HEADER = "Idempotency-Key"


class IdempotencyKeyReused(ApplicationError):
    """An Idempotency-Key reused with a different request body or endpoint: 422."""

    status_code = 422
    code = "idempotency_key_reused"


def fingerprint(request: Request) -> str:
    """SHA-256 over the path, the sorted query and the parsed body (JSON key order and spacing do not matter)."""
    data = request.data
    if hasattr(data, "lists"):
        data = dict(data.lists())
    query = sorted((k, v) for k, values in request.query_params.lists() for v in values)
    canonical = json.dumps({"path": request.path, "query": query, "body": data}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run(request: Request, *, endpoint: str, handler: Callable[[], Response]) -> Response:
    """Run `handler` once per (API key, endpoint, Idempotency-Key); without the header it just runs.

    Raises InvalidInput (400) for a key outside 1–255 characters; the handler's own errors pass through.
    """
    raw = request.headers.get(HEADER)
    api_key = getattr(request, "auth", None)
    if raw is None or not isinstance(api_key, ApiKey):
        return handler()
    key = raw.strip()
    if not key or len(key) > 255:
        raise InvalidInput("Idempotency-Key must be 1 to 255 characters.", param=HEADER)
    digest = fingerprint(request)
    record = _claim(api_key=api_key, endpoint=endpoint, key=key, digest=digest)
    if record is not None:  # someone else's run: theirs is the answer
        return _replay(record)
    try:
        response = handler()
    except BaseException:
        _release(api_key=api_key, endpoint=endpoint, key=key)
        raise
    if 200 <= response.status_code < 300:
        _store(api_key=api_key, endpoint=endpoint, key=key, status=response.status_code, body=response.data)
    else:
        _release(api_key=api_key, endpoint=endpoint, key=key)
    return response


def _claim(*, api_key: ApiKey, endpoint: str, key: str, digest: str) -> IdempotencyRecord | None:
    """None when this request owns the key now; else the finished record to answer with (waiting for it)."""
    deadline = time.monotonic() + settings.DEEPREAD_IDEMPOTENCY_WAIT_S
    while True:
        now = timezone.now()
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    api_key=api_key, endpoint=endpoint, key=key, fingerprint=digest, created_at=now, updated_at=now
                )
            return None
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(api_key=api_key, endpoint=endpoint, key=key).first()
        if record is None:
            continue  # released between our insert and our read: try again
        expired = record.created_at < now - dt.timedelta(seconds=settings.DEEPREAD_IDEMPOTENCY_TTL_S)
        stale = record.state == IdempotencyRecord.State.RUNNING and record.updated_at < now - dt.timedelta(
            seconds=settings.DEEPREAD_IDEMPOTENCY_LOCK_S
        )
        if expired or stale:
            IdempotencyRecord.objects.filter(pk=record.pk, updated_at=record.updated_at).delete()
            continue
        if record.fingerprint != digest:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request; use a new key for a new request."
            )
        if record.state == IdempotencyRecord.State.DONE:
            return record
        if time.monotonic() > deadline:
            raise Conflict("A request with this Idempotency-Key is still in progress; retry in a few seconds.")
        time.sleep(0.05)


def _store(*, api_key: ApiKey, endpoint: str, key: str, status: int, body: object) -> None:
    IdempotencyRecord.objects.filter(api_key=api_key, endpoint=endpoint, key=key).update(
        state=IdempotencyRecord.State.DONE,
        response_status=status,
        response_body=json.loads(json.dumps(body, default=str)),
        updated_at=timezone.now(),
    )


def _release(*, api_key: ApiKey, endpoint: str, key: str) -> None:
    IdempotencyRecord.objects.filter(
        api_key=api_key, endpoint=endpoint, key=key, state=IdempotencyRecord.State.RUNNING
    ).delete()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def records_expire(*, now: dt.datetime | None = None) -> int:
    """Delete keys older than DEEPREAD_IDEMPOTENCY_TTL_S (the scheduler runs it with the sweep)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.DEEPREAD_IDEMPOTENCY_TTL_S)
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]
