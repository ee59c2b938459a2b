"""Request and response examples for every operation of the OpenAPI schema (a drf-spectacular post-processing
hook). Examples written beside a view (`extend_schema(examples=…)`) win; this fills in the rest, by operationId, so
that Swagger shows a worked call for each operation and `tests/test_openapi_examples.py` can hold the line."""

from __future__ import annotations

from typing import Any

from core.error_formats import OPENAI, error_format

JOB_ID = "550e8400-e29b-41d4-a716-446655440000"
JOB = {
    "job_id": JOB_ID, "status": "completed", "mode": "table", "mode_version": 1, "filename": "sales_table.png",
    "pages": 1, "pages_done": 1, "page_range": "", "error": None, "output_key": "table/sales_table.json",
    "retry_of": None, "created_at": "2026-11-29T14:42:48Z",
}  # fmt: skip
RESULT_DOCUMENT = {
    "job_id": JOB_ID, "filename": "sales_table.png", "mode": "table", "model": "rapidocr-ppocrv6",
    "extracted_text": "| Item | Qty |\n|---|---|\n| Apples | 12 |",
    "pages": [{"page": 1, "width": 1240, "height": 1754, "text": "Item Qty\nApples 12",
               "blocks": [{"type": "table", "text": "| Item | Qty |\n|---|---|\n| Apples | 12 |",
                           "bbox": [40, 30, 720, 180]}],
               "tables": [{"bbox": [40, 30, 720, 180], "rows": [["Item", "Qty"], ["Apples", "12"]],
                           "csv": "Item,Qty\nApples,12\n"}],
               "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "finish_reason": "stop",
               "annotated_image": "table/sales_table/page-1-annotated.png"}],
    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    "created_at": "2026-11-29T14:42:50Z", "processing_ms": 812,
    "tables": [{"bbox": [40, 30, 720, 180], "rows": [["Item", "Qty"], ["Apples", "12"]],
                "csv": "Item,Qty\nApples,12\n", "page": 1}],
}  # fmt: skip
WEBHOOK = {"id": 7, "url": "https://example.com/hooks/deepread", "events": ["job.completed", "job.failed"],
           "description": "CI", "is_active": True, "created_at": "2026-11-29T14:00:00Z"}  # fmt: skip
DELIVERY = {
    "id": 31, "endpoint_id": 7, "job_id": JOB_ID, "url": "https://example.com/hooks/deepread",
    "event": "job.completed", "msg_id": "msg_2b7c1e", "status": "delivered", "attempts": 1, "response_code": 200,
    "error": "", "last_attempt_at": "2026-11-29T14:42:51Z", "next_attempt_at": None,
    "created_at": "2026-11-29T14:42:50Z",
}  # fmt: skip
MODE = {"name": "table", "display_name": "Table Recognition", "description": "Tables and structured data.",
        "is_default": False, "builtin": True, "output_kind": "table"}  # fmt: skip

