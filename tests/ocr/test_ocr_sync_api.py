"""POST /v1/ocr and GET /v1/models in-process with the real CPU engine: every error code, quota, no spend on
refused input, and the annotated image."""

from __future__ import annotations

import base64
import io

import pytest
from django.utils import timezone
from PIL import Image

from accounts.models import MonthlyUsage
from accounts.quota import month_start
from devtools.samples import LINES, cer, encode, pdf_bytes, png_bytes, render_lines
from ocr import services as ocr_services
from ocrjobs.models import Job
from tests.helpers import requests_used

URL = "/v1/ocr"


pytestmark = pytest.mark.usefixtures("engine_loaded")


def _post(client, body):
    return client.post(URL, body, content_type="application/json")


def test_base64_flow_reads_the_text_and_counts_one_request(bearer, user):
    response = _post(bearer, {"image": base64.b64encode(png_bytes()).decode(), "image_type": "base64"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("ocr-")
    assert len(body["id"]) == 4 + 32
    assert body["object"] == "ocr.completion"
    assert body["model"] == "rapidocr-ppocrv6"  # what really ran: the CPU engine does not claim to be DeepSeek
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert cer(choice["text"], "\n".join(LINES)) < 0.05
    assert "result_image_base64" not in body
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert requests_used(user) == 1
    assert response["X-RateLimit-Limit"] == "1000"
    assert response["X-RateLimit-Remaining"] == "999"
    assert Job.objects.count() == 0  # synchronous: no job row


def test_data_url_and_return_image(bearer):
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    response = _post(bearer, {"image": data_url, "return_image": True})
    assert response.status_code == 200, response.content
    annotated = Image.open(io.BytesIO(base64.b64decode(response.json()["result_image_base64"])))
    assert annotated.format == "PNG"
    assert annotated.size == render_lines(LINES).size
    # Boxes were drawn: the annotated image differs from the input where the text lines are.
    original = render_lines(LINES)
    assert annotated.convert("RGB").tobytes() != original.tobytes()


def test_a_pdf_gives_every_page_text(bearer):
    data = pdf_bytes([["First page says hello"], ["Second page says goodbye"]])
    response = _post(bearer, {"image": base64.b64encode(data).decode(), "image_type": "base64"})
    text = response.json()["choices"][0]["text"]
    assert "hello" in text.lower()
    assert "goodbye" in text.lower()
    assert text.lower().index("hello") < text.lower().index("goodbye")


def test_models_list(bearer, settings):
    body = bearer.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["rapidocr-ppocrv6", "deepseek-ocr"]
    assert body["data"][0]["object"] == "model"
    settings.DEEPREAD_MODEL_STRICT = True
    assert [m["id"] for m in bearer.get("/v1/models").json()["data"]] == ["rapidocr-ppocrv6"]
    settings.DEEPREAD_MODEL_ALIASES = ["deepseek-ocr", "ocr-large"]
    assert [m["id"] for m in bearer.get("/v1/models").json()["data"]] == [
        "rapidocr-ppocrv6", "deepseek-ocr", "ocr-large"
    ]  # fmt: skip


@pytest.mark.parametrize("model", [None, "rapidocr-ppocrv6", "deepseek-ocr"])
def test_the_seed_model_name_runs_the_serving_engine_and_says_so(bearer, user, model):
    body = {"image": base64.b64encode(png_bytes()).decode(), "image_type": "base64"}
    response = _post(bearer, body if model is None else {**body, "model": model})
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "rapidocr-ppocrv6"
    assert cer(response.json()["choices"][0]["text"], "\n".join(LINES)) < 0.05
    assert requests_used(user) == 1


def test_strict_mode_refuses_the_seed_name_unless_mapped(bearer, user, settings):
    settings.DEEPREAD_MODEL_STRICT = True
    body = {"image": base64.b64encode(png_bytes()).decode(), "image_type": "base64", "model": "deepseek-ocr"}
    response = _post(bearer, body)
    assert response.status_code == 404
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("model_not_found", "model")
    assert requests_used(user) == 0
    settings.DEEPREAD_MODEL_ALIASES = ["deepseek-ocr"]
    response = _post(bearer, body)
    assert response.status_code == 200
    assert response.json()["model"] == "rapidocr-ppocrv6"
    assert requests_used(user) == 1


@pytest.mark.parametrize(
    ("image", "image_type", "code"),
    [
        ("not base64 at all!", "base64", "invalid_base64_format"),
        ("file:///etc/passwd", "url", "invalid_url_protocol"),
        (base64.b64encode(b"plain text").decode(), "base64", "unsupported_image_format"),
    ],
)
def test_a_bad_image_gets_its_own_error_before_the_model_name(bearer, user, settings, image, image_type, code):
    settings.DEEPREAD_MODEL_STRICT = True
    response = _post(bearer, {"image": image, "image_type": image_type, "model": "gpt-4o"})
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, "image")
    assert requests_used(user) == 0


B64 = base64.b64encode(png_bytes(["x"])).decode()
BAD_REQUESTS = [
    ({}, 400, "parameter_missing", "image"),
    ({"image": ""}, 400, "parameter_missing", "image"),
    ({"image": 42}, 400, "invalid_parameter_type", "image"),
    ({"image": B64, "image_type": "base64", "return_image": "yes"}, 400, "invalid_parameter_type", "return_image"),
    ({"image": B64, "image_type": ["base64"]}, 400, "invalid_parameter_type", "image_type"),
    ({"image": B64, "image_type": "jpeg"}, 400, "invalid_parameter", "image_type"),
    ({"image": B64, "image_type": "base64", "temperature": 0}, 400, "invalid_parameter", "temperature"),
    ({"image": B64, "image_type": "base64", "model": "gpt-4o"}, 404, "model_not_found", "model"),
    ({"image": B64, "image_type": "base64", "model": "deepseek-ocr-2"}, 404, "model_not_found", "model"),
    ({"image": B64, "image_type": "base64", "mode": "formula"}, 400, "unsupported_capability", "mode"),
    ({"image": B64, "image_type": "base64", "mode": "nonexistent"}, 400, "invalid_parameter", "mode"),
    ({"image": "ht!tp://[broken"}, 400, "invalid_url_format", "image"),
    ({"image": "example.com/a.png"}, 400, "invalid_url_format", "image"),
    ({"image": "file:///etc/passwd"}, 400, "invalid_url_protocol", "image"),
    ({"image": "gopher://127.0.0.1/"}, 400, "invalid_url_protocol", "image"),
    ({"image": "http://127.0.0.1:9/a.png"}, 400, "image_fetch_failed", "image"),
    ({"image": "http://169.254.169.254/latest/meta-data/"}, 400, "image_fetch_failed", "image"),
    ({"image": "not base64 at all!", "image_type": "base64"}, 400, "invalid_base64_format", "image"),
    ({"image": "data:image/png,notbase64"}, 400, "invalid_base64_format", "image"),
    ({"image": "data:image/png;base64,%%%"}, 400, "invalid_base64_format", "image"),
    ({"image": base64.b64encode(b"plain text, not an image").decode(), "image_type": "base64"}, 400,
     "unsupported_image_format", "image"),
    ({"image": base64.b64encode(png_bytes()[:200]).decode(), "image_type": "base64"}, 400,
     "unsupported_image_format", "image"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "code", "param"), BAD_REQUESTS)
def test_every_error_has_its_code_status_and_param_and_spends_nothing(bearer, user, body, status, code, param):
    response = _post(bearer, body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert "Traceback" not in response.content.decode()
    assert requests_used(user) == 0


def test_a_decompression_bomb_is_too_large_and_spends_nothing(bearer, user):
    from tests.inference.test_documents import _png_header_only

    data = _png_header_only(50_000, 50_000)
    response = _post(bearer, {"image": base64.b64encode(data).decode(), "image_type": "base64"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "image_too_large"
    assert requests_used(user) == 0


def test_too_many_pdf_pages_is_too_large(bearer, user, settings):
    settings.DEEPREAD_SYNC_MAX_PAGES = 2
    data = pdf_bytes([["a"], ["b"], ["c"]])
    response = _post(bearer, {"image": base64.b64encode(data).decode(), "image_type": "base64"})
    assert response.status_code == 413
    assert "3 pages; the limit is 2" in response.json()["error"]["message"]
    assert requests_used(user) == 0


def test_a_body_past_the_cap_is_refused_while_reading(bearer, user, settings):
    settings.DEEPREAD_SYNC_MAX_BODY_BYTES = 2048
    response = _post(bearer, {"image": "A" * 5000, "image_type": "base64"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "image_too_large"
    assert requests_used(user) == 0


def test_malformed_json_and_wrong_body_type(bearer, user):
    response = bearer.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    response = _post(bearer, ["image"])
    assert response.json()["error"]["code"] == "invalid_parameter_type"
    assert requests_used(user) == 0


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer ocr_wrong"}, {"HTTP_X_API_KEY": "nope"}])
def test_missing_or_wrong_key_is_401_invalid_api_key(client, db, headers):
    response = client.post(URL, {"image": B64, "image_type": "base64"}, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.json()["error"]["type"] == "authentication_error"
    assert client.get("/v1/models", **headers).status_code == 401


def test_x_api_key_works_too(client, api_key):
    response = client.post(
        URL, {"image": B64, "image_type": "base64"}, content_type="application/json", HTTP_X_API_KEY=api_key[1]
    )
    assert response.status_code == 200


def test_past_the_monthly_limit_is_403_quota_exceeded(bearer, user):
    MonthlyUsage.objects.create(user=user, month=month_start(timezone.now()), used=1000)
    response = _post(bearer, {"image": B64, "image_type": "base64"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "quota_exceeded"
    assert response["X-RateLimit-Remaining"] == "0"
    assert requests_used(user) == 1000


def test_burst_limit_is_429_rate_limit_exceeded(bearer, settings):
    settings.DEEPREAD_BURST_PER_MINUTE = 1
    assert bearer.get("/v1/models").status_code == 200
    response = bearer.get("/v1/models")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(response["Retry-After"]) >= 1


def test_while_the_engine_loads_it_answers_503_with_retry_after_and_spends_nothing(bearer, user, monkeypatch):
    monkeypatch.setattr(ocr_services, "_runner", None)
    monkeypatch.setattr(ocr_services, "warm_in_background", lambda: None)
    response = _post(bearer, {"image": B64, "image_type": "base64"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "engine_unavailable"
    assert response["Retry-After"] == "5"
    assert requests_used(user) == 0


def test_an_unknown_v1_path_is_an_openai_404(bearer):
    response = bearer.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_endpoints_are_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/v1/ocr" in schema["paths"]
    assert "/v1/models" in schema["paths"]


def test_an_image_bigger_than_the_engine_sees_is_still_annotated_at_its_own_size(bearer):
    image = render_lines(["Wide page"], width=2400)
    response = _post(bearer, {"image": base64.b64encode(encode(image, "JPEG")).decode(), "image_type": "base64",
                              "return_image": True})  # fmt: skip
    annotated = Image.open(io.BytesIO(base64.b64decode(response.json()["result_image_base64"])))
    assert annotated.size == image.size
