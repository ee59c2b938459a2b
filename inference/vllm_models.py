"""The DeepSeek-OCR models DeepRead can use over vLLM, in one table: prompts, n-gram settings, vLLM pins.

Sources, checked for each value:
- vllm-project/recipes `DeepSeek/DeepSeek-OCR.md`, `DeepSeek-OCR-2.md`: the request shape, `vllm_xargs`
  `ngram_size` 30, `window_size` 90, `whitelist_token_ids` [128821, 128822] (`<td>`, `</td>`), the logits processor
  `vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor` for both models (OCR 2 reuses its import
  path), `--no-enable-prefix-caching --mm-processor-cache-gb 0`.
- deepseek-ai/DeepSeek-OCR-2: the two official prompts (`<|grounding|>Convert the document to markdown.` and
  `Free OCR.`), the vision budget (0–6 local 768-pixel crops × 144 tokens + a 1024-pixel global view of 256 = at most
  1,120 tokens), and the PDF path's tighter n-gram setting (`ngram_size` 20, `window_size` 50).
- vLLM: `DeepseekOCR2ForCausalLM` arrives with vllm#33165 (merged January 2026, after 0.14.x); vllm#28617 (merged
  2025-11-13, in 0.12.0, the recipes' `min_vllm_version`) made the n-gram processor apply at temperature 0; before
  it the processor was skipped on the greedy path. Releases that default to model runner V2 refuse V1-style logits
  processors (vllm#56497); `VLLM_USE_V2_MODEL_RUNNER=0` keeps the V1 runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The n-gram processor's import path, the same for both models.
LOGITS_PROCESSOR = "vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor"
#: Set on the vLLM server's environment: keeps the V1 model runner, whose loader takes the processor.
OLD_RUNNER_ENV = {"VLLM_USE_V2_MODEL_RUNNER": "0"}
WHITELIST = (128821, 128822)  # <td>, </td>
FREE_OCR = "Free OCR."
GROUNDING_MARKDOWN = "<|grounding|>Convert the document to markdown."


@dataclass(frozen=True)
class NGram:
    """`vllm_xargs` for the n-gram processor: tokens banned when they would repeat an `ngram_size`-gram seen in the
    last `window_size` tokens (table cells exempt)."""

    ngram_size: int
    window_size: int
    whitelist_token_ids: tuple[int, ...] = WHITELIST

    def xargs(self) -> dict[str, object]:
        """The n-gram repetition guard's settings as vLLM's `vllm_xargs` request field."""
        return {
            "ngram_size": self.ngram_size,
            "window_size": self.window_size,
            "whitelist_token_ids": list(self.whitelist_token_ids),
        }


@dataclass(frozen=True)
class ModelProfile:
    """One servable model. `prompts` maps a built-in DeepSeek-OCR prompt to this model's own (a model with fewer
    official prompts gets the nearest one); prompts not in the map (custom modes) go as they are."""

    name: str
    architecture: str
    max_vision_tokens: int
    ngram: NGram
    ngram_tight: NGram
    plain_prompt: str
    min_vllm: tuple[int, ...]
    pin: str
    prompts: dict[str, str] = field(default_factory=dict)

    def prompt_for(self, prompt: str) -> str:
        """The model's own wording of a known prompt (DeepSeek-OCR 2 differs from DeepSeek-OCR), else `prompt`
        unchanged.
        """
        return self.prompts.get(prompt, prompt)


MODELS: dict[str, ModelProfile] = {
    p.name: p
    for p in (
        ModelProfile(
            name="deepseek-ai/DeepSeek-OCR",
            architecture="DeepseekOCRForCausalLM",
            max_vision_tokens=273 + 6 * 100 + 30,  # global 1024 view + up to 6 crops of 640 (fake_vllm models it)
            ngram=NGram(30, 90),
            ngram_tight=NGram(20, 50),
            plain_prompt=FREE_OCR,
            min_vllm=(0, 12, 0),
            pin="vllm==0.12.0",
        ),
        ModelProfile(
            name="deepseek-ai/DeepSeek-OCR-2",
            architecture="DeepseekOCR2ForCausalLM",
            max_vision_tokens=256 + 6 * 144,  # 1,120
            ngram=NGram(30, 90),
            ngram_tight=NGram(20, 50),
            plain_prompt=FREE_OCR,
            min_vllm=(0, 15, 0),
            pin="vllm==0.15.1",
            # DeepSeek-OCR 2 has two official prompts; the built-in ones of DeepSeek-OCR map to the nearest.
            prompts={
                "<|grounding|>OCR this image.": GROUNDING_MARKDOWN,
                "Parse the figure.": GROUNDING_MARKDOWN,
            },
        ),
    )
}
DEFAULT_MODEL = "deepseek-ai/DeepSeek-OCR"


#: A page read at the model's 1024-pixel global view holds at most one legible glyph per ~7×12 pixels; with the
#: grounding tags a character costs about half a token. Retries of a looping page ask for no more than that.
PX_PER_TOKEN = 7 * 12 * 2
MIN_RETRY_TOKENS = 512


def page_token_cap(width: int, height: int) -> int:
    """The most completion tokens a page of `width`×`height` pixels could need: the page scaled to the model's
    1024-pixel view, divided by the pixels one token's worth of text takes. At least MIN_RETRY_TOKENS."""
    scale = 1024 / max(width, height, 1)
    return max(MIN_RETRY_TOKENS, int(width * scale * height * scale / PX_PER_TOKEN))


