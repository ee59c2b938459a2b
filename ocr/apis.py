"""`POST /v1/ocr` and `GET /v1/models`: the OpenAI-style interface of API.md §2. Thin: validate, call
`ocr.services`, render. Every error, including authentication, throttling and malformed bodies, is in OpenAI's
format, and none carries a traceback."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import QuotaHeadersAPIView
from core.api_errors import RETRY_AFTER_S, database_unavailable
from core.errors import ApplicationError
from core.parsers import CappedJSONParser
from ocr import mistral, mistral_schema
from ocr import services as ocr_services
from ocr.inputs import OcrError
from ocrjobs import idempotency
from ocrjobs.usage import usage_record

logger = logging.getLogger(__name__)
FIELDS = {"image", "image_type", "model", "return_image", "mode", "pages"}


def error_response(exc: OcrError) -> Response:
    """The `{"error": {message, type, param, code}}` response for `exc`, with Retry-After (seconds) when it has one."""
    body = {"error": {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.code}}
    response = Response(body, status=exc.status)
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


def openai_exception_handler(exc: Exception, context: dict) -> Response:
    """Turn any error on /v1/ocr into the OpenAI error shape: throttling 429, auth 401, bad JSON 400,
    wrong media type 415, method 405, application errors by their status; others go to DRF's handler.
    """
    if isinstance(exc, OcrError):
        return error_response(exc)
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        return error_response(
            OcrError(429, "rate_limit_exceeded", "Too many requests for this API key; slow down.",
                          kind="rate_limit_error", retry_after=max(1, wait))
        )  # fmt: skip
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        message = (
            "Invalid or revoked API key."
            if isinstance(exc, exceptions.AuthenticationFailed)
            else ("No API key: send Authorization: Bearer <key>.")
        )
        response = error_response(OcrError(401, "invalid_api_key", message, kind="authentication_error"))
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, exceptions.ParseError):
        detail = str(exc.detail)
        if not detail.startswith("The body is not valid JSON"):
            detail = f"The body is not valid JSON: {detail}"
        return error_response(OcrError(400, "invalid_parameter", detail))
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return error_response(OcrError(415, "invalid_parameter", "Send the body as application/json."))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return error_response(OcrError(405, "invalid_parameter", str(exc.detail)))
    if isinstance(exc, ApplicationError):
        return error_response(OcrError(exc.status_code, exc.code, exc.message, exc.param))
    if isinstance(exc, DatabaseError) and database_unavailable(exc):
        return error_response(
            OcrError(503, "service_unavailable", "The service is briefly unavailable (database); retry shortly.",
                          kind="server_error", retry_after=RETRY_AFTER_S)
        )  # fmt: skip
    if isinstance(exc, exceptions.APIException):
        return error_response(OcrError(exc.status_code, "invalid_parameter", str(exc.detail)))
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
    return error_response(OcrError(500, "server_error", "Internal server error.", kind="server_error"))


class OcrBodyParser(CappedJSONParser):
    """The same capped reading, with /v1/ocr's larger cap (images travel inline) and its OpenAI-format error."""

    cap_setting = "DEEPREAD_SYNC_MAX_BODY_BYTES"
    empty_body = b"null"

    def too_large(self, cap: int) -> Exception:
        """The 413 `image_too_large` error for a body over `cap` bytes."""
        return OcrError(413, "image_too_large", f"The request body is larger than {cap:,} bytes.")


def _validated(data: Any) -> ocr_services.OcrRequest:
    if not isinstance(data, dict):
        raise OcrError(400, "invalid_parameter_type", "The body must be a JSON object.")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise OcrError(400, "invalid_parameter", f"Unrecognized request argument: {unknown[0]}.", unknown[0])
    if "image" not in data or data["image"] is None or data["image"] == "":
        raise OcrError(400, "parameter_missing", "The image parameter is required.", "image")
    expected = {"image": str, "image_type": str, "model": str, "mode": str, "return_image": bool, "pages": str}
    for name, kind in expected.items():
        if name in data and data[name] is not None and not isinstance(data[name], kind):
            raise OcrError(
                400, "invalid_parameter_type", f"{name} must be a {kind.__name__.replace('str', 'string')}.", name
            )
    image_type = data.get("image_type") or "url"
    if image_type not in ("url", "base64"):
        raise OcrError(400, "invalid_parameter", "image_type must be 'url' or 'base64'.", "image_type")
    return ocr_services.OcrRequest(
        image=data["image"],
        image_type=image_type,
        model=data.get("model"),
        return_image=bool(data.get("return_image") or False),
        mode=data.get("mode"),
        pages=data.get("pages") or "",
    )


def dialect_exception_handler(exc: Exception, context: dict) -> Response:
    """OpenAI's error format, or Mistral's once the body has shown it is Mistral's (errors before the body is read,
    such as a missing key or the burst limit, are in OpenAI's format)."""
    response = openai_exception_handler(exc, context)
    request = context.get("request")
    if getattr(request, "ocr_dialect", None) == "mistral" and isinstance(response.data, dict):
        error = response.data.get("error") or {}
        response.data = {"object": "error", **error}
    return response


class OpenAIStyleView(QuotaHeadersAPIView):
    def get_exception_handler(self):
        """Errors answered in the request's dialect (OpenAI or Mistral)."""
        return dialect_exception_handler


