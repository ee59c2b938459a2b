"""The job API of API.md §1. Thin: parse, call a service or selector, render."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import QuotaHeadersAPIView
from core.errors import InvalidInput
from core.parsers import CappedJSONParser
from ocrjobs import completion, idempotency, selectors, services
from ocrjobs.models import PUBLIC_STATUS, JobStatus
from ocrjobs.outputs import OUTPUT_FORMATS, output_key_for
from ocrjobs.result_schema import ResultDocumentSerializer
from storage.objects import presign_download


def _base_url(request: Request) -> str:
    return request.build_absolute_uri("/")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


ERRORS = dict.fromkeys((400, 401, 403, 404, 413, 429), ErrorSerializer)


class StrictCharField(serializers.CharField):
    """A string, and only a string: a number or a list is a wrong type, not something to coerce."""

    def to_internal_value(self, data: object) -> str:
        """Refuse a non-string value (e.g. a number or list) with the field's "invalid" error (400) instead of coercing
        it.
        """
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UploadSignedUrlApi(QuotaHeadersAPIView):
    # Clients that send no body at all exist (API.md); accept form encodings too, so none of them gets a 415.
    parser_classes = [CappedJSONParser, FormParser, MultiPartParser]

    @extend_schema_serializer(component_name="UploadRequest")
    class InputSerializer(serializers.Serializer):
        filename = StrictCharField(required=False, allow_blank=True, max_length=1000)
        content_type = StrictCharField(required=False, allow_blank=True, max_length=200)
        force_ocr = serializers.BooleanField(
            required=False,
            default=False,
            help_text="(ext) recognise every page with the engine, even where the PDF's own text layer or an "
            "identical earlier page could answer it",
        )
        pages = StrictCharField(required=False, allow_blank=True, max_length=200, help_text="(ext) e.g. '1-3,7'")
        callback_url = StrictCharField(
            required=False, allow_blank=True, max_length=2000, help_text="(ext) this job's webhook URL"
        )

    @extend_schema_serializer(component_name="UploadTicket")
    class OutputSerializer(serializers.Serializer):
        upload_url = serializers.CharField()
        job_id = serializers.UUIDField()
        s3_key = serializers.CharField()
        expires_in = serializers.IntegerField()
        url = serializers.CharField()
        fields = serializers.DictField(child=serializers.CharField())
        key_prefix = serializers.CharField()

    @extend_schema(
        operation_id="upload_signed_url_create",
        parameters=[
            OpenApiParameter("mode", str, description="a mode name; the account's default if absent"),
            OpenApiParameter("force_ocr", bool, description="(ext) as the body's force_ocr"),
            OpenApiParameter("pages", str, description="(ext) the pages to recognise, e.g. 1-3,7; all if absent"),
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="(ext) the same key and request within 24 h returns the first response; another "
                "request with the key is a 422",
            ),
        ],
        request=InputSerializer,
        responses={200: OutputSerializer, **ERRORS, 409: ErrorSerializer, 422: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        """POST /api/v1/upload/signed-url: create a job and answer its upload URL, replayed for a repeated Idempotency-
        Key.
        """
        return idempotency.run(request, endpoint="upload", handler=lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        if not isinstance(request.data, dict | QueryDict):
            raise InvalidInput("The body must be a JSON object.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.job_create(
            user=request.user,
            mode=request.query_params.get("mode") or None,
            filename=data.validated_data.get("filename") or None,
            content_type=data.validated_data.get("content_type") or None,
            base_url=_base_url(request),
            force_ocr=data.validated_data["force_ocr"]
            or request.query_params.get("force_ocr", "").lower() in ("1", "true", "yes"),
            pages=request.query_params.get("pages") or data.validated_data.get("pages") or None,
            callback_url=data.validated_data.get("callback_url") or None,
            api_key_id=getattr(request.auth, "pk", None),
        )
        request.quota_status = ticket.quota
        return Response(
            self.OutputSerializer(
                {
                    "upload_url": ticket.urls.put_url,
                    "job_id": ticket.job.id,
                    "s3_key": ticket.job.upload_key,
                    "expires_in": ticket.expires_in,
                    "url": ticket.urls.post_url,
                    "fields": ticket.urls.post_fields,
                    "key_prefix": ticket.key_prefix,
                }
            ).data
        )


class ProcessingJobSerializer(serializers.Serializer):
    filename = serializers.CharField()
    mode = serializers.CharField()
    status = serializers.CharField(source="public_status")
    output_key = serializers.CharField(source="public_output_key", allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    last_modified = serializers.DateTimeField(source="updated_at")
    job_id = serializers.UUIDField(source="id")
    error = serializers.CharField(allow_null=True, help_text="(ext)")
    pages = serializers.IntegerField(source="page_count", allow_null=True, help_text="(ext)")
    pages_done = serializers.IntegerField(help_text="(ext)")


class ProcessingJobListApi(QuotaHeadersAPIView):
    @extend_schema_serializer(component_name="ProcessingJobFilter")
    class FilterSerializer(serializers.Serializer):
        mode = serializers.CharField(required=False, allow_blank=True)
        filename = serializers.CharField(required=False, allow_blank=True)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
        offset = serializers.IntegerField(required=False, min_value=0, default=0)

    @extend_schema_serializer(component_name="ProcessingJobList")
    class OutputSerializer(serializers.Serializer):
        files = ProcessingJobSerializer(many=True, source="jobs")
        total_count = serializers.IntegerField()
        completed_count = serializers.IntegerField()
        pending_count = serializers.IntegerField()

    @extend_schema(
        operation_id="processing_jobs_list",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """GET /api/v1/processing-jobs: the user's jobs (filters validated, 400 on bad ones) with
        total/completed/pending counts.
        """
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = selectors.job_list(user=request.user, as_rows=True, **filters.validated_data)
        return Response(
            {
                "files": [_job_row(row) for row in page.jobs],
                "total_count": page.total_count,
                "completed_count": page.completed_count,
                "pending_count": page.pending_count,
            }
        )


def _job_row(row: dict) -> dict:
    """One entry of the job list, as ProcessingJobSerializer documents it."""
    completed = row["status"] == JobStatus.COMPLETED
    return {
        "filename": row["filename"],
        "mode": row["mode"],
        "status": PUBLIC_STATUS[row["status"]],
        "output_key": row["output_key"] if completed else None,
        "size": row["size"],
        "last_modified": row["updated_at"].isoformat().replace("+00:00", "Z"),
        "job_id": str(row["id"]),
        "error": row["error"] or None,
        "pages": row["page_count"],
        "pages_done": row["pages_done"],
    }


class DownloadSignedUrlApi(QuotaHeadersAPIView):
    @extend_schema_serializer(component_name="DownloadUrl")
    class OutputSerializer(serializers.Serializer):
        url = serializers.CharField(
            help_text="a GET of it returns the file: for an output_key in json, the result document "
            "(schema ResultDocument, the same as `result` in GET /api/v1/results/{id})"
        )
        file_key = serializers.CharField()
        expires_in = serializers.IntegerField()

    @extend_schema(
        operation_id="download_signed_url_create",
        parameters=[
            OpenApiParameter(
                "file_path",
                str,
                required=True,
                description="an output_key, or a page artifact beside it such as <mode>/<stem>/page-1-image-1.png",
            ),
            OpenApiParameter(
                "output_format",
                str,
                enum=list(OUTPUT_FORMATS),
                description="(ext) for an output_key: json (the result, default), pdf (the searchable PDF: the "
                "original pages with an invisible text layer) or hocr",
            ),
        ],
        request=None,
        responses={200: OutputSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """POST /api/v1/download/signed-url: a signed URL (valid DEEPREAD_SIGNED_URL_TTL_S seconds) for a result file.

        `file_path` (query or JSON body) is an output_key; 400 without it, 404 for another user's or unknown one.
        """
        file_path = request.query_params.get("file_path") or (
            request.data.get("file_path") if isinstance(request.data, dict) else None
        )
        if not file_path:
            raise InvalidInput("file_path is required: an output_key from processing-jobs.", param="file_path")
        output_format = request.query_params.get("output_format")
        if output_format is None and "file_path" not in request.query_params:  # the body is read only if it is used
            output_format = request.data.get("output_format") if isinstance(request.data, dict) else None
        filename = None
        if output_format and output_format != "json":
            key, filename, _ = output_key_for(
                user=request.user, file_path=str(file_path), output_format=str(output_format)
            )
        else:
            completion.job_artifact_prepare(user=request.user, file_path=str(file_path))
            key = selectors.download_key(user=request.user, file_path=str(file_path))
        ttl = settings.DEEPREAD_SIGNED_URL_TTL_S
        url = presign_download(key=key, ttl=ttl, base_url=_base_url(request), filename=filename)
        return Response({"url": url, "file_key": key, "expires_in": ttl})


class ResultApi(QuotaHeadersAPIView):
    @extend_schema_serializer(component_name="JobResult")
    class OutputSerializer(serializers.Serializer):
        job_id = serializers.UUIDField()
        status = serializers.CharField()
        mode = serializers.CharField()
        filename = serializers.CharField()
        result = ResultDocumentSerializer(allow_null=True, help_text="the result document, once completed")
        error = serializers.CharField(allow_null=True)
        pages = serializers.IntegerField(allow_null=True, help_text="(ext)")
        pages_done = serializers.IntegerField(help_text="(ext)")

    @extend_schema(operation_id="results_retrieve", responses={200: OutputSerializer, **ERRORS})
    def get(self, request: Request, job_id: str) -> HttpResponse:
        """GET /api/v1/results/<job_id>: status head plus the stored result document, sent as stored; 404 for another's
        job.
        """
        job = selectors.job_get(user=request.user, job_id=job_id)
        head = {
            "job_id": str(job.id),
            "status": job.public_status,
            "mode": job.mode,
            "filename": job.filename,
            "error": job.error or None,
            "pages": job.page_count,
            "pages_done": job.pages_done,
        }
        # The stored result document goes out as it is, without being parsed and written again: it is JSON
        # that DeepRead wrote itself, and it can be large.
        raw = selectors.job_result_bytes(job=job)
        body = json.dumps(head)[:-1].encode() + b', "result": ' + (raw or b"null") + b"}"
        return HttpResponse(body, content_type="application/json")