def profile_for(model: str) -> ModelProfile:
    """The profile of a served model name. A name not in the table (a `--served-model-name` alias) is treated as
    the model whose name it ends with, else as DeepSeek-OCR."""
    if model in MODELS:
        return MODELS[model]
    lowered = model.lower()
    if "ocr-2" in lowered or "ocr2" in lowered:
        return MODELS["deepseek-ai/DeepSeek-OCR-2"]
    return MODELS[DEFAULT_MODEL]


def parse_version(text: str) -> tuple[int, ...] | None:
    """`0.12.0`, `0.15.1rc2.dev3+g1234` → (0, 12, 0), (0, 15, 1); None when it is not a version."""
    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    return tuple(int(g) for g in match.groups(default="0"))


@dataclass(frozen=True)
class GuardVerdict:
    """Whether a vLLM server's release and setup keep the n-gram repetition guard working, with the problems found."""

    ok: bool
    version: str
    problems: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """One line for the deploy check: OK with the vLLM version, or the problems found."""
        if self.ok:
            return f"vLLM {self.version}: the n-gram repetition guard is active."
        return " ".join(self.problems)


def judge_server(*, model: str, version: str | None, probe_refused: bool | None) -> GuardVerdict:
    """Decide whether a server may be sent work. `version` is `/version`'s answer (None: not answered);
    `probe_refused` says whether a request with an invalid `ngram_size` was refused by the n-gram processor's own
    validation (True: the processor is loaded; False: accepted, so the guard is not there; None: not probed).

    Known-bad combinations: a release older than the model's minimum (before vllm#28617 the guard was skipped at
    temperature 0; before vllm#33165 there is no DeepSeek-OCR 2), and any server that accepts the probe (started
    without `--logits-processors`, or a model runner whose loader dropped the V1-style processor)."""
    profile = profile_for(model)
    problems = []
    parsed = parse_version(version or "")
    if parsed is None:
        problems.append(
            "The vLLM server did not say its version on /version, so DeepRead cannot tell whether the n-gram "
            "repetition guard works there."
        )
    elif parsed < profile.min_vllm:
        need = ".".join(map(str, profile.min_vllm))
        problems.append(
            f"The vLLM server runs {version}; {profile.name} needs vLLM {need} or later ({profile.pin} is the "
            "tested pin): older releases skip the n-gram repetition guard at temperature 0 (fixed by vllm#28617)"
            + (" and do not know DeepseekOCR2ForCausalLM." if profile.min_vllm > (0, 12, 0) else ".")
        )
    if probe_refused is False:
        problems.append(
            "The vLLM server accepted a request with an invalid n-gram setting, so its n-gram repetition guard is "
            f"not loaded: start it with `--logits-processors {LOGITS_PROCESSOR}` (manage.py serve_vllm does), and "
            "with VLLM_USE_V2_MODEL_RUNNER=0 on releases whose new model runner refuses V1-style logits processors."
        )
    if problems:
        problems.append("DeepRead sends no pages to this server until it is fixed; the worker checks again.")
    return GuardVerdict(ok=not problems, version=version or "unknown", problems=tuple(problems))
