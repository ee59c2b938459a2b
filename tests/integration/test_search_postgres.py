"""The same search scenario as on SQLite, on PostgreSQL (full-text search over a GIN index), in a subprocess with
DATABASE_URL pointing at a fresh database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ocrjobs import search_scenario

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import django, json
django.setup()
from tests.ocrjobs import search_scenario
print(json.dumps(search_scenario.run()))
"""


def test_the_search_scenario_on_postgresql(postgres_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": postgres_url, "DJANGO_SETTINGS_MODULE": "deepread.settings",
           "DEEPREAD_VAR_DIR": str(tmp_path)}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert {q: r["files"] for q, r in found.items()} == search_scenario.EXPECTED
    [snippet] = found["northwind"]["snippets"]
    assert "\x02Northwind\x03" in snippet
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        [(definition,)] = conn.execute(
            "select indexdef from pg_indexes where indexname = 'ocrjobs_jobtext_tsv'"
        ).fetchall()
    assert "USING gin (to_tsvector('simple'::regconfig" in definition
