"""Webhooks (issue 16 §3), signed per the Standard Webhooks specification.

- Endpoints belong to an account: a URL, the events it wants (`job.completed`, `job.failed`, `job.cancelled`,
  `job.page_completed`) and a secret `whsec_<base64>`, shown once when made. A job's own `callback_url` gets all of
  its events, signed with the account's callback secret (also `whsec_…`, shown once when made or rotated).
- Each message is one WebhookDelivery row, sent by a Celery task: `webhook-id` (the message id; a redelivery sends
  the same one, so receivers can drop duplicates), `webhook-timestamp` (Unix seconds) and `webhook-signature`
  (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), signed with the `standardwebhooks` library.
- A non-2xx answer or a network error is retried after DEEPREAD_WEBHOOK_BACKOFF_S (by default 5 s, 5 min, 30 min,
  2 h, 5 h, 10 h, 10 h: eight tries over about 27 hours); then the delivery is `failed`. Redirects are not followed.
- Every send goes through the SSRF guard's address checks (core/urlfetch.py): the host is resolved once, every
  address checked, and the connection made to the checked address. Private addresses are refused unless the
  operator sets DEEPREAD_WEBHOOK_ALLOW_PRIVATE=1.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import logging
import secrets
import socket
import ssl
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import User
from core import urlfetch
from core.errors import InvalidInput, NotFound
from ocrjobs.control_models import WEBHOOK_EVENTS
from ocrjobs.models import AccountJobSettings, Job, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)
DEFAULT_EVENTS = ["job.completed", "job.failed", "job.cancelled"]
SENDING_LEASE = dt.timedelta(minutes=5)


def new_secret() -> str:
    """A new signing secret: "whsec_" + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _check_url(url: object, *, param: str) -> str:
    """An http(s) URL whose host resolves only to addresses the guard allows. InvalidInput otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"{param} must be an http or https URL.", param=param)
    url = url.strip()
    if len(url) > 2000:
        raise InvalidInput(f"{param} is longer than 2000 characters.", param=param)
    try:
        _, host, port, _ = urlfetch.parse_url(url)
        if not settings.DEEPREAD_WEBHOOK_ALLOW_PRIVATE:
            _addresses(host, port)
    except urlfetch.FetchError as exc:
        raise InvalidInput(f"{param}: {exc.message.replace('image URL', 'URL')}", param=param) from exc
    return url


def _addresses(host: str, port: int) -> list[str]:
    """The checked addresses of a webhook host. One message for a host that does not resolve and one that resolves
    to a private address, naming no address: a webhook URL is no probe of the internal network's DNS."""
    try:
        return urlfetch.checked_addresses(host, port, allow_private=settings.DEEPREAD_WEBHOOK_ALLOW_PRIVATE)
    except urlfetch.FetchError as exc:
        raise type(exc)(
            "Webhooks go only to hosts that resolve to public addresses; this URL's host does not resolve, or "
            "resolves to a private or reserved address (the operator can allow private ones with "
            "DEEPREAD_WEBHOOK_ALLOW_PRIVATE=1)."
        ) from exc


def _check_events(events: object) -> list[str]:
    if events is None:
        return list(DEFAULT_EVENTS)
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidInput(f"events must be a non-empty list of: {', '.join(WEBHOOK_EVENTS)}.", param="events")
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown:
        raise InvalidInput(f"Unknown event {unknown[0]!r}; known: {', '.join(WEBHOOK_EVENTS)}.", param="events")
    return [e for e in WEBHOOK_EVENTS if e in events]


