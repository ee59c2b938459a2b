"""The OCR engine (DEEPREAD_ENGINE: rapidocr on the CPU, or a vLLM server) and the limits on the documents it reads."""

from __future__ import annotations

from core.env import env_bool, env_choice, env_float, env_int, env_list, env_str

DEEPREAD_ENGINE = env_choice("DEEPREAD_ENGINE", "rapidocr", ["rapidocr", "vllm"])
VLLM_BASE_URL = env_str("VLLM_BASE_URL", "http://127.0.0.1:8001/v1")
# Several replicas, comma-separated; least in-flight first, and a failing one sits out a cool-down.
VLLM_BASE_URLS = env_list("VLLM_BASE_URLS") or [VLLM_BASE_URL]
# deepseek-ai/DeepSeek-OCR or deepseek-ai/DeepSeek-OCR-2 (inference/vllm_models.py has each one's prompts and pins).
VLLM_MODEL = env_str("VLLM_MODEL", "deepseek-ai/DeepSeek-OCR")
VLLM_API_KEY = env_str("VLLM_API_KEY", "")
# The bound on page requests in flight from one gpu worker process (the server batches up to its max_num_seqs).
DEEPREAD_VLLM_MAX_INFLIGHT = env_int("DEEPREAD_VLLM_MAX_INFLIGHT", 64, minimum=1)
DEEPREAD_VLLM_MAX_TOKENS = env_int("DEEPREAD_VLLM_MAX_TOKENS", 7000, minimum=16)
DEEPREAD_VLLM_CONNECT_TIMEOUT_S = env_float("DEEPREAD_VLLM_CONNECT_TIMEOUT_S", 5.0)
DEEPREAD_VLLM_READ_TIMEOUT_S = env_float("DEEPREAD_VLLM_READ_TIMEOUT_S", 300.0)
DEEPREAD_VLLM_RETRIES = env_int("DEEPREAD_VLLM_RETRIES", 4, minimum=0)
DEEPREAD_VLLM_BACKOFF_S = env_float("DEEPREAD_VLLM_BACKOFF_S", 0.5)
DEEPREAD_VLLM_COOLDOWN_S = env_float("DEEPREAD_VLLM_COOLDOWN_S", 10.0)
DEEPREAD_VLLM_PAGE_FORMAT = env_choice("DEEPREAD_VLLM_PAGE_FORMAT", "jpeg", ["jpeg", "png"])
# How long a gpu worker waits at start-up for the server to list the model before it starts taking jobs anyway.
DEEPREAD_VLLM_WAIT_S = env_float("DEEPREAD_VLLM_WAIT_S", 900.0)
# At worker start: read the server's /version and probe its n-gram guard; no page goes to a server known to drop it.
DEEPREAD_VLLM_GUARD_CHECK = env_bool("DEEPREAD_VLLM_GUARD_CHECK", True)
# Pages answered without a model request (ocrjobs/shortcuts.py); `force_ocr` on a job turns off the last two.
DEEPREAD_SKIP_BLANK = env_bool("DEEPREAD_SKIP_BLANK", True)
DEEPREAD_TEXT_LAYER = env_bool("DEEPREAD_TEXT_LAYER", True)
DEEPREAD_REUSE_RESULTS = env_bool("DEEPREAD_REUSE_RESULTS", True)
# A TrueType font for searchable-PDF text outside Latin-1 (Helvetica covers the rest); skipped if missing.
DEEPREAD_PDF_FONT = env_str("DEEPREAD_PDF_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# The last step of a looping page's ladder: the CPU engine for that page, where it is installed.
DEEPREAD_LADDER_CPU = env_bool("DEEPREAD_LADDER_CPU", True)
DEEPREAD_MAX_PIXELS = env_int("DEEPREAD_MAX_PIXELS", 60_000_000, minimum=1)
DEEPREAD_MAX_PDF_PAGES = env_int("DEEPREAD_MAX_PDF_PAGES", 100, minimum=1)
DEEPREAD_PDF_DPI = env_int("DEEPREAD_PDF_DPI", 144, minimum=36)
