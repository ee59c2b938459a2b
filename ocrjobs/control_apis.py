"""The job-control API (issue 16) under /api/v1: cancel, delete, retry, events, usage, settings and custom-mode
versions (the webhook API is in ocrjobs/webhook_apis.py). Thin: parse, call a service or selector, render; errors
are `{"detail"}`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import QuotaHeadersAPIView
from accounts.models import ApiKey
from core.error_formats import response_for
from core.errors import NotFound, RateLimited, Unauthenticated
from ocrjobs import control, events, selectors
from ocrjobs.apis import ERRORS, ErrorSerializer
from ocrjobs.models import Job
from ocrjobs.usage import usage_summary

ERRORS_409 = {**ERRORS, 409: ErrorSerializer}


@extend_schema_serializer(
    component_name="Job",
    examples=[
        OpenApiExample(
            "cancelled",
            value={
                "job_id": "3f0c…",
                "status": "cancelled",
                "mode": "ocr",
                "mode_version": None,
                "filename": "scan.pdf",
                "pages": 3,
                "pages_done": 1,
                "page_range": "1-3",
                "error": "Cancelled at the owner's request.",
                "output_key": None,
                "retry_of": None,
                "created_at": "2026-11-29T12:00:00Z",
            },
        )
    ],
)
class JobSerializer(serializers.Serializer):
    """A job's status and progress as /api/v1/jobs/<id> returns it."""

    job_id = serializers.UUIDField(source="id")
    status = serializers.CharField(
        source="public_status", help_text="pending, processing, completed, failed or cancelled"
    )
    mode = serializers.CharField()
    mode_version = serializers.IntegerField(allow_null=True, help_text="the custom mode's version; null if built-in")
    filename = serializers.CharField()
    pages = serializers.IntegerField(source="page_count", allow_null=True, help_text="pages to recognise")
    pages_done = serializers.IntegerField()
    page_range = serializers.CharField(help_text="the pages asked for, '' for all")
    error = serializers.CharField(allow_null=True)
    output_key = serializers.CharField(source="public_output_key", allow_null=True)
    retry_of = serializers.UUIDField(source="retry_of_id", allow_null=True)
    created_at = serializers.DateTimeField()


def _job(job: Job) -> dict:
    data = JobSerializer(job).data
    data["error"] = data["error"] or None
    return data


class JobDetailApi(QuotaHeadersAPIView):
    """GET and DELETE /api/v1/jobs/<id>."""

    @extend_schema(operation_id="jobs_retrieve", responses={200: JobSerializer, **ERRORS})
    def get(self, request: Request, job_id: str) -> Response:
        """GET /api/v1/jobs/<id>: the job's status and progress; 404 when it is not the user's."""
        return Response(_job(selectors.job_get(user=request.user, job_id=job_id)))

    @extend_schema(
        operation_id="jobs_destroy",
        description="Deletes the job, its pages, its upload, its result, every page artifact and its webhook "
        "deliveries; signed download URLs stop working. A running job is cancelled first. 404 afterwards.",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, job_id: str) -> Response:
        """DELETE /api/v1/jobs/<id>: cancel if running, delete the job and its files; 204, 404 if not the user's."""
        control.job_delete(user=request.user, job_id=job_id)
        return Response(status=204)


class JobCancelApi(QuotaHeadersAPIView):
    """POST /api/v1/jobs/<id>/cancel."""

    @extend_schema(
        operation_id="jobs_cancel",
        description="A pending job is cancelled and its request given back; a processing job stops at once (its "
        "page tasks exit, its requests in flight to vLLM are closed) and its partial pages are dropped. "
        "An ended job is a 409.",
        request=None,
        responses={200: JobSerializer, **ERRORS_409},
    )
    def post(self, request: Request, job_id: str) -> Response:
        """POST /api/v1/jobs/<id>/cancel: cancel a queued or running job; 404 for another's job, 409 once ended."""
        return Response(_job(control.job_cancel(user=request.user, job_id=job_id)))


