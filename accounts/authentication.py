"""DRF authentication by API key: `X-API-Key: <key>` or `Authorization: Bearer <key>`."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiKey, User
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_touch


def raw_key_from_request(request: Request) -> str | None:
    """The key the client sent, or None when it sent no credentials at all."""
    header = request.META.get("HTTP_X_API_KEY")
    if header is not None:
        return header.strip()
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF authentication by API key (`X-API-Key` header or `Authorization: Bearer`)."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        """Return (user, key) for an `X-API-Key`/`Authorization: Bearer` key, or None when the request carries none.

        Raises AuthenticationFailed (401) for an unknown, revoked or expired key; a good key's last-used time is
        updated.
        """
        raw = raw_key_from_request(request)
        if raw is None:
            return None
        key = api_key_authenticate(raw=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        api_key_touch(key=key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        """The WWW-Authenticate value sent with a 401, so DRF answers 401 rather than 403."""
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """drf-spectacular extension describing ApiKeyAuthentication's two header forms in the OpenAPI schema."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "BearerAuth"]

    def get_security_definition(self, auto_schema):
        """OpenAPI security schemes for the schema: an `X-API-Key` header or an HTTP bearer token."""
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer"},
        ]
