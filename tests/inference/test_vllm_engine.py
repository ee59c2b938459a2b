"""The DeepSeek-OCR client against the fake vLLM server: a real HTTP server, no mocks."""

import base64
import io
import logging
import threading
import time

import httpx
import pytest
from PIL import Image, ImageDraw

from devtools.fake_vllm import HANG, FakeVllm
from devtools.fake_vllm_answers import image_tokens
from devtools.samples import render_lines
from devtools.stack import free_port
from inference.base import EngineUnavailable, ModeSpec
from inference.images import EncodedImage, encode
from inference.vllm_client import ReplicaPool, TerminalRequestError
from inference.vllm_engine import VllmEngine
from modes.builtin import BUILTIN_MODES

MODES = dict(BUILTIN_MODES)


def _engine(*urls: str, **options) -> VllmEngine:
    return VllmEngine(base_urls=list(urls), backoff_s=0.01, cooldown_s=30, **options)


def _marked(color: tuple[int, int, int]) -> Image.Image:
    image = render_lines(["A page that loops"])
    ImageDraw.Draw(image).rectangle((0, 0, 7, 7), fill=color)
    return image


def test_the_request_leaves_the_client_exactly_as_designed(fake_vllm):
    image = render_lines(["exact body"])
    engine = _engine(fake_vllm.base_url, max_tokens=7000)
    payload = encode(image, "png")
    engine.complete(prompt=MODES["ocr"].prompt, image=payload)
    (body,) = fake_vllm.requests
    assert set(body) == {"model", "messages", "temperature", "max_tokens", "skip_special_tokens", "vllm_xargs"}
    assert body["model"] == "deepseek-ai/DeepSeek-OCR"
    assert body["temperature"] == 0
    assert body["max_tokens"] == 7000
    assert body["skip_special_tokens"] is False
    assert body["vllm_xargs"] == {"ngram_size": 30, "window_size": 90, "whitelist_token_ids": [128821, 128822]}
    (message,) = body["messages"]  # no system message
    assert message["role"] == "user"
    image_part, text_part = message["content"]  # the image first, then the prompt
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(payload.data).decode()
    assert text_part == {"type": "text", "text": "<|grounding|>OCR this image."}


def test_an_uploaded_png_goes_through_unchanged(fake_vllm):
    image = render_lines(["pass through"])
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    engine = _engine(fake_vllm.base_url)
    engine.recognize(image, MODES["ocr"], source=EncodedImage(buf.getvalue(), "image/png"))
    url = fake_vllm.requests[0]["messages"][0]["content"][0]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == buf.getvalue()


def test_document_mode_gives_blocks_pixel_boxes_markdown_and_real_token_usage(fake_vllm):
    image = render_lines(["doc"], width=1998)
    page = _engine(fake_vllm.base_url).recognize(image, MODES["document"])
    assert page.blocks[0].type == "title"
    assert page.blocks[0].bbox[0] == round(73 * 1998 / 999)
    assert page.text.startswith("# Quarterly Report 2025")
    expected_prompt = image_tokens(*image.size) + 4 + 15  # image tokens + template + the prompt's tokens
    assert page.usage.prompt_tokens == expected_prompt
    assert page.usage.completion_tokens > 100
    assert page.finish_reason == "stop"


@pytest.mark.parametrize(
    ("mode", "key"),
    [("table", "tables"), ("formula", "formulas"), ("chart", "chart")],
)
def test_structured_modes_carry_their_data(fake_vllm, mode, key):
    page = _engine(fake_vllm.base_url).recognize(render_lines(["x"]), MODES[mode])
    data = page.extra[key]
    if mode == "table":
        assert data[0]["rows"][0] == ["Region", "Revenue", "Revenue"]
        assert data[0]["html"].startswith("<table>")
    elif mode == "formula":
        assert [f["display"] for f in data] == [False, True]
    else:
        assert data["columns"] == ["Month", "Revenue", "Costs"]


