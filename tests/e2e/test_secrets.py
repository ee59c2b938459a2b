"""Nothing secret leaves DeepRead: not in its logs (web with the access log on, worker), not in an error body,
not in the OpenAPI schema. A real stack runs with known secrets in its environment; a user signs up, makes a key
in the dashboard, uses it by both headers through the whole job flow and /v1/ocr, and gets every kind of refusal.
Then every byte written to the logs and every body received is searched for each secret."""

from __future__ import annotations

import base64
import re
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devtools.mailbox import link_to
from devtools.samples import png_bytes
from devtools.stack import running_stack

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery staple " + secrets.token_hex(4)
SECRETS = {
    "DJANGO_SECRET_KEY": "django-" + secrets.token_urlsafe(40),
    "DEEPREAD_S3_HOOK_SECRET": "hook-" + secrets.token_hex(16),
    "VLLM_API_KEY": "vllm-" + secrets.token_hex(16),
}


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def test_no_secret_in_logs_error_bodies_or_the_schema(tmp_path):
    bodies: list[requests.Response] = []  # every response a client saw, refusals above all
    signatures: list[str] = []

    def seen(response: requests.Response) -> requests.Response:
        bodies.append(response)
        return response

    with running_stack(tmp_path, env=SECRETS, access_log=True) as stack:
        base = stack.base_url
        browser = requests.Session()
        seen(browser.post(
            f"{base}/accounts/signup/",
            data={"csrfmiddlewaretoken": _csrf(browser, f"{base}/accounts/signup/"), "email": "leak@example.com",
                  "password1": PASSWORD, "password2": PASSWORD},
            timeout=10,
        ))  # fmt: skip
        confirm = f"{base}{link_to(stack.var, 'leak@example.com')}"
        seen(
            browser.post(
                confirm, data={"csrfmiddlewaretoken": _csrf(browser, confirm), "password": PASSWORD}, timeout=10
            )
        )
        session_cookie = browser.cookies.get("sessionid")
        assert session_cookie
        created = browser.post(
            f"{base}/keys/create",
            data={"csrfmiddlewaretoken": _csrf(browser, f"{base}/keys/"), "name": "laptop"},
            timeout=10,
        )
        key = re.search(r'id="new-key"[^>]*value="(ocr_[^"]+)"', created.text).group(1)
        wrong_password = requests.Session()
        failed_login = seen(wrong_password.post(
            f"{base}/accounts/login/",
            data={"csrfmiddlewaretoken": _csrf(wrong_password, f"{base}/accounts/login/"),
                  "username": "leak@example.com", "password": PASSWORD + "-wrong"},
            timeout=10,
        ))  # fmt: skip
        assert failed_login.status_code == 200
        assert "leak@example.com" in failed_login.text  # the form came back, without the password

        by_header = {"X-API-Key": key}
        bearer = {"Authorization": f"Bearer {key}"}
        wrong_key = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
        ticket = seen(requests.post(
            f"{base}/api/v1/upload/signed-url", params={"mode": "ocr"},
            json={"filename": "letter.png", "content_type": "image/png"}, headers=bearer, timeout=10,
        )).json()  # fmt: skip
        signatures += parse_qs(urlsplit(ticket["upload_url"]).query)["signature"]
        signatures.append(ticket["fields"]["signature"])
        tampered = ticket["upload_url"].replace("letter.png", "other.png")
        assert (
            seen(
                requests.put(tampered, data=png_bytes(), headers={"Content-Type": "image/png"}, timeout=10)
            ).status_code
            == 403
        )
        assert requests.put(
            ticket["upload_url"], data=png_bytes(), headers={"Content-Type": "image/png"}, timeout=10
        ).ok
        assert stack.wait_result(by_header, ticket["job_id"], timeout=60)["status"] == "completed"
        seen(requests.get(f"{base}/api/v1/results/{ticket['job_id']}", headers=by_header, timeout=10))
        download = seen(requests.post(
            f"{base}/api/v1/download/signed-url", params={"file_path": "ocr/letter.json"}, headers=bearer,
            timeout=10,
        )).json()  # fmt: skip
        signatures += parse_qs(urlsplit(download["url"]).query)["signature"]
        assert requests.get(download["url"], timeout=10).ok

        refusals = [
            requests.get(f"{base}/api/v1/ocr-modes", headers={"X-API-Key": wrong_key}, timeout=10),
            requests.get(
                f"{base}/api/v1/processing-jobs", headers={"Authorization": f"Bearer {wrong_key}"}, timeout=10
            ),
            requests.post(
                f"{base}/v1/ocr",
                json={"image": "data:image/png;base64,x"},
                headers={"Authorization": f"Bearer {wrong_key}"},
                timeout=10,
            ),
            requests.post(f"{base}/v1/ocr", json={"image": "data:image/png;base64,@@@"}, headers=bearer, timeout=10),
            requests.post(
                f"{base}/v1/ocr", json={"image": "http://169.254.169.254/latest/meta-data/"}, headers=bearer, timeout=10
            ),
            requests.post(
                f"{base}/v1/ocr", data=b"{not json", headers={**bearer, "Content-Type": "application/json"}, timeout=10
            ),
            requests.post(
                f"{base}/api/v1/download/signed-url",
                params={"file_path": "../../etc/passwd"},
                headers=bearer,
                timeout=10,
            ),
            requests.get(download["url"].replace("signature=", "signature=0"), timeout=10),
            requests.post(
                f"{base}/storage/s3-events",
                json={"Records": []},
                headers={"X-DeepRead-Hook-Secret": "guess"},
                timeout=10,
            ),
            requests.get(
                f"{base}/api/v1/results/{ticket['job_id']}", headers={"X-API-Key": SECRETS["VLLM_API_KEY"]}, timeout=10
            ),
        ]
        assert all(r.status_code >= 400 for r in refusals), [(r.status_code, r.text[:80]) for r in refusals]
        bodies += refusals
        image = base64.b64encode(png_bytes()).decode()
        assert seen(
            requests.post(
                f"{base}/v1/ocr", json={"image": image, "image_type": "base64"}, headers=by_header, timeout=60
            )
        ).ok
        schema = seen(requests.get(f"{base}/api/schema/", timeout=10))
        assert schema.status_code == 200
        assert "/v1/ocr" in schema.text
        deadline = time.monotonic() + 60  # gunicorn writes the access line after the response: wait for it
        while "/api/schema/" not in stack.log("web"):
            assert time.monotonic() < deadline, stack.log("web")[-2000:]
            time.sleep(0.1)
        logs = {name: stack.log(name) for name in ("web", "worker")}

    # The access log is on and saw the signed requests, with their signatures replaced.
    assert "PUT /storage/upload/" in logs["web"]
    assert "signature=[redacted]" in logs["web"]
    secret_values = {
        **SECRETS,
        "the API key": key,
        "the wrong key": wrong_key,
        "the password": PASSWORD,
        "the session cookie": session_cookie,
        **{f"signature {n}": s for n, s in enumerate(signatures)},
    }
    errors = {
        f"body {n}: {r.status_code} to {r.request.method} {r.url}": r.text
        for n, r in enumerate(bodies)
        if r.status_code >= 400
    }
    assert len(errors) >= len(refusals) + 1
    for where, text in {**logs, **errors, "the schema": schema.text}.items():
        for name, value in secret_values.items():
            assert value not in text, f"{name} is in {where}"
    # A successful body may carry what it exists to deliver (a signed URL, the new key once), never a server secret.
    for response in bodies:
        for name in (*SECRETS, "the password"):
            assert secret_values[name] not in response.text, f"{name} is in {response.url}"
        assert "Traceback" not in response.text
        assert 'File "/' not in response.text
