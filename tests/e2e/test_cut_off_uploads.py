"""Uploads whose connection closes before the declared Content-Length arrived (issue 12, item 5), against the real
front server: a raw socket sends the headers and part of the body, then closes its sending side. The server answers
400, stores nothing, and the job waits for the whole file, which the same URL then takes."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from devtools.samples import encode, render_lines

pytestmark = pytest.mark.e2e
CUT_OFF = "The upload was cut off; upload it again."


def _raw_request(url: str, head: list[str], body: bytes) -> tuple[int, str]:
    """Send the request line, `head` and `body`, then shut the sending side; the status and body of the answer."""
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        lines = [f"{head[0]} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close", *head[1:]]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode(errors="replace")


def _stored_files(service, job_id: str) -> list[str]:
    return [str(p) for p in (service.var / "media").rglob("*") if p.is_file() and job_id in str(p)]


@pytest.fixture
def photo() -> bytes:
    image = render_lines([f"Cut-off upload line {n}" for n in range(1, 30)], width=1400)
    return encode(image, "JPEG")


def test_a_put_cut_off_mid_body_is_refused_and_the_same_url_takes_the_whole_file(service, photo):
    headers = {"X-API-Key": service.new_key("cutoff-put@example.com")}
    ticket = requests.post(
        f"{service.base_url}/api/v1/upload/signed-url",
        json={"filename": "photo.jpg", "content_type": "image/jpeg"},
        headers=headers,
        timeout=10,
    ).json()
    sent = photo[: len(photo) // 3]
    status, body = _raw_request(
        ticket["upload_url"], ["PUT", "Content-Type: image/jpeg", f"Content-Length: {len(photo)}"], sent
    )
    assert status == 400
    assert CUT_OFF in body
    assert _stored_files(service, ticket["job_id"]) == []
    job = requests.get(f"{service.base_url}/api/v1/results/{ticket['job_id']}", headers=headers, timeout=10).json()
    assert job["status"] == "pending"

    again = requests.put(ticket["upload_url"], data=photo, headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert again.status_code == 200
    assert service.wait_result(headers, ticket["job_id"])["status"] == "completed"


def test_a_post_form_cut_off_mid_file_is_refused(service, photo):
    headers = {"X-API-Key": service.new_key("cutoff-post@example.com")}
    ticket = requests.post(f"{service.base_url}/api/v1/upload/signed-url", headers=headers, timeout=10).json()
    fields = {**ticket["fields"], "Content-Type": "image/jpeg"}
    fields["key"] = fields["key"].replace("${filename}", "photo.jpg")
    prepared = requests.Request(
        "POST", ticket["url"], data=fields, files={"file": ("photo.jpg", photo, "image/jpeg")}
    ).prepare()
    whole = prepared.body
    status, body = _raw_request(
        ticket["url"],
        ["POST", f"Content-Type: {prepared.headers['Content-Type']}", f"Content-Length: {len(whole)}"],
        whole[: len(whole) // 2],
    )
    assert status == 400
    assert CUT_OFF in body
    assert _stored_files(service, ticket["job_id"]) == []
    assert requests.Session().send(prepared, timeout=30).status_code == 200
    assert service.wait_result(headers, ticket["job_id"])["status"] == "completed"
