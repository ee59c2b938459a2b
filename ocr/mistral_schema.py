"""OpenAPI components of Mistral's OCR dialect on `POST /v1/ocr` (documentation only: `ocr.mistral` parses
and builds the bodies). Field names follow mistralai's `OCRRequest` and `OCRResponse`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer, inline_serializer
from rest_framework import serializers

CORNERS = {
    "top_left_x": serializers.IntegerField(),
    "top_left_y": serializers.IntegerField(),
    "bottom_right_x": serializers.IntegerField(),
    "bottom_right_y": serializers.IntegerField(),
}


@extend_schema_serializer(component_name="MistralOcrRequest")
class MistralOcrRequestSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_null=True, help_text="deepseek-ocr, mistral-ocr-latest, …")
    document = inline_serializer(
        "MistralDocument",
        {
            "type": serializers.ChoiceField(["document_url", "image_url"]),
            "document_url": serializers.CharField(required=False, help_text="a PDF or image URL, or a data: URI"),
            "image_url": serializers.CharField(required=False, help_text="an image URL or a data: URI"),
            "document_name": serializers.CharField(required=False, allow_null=True),
        },
    )
    pages = serializers.JSONField(required=False, help_text="0-based page indexes, or a string like '0,2-4'")
    include_image_base64 = serializers.BooleanField(required=False, allow_null=True)
    image_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    image_min_size = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    table_format = serializers.ChoiceField(["markdown", "html"], required=False, allow_null=True)
    include_blocks = serializers.BooleanField(required=False, default=True)


@extend_schema_serializer(component_name="MistralOcrResponse")
class MistralOcrResponseSerializer(serializers.Serializer):
    pages = inline_serializer(
        "MistralOcrPage",
        {
            "index": serializers.IntegerField(help_text="0-based"),
            "markdown": serializers.CharField(),
            "images": inline_serializer(
                "MistralOcrImage",
                {"id": serializers.CharField(), **CORNERS,
                 "image_base64": serializers.CharField(allow_null=True, help_text="a data: URI of the PNG crop")},
                many=True,
            ),
            "dimensions": inline_serializer(
                "MistralOcrDimensions",
                {"dpi": serializers.IntegerField(), "height": serializers.IntegerField(),
                 "width": serializers.IntegerField()},
            ),
            "tables": inline_serializer(
                "MistralOcrTable",
                {"id": serializers.CharField(), "content": serializers.CharField(),
                 "format": serializers.CharField(help_text="markdown or html, as asked")},
                many=True,
            ),
            "hyperlinks": serializers.ListField(child=serializers.CharField()),
            "header": serializers.CharField(allow_null=True),
            "footer": serializers.CharField(allow_null=True),
            "blocks": inline_serializer(
                "MistralOcrBlock",
                {"type": serializers.CharField(), **CORNERS, "content": serializers.CharField(),
                 "image_id": serializers.CharField(required=False), "table_id": serializers.CharField(required=False)},
                many=True,
                required=False,
            ),
        },
        many=True,
    )  # fmt: skip
    model = serializers.CharField()
    document_annotation = serializers.CharField(allow_null=True)
    usage_info = inline_serializer(
        "MistralOcrUsage", {"pages_processed": serializers.IntegerField(), "doc_size_bytes": serializers.IntegerField()}
    )


MISTRAL_ERROR = inline_serializer(
    "MistralError",
    {
        "object": serializers.CharField(),
        "message": serializers.CharField(),
        "type": serializers.CharField(),
        "param": serializers.CharField(allow_null=True),
        "code": serializers.CharField(allow_null=True),
    },
)

REQUEST_EXAMPLES = [
    OpenApiExample(
        "Mistral: a PDF by URL, two pages, figures and HTML tables",
        value={
            "model": "mistral-ocr-latest",
            "document": {"type": "document_url", "document_url": "https://example.com/report.pdf"},
            "pages": [0, 2],
            "include_image_base64": True,
            "table_format": "html",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Mistral: an image as a data URI",
        value={"model": "deepseek-ocr", "document": {"type": "image_url", "image_url": "data:image/png;base64,iVBO…"}},
        request_only=True,
    ),
]
RESPONSE_EXAMPLE = OpenApiExample(
    "Mistral: OCRResponse",
    value={
        "pages": [
            {
                "index": 0,
                "markdown": "# Quarterly report\n\n![img-0.png](img-0.png)\n\n[tbl-0.html](tbl-0.html)",
                "images": [
                    {"id": "img-0.png", "top_left_x": 120, "top_left_y": 600, "bottom_right_x": 880,
                     "bottom_right_y": 900, "image_base64": "data:image/png;base64,iVBO…"}
                ],
                "dimensions": {"dpi": 144, "height": 1584, "width": 1224},
                "tables": [{"id": "tbl-0.html", "content": "<table><tr><td>North</td><td>1,200</td></tr></table>",
                            "format": "html"}],
                "hyperlinks": [],
                "header": None,
                "footer": None,
            }
        ],
        "model": "rapidocr-ppocrv6",
        "document_annotation": None,
        "usage_info": {"pages_processed": 1, "doc_size_bytes": 48213},
    },
    response_only=True,
    status_codes=["200"],
)  # fmt: skip
ERROR_EXAMPLE = OpenApiExample(
    "Mistral: an unsupported field",
    value={"object": "error", "message": "Annotation formats (structured output) are not supported by DeepRead.",
           "type": "invalid_request_error", "param": "document_annotation_format", "code": "unsupported_parameter"},
    response_only=True,
    status_codes=["400"],
)  # fmt: skip