def test_a_repetition_loop_climbs_the_ladder_to_free_ocr(fake_vllm):
    page = _engine(fake_vllm.base_url).recognize(_marked((255, 0, 255)), MODES["document"])
    prompts = [r["messages"][0]["content"][1]["text"] for r in fake_vllm.requests]
    assert prompts == ["<|grounding|>Convert the document to markdown."] * 2 + ["Free OCR."]
    assert page.error is None
    assert page.extra["recovered_by"] == "plain_prompt"
    assert page.text.startswith("Quarterly Report 2025")
    assert page.usage.completion_tokens > 7000  # both attempts were really spent


def test_a_page_looping_at_every_step_fails_only_that_page_and_says_so(fake_vllm):
    page = _engine(fake_vllm.base_url, cpu_fallback=False).recognize(_marked((0, 255, 255)), MODES["ocr"])
    assert page.finish_reason == "length"
    assert "repetition loop" in page.error
    assert page.text == ""
    assert page.as_dict(3)["error"] == page.error
    assert len(fake_vllm.requests) == 3


def test_a_500_that_recovers_is_retried(fake_vllm):
    fake_vllm.faults.extend([500, 503])
    page = _engine(fake_vllm.base_url).recognize(render_lines(["x"]), MODES["ocr"])
    assert page.text.startswith("Quarterly Report 2025")
    assert fake_vllm.stats()["received"] == 3


def test_429_is_retried_too(fake_vllm):
    fake_vllm.faults.extend([429])
    _engine(fake_vllm.base_url).recognize(render_lines(["x"]), MODES["ocr"])
    assert fake_vllm.stats()["received"] == 2


def test_a_400_is_terminal_and_not_retried(fake_vllm):
    engine = _engine(fake_vllm.base_url, max_tokens=8100)  # past the context with the image's tokens
    with pytest.raises(TerminalRequestError, match="maximum context length is 8192"):
        engine.recognize(render_lines(["x"]), MODES["ocr"])
    assert fake_vllm.stats()["received"] == 1
    assert fake_vllm.stats()["served"] == 0


def test_persistent_5xx_gives_a_retryable_unavailable_error(fake_vllm):
    fake_vllm.faults.extend([500] * 3)
    engine = _engine(fake_vllm.base_url, retries=2)
    with pytest.raises(EngineUnavailable, match="did not answer after 3 tries") as info:
        engine.recognize(render_lines(["x"]), MODES["ocr"])
    assert info.value.retryable
    assert "(HTTP 500)" in info.value.message
    assert "127.0.0.1" not in info.value.message  # the job's owner sees this; the replica's address is logged only


def test_a_server_that_hangs_past_the_read_timeout_is_retried_then_unavailable(fake_vllm):
    fake_vllm.hang_s = 1.0
    fake_vllm.faults.extend([HANG, HANG])
    engine = _engine(fake_vllm.base_url, retries=1, read_timeout_s=0.3)
    with pytest.raises(EngineUnavailable, match=r"did not answer after 2 tries \(timed out\)") as info:
        engine.recognize(render_lines(["x"]), MODES["ocr"])
    assert info.value.retryable
    assert fake_vllm.stats()["received"] == 2
    fake_vllm.faults.append(HANG)
    assert engine.recognize(render_lines(["once"]), MODES["ocr"]).text  # one hang, then an answer


def test_a_replica_that_is_down_is_skipped_for_a_while(fake_vllm):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    engine = _engine(dead, fake_vllm.base_url)
    for _ in range(5):
        engine.recognize(render_lines(["x"]), MODES["ocr"])
    assert fake_vllm.stats()["served"] == 5
    dead_replica, live = engine.pool.replicas
    assert dead_replica.failures == 1  # tried once, then left alone during its cool-down
    assert live.failures == 0


def test_replicas_are_chosen_least_in_flight_first_and_come_back_after_cooldown():
    now = [0.0]
    pool = ReplicaPool.of(["http://a/v1", "http://b/v1", "http://c/v1"], cooldown_s=10)
    pool.clock = lambda: now[0]
    a = pool.acquire()
    b = pool.acquire()
    c = pool.acquire()
    assert {a.base_url, b.base_url, c.base_url} == {"http://a/v1", "http://b/v1", "http://c/v1"}
    pool.release(b, ok=True)
    assert pool.acquire() is b  # the only one with nothing in flight
    pool.release(a, ok=False)  # a failed: out for 10 s even though it is now idle
    assert pool.acquire() is not a
    now[0] = 11.0
    assert pool.acquire() is a


