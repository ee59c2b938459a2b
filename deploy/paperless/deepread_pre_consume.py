#!/usr/bin/env python3
"""paperless-ngx pre-consume script: OCR each incoming file with DeepRead and hand paperless the searchable PDF.

Set in paperless-ngx's environment:
    PAPERLESS_PRE_CONSUME_SCRIPT=/usr/src/paperless/scripts/deepread_pre_consume.py
    PAPERLESS_OCR_MODE=skip                       # keep the text layer DeepRead wrote
    DEEPREAD_URL=https://ocr.example.com          # DeepRead's address
    DEEPREAD_API_KEY=dr_...                       # an API key (dashboard → API keys)
    DEEPREAD_MODE=ocr                             # optional; any mode name
    DEEPREAD_TIMEOUT_S=900                        # optional

paperless-ngx gives the file to process in DOCUMENT_WORKING_PATH; this script replaces a PDF with DeepRead's
searchable PDF (the same pages with an invisible text layer); images are left to paperless-ngx's own parser. Only
the Python standard library is used. On any failure it exits non-zero with the reason, and paperless-ngx reports
the document as failed.
"""

from __future__ import annotations

import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote


def _call(method: str, url: str, *, key: str = "", data: bytes | None = None, content_type: str = "") -> bytes:
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the operator's own URL
    if key:
        request.add_header("X-API-Key", key)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.read()
    except urllib.error.HTTPError as exc:  # DeepRead says why in {"detail": ...}
        raise SystemExit(f"DeepRead answered {exc.code} to {method} {url.split('?')[0]}: {exc.read()[:300]!r}") from exc


def main() -> int:
    base = os.environ["DEEPREAD_URL"].rstrip("/")
    key = os.environ["DEEPREAD_API_KEY"]
    mode = os.environ.get("DEEPREAD_MODE", "ocr")
    deadline = time.monotonic() + float(os.environ.get("DEEPREAD_TIMEOUT_S", "900"))
    path = Path(os.environ["DOCUMENT_WORKING_PATH"])
    if path.suffix.lower() != ".pdf":
        return 0  # images keep their own type in paperless: its own parser reads them
    content_type = mimetypes.guess_type(path.name)[0] or "application/pdf"
    ticket = json.loads(
        _call(
            "POST",
            f"{base}/api/v1/upload/signed-url?mode={mode}",
            key=key,
            data=json.dumps({"filename": path.name, "content_type": content_type}).encode(),
            content_type="application/json",
        )
    )
    _call("PUT", ticket["upload_url"], data=path.read_bytes(), content_type=content_type)
    while True:
        result = json.loads(_call("GET", f"{base}/api/v1/results/{ticket['job_id']}", key=key))
        if result["status"] == "completed":
            break
        if result["status"] == "failed":
            print(f"DeepRead could not read {path.name}: {result['error']}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"DeepRead did not finish {path.name} in time.", file=sys.stderr)
            return 1
        time.sleep(2)
    listing = json.loads(_call("GET", f"{base}/api/v1/processing-jobs?filename={quote(path.name)}&limit=1000", key=key))
    output_key = next(f["output_key"] for f in listing["files"] if f["job_id"] == ticket["job_id"])
    link = json.loads(
        _call("POST", f"{base}/api/v1/download/signed-url?file_path={output_key}&output_format=pdf", key=key)
    )
    pdf = _call("GET", link["url"])
    path.write_bytes(pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
