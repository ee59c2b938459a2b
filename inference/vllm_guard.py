"""Reading a vLLM server before trusting it: its version, and proof that the n-gram repetition guard is loaded.

The verdict itself (which combinations are known to drop the guard) is `inference.vllm_models.judge_server`.
"""

from __future__ import annotations

from typing import Any

import httpx


def server_message(response: httpx.Response) -> str:
    """The error message in a vLLM (OpenAI-style) error body, at most 300 characters."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return str(body)[:300]


def server_version(client: httpx.Client, base_url: str) -> str | None:
    """vLLM's `GET /version` at the server's root (beside `/v1`): `{"version": "0.12.0"}`. None when absent."""
    root = base_url[: -len("/v1")] if base_url.rstrip("/").endswith("/v1") else base_url
    try:
        response = client.get(f"{root.rstrip('/')}/version", timeout=5.0)
        response.raise_for_status()
        version = response.json().get("version")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(version) if version else None


def probe_guard(client: httpx.Client, base_url: str, body: dict[str, Any]) -> bool | None:
    """Send `body` (a one-token request whose `vllm_xargs` has `ngram_size` 0). vLLM checks `vllm_xargs` per
    request against the logits processors it loaded (`validate_params`), so a server with the n-gram processor
    refuses it with 400 naming `ngram_size`: True. A 200 means nothing checked it, the guard is absent: False.
    Anything else (unreachable, another error) proves neither: None."""
    try:
        response = client.post(f"{base_url}/chat/completions", json=body, timeout=30.0)
    except httpx.HTTPError:
        return None
    if response.status_code == 200:
        return False
    if response.status_code == 400 and "ngram_size" in server_message(response):
        return True
    return None