# --- endpoints and the callback secret -------------------------------------------------------------------------------
def endpoint_create(
    *, user: User, url: str, events: list[str] | None = None, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned here only: it is shown once)."""
    endpoint = WebhookEndpoint(
        owner=user,
        url=_check_url(url, param="url"),
        events=_check_events(events),
        secret=new_secret(),
        description=(description or "").strip()[:200],
    )
    endpoint.save()
    return endpoint, endpoint.secret


def endpoint_update(
    *, user: User, endpoint_id: int, url: str | None = None, events: list[str] | None = None,
    is_active: bool | None = None, description: str | None = None,
) -> WebhookEndpoint:  # fmt: skip
    """Change the given fields of one of `user`'s endpoints (description cut to 200 chars).

    Raises NotFound (404) when it is not the user's, InvalidInput (400) for a bad URL or event name.
    """
    endpoint = endpoint_get(user=user, endpoint_id=endpoint_id)
    if url is not None:
        endpoint.url = _check_url(url, param="url")
    if events is not None:
        endpoint.events = _check_events(events)
    if is_active is not None:
        endpoint.is_active = bool(is_active)
    if description is not None:
        endpoint.description = description.strip()[:200]
    endpoint.save()
    return endpoint


def endpoint_get(*, user: User, endpoint_id: int | str) -> WebhookEndpoint:
    """One of `user`'s webhook endpoints; raises NotFound (404) for another user's or a malformed id."""
    endpoint = WebhookEndpoint.objects.filter(owner=user, pk=_int(endpoint_id)).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def endpoint_delete(*, user: User, endpoint_id: int | str) -> None:
    """Delete one of `user`'s webhook endpoints; raises NotFound (404) when it is not theirs."""
    if not WebhookEndpoint.objects.filter(owner=user, pk=_int(endpoint_id)).delete()[0]:
        raise NotFound("No such webhook endpoint.")


def callback_secret_rotate(*, user: User) -> str:
    """Make (or replace) the account's callback secret and return it; it is not shown again."""
    secret = new_secret()
    with transaction.atomic():
        row = AccountJobSettings.objects.select_for_update().get_or_create(user=user)[0]
        row.callback_secret = secret
        row.save(update_fields=["callback_secret"])
    return secret


def callback_url_check(*, user: User, url: str) -> str:
    """A job's `callback_url`, checked like an endpoint's; the account needs a callback secret to sign with.

    Raises InvalidInput (400) for a URL refused like an endpoint's or when the account has no callback secret.
    """
    url = _check_url(url, param="callback_url")
    if not AccountJobSettings.objects.filter(user=user).exclude(callback_secret="").exists():
        raise InvalidInput(
            "callback_url needs the account's callback secret to sign with: make it once with "
            "POST /api/v1/webhooks/callback-secret (or on the dashboard's Webhooks page).",
            param="callback_url",
        )
    return url


