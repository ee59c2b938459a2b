"""Two models, the server guard and the self-healing ladder, against the fake vLLM server playing each part."""

import logging

import pytest
from django.core.management import CommandError, call_command
from PIL import Image, ImageDraw

from devtools.fake_vllm import MODEL_2, FakeVllm
from devtools.fake_vllm_answers import image_tokens_v2
from devtools.samples import render_lines
from inference.base import EngineUnavailable
from inference.vllm_engine import VllmEngine
from inference.vllm_models import MODELS, judge_server, page_token_cap, parse_version
from modes.builtin import BUILTIN_MODES

OCR1, OCR2 = "deepseek-ai/DeepSeek-OCR", "deepseek-ai/DeepSeek-OCR-2"


@pytest.fixture
def fake_factory():
    fakes = []

    def make(**options) -> FakeVllm:
        fake = FakeVllm(capacity=8, latency=0.0, **options).start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        fake.stop()


def _engine(fake: FakeVllm, **options) -> VllmEngine:
    return VllmEngine(base_urls=[fake.base_url], model=fake.model, backoff_s=0.01, retries=1, **options)


def _prompts(fake: FakeVllm) -> list[str]:
    return [r["messages"][0]["content"][1]["text"] for r in fake.requests]


def _marked(color, text="A page that loops"):
    image = render_lines([text])
    ImageDraw.Draw(image).rectangle((0, 0, 7, 7), fill=color)
    return image


# --- two models ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", sorted(BUILTIN_MODES))
def test_deepseek_ocr_2_gets_only_its_official_prompts_and_answers_every_mode(fake_factory, mode):
    fake = fake_factory(model=MODEL_2, version="0.15.1")
    page = _engine(fake).recognize(render_lines(["two"]), BUILTIN_MODES[mode])
    (prompt,) = _prompts(fake)
    assert prompt in {"<|grounding|>Convert the document to markdown.", "Free OCR."}
    assert page.text
    assert page.finish_reason == "stop"
    assert fake.requests[0]["model"] == OCR2
    assert fake.requests[0]["vllm_xargs"]["ngram_size"] == 30


@pytest.mark.parametrize("mode", sorted(BUILTIN_MODES))
def test_deepseek_ocr_keeps_each_modes_own_prompt(fake_factory, mode):
    fake = fake_factory()
    _engine(fake).recognize(render_lines(["one"]), BUILTIN_MODES[mode])
    assert _prompts(fake) == [BUILTIN_MODES[mode].prompt]


@pytest.mark.parametrize(("size", "tokens"), [((600, 600), 256), ((1000, 1400), 256 + 4 * 144), ((4000, 4000), 1120)])
def test_the_fake_counts_deepseek_ocr_2_vision_tokens_at_most_1120(fake_factory, size, tokens):
    fake = fake_factory(model=MODEL_2, version="0.15.1")
    assert image_tokens_v2(*size) == tokens
    page = _engine(fake).recognize(Image.new("RGB", size, "white"), BUILTIN_MODES["document"])
    assert page.usage.prompt_tokens == tokens + 4 + 15
    assert MODELS[OCR2].max_vision_tokens == 1120


def test_serve_vllm_serves_either_model_with_the_old_runner_kept(capsys, monkeypatch):
    monkeypatch.delenv("VLLM_USE_V2_MODEL_RUNNER", raising=False)
    for model in (OCR1, OCR2):
        call_command("serve_vllm", "--print", "--model", model)
        out = capsys.readouterr().out.split()
        assert out[0] == "VLLM_USE_V2_MODEL_RUNNER=0"
        assert out[1:4] == ["vllm", "serve", model]
        assert out[out.index("--logits_processors") + 1].endswith("deepseek_ocr:NGramPerReqLogitsProcessor")
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "1")  # the operator's own choice stands
    call_command("serve_vllm", "--print", "--model", OCR2)
    assert capsys.readouterr().out.startswith("VLLM_USE_V2_MODEL_RUNNER=1 ")


# --- the guard -------------------------------------------------------------------------------------------------
def test_versions_parse():
    assert parse_version("0.12.0") == (0, 12, 0)
    assert parse_version("0.15.1rc2.dev3+g1234") == (0, 15, 1)
    assert parse_version("v0.11") == (0, 11, 0)
    assert parse_version("nightly") is None


@pytest.mark.parametrize(
    ("model", "version", "probe", "ok"),
    [
        (OCR1, "0.12.0", True, True),
        (OCR1, "0.33.0", True, True),
        (OCR1, "0.11.0", True, False),  # before vllm#28617: the guard is skipped at temperature 0
        (OCR2, "0.14.1", True, False),  # no DeepseekOCR2ForCausalLM yet
        (OCR2, "0.15.1", True, True),
        (OCR1, "0.12.0", False, False),  # the processor is not loaded
        (OCR1, None, True, False),  # no /version: cannot tell
        (OCR1, "0.12.0", None, True),  # a probe that proves nothing does not refuse a good release
    ],
)
def test_judge_server_knows_the_bad_combinations(model, version, probe, ok):
    verdict = judge_server(model=model, version=version, probe_refused=probe)
    assert verdict.ok is ok
    if not ok:
        assert "DeepRead sends no pages" in verdict.message