class JobRetryApi(QuotaHeadersAPIView):
    """POST /api/v1/jobs/<id>/retry."""

    @extend_schema(
        operation_id="jobs_retry",
        description="A new job on the same upload, in the mode's current version, for a failed or cancelled job "
        "(one request of the quota). 409 for a job that is not failed or cancelled, or has no stored upload.",
        request=None,
        responses={201: JobSerializer, **ERRORS_409},
    )
    def post(self, request: Request, job_id: str) -> Response:
        """POST /api/v1/jobs/<id>/retry: a new job for the same upload (201), spending quota; 404, 409 or 429 on
        refusal.
        """
        key = request.auth if isinstance(request.auth, ApiKey) else None
        rerun = control.job_rerun(user=request.user, job_id=job_id, api_key_id=key.pk if key else None)
        request.quota_status = rerun.quota
        return Response(_job(rerun.job), status=201)


async def job_events(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """`GET /api/v1/jobs/{id}/events`: Server-Sent Events (ocrjobs/events.py). API key or dashboard session."""
    from asgiref.sync import sync_to_async
    from django.core.handlers.asgi import ASGIRequest

    user, key = await sync_to_async(_events_caller)(request)
    if user is None:
        response = response_for(
            request.path, Unauthenticated("Authentication credentials were not provided or are invalid.")
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if key is not None:  # a stream counts against the key's burst limit like any other call
        refusal = await sync_to_async(_burst_refusal)(key)
        if refusal is not None:
            return response_for(request.path, refusal)
    exists = await sync_to_async(Job.objects.filter(owner=user, pk=job_id).exists)()
    if not exists:
        return response_for(request.path, NotFound("No such job."))
    raw_last = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "0"
    last = int(raw_last) if raw_last.isascii() and raw_last.isdigit() and len(raw_last) <= 9 else 0
    if isinstance(request, ASGIRequest):
        stream = events.stream_async(job_id=job_id, last_event_id=last, api_key_id=getattr(key, "pk", None))
    else:
        stream = events.stream_sync(job_id=job_id, last_event_id=last, api_key_id=getattr(key, "pk", None))
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    if key is not None:
        from accounts.selectors import quota_status

        for name, value in (await sync_to_async(quota_status)(user=user)).headers().items():
            response[name] = value
    return response


def _burst_refusal(key) -> RateLimited | None:
    """RateLimited (429, `retry_after` seconds to the next minute) when `key` is over its per-minute burst limit
    (accounts.throttling), else None."""
    import math
    import time

    from core import ratelimit

    now = time.time()
    try:
        hit = ratelimit.hit(key=f"burst:{key.pk}", limit=settings.DEEPREAD_BURST_PER_MINUTE, window_s=60, now=now)
    except Exception:  # the counter store is down: allowed, as for every other call
        return None
    if hit.allowed:
        return None
    return RateLimited("Request was throttled.", retry_after=max(1, math.ceil(hit.reset_at - now)))


def _events_caller(request: HttpRequest):
    """(user, api key) from X-API-Key / Bearer, else the dashboard session's user; (None, None) if neither."""
    from accounts.selectors import api_key_authenticate

    raw = request.headers.get("X-API-Key") or ""
    auth = request.headers.get("Authorization") or ""
    if not raw and auth.lower().startswith("bearer "):
        raw = auth[7:].strip()
    if raw:
        key = api_key_authenticate(raw=raw)
        return (key.user, key) if key else (None, None)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user, None
    return None, None


class UsageApi(QuotaHeadersAPIView):
    """GET /api/v1/usage."""

    @extend_schema(
        operation_id="usage_retrieve",
        responses={200: dict, **ERRORS},
        examples=[
            OpenApiExample(
                "usage",
                response_only=True,
                value={
                    "month": {"used": 42, "limit": 1000, "remaining": 958, "reset": "2026-12-01T00:00:00Z"},
                    "days": [{"date": "2026-11-29", "count": 3}],
                    "by_mode": [{"mode": "ocr", "count": 40}],
                    "by_api_key": [{"api_key_id": 7, "name": "ci", "prefix": "ocr_AbCdEfGh", "count": 42}],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        """GET /api/v1/usage: the user's quota and requests per day."""
        return Response(usage_summary(user=request.user))


class SettingsApi(QuotaHeadersAPIView):
    """GET and PATCH /api/v1/settings."""

    @extend_schema_serializer(component_name="JobSettings")
    class Serializer(serializers.Serializer):
        """The account's job settings: retention in days (null: keep) and whether a callback secret is set."""

        retention_days = serializers.IntegerField(
            allow_null=True, min_value=1, max_value=3650, help_text="delete ended jobs older than this; null: keep"
        )
        callback_secret_set = serializers.BooleanField(read_only=True)

    def _out(self, row) -> dict:
        return {"retention_days": row.retention_days, "callback_secret_set": bool(row.callback_secret)}

    @extend_schema(operation_id="settings_retrieve", responses={200: Serializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """GET /api/v1/settings: the user's job settings."""
        return Response(self._out(control.job_settings_get(user=request.user)))

    @extend_schema(operation_id="settings_update", request=Serializer, responses={200: Serializer, **ERRORS})
    def patch(self, request: Request) -> Response:
        """PATCH /api/v1/settings: change `retention_days` (whole days, or null to keep everything); 400 on a bad
        value.
        """
        data = self.Serializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        row = control.job_settings_get(user=request.user)
        if "retention_days" in data.validated_data:
            row = control.job_settings_update(user=request.user, retention_days=data.validated_data["retention_days"])
        return Response(self._out(row))


# --- custom-mode versions -----------------------------------------------------------------------------------------
class ModeVersionListApi(QuotaHeadersAPIView):
    """GET /api/v1/ocr-modes/<name>/versions."""

    @extend_schema_serializer(component_name="OcrModeVersion")
    class OutputSerializer(serializers.Serializer):
        """One version of a custom mode; `current` marks the newest."""

        version = serializers.IntegerField()
        display_name = serializers.CharField()
        description = serializers.CharField()
        prompt = serializers.CharField()
        output_kind = serializers.CharField()
        created_at = serializers.DateTimeField()
        current = serializers.BooleanField()

    @extend_schema(operation_id="ocr_mode_versions_list", responses={200: OutputSerializer(many=True), **ERRORS})
    def get(self, request: Request, name: str) -> Response:
        """GET /api/v1/ocr-modes/<name>/versions: a custom mode's versions, newest first; 404 for built-in or unknown
        modes.
        """
        from modes.selectors import mode_versions

        versions = mode_versions(user=request.user, name=name)
        latest = versions[0].version if versions else None
        rows = [
            {"version": v.version, "display_name": v.display_name, "description": v.description, "prompt": v.prompt,
             "output_kind": v.output_kind, "created_at": v.created_at, "current": v.version == latest}
            for v in versions
        ]  # fmt: skip
        return Response(self.OutputSerializer(rows, many=True).data)


def events_schema_hook(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing: the SSE endpoint is a plain async view, so its operation is added here."""
    not_found = {"$ref": "#/components/schemas/Error"} if "Error" in result["components"]["schemas"] else {}
    result["paths"]["/api/v1/jobs/{job_id}/events"] = {
        "get": {
            "operationId": "jobs_events",
            "description": "Server-Sent Events until the job ends: `status` ({status, pages, pages_done, error}) and "
            "`page_completed` ({page, pages_done, pages, text}). Event ids come from stored state: send "
            "`Last-Event-ID` (or `?last_event_id=`) to resume after a reconnect without gaps.",
            "tags": ["api"],
            "parameters": [
                {"in": "path", "name": "job_id", "required": True, "schema": {"type": "string", "format": "uuid"}},
                {"in": "header", "name": "Last-Event-ID", "schema": {"type": "integer", "minimum": 0}},
            ],
            "security": [{"ApiKeyHeader": []}, {"BearerAuth": []}],
            "responses": {
                "200": {
                    "description": "an event stream",
                    "content": {
                        "text/event-stream": {
                            "schema": {"type": "string"},
                            "example": 'id: 1\nevent: page_completed\ndata: {"page": 1, "pages_done": 1, "pages": 2, '
                            '"text": "Invoice 42"}\n\nid: 1\nevent: status\ndata: {"status": "processing", '
                            '"pages": 2, "pages_done": 1, "error": null}\n\n',
                        }
                    },
                },
                "401": {"description": "no or a bad API key", "content": {"application/json": {"schema": not_found}}},
                "404": {"description": "no such job", "content": {"application/json": {"schema": not_found}}},
            },
        }
    }
    return result