def test_in_flight_requests_are_bounded(fake_vllm):
    """10 callers, a bound of 3: the server holds every request, so exactly 3 arrive and wait there together (the
    bound is reached, whatever the machine's speed); a 4th arrives only after one is answered."""
    fake_vllm.hold()
    engine = _engine(fake_vllm.base_url, max_inflight=3)
    image = render_lines(["bounded"])
    threads = [threading.Thread(target=engine.recognize, args=(image, MODES["ocr"])) for _ in range(10)]
    for thread in threads:
        thread.start()
    assert fake_vllm.wait_arrived(3, timeout=60)
    time.sleep(0.5)  # a chance for a 4th to slip past the bound (a slow machine only hides a bug, never fails)
    assert fake_vllm.stats()["arrived"] == 3
    fake_vllm.release()
    for thread in threads:
        thread.join()
    assert fake_vllm.stats()["served"] == 10
    assert fake_vllm.stats()["max_inflight"] <= 3


def test_the_fake_rejects_what_vllm_rejects(fake_vllm):
    engine = _engine(fake_vllm.base_url)
    from inference.vllm_client import request_body

    good = request_body(
        model="deepseek-ai/DeepSeek-OCR", prompt="Free OCR.", image=encode(render_lines(["x"])), max_tokens=100
    )
    url = f"{fake_vllm.base_url}/chat/completions"
    assert httpx.post(url, json=good).status_code == 200
    bad_cases = {
        "ngram_size zero": {**good, "vllm_xargs": {**good["vllm_xargs"], "ngram_size": 0}},
        "window_size float": {**good, "vllm_xargs": {**good["vllm_xargs"], "window_size": 9.5}},
        "whitelist strings": {**good, "vllm_xargs": {**good["vllm_xargs"], "whitelist_token_ids": ["td"]}},
        "xargs nested object": {**good, "vllm_xargs": {"ngram_size": {"n": 30}}},
        "max_tokens past context": {**good, "max_tokens": 8192},
        "max_tokens a string": {**good, "max_tokens": "7000"},
        "no image": {**good, "messages": [{"role": "user", "content": "Free OCR."}]},
        "broken image": {
            **good,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        {"type": "text", "text": "x"},
                    ],
                }
            ],
        },
    }
    for name, body in bad_cases.items():
        response = httpx.post(url, json=body)
        assert response.status_code == 400, name
        assert response.json()["error"]["type"] == "BadRequestError", name
    assert httpx.post(url, json={**good, "model": "gpt-4o"}).status_code == 404
    assert fake_vllm.stats()["served"] == 1  # only the good request reached the model
    engine.close()


def test_waiting_for_a_cold_starting_server(caplog):
    port = free_port()
    engine = _engine(f"http://127.0.0.1:{port}/v1")
    holder = {}

    def start_later():
        time.sleep(1.0)
        holder["fake"] = FakeVllm(port=port).start()

    threading.Thread(target=start_later).start()
    with caplog.at_level(logging.WARNING, logger="inference.vllm_client"):
        assert engine.wait_until_ready(timeout_s=15, poll_s=0.2)
    assert "cold-starting" in caplog.text
    holder["fake"].stop()


def test_a_server_that_never_comes_up_is_reported_not_ready():
    engine = _engine(f"http://127.0.0.1:{free_port()}/v1")
    assert engine.wait_until_ready(timeout_s=0.5, poll_s=0.1) is False


def test_a_server_serving_another_model_is_not_ready():
    fake = FakeVllm(model="someone/else").start()
    try:
        assert _engine(fake.base_url).wait_until_ready(timeout_s=0.3, poll_s=0.1) is False
    finally:
        fake.stop()


def test_every_builtin_mode_is_accepted_by_the_fake(fake_vllm):
    engine = _engine(fake_vllm.base_url)
    for mode in BUILTIN_MODES.values():
        spec = ModeSpec(mode.name, mode.display_name, "", mode.prompt, mode.output_kind)
        assert engine.recognize(render_lines(["x"]), spec).text
