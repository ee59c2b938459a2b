"""The synchronous OCR API (POST /v1/ocr): model names and admission of concurrent calls."""

from __future__ import annotations

import time

from core.env import env_bool, env_float, env_int, env_list, env_str

DEEPREAD_STARTED_AT = time.time()
DEEPREAD_MODEL_ALIASES = env_list("DEEPREAD_MODEL_ALIASES")  # more names for the served model
# By default `deepseek-ocr` (the name every documented client sends) resolves to whichever engine serves; strict
# mode accepts only the served model's own name and DEEPREAD_MODEL_ALIASES.
DEEPREAD_MODEL_STRICT = env_bool("DEEPREAD_MODEL_STRICT", False)
DEEPREAD_SYNC_WARM = env_bool("DEEPREAD_SYNC_WARM", True)  # load the engine when a web process starts
DEEPREAD_SYNC_CONCURRENCY = env_int(
    "DEEPREAD_SYNC_CONCURRENCY", 32 if env_str("DEEPREAD_ENGINE", "rapidocr") == "vllm" else 1, minimum=1
)
# Admission for waiting callers (ocr/admission.py): SYNC_CONCURRENCY calls run the engine per web process, at most
# SYNC_QUEUE more wait for a slot, each at most SYNC_QUEUE_TIMEOUT_S; beyond that 503 engine_unavailable at once.
DEEPREAD_SYNC_QUEUE = env_int("DEEPREAD_SYNC_QUEUE", 2 * DEEPREAD_SYNC_CONCURRENCY, minimum=0)
DEEPREAD_SYNC_QUEUE_TIMEOUT_S = env_float("DEEPREAD_SYNC_QUEUE_TIMEOUT_S", 10.0)
# A /v1/ocr call's hold on its spent request: released when the call ends; one still there after this long
# belongs to a web process that died, and the scheduler's sweep refunds it (accounts/quota_holds.py).
DEEPREAD_SYNC_HOLD_S = env_float("DEEPREAD_SYNC_HOLD_S", 900.0)
DEEPREAD_SYNC_MAX_PAGES = env_int("DEEPREAD_SYNC_MAX_PAGES", 10, minimum=1)