def _int(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("No such webhook endpoint.") from None


# --- messages -------------------------------------------------------------------------------------------------------
def job_payload(job: Job) -> dict:
    """The job fields sent in a webhook or callback body: id, public status, mode (and version), filename, output_key,
    error, pages, pages_done.
    """
    return {
        "job_id": str(job.id),
        "status": job.public_status,
        "mode": job.mode,
        "mode_version": job.mode_version,
        "filename": job.filename,
        "output_key": job.public_output_key,
        "error": job.error or None,
        "pages": job.page_count,
        "pages_done": job.pages_done,
    }


def enqueue(*, job: Job, event: str, data: dict) -> list[int]:
    """Queue `event` for the job's owner's endpoints that want it and for the job's callback_url; returns the
    delivery ids. The sends start when the caller's transaction commits."""
    now = timezone.now()
    body = {"type": event, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    targets = [
        (e.pk, e.url)
        for e in WebhookEndpoint.objects.filter(owner_id=job.owner_id, is_active=True).only("pk", "url", "events")
        if event in e.events
    ]
    if job.callback_url:
        targets.append((None, job.callback_url))
    rows = [
        WebhookDelivery(
            owner_id=job.owner_id, endpoint_id=endpoint_id, job=job, url=url, event=event,
            msg_id=f"msg_{uuid.uuid4().hex}", payload=body, next_attempt_at=now,
        )
        for endpoint_id, url in targets
    ]  # fmt: skip
    if not rows:
        return []
    with transaction.atomic():
        created = WebhookDelivery.objects.bulk_create(rows)
        ids = [d.pk for d in created] if all(d.pk for d in created) else _ids_of(rows)
        _send_on_commit(ids)
    return ids


def _ids_of(rows: list[WebhookDelivery]) -> list[int]:
    return list(WebhookDelivery.objects.filter(msg_id__in=[r.msg_id for r in rows]).values_list("pk", flat=True))


def _send_on_commit(ids: list[int]) -> None:
    from ocrjobs import dispatch

    for delivery_id in ids:
        transaction.on_commit(lambda d=delivery_id: dispatch.webhook_deliver_send(d))


def redeliver(*, user: User, delivery_id: int | str) -> WebhookDelivery:
    """Send a delivery's message again, as a new delivery with the same message id (receivers deduplicate).

    Raises NotFound (404) when the delivery is not the user's.
    """
    old = WebhookDelivery.objects.filter(owner=user, pk=_int(delivery_id)).first()
    if old is None:
        raise NotFound("No such webhook delivery.")
    with transaction.atomic():
        new = WebhookDelivery.objects.create(
            owner=user, endpoint_id=old.endpoint_id, job_id=old.job_id, url=old.url, event=old.event,
            msg_id=old.msg_id, payload=old.payload, next_attempt_at=timezone.now(),
        )  # fmt: skip
        _send_on_commit([new.pk])
    return new


# --- sending --------------------------------------------------------------------------------------------------------
def _secret_for(delivery: WebhookDelivery) -> str:
    if delivery.endpoint_id:
        return WebhookEndpoint.objects.values_list("secret", flat=True).get(pk=delivery.endpoint_id)
    return AccountJobSettings.objects.values_list("callback_secret", flat=True).get(user_id=delivery.owner_id)


def signed_headers(*, secret: str, msg_id: str, timestamp: dt.datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body),
    }


def deliver(*, delivery_id: int, now: dt.datetime | None = None) -> float | None:
    """One attempt at one delivery, if it is due and nobody else is sending it (compare-and-set). Returns the
    seconds until the next attempt when it must be tried again, else None."""
    now = now or timezone.now()
    due = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookDelivery.Status.SENDING, last_attempt_at__lt=now - SENDING_LEASE
    )
    claimed = WebhookDelivery.objects.filter(due, pk=delivery_id).update(
        status=WebhookDelivery.Status.SENDING, last_attempt_at=now
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    try:
        headers = signed_headers(secret=_secret_for(delivery), msg_id=delivery.msg_id, timestamp=now, body=body)
        code, error = _post(delivery.url, body.encode(), headers), ""
    except (urlfetch.FetchError, WebhookEndpoint.DoesNotExist, AccountJobSettings.DoesNotExist) as exc:
        code, error = None, getattr(exc, "message", "The endpoint or the callback secret is gone.")
    attempts = delivery.attempts + 1
    ok = code is not None and 200 <= code < 300
    if not ok and not error:
        error = f"HTTP {code}"
    backoff = settings.DEEPREAD_WEBHOOK_BACKOFF_S
    retry_in = None if ok or attempts > len(backoff) else backoff[attempts - 1]
    status = (
        WebhookDelivery.Status.SUCCEEDED if ok
        else WebhookDelivery.Status.PENDING if retry_in is not None
        else WebhookDelivery.Status.FAILED
    )  # fmt: skip
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, attempts=attempts, response_code=code, error=error[:300],
        next_attempt_at=now + dt.timedelta(seconds=retry_in) if retry_in is not None else None,
    )  # fmt: skip
    return retry_in


def deliveries_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries whose next attempt is due (the long backoffs) or whose sender was lost: for the scheduler."""
    now = now or timezone.now()
    due = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookDelivery.Status.SENDING, last_attempt_at__lt=now - SENDING_LEASE
    )
    return list(WebhookDelivery.objects.filter(due).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to a checked, pinned address; the status code. FetchError for a refused address or a network error."""
    scheme, host, port, path = urlfetch.parse_url(url)
    address = _addresses(host, port)[0]
    timeout = settings.DEEPREAD_WEBHOOK_TIMEOUT_S
    if scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPS(host, port, address, timeout)
    else:
        conn = _PinnedHTTP(host, port, address, timeout)
    try:
        conn.request("POST", path, body=body, headers={
            **headers, "Content-Type": "application/json", "User-Agent": "DeepRead-Webhooks/1",
        })  # fmt: skip
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        raise urlfetch.FetchError(f"Could not deliver to {host}: {type(exc).__name__}.") from exc
    finally:
        conn.close()


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        """Connect to the address checked against private ranges (no second DNS lookup); OSError on failure."""
        self.sock = socket.create_connection((self._address, self.port), timeout=self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        """Connect over TLS to the checked address, verifying the certificate for the URL's host; OSError on failure."""
        raw = socket.create_connection((self._address, self.port), timeout=self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]
