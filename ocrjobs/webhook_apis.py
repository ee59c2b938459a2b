"""The webhook API under /api/v1/webhooks: endpoints (list, create, get, change, delete), deliveries (list,
redeliver) and the per-job callback secret. Thin: parse, call ocrjobs.webhooks or read the user's own rows,
render; errors are `{"detail"}`.

The serializers keep their OpenAPI component names (`WebhookEndpoint`, `WebhookDelivery`) and the views their
docstrings, which drf-spectacular shows as the operations' descriptions.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import QuotaHeadersAPIView
from ocrjobs import webhooks
from ocrjobs.apis import ERRORS
from ocrjobs.models import WebhookDelivery, WebhookEndpoint


@extend_schema_serializer(component_name="WebhookEndpoint")
class EndpointSerializer(serializers.Serializer):
    """A webhook endpoint: URL, subscribed events, description and whether it is active."""

    id = serializers.IntegerField(read_only=True)
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(), required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    is_active = serializers.BooleanField(required=False)
    created_at = serializers.DateTimeField(read_only=True)


@extend_schema_serializer(component_name="WebhookDelivery")
class DeliverySerializer(serializers.Serializer):
    """One webhook delivery attempt record: endpoint, job, event, message id and status."""

    id = serializers.IntegerField()
    endpoint_id = serializers.IntegerField(allow_null=True)
    job_id = serializers.UUIDField(allow_null=True)
    url = serializers.CharField()
    event = serializers.CharField()
    msg_id = serializers.CharField()
    status = serializers.CharField(help_text="pending, sending, succeeded or failed")
    attempts = serializers.IntegerField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookEndpointListApi(QuotaHeadersAPIView):
    """GET and POST /api/v1/webhooks."""

    @extend_schema(operation_id="webhooks_list", responses={200: EndpointSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """GET /api/v1/webhooks: the user's webhook endpoints, oldest first."""
        rows = WebhookEndpoint.objects.filter(owner=request.user).order_by("created_at", "pk")
        return Response(EndpointSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        description="The response holds the endpoint's signing secret (`whsec_…`); it is not shown again.",
        request=EndpointSerializer,
        responses={201: EndpointSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "create",
                request_only=True,
                value={"url": "https://example.com/hooks/deepread", "events": ["job.completed", "job.failed"]},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """POST /api/v1/webhooks: register an endpoint; 201 with its signing secret (shown only here), 400 for a bad
        URL.
        """
        data = EndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = webhooks.endpoint_create(
            user=request.user,
            url=data.validated_data["url"],
            events=data.validated_data.get("events"),
            description=data.validated_data.get("description", ""),
        )
        return Response(EndpointSerializer(endpoint).data | {"secret": secret}, status=201)


class WebhookEndpointDetailApi(QuotaHeadersAPIView):
    """GET, PATCH and DELETE /api/v1/webhooks/<id>."""

    @extend_schema(operation_id="webhooks_retrieve", responses={200: EndpointSerializer, **ERRORS})
    def get(self, request: Request, endpoint_id: str) -> Response:
        """GET /api/v1/webhooks/<id>: one endpoint; 404 when it is not the user's."""
        return Response(EndpointSerializer(webhooks.endpoint_get(user=request.user, endpoint_id=endpoint_id)).data)

    @extend_schema(
        operation_id="webhooks_update", request=EndpointSerializer, responses={200: EndpointSerializer, **ERRORS}
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        """PATCH /api/v1/webhooks/<id>: change url, events, description or active; 400 / 404 on refusal."""
        data = EndpointSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_update(user=request.user, endpoint_id=endpoint_id, **data.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhooks_destroy", responses={204: None, **ERRORS})
    def delete(self, request: Request, endpoint_id: str) -> Response:
        """DELETE /api/v1/webhooks/<id>: 204, or 404 when it is not the user's."""
        webhooks.endpoint_delete(user=request.user, endpoint_id=endpoint_id)
        return Response(status=204)


class WebhookDeliveryListApi(QuotaHeadersAPIView):
    """GET /api/v1/webhooks/deliveries."""

    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[
            OpenApiParameter("endpoint", int, description="only this endpoint's deliveries"),
            OpenApiParameter("job", str, description="only this job's deliveries"),
        ],
        responses={200: DeliverySerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """GET /api/v1/webhooks/deliveries: the latest 200 deliveries, newest first, optionally by `endpoint` id or
        `job` UUID.
        """
        rows = WebhookDelivery.objects.filter(owner=request.user)
        endpoint, job = request.query_params.get("endpoint"), request.query_params.get("job")
        if endpoint:
            rows = rows.filter(
                endpoint_id=int(endpoint) if endpoint.isascii() and endpoint.isdigit() and len(endpoint) <= 18 else -1
            )
        if job:
            try:
                rows = rows.filter(job_id=uuid.UUID(job))
            except ValueError:
                rows = rows.none()
        return Response(DeliverySerializer(rows.order_by("-created_at", "-pk")[:200], many=True).data)


class WebhookRedeliverApi(QuotaHeadersAPIView):
    """POST /api/v1/webhooks/deliveries/<id>/redeliver."""

    @extend_schema(
        operation_id="webhook_deliveries_redeliver", request=None, responses={202: DeliverySerializer, **ERRORS}
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        """POST /api/v1/webhooks/deliveries/<id>/redeliver: send a delivery again (202); 404 if not the user's."""
        return Response(
            DeliverySerializer(webhooks.redeliver(user=request.user, delivery_id=delivery_id)).data, status=202
        )


class CallbackSecretApi(QuotaHeadersAPIView):
    """POST /api/v1/webhooks/callback-secret."""

    @extend_schema(
        operation_id="webhooks_callback_secret_rotate",
        description="Makes (or replaces) the secret that signs deliveries to jobs' callback_url; shown once.",
        request=None,
        responses={201: dict, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """POST /api/v1/webhooks/callback-secret: a new secret for signing per-job callbacks (201, shown only here)."""
        return Response({"secret": webhooks.callback_secret_rotate(user=request.user)}, status=201)
