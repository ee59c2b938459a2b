from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import QuotaHeadersAPIView
from modes.selectors import mode_list


class OcrModeListApi(QuotaHeadersAPIView):
    """GET /api/v1/ocr-modes."""

    @extend_schema_serializer(component_name="OcrMode")
    class OutputSerializer(serializers.Serializer):
        """One OCR mode in the list."""

        name = serializers.CharField()
        display_name = serializers.CharField()
        description = serializers.CharField()
        is_default = serializers.BooleanField()
        builtin = serializers.BooleanField(help_text="(ext) false for the account's own custom modes")
        output_kind = serializers.CharField(help_text="(ext)")

    @extend_schema(operation_id="ocr_modes_list", responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        """GET /api/v1/modes: the built-in and the user's custom modes, each with name, description, output kind and
        default flag.
        """
        rows = [
            {
                "name": m.spec.name,
                "display_name": m.spec.display_name,
                "description": m.spec.description,
                "is_default": m.is_default,
                "builtin": m.builtin,
                "output_kind": str(m.spec.output_kind),
            }
            for m in mode_list(user=request.user)
        ]
        return Response(self.OutputSerializer(rows, many=True).data)
