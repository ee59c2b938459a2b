"""Schemathesis against DeepRead's own OpenAPI schema, every /api/v1 and /v1 operation, with a valid key: no 5xx
and no response that breaks the schema. A bounded number of examples here; `make fuzz` runs many more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def run_schemathesis(base_url: str, key: str, examples: int, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN / "schemathesis"), "run", f"{base_url}/api/schema/",
            "--url", base_url,
            "-H", f"X-API-Key: {key}",
            "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples", str(examples),
            "--include-path-regex", "^/(api/v1|v1)/",
            "--seed", "20261122",
            "--request-timeout", "60",
            "--suppress-health-check", "all",
        ],
        cwd=workdir, capture_output=True, text=True, timeout=900,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )  # fmt: skip


def test_no_server_error_and_no_schema_violation(service, tmp_path):
    key = service.new_key("fuzz@example.com", "enterprise")
    examples = int(os.environ.get("DEEPREAD_FUZZ_EXAMPLES", "15"))
    result = run_schemathesis(service.base_url, key, examples, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
