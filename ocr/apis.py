"""`POST /v1/ocr` and `GET /v1/models`: the OpenAI-style interface of API.md §2. Thin: validate, call
`ocr.services`, render. Every error, including authentication, throttling and malformed bodies, is in OpenAI's
format, and none carries a traceback."""

from __future__ import annotations

import logging
from typing import Any

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
from core.api_errors import translated
from core.error_formats import openai_body, retry_headers
from core.errors import ApplicationError, InternalError, InvalidInput, RateLimited, Unauthenticated
from core.parsers import CappedJSONParser
from ocr import mistral, mistral_schema
from ocr import services as ocr_services
from ocrjobs import idempotency
from ocrjobs.usage import usage_record

logger = logging.getLogger(__name__)
FIELDS = {"image", "image_type", "model", "return_image", "mode", "pages"}


def error_response(exc: ApplicationError) -> Response:
    """The `{"error": {message, type, param, code}}` response for `exc`, with Retry-After (seconds) when it has one."""
    return Response(openai_body(exc), status=exc.status_code, headers=retry_headers(exc) or None)


def _protocol_error(exc: exceptions.APIException) -> ApplicationError:
    """DRF's own refusals (authentication, throttling, parsing, media type, method) as family members, in the
    words /v1 clients get; the status stays DRF's."""
    if isinstance(exc, exceptions.Throttled):
        return RateLimited("Too many requests for this API key; slow down.", retry_after=max(1, int(exc.wait or 1)))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        message = (
            "Invalid or revoked API key."
            if isinstance(exc, exceptions.AuthenticationFailed)
            else "No API key: send Authorization: Bearer <key>."
        )
        return Unauthenticated(message)
    if isinstance(exc, exceptions.ParseError):
        detail = str(exc.detail)
        if not detail.startswith("The body is not valid JSON"):
            detail = f"The body is not valid JSON: {detail}"
        error = InvalidInput(detail)
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        error = InvalidInput("Send the body as application/json.")
    else:  # MethodNotAllowed and any other DRF refusal
        error = InvalidInput(str(exc.detail))
    error.status_code = exc.status_code
    return error


def openai_exception_handler(exc: Exception, context: dict) -> Response:
    """Turn any error on /v1/ocr and /v1/models into the OpenAI error shape: the `core.errors` family by its
    status, DRF's refusals as `_protocol_error` words them (throttling 429, auth 401 with WWW-Authenticate, bad
    JSON 400, media type 415, method 405), a lost database 503; anything else is logged and answered 500."""
    exc = translated(exc)
    if isinstance(exc, exceptions.APIException):
        response = error_response(_protocol_error(exc))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if not isinstance(exc, ApplicationError):
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        exc = InternalError("Internal server error.")
    return error_response(exc)


class OcrBodyParser(CappedJSONParser):
    """The same capped reading (TooLarge past the cap), with /v1/ocr's larger cap: images travel inline."""

    cap_setting = "DEEPREAD_SYNC_MAX_BODY_BYTES"
    empty_body = b"null"


def _validated(data: Any) -> ocr_services.OcrRequest:
    """The OpenAI-style body checked into an OcrRequest. Raises InvalidInput (400) naming the field at fault."""
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", code="invalid_parameter_type")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidInput(f"Unrecognized request argument: {unknown[0]}.", param=unknown[0])
    if "image" not in data or data["image"] is None or data["image"] == "":
        raise InvalidInput("The image parameter is required.", code="parameter_missing", param="image")
    expected = {"image": str, "image_type": str, "model": str, "mode": str, "return_image": bool, "pages": str}
    for name, kind in expected.items():
        if name in data and data[name] is not None and not isinstance(data[name], kind):
            message = f"{name} must be a {kind.__name__.replace('str', 'string')}."
            raise InvalidInput(message, code="invalid_parameter_type", param=name)
    image_type = data.get("image_type") or "url"
    if image_type not in ("url", "base64"):
        raise InvalidInput("image_type must be 'url' or 'base64'.", param="image_type")
    return ocr_services.OcrRequest(
        image=data["image"],
        image_type=image_type,
        model=data.get("model"),
        return_image=bool(data.get("return_image") or False),
        mode=data.get("mode"),
        pages=data.get("pages") or "",
    )


def dialect_exception_handler(exc: Exception, context: dict) -> Response:
    """OpenAI's error format, or Mistral's (`ocr.mistral.error_body`) for a request in Mistral's dialect."""
    response = openai_exception_handler(exc, context)
    request = context.get("request")
    if getattr(request, "ocr_dialect", None) == "mistral" and isinstance(response.data, dict):
        response.data = mistral.error_body(response.data)
    return response


class OpenAIStyleView(QuotaHeadersAPIView):
    """The /v1 views: quota headers on every answer, errors in the request's dialect (`dialect_exception_handler`)."""

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
    """POST /v1/ocr in both dialects; the body is read (capped) before authentication to tell them apart."""

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

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Tell the dialect from the body before authentication, permissions and throttling run, so that their
        refusals (a missing or bad API key 401, the burst limit 429) come in the caller's dialect too.

        The body is already in memory (the server read it, capped by `core.bodylimit`) and parsing it is C-speed
        JSON, so an unauthenticated caller costs one parse of at most DEEPREAD_SYNC_MAX_BODY_BYTES. A body that does
        not parse (or is past the cap) is refused after those checks, as before: authentication errors come first.
        Refusals made before Django runs (the ASGI body guard's 408/413, engine admission's 503) cannot know the
        dialect without reading the body on the event loop, and stay in OpenAI's shape.
        """
        try:
            data = request.data
        except Exception as exc:  # raised again below, after authentication: a bad key is still a 401
            deferred: Exception | None = exc
        else:
            deferred = None
            if mistral.is_mistral_body(data):
                request.ocr_dialect = "mistral"
        super().initial(request, *args, **kwargs)
        if deferred is not None:
            raise deferred

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
        """POST /v1/ocr: read an image or document now (OpenAI or Mistral body, told apart in `initial`); replayed
        for a repeated Idempotency-Key.
        """
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
    """GET /v1/models."""

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
