"""Result HTML cannot take over the page (issue 11, item 1): model output that tries to carry live htmx attributes or
event handlers, in every place DeepSeek-OCR puts text and in every mode, is served inert, in the viewer and in the
mode preview; the viewer's result region carries `hx-disable`; printed placeholder text is not a 500."""

from __future__ import annotations

import re

import pytest

from accounts.models import MonthlyUsage
from core.rendering import markdown_html
from devtools.samples import encode, png_bytes, render_lines
from modes.builtin import BUILTIN_MODES
from ocr import services as ocr_services
from ocrjobs import processing, services
from ocrjobs.models import Job, JobStatus
from tests.result_payloads import VARIANTS, HostileVllm, active_attributes, inspect_region

CONTEXTS = {
    "text": "{v}",
    "html table cell": "<table><tr><td>Head</td></tr><tr><td>{v}</td></tr></table>",
    "pipe table cell": "| Head | B |\n|---|---|\n| {v} | c |",
    "caption": "<center>{v}</center>",
    "display formula": "\\[ {v} \\]",
    "inline formula": "a \\( {v} \\) b",
    "chart title": "{v}\n\n<table><tr><td>Month</td></tr><tr><td>Jan</td></tr></table>",
    "list item": "- {v}\n- two",
    "heading": "# {v}",
}


def _attributes(markup: str) -> list[tuple[str, str]]:
    region = inspect_region(f'<div class="r">{markup}</div>', "r")
    return [(tag, name) for tag, name, _ in region.attributes]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_no_markdown_gives_an_attribute_outside_the_allow_list(variant, context):
    text = CONTEXTS[context].format(v=variant)
    markup = markdown_html(text, images="/jobs/j/artifacts/")
    allowed = {("td", "rowspan"), ("td", "colspan"), ("th", "rowspan"), ("th", "colspan"), ("img", "src"),
               ("img", "alt"), ("a", "href"), ("a", "rel")}  # fmt: skip
    assert set(_attributes(markup)) <= allowed, markup
    # Images are this job's figures only: not another URL of this site, not another site.
    assert "/upload/ticket" not in re.findall(r'src="([^"]*)"', markup)
    assert "elsewhere.example" not in " ".join(re.findall(r'src="([^"]*)"', markup))


def test_the_reported_payload_is_an_inert_alt_text():
    markup = markdown_html(r'![\(x" hx-post="/upload/ticket" hx-trigger="load, every 2s" hx-swap="none" \)](a.png)')
    assert markup == (
        '<p><img alt="\\(x&quot; hx-post=&quot;/upload/ticket&quot; hx-trigger=&quot;load, every 2s&quot; '
        'hx-swap=&quot;none&quot; \\)"></p>\n'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DEEPREADMATH3X", "<p>DEEPREADMATH3X</p>\n"),
        ("DEEPREADMATH0X \\(a<b\\)", "<p>DEEPREADMATH0X \\(a&lt;b\\)</p>\n"),
        ("\\[ x \\] DEEPREADMATH1X", "<p>\\[ x \\] DEEPREADMATH1X</p>\n"),
    ],
)
def test_printed_placeholder_text_stays_text(text, expected):
    assert markdown_html(text) == expected


def test_maths_keeps_its_backslashes_and_is_escaped():
    assert markdown_html("Costs \\(C < 4.2\\) and \\[\\frac{a}{b}\\]") == (
        "<p>Costs \\(C &lt; 4.2\\) and \\[\\frac{a}{b}\\]</p>\n"
    )


# --- through the real pipeline: the fake vLLM server answers with the payloads, for every mode ---------------------
@pytest.fixture
def hostile_vllm(settings):
    fake = HostileVllm(capacity=8, latency=0.0).start()
    settings.DEEPREAD_ENGINE = "vllm"
    settings.VLLM_BASE_URLS = [fake.base_url]
    settings.DEEPREAD_VLLM_BACKOFF_S = 0.01
    yield fake
    fake.stop()


def _region_is_inert(page: str, marker: str) -> None:
    region = inspect_region(page, marker)
    assert region.containers, f"no .{marker} region in the page"
    for container in region.containers:
        assert "hx-disable" in container, container
    assert active_attributes(region) == []
    # The payload did reach the page (as text or an alt text), so this is not passing on an empty result.
    seen = " ".join(region.text) + " ".join(v or "" for _, _, v in region.attributes)
    assert 'hx-post="/upload/ticket"' in seen


@pytest.mark.parametrize("mode", list(BUILTIN_MODES))
def test_the_viewer_serves_hostile_output_inert_in_every_mode(client, me, hostile_vllm, mode):
    ticket = services.job_create(user=me, mode=mode, filename="p.png", content_type="image/png", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename="p.png", data=png_bytes(["A hostile page"]))
    job = processing.job_run(job_id=ticket.job.id)
    assert job.status == JobStatus.COMPLETED, job.error
    response = client.get(f"/jobs/{job.id}/")
    assert response.status_code == 200
    page = response.content.decode()
    _region_is_inert(page, "viewer")
    assert len(hostile_vllm.requests) == 1


@pytest.mark.parametrize("mode", list(BUILTIN_MODES))
def test_the_mode_preview_serves_hostile_output_inert(client, me, hostile_vllm, monkeypatch, mode):
    from inference.vllm_engine import VllmEngine

    engine = VllmEngine(base_urls=[hostile_vllm.base_url], backoff_s=0.01)
    monkeypatch.setattr(ocr_services, "_runner", ocr_services.InThreadRunner(engine))
    spec = BUILTIN_MODES[mode]
    response = client.post(
        "/modes/preview",
        {"prompt": spec.prompt, "output_kind": spec.output_kind, "sample": _sample()},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content
    _region_is_inert(response.content.decode(), "preview-output")
    assert Job.objects.count() == 0
    assert MonthlyUsage.objects.filter(user=me).count() == 0


def _sample():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("s.png", encode(render_lines(["A hostile sample"])), content_type="image/png")


def test_a_result_that_prints_the_old_placeholder_opens(client, me):
    from tests.dashboard.test_views import _completed_job

    job = _completed_job(me, text="DEEPREADMATH3X and DEEPREADMATH0X", mode="document")
    response = client.get(f"/jobs/{job.id}/")
    assert response.status_code == 200
    assert b"<p>DEEPREADMATH3X and DEEPREADMATH0X</p>" in response.content


def test_the_jobs_own_figures_still_show_and_nothing_else_does(client, me):
    from tests.dashboard.test_views import _completed_job

    text = "![figure 1](page-1-image-1.png) ![x](/upload/ticket) ![y](/jobs/) ![z](data:image/png;base64,AAAA)"
    job = _completed_job(me, text=text, mode="document")
    page = client.get(f"/jobs/{job.id}/").content.decode()
    region = inspect_region(page, "rendered")
    sources = [v for tag, name, v in region.attributes if tag == "img" and name == "src"]
    assert sources == [f"/jobs/{job.id}/files/page-1-image-1.png"]