#: operationId → {"request": body, "<status>": response body}
EXAMPLES: dict[str, dict[str, Any]] = {
    "ocr_modes_list": {"200": [
        {"name": "ocr", "display_name": "General OCR", "description": "All text from documents, receipts and forms.",
         "is_default": True, "builtin": True, "output_kind": "text"}, MODE]},
    "ocr_mode_versions_list": {"200": [
        {"version": 2, "display_name": "Invoices", "description": "Invoice fields", "prompt": "<image>\nFree OCR.",
         "output_kind": "markdown", "created_at": "2026-11-29T10:00:00Z", "current": True}]},
    "upload_signed_url_create": {
        "request": {"filename": "document.png", "content_type": "image/png"},
        "200": {"upload_url": "http://127.0.0.1:8000/storage/upload/550e8400-e29b-41d4-a716-446655440000?key=…",
                "job_id": JOB_ID, "s3_key": f"uploads/2/{JOB_ID}/document.png", "expires_in": 3600,
                "url": "http://127.0.0.1:8000/storage/upload",
                "fields": {"key": f"uploads/2/{JOB_ID}/document.png", "AWSAccessKeyId": "local",
                           "policy": "eyJleHBpcmF0aW9uIjog…", "signature": "3f9c…"},
                "key_prefix": f"uploads/2/{JOB_ID}/"}},
    "processing_jobs_list": {"200": {
        "files": [{"filename": "sales_table.png", "mode": "table", "status": "completed",
                   "output_key": "table/sales_table.json", "size": 18826, "last_modified": "2025-11-17T14:42:48+00:00",
                   "job_id": JOB_ID, "error": None, "pages": 1, "pages_done": 1}],
        "total_count": 1, "completed_count": 1, "pending_count": 0}},
    "download_signed_url_create": {"200": {
        "url": "http://127.0.0.1:8000/storage/download?key=…&signature=…", "expires_in": 3600,
        "file_key": "outputs/2/table/sales_table.json"}},
    "results_retrieve": {"200": {"job_id": JOB_ID, "status": "completed", "mode": "table",
                                 "filename": "sales_table.png", "error": None, "pages": 1, "pages_done": 1,
                                 "result": RESULT_DOCUMENT}},
    "jobs_retrieve": {"200": JOB},
    "jobs_cancel": {"200": {**JOB, "status": "failed", "error": "Cancelled.", "output_key": None}},
    "jobs_retry": {"201": {**JOB, "job_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "status": "pending",
                           "pages_done": 0, "output_key": None, "retry_of": JOB_ID}},
    "settings_retrieve": {"200": {"retention_days": 30, "callback_secret_set": True}},
    "settings_update": {"request": {"retention_days": 7}, "200": {"retention_days": 7, "callback_secret_set": True}},
    "webhooks_list": {"200": [WEBHOOK]},
    "webhooks_create": {"201": WEBHOOK},
    "webhooks_retrieve": {"200": WEBHOOK},
    "webhooks_update": {"request": {"is_active": False}, "200": {**WEBHOOK, "is_active": False}},
    "webhooks_callback_secret_rotate": {"201": {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
    "webhook_deliveries_list": {"200": [DELIVERY]},
    "webhook_deliveries_redeliver": {"202": {**DELIVERY, "status": "pending", "attempts": 1,
                                             "next_attempt_at": "2026-11-29T15:00:00Z"}},
    "models_list": {"200": {"object": "list", "data": [
        {"id": "rapidocr-ppocrv6", "object": "model", "created": 1764460800, "owned_by": "deepread"},
        {"id": "deepseek-ocr", "object": "model", "created": 1764460800, "owned_by": "deepread"}]}},
}  # fmt: skip
ERROR_MESSAGES = {
    "400": "Unknown mode 'tabel'.", "401": "Invalid or revoked API key.",
    "403": "Monthly limit of 1,000 requests reached; it resets on 2026-12-01.", "404": "Not found.",
    "409": "A request with this Idempotency-Key is still running.", "413": "The file is larger than 50 MB.",
    "415": "Unsupported media type.", "422": "This Idempotency-Key was used with another body.",
    "429": "Too many requests; retry in 12 seconds.", "500": "Internal server error.",
    "503": "The service is briefly unavailable; retry shortly.",
}  # fmt: skip


def _error(path: str, status: str) -> dict[str, Any]:
    message = ERROR_MESSAGES.get(status, "Request failed.")
    if error_format(path) == OPENAI:
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "error"}}
    return {"detail": message}


def _fill(content: dict[str, Any], value: Any, name: str) -> None:
    for media in content.values():
        if "examples" not in media and "example" not in media:
            media["examples"] = {name: {"value": value}}


def add_examples(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: give every operation a request example (when it takes a body) and an example
    for each response that has a body, from EXAMPLES, or a `{"detail"}`/OpenAI-style error for 4xx/5xx."""
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            known = EXAMPLES.get(operation["operationId"], {})
            body = operation.get("requestBody", {}).get("content")
            if body and "request" in known:
                _fill(body, known["request"], "request")
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if not content:
                    continue
                if status in known:
                    _fill(content, known[status], "response")
                elif status[0] in "45":
                    _fill(content, _error(path, status), "error")
    return result
