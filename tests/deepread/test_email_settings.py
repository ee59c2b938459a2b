"""Where account mail goes: files under var/mail/ with nothing set, SMTP from EMAIL_URL or the EMAIL_* variables,
and a clear start-up error for an EMAIL_URL scheme nobody knows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND.rsplit('.', 2)[-2], s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, "
    "s.EMAIL_HOST_USER, getattr(s, 'EMAIL_FILE_PATH', ''))"
)


def _settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "DEEPREAD_", "DJANGO_"))}
    full = {**base, "DJANGO_SETTINGS_MODULE": "deepread.settings", "DEEPREAD_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_mail_goes_to_files_by_default(tmp_path):
    out = _settings(tmp_path).stdout.split()
    assert out[0] == "filebased"
    assert out[-1] == str(tmp_path.resolve() / "mail")


def test_email_url_configures_smtp(tmp_path):
    out = _settings(tmp_path, EMAIL_URL="submission://mailer:s3cret@mail.example.com").stdout.split()
    assert out[:6] == ["smtp", "mail.example.com", "587", "True", "False", "mailer"]


def test_email_host_variables_configure_smtp(tmp_path):
    env = {"EMAIL_HOST": "relay.example.com", "EMAIL_PORT": "465", "EMAIL_USE_SSL": "1", "EMAIL_HOST_USER": "me"}
    out = _settings(tmp_path, **env).stdout.split()
    assert out[:6] == ["smtp", "relay.example.com", "465", "False", "True", "me"]


def test_an_unknown_email_url_scheme_stops_start_up(tmp_path):
    result = _settings(tmp_path, EMAIL_URL="pigeon://coop")
    assert result.returncode != 0
    assert "EMAIL_URL: unknown scheme" in result.stderr