ERROR = inline_serializer(
    "OpenAIError",
    {
        "error": inline_serializer(
            "OpenAIErrorBody",
            {
                "message": serializers.CharField(),
                "type": serializers.CharField(),
                "param": serializers.CharField(allow_null=True),
                "code": serializers.CharField(),
            },
        )
    },
)
ERRORS = {status: OpenApiResponse(ERROR) for status in (400, 401, 403, 404, 413, 415, 429, 500, 503)}
# /v1/ocr answers errors in the dialect of the body: OpenAI's, or Mistral's for a `document` body.
OCR_ERROR = PolymorphicProxySerializer(
    "OcrError", serializers=[ERROR, mistral_schema.MISTRAL_ERROR], resource_type_field_name=None
)
OCR_EXAMPLES = [
    OpenApiExample(
        "OpenAI-style: an image by URL",
        value={"model": "deepseek-ocr", "image": "https://example.com/receipt.jpg", "image_type": "url",
               "return_image": False},
        request_only=True,
    ),
    OpenApiExample(
        "OpenAI-style: base64, another mode, the annotated image back",
        value={"image": "iVBORw0KGgo…", "image_type": "base64", "mode": "document", "return_image": True},
        request_only=True,
    ),
    OpenApiExample(
        "OpenAI-style: ocr.completion",
        value={"id": "ocr-0f8e4c1b9a2d4e7f8a6b5c4d3e2f1a0b", "object": "ocr.completion", "created": 1764460800,
               "model": "rapidocr-ppocrv6",
               "choices": [{"index": 0, "text": "Invoice 2024-0117\nTotal amount payable: 1,284.50 EUR",
                            "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}},
        response_only=True,
        status_codes=["200"],
    ),
    OpenApiExample(
        "OpenAI-style: an error",
        value={"error": {"message": "The image is not valid base64 data.", "type": "invalid_request_error",
                         "param": "image", "code": "invalid_base64_format"}},
        response_only=True,
        status_codes=["400"],
    ),
]  # fmt: skip


class OcrApi(OpenAIStyleView):
    parser_classes = [OcrBodyParser]

    @extend_schema_serializer(component_name="OcrRequest")
    class InputSerializer(serializers.Serializer):
        image = serializers.CharField(help_text="an http(s) URL, base64 data, or a data: URL")
        image_type = serializers.ChoiceField(["url", "base64"], required=False, default="url")
        model = serializers.CharField(required=False)
        return_image = serializers.BooleanField(required=False, default=False)
        mode = serializers.CharField(required=False, help_text="(ext) a mode name; default ocr")
        pages = serializers.CharField(required=False, help_text="(ext) the pages of a PDF to read, e.g. '1-3,7'")

    @extend_schema_serializer(component_name="OcrCompletion")
    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        object = serializers.CharField()
        created = serializers.IntegerField()
        model = serializers.CharField()
        choices = inline_serializer(
            "OcrChoice",
            {"index": serializers.IntegerField(), "text": serializers.CharField(),
             "finish_reason": serializers.CharField()},
            many=True,
        )  # fmt: skip
        result_image_base64 = serializers.CharField(required=False)
        usage = inline_serializer(
            "OcrUsage",
            {"prompt_tokens": serializers.IntegerField(), "completion_tokens": serializers.IntegerField(),
             "total_tokens": serializers.IntegerField()},
        )  # fmt: skip

    @extend_schema(
        operation_id="ocr_create",
        description=(
            "Two dialects on one route, told apart by the body: OpenAI-style (`image`, answered as an "
            "`ocr.completion`) and Mistral's (`document`, answered as Mistral's `OCRResponse`, errors as Mistral's "
            "error object)."
        ),
        request=PolymorphicProxySerializer(
            "OcrCreateRequest",
            serializers=[InputSerializer, mistral_schema.MistralOcrRequestSerializer],
            resource_type_field_name=None,
        ),
        responses={
            200: PolymorphicProxySerializer(
                "OcrCreateResponse",
                serializers=[OutputSerializer, mistral_schema.MistralOcrResponseSerializer],
                resource_type_field_name=None,
            ),
            **{status: OpenApiResponse(OCR_ERROR) for status in (*ERRORS, 409, 422)},
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="(ext) the same key and body within 24 h returns the first response, spending nothing",
            )
        ],
        examples=[*OCR_EXAMPLES, *mistral_schema.REQUEST_EXAMPLES, mistral_schema.RESPONSE_EXAMPLE,
                  mistral_schema.ERROR_EXAMPLE],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        """POST /v1/ocr: read an image or document now (OpenAI or Mistral body); replayed for a repeated Idempotency-
        Key.
        """
        if mistral.is_mistral_body(request.data):
            request.ocr_dialect = "mistral"
        return idempotency.run(request, endpoint="v1-ocr", handler=lambda: self._ocr(request))

    def _ocr(self, request: Request) -> Response:
        if getattr(request, "ocr_dialect", None) == "mistral":
            mode = mistral.MODE
            outcome = mistral.ocr_mistral(user=request.user, req=mistral.parse_request(request.data))
        else:
            req = _validated(request.data)
            mode = req.mode or "ocr"
            outcome = ocr_services.ocr_sync(user=request.user, req=req)
        request.quota_status = outcome.quota
        usage_record(user=request.user, api_key_id=getattr(request.auth, "pk", None), kind="sync", mode=mode)
        return Response(outcome.body)


class ModelListApi(OpenAIStyleView):
    @extend_schema(
        operation_id="models_list",
        responses={
            200: inline_serializer(
                "ModelList",
                {
                    "object": serializers.CharField(),
                    "data": inline_serializer(
                        "Model",
                        {"id": serializers.CharField(), "object": serializers.CharField(),
                         "created": serializers.IntegerField(), "owned_by": serializers.CharField()},
                        many=True,
                    ),
                },
            ),
            **ERRORS,
        },
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        """GET /v1/models: the served model and its aliases."""
        return Response({"object": "list", "data": ocr_services.model_list()})