def test_a_good_server_passes_the_guard_check(fake_factory):
    fake = fake_factory()
    engine = _engine(fake)
    verdict = engine.check_guard()
    assert verdict.ok
    assert verdict.version == "0.12.0"
    assert fake.requests[0]["vllm_xargs"]["ngram_size"] == 0  # the probe, refused by the processor's check
    assert engine.recognize(render_lines(["fine"]), BUILTIN_MODES["ocr"]).text


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"version": "0.11.0"}, "needs vLLM 0.12.0 or later"),
        ({"guard": False}, "not loaded"),
        ({"version": None}, "did not say its version"),
        ({"model": MODEL_2, "version": "0.14.0"}, "DeepseekOCR2ForCausalLM"),
    ],
)
def test_a_bad_server_gets_no_page_and_the_operator_is_told_why(fake_factory, caplog, options, reason):
    fake = fake_factory(**options)
    engine = _engine(fake)
    with caplog.at_level(logging.ERROR, logger="inference.vllm_engine"):
        verdict = engine.check_guard()
    assert not verdict.ok
    assert reason in verdict.message
    assert reason in caplog.text
    sent = fake.stats()["received"]
    with pytest.raises(EngineUnavailable, match="repetition guard is not active"):
        engine.recognize(render_lines(["never sent"]), BUILTIN_MODES["ocr"])
    assert fake.stats()["received"] == sent  # nothing went out


def test_a_server_fixed_later_is_used_after_the_recheck(fake_factory, monkeypatch):
    fake = fake_factory(guard=False)
    engine = _engine(fake)
    assert not engine.check_guard().ok
    fake.guard = True
    monkeypatch.setattr("inference.vllm_engine.GUARD_RECHECK_S", 0.0)
    assert engine.recognize(render_lines(["now"]), BUILTIN_MODES["ocr"]).text
    assert engine.guard.ok


def test_vllm_check_command_exits_with_the_reason(fake_factory, settings):
    fake = fake_factory(guard=False)
    settings.VLLM_BASE_URLS = [fake.base_url]
    from inference.registry import get_engine

    get_engine.cache_clear()
    with pytest.raises(CommandError, match="not loaded"):
        call_command("vllm_check")
    get_engine.cache_clear()


# --- the ladder ------------------------------------------------------------------------------------------------
def test_no_loop_means_one_request_and_nothing_recorded(fake_factory):
    fake = fake_factory()
    page = _engine(fake).recognize(render_lines(["plain"]), BUILTIN_MODES["document"])
    assert len(fake.requests) == 1
    assert "recovered_by" not in page.extra
    assert "attempts" not in page.extra


def test_one_loop_heals_with_the_tight_ngram_and_a_capped_retry(fake_factory):
    fake = fake_factory(loop_next=1)
    image = render_lines(["loops once"])
    page = _engine(fake).recognize(image, BUILTIN_MODES["document"])
    first, second = fake.requests
    assert first["vllm_xargs"]["ngram_size"] == 30
    assert first["vllm_xargs"]["window_size"] == 90
    assert second["vllm_xargs"] == {"ngram_size": 20, "window_size": 50, "whitelist_token_ids": [128821, 128822]}
    assert second["messages"][0]["content"][1]["text"] == BUILTIN_MODES["document"].prompt
    assert second["max_tokens"] == page_token_cap(*image.size) < first["max_tokens"]
    assert page.extra["recovered_by"] == "ngram_tight"
    assert [a["step"] for a in page.extra["attempts"]] == ["first", "ngram_tight"]
    assert page.error is None
    assert page.text.startswith("# Quarterly Report")
    assert page.as_dict(1)["recovered_by"] == "ngram_tight"


def test_a_page_only_the_tight_ngram_heals(fake_factory):
    fake = fake_factory()
    page = _engine(fake).recognize(_marked((255, 255, 0)), BUILTIN_MODES["ocr"])
    assert page.extra["recovered_by"] == "ngram_tight"
    assert len(fake.requests) == 2


def test_two_loops_heal_with_the_plain_prompt(fake_factory):
    fake = fake_factory(loop_next=2)
    page = _engine(fake).recognize(render_lines(["loops twice"]), BUILTIN_MODES["document"])
    assert _prompts(fake) == [BUILTIN_MODES["document"].prompt] * 2 + ["Free OCR."]
    assert page.extra["recovered_by"] == "plain_prompt"
    assert page.text.startswith("Quarterly Report 2025")
    assert page.usage.completion_tokens > 7000  # every try was really spent and counted


def test_three_loops_go_to_the_cpu_engine_for_that_page(fake_factory):
    fake = fake_factory(loop_next=3)
    page = _engine(fake).recognize(render_lines(["Invoice 2041 total 99.50"]), BUILTIN_MODES["ocr"])
    assert len(fake.requests) == 3
    assert page.extra["recovered_by"] == "cpu_engine"
    assert page.extra["engine"] == "rapidocr-ppocrv6"
    assert "Invoice 2041" in page.text
    assert page.error is None


@pytest.mark.parametrize("cpu", [False, True])
def test_a_page_that_loops_at_every_step_fails_alone_with_the_reason(fake_factory, cpu):
    fake = fake_factory(loop_next=10)
    mode = BUILTIN_MODES["chart"] if cpu else BUILTIN_MODES["ocr"]  # the CPU engine cannot do charts
    page = _engine(fake, cpu_fallback=cpu).recognize(render_lines(["stuck"]), mode)
    assert page.finish_reason == "length"
    assert page.text == ""
    assert page.blocks == []
    assert "repetition loop" in page.error
    assert "ngram_tight" in page.error
    assert "plain_prompt" in page.error
    assert "recovered_by" not in page.extra
    assert len(fake.requests) == 3
    caps = [r["max_tokens"] for r in fake.requests]
    assert caps[1] == caps[2] < caps[0]
