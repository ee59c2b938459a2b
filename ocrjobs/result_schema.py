"""The result document's OpenAPI schema (components `ResultDocument`, `ResultPage`, …): the same shape as the
TypedDicts in ocrjobs.results, for `GET /api/v1/results/{id}`'s `result` and the JSON a result download returns.

These serializers only describe; the stored document is sent as it was written (ocrjobs.apis.ResultApi).
Fields marked optional appear only where they apply; objects may gain fields (marked "(ext)" in API.md).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

_BOX = "[x1, y1, x2, y2] in pixels of the page image"


def _box(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4, help_text=_BOX, **kwargs)


@extend_schema_serializer(component_name="ResultUsage")
class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(min_value=0)
    completion_tokens = serializers.IntegerField(min_value=0)
    total_tokens = serializers.IntegerField(min_value=0)


@extend_schema_serializer(component_name="ResultBlock")
class BlockSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="text, title, table, image, formula, …")
    text = serializers.CharField(allow_blank=True)
    bbox = _box()
    image = serializers.CharField(required=False, help_text="figure blocks: the crop, <mode>/<stem>/page-N-image-K.png")


@extend_schema_serializer(component_name="ResultTable")
class TableSerializer(serializers.Serializer):
    bbox = _box(required=False)
    rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField(allow_blank=True)))
    csv = serializers.CharField(allow_blank=True)
    html = serializers.CharField(required=False, allow_blank=True, help_text="DeepSeek-OCR's own HTML")
    page = serializers.IntegerField(required=False, min_value=1, help_text="in the document's `tables`")


@extend_schema_serializer(component_name="ResultFormula")
class FormulaSerializer(serializers.Serializer):
    latex = serializers.CharField(allow_blank=True)
    display = serializers.BooleanField()
    page = serializers.IntegerField(required=False, min_value=1)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}]})
class _CellField(serializers.JSONField):
    pass


@extend_schema_serializer(component_name="ResultChart")
class ChartSerializer(serializers.Serializer):
    title = serializers.CharField(allow_null=True, allow_blank=True)
    columns = serializers.ListField(child=serializers.CharField(allow_blank=True))
    rows = serializers.ListField(child=serializers.ListField(child=_CellField()))
    csv = serializers.CharField(allow_blank=True)
    page = serializers.IntegerField(required=False, min_value=1)


@extend_schema_serializer(component_name="ResultReusedFrom")
class ReusedFromSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    page = serializers.IntegerField(min_value=1)


@extend_schema_serializer(component_name="ResultPage")
class PageSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    text = serializers.CharField(allow_blank=True)
    blocks = BlockSerializer(many=True)
    usage = UsageSerializer()
    finish_reason = serializers.CharField()
    annotated_image = serializers.CharField(help_text="<mode>/<stem>/page-N-annotated.png")
    error = serializers.CharField(required=False, help_text="(ext) this page alone failed")
    tables = TableSerializer(many=True, required=False)
    formulas = FormulaSerializer(many=True, required=False)
    chart = ChartSerializer(required=False, allow_null=True)
    source = serializers.ChoiceField(
        choices=["blank", "text_layer", "reuse"], required=False, help_text="(ext) answered without the model"
    )
    reused_from = ReusedFromSerializer(required=False)
    recovered_by = serializers.CharField(required=False, help_text="(ext) the retry step that gave this answer")
    attempts = serializers.ListField(child=serializers.DictField(), required=False)
    engine = serializers.CharField(required=False, help_text="(ext) the CPU engine that answered this page")


@extend_schema_serializer(component_name="ResultDocument")
class ResultDocumentSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    filename = serializers.CharField(allow_blank=True)
    mode = serializers.CharField()
    model = serializers.CharField(allow_blank=True, help_text="the engine that really ran")
    extracted_text = serializers.CharField(allow_blank=True)
    pages = PageSerializer(many=True)
    usage = UsageSerializer()
    created_at = serializers.DateTimeField()
    processing_ms = serializers.IntegerField(min_value=0)
    tables = TableSerializer(many=True, required=False)
    formulas = FormulaSerializer(many=True, required=False)
    charts = ChartSerializer(many=True, required=False)
    failed_pages = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
