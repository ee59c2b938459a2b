"""`manage.py check --deploy` in production mode: embedded parts refused unless asked for; clean when configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "k" + "".join(chr(65 + (i * 7) % 26) for i in range(60))


def _check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPREAD_", "DJANGO_", "DATABASE_URL", "CELERY_",
                                                                     "REDIS_URL", "AWS_"))}  # fmt: skip
    full = {**base, "DJANGO_SETTINGS_MODULE": "deepread.settings", "DEEPREAD_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=full, capture_output=True, text=True,
    )  # fmt: skip


def test_embedded_defaults_fail_the_deploy_check(tmp_path):
    result = _check(tmp_path)
    assert result.returncode != 0
    for needle in ("SQLite is configured", "filesystem broker", "local file storage", "cache is files",
                   "secret key was generated"):  # fmt: skip
        assert needle in result.stderr, needle


def test_each_embedded_part_keeps_its_check_id_whatever_else_fails(tmp_path):
    alone = _check(tmp_path, DEEPREAD_EMBEDDED_OK="sqlite,filesystem-broker,local-storage,file-cache",
                   DEEPREAD_HTTPS="1")  # fmt: skip
    assert "(deepread.E005) Production mode (DJANGO_DEBUG off), but the secret key was generated" in alone.stderr
    assert "deepread.E001" not in alone.stderr
    every = _check(tmp_path)
    lines = every.stderr.splitlines()
    for check_id, needle in [("E001", "SQLite"), ("E002", "filesystem broker"), ("E003", "local file storage"),
                             ("E004", "cache is files"), ("E005", "secret key was generated")]:  # fmt: skip
        assert [line for line in lines if f"(deepread.{check_id})" in line and needle in line], check_id


def test_embedded_parts_asked_for_explicitly_pass(tmp_path):
    result = _check(
        tmp_path,
        DEEPREAD_EMBEDDED_OK="sqlite,filesystem-broker,local-storage,file-cache",
        DJANGO_SECRET_KEY=SECRET,
        DEEPREAD_HTTPS="1",
    )
    assert result.returncode == 0, result.stderr


def test_production_services_pass_and_a_weak_secret_fails(tmp_path):
    production = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "REDIS_URL": "redis://127.0.0.1:6379/1",
        "DEEPREAD_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "deepread",
        "DEEPREAD_HTTPS": "1",
    }
    assert _check(tmp_path, DJANGO_SECRET_KEY=SECRET, **production).returncode == 0
    weak = _check(tmp_path, DJANGO_SECRET_KEY="changeme", **production)
    assert weak.returncode != 0
    assert "short or a placeholder" in weak.stderr
    insecure = _check(tmp_path, DJANGO_SECRET_KEY=SECRET, **{**production, "DEEPREAD_HTTPS": "0"})
    assert insecure.returncode != 0
    assert "SESSION_COOKIE_SECURE" in insecure.stderr


def test_debug_mode_does_not_refuse_the_embedded_parts(tmp_path):
    result = _check(tmp_path, DJANGO_DEBUG="1")
    assert "deepread.E" not in result.stderr


LOGIN_SCRIPT = """
from django.core.management import call_command
from django.test import Client
from accounts.models import User
call_command("migrate", verbosity=0)
User.objects.create_user(email="ops@example.com", password="a long enough pass phrase")
client = Client()
page = client.get("/accounts/login/", secure=True)
response = client.post("/accounts/login/", {"username": "ops@example.com", "password": "a long enough pass phrase"},
                       secure=True)
for name in ("csrftoken", "sessionid"):
    cookie = response.cookies.get(name) or page.cookies.get(name)
    print(name, bool(cookie["secure"]), bool(cookie["httponly"]), cookie["samesite"])
print("hsts", response.headers.get("Strict-Transport-Security", ""))
"""


def test_production_cookies_are_secure_and_the_session_httponly(tmp_path):
    """With DEEPREAD_HTTPS=1 a real log-in sets its cookies Secure, the session one HttpOnly, and HSTS is sent."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPREAD_", "DJANGO_", "DATABASE_URL"))}
    env = {**base, "DJANGO_SETTINGS_MODULE": "deepread.settings", "DEEPREAD_VAR_DIR": str(tmp_path),
           "DJANGO_SECRET_KEY": SECRET, "DEEPREAD_HTTPS": "1", "DJANGO_ALLOWED_HOSTS": "testserver"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", LOGIN_SCRIPT],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["sessionid"] == "True True Lax"
    assert lines["csrftoken"].startswith("True ")  # the CSRF cookie is Secure; htmx reads the token from the page
    assert "max-age=" in lines["hsts"]
