"""Job control on the production services (issue 16): Idempotency-Key under 20 concurrent duplicates on PostgreSQL,
and DELETE clearing every object of a job from S3 (Ceph's RADOS Gateway) so its pre-signed URLs answer 404."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from deepread import processes
from devtools.samples import encode, render_lines
from devtools.stack import BIN, running_stack

pytestmark = pytest.mark.integration


def test_twenty_concurrent_duplicates_spend_one_request_on_postgres(tmp_path, production_env):
    with running_stack(tmp_path, env=production_env, web_workers=3) as stack:
        key = stack.new_key(f"idem-{uuid.uuid4().hex[:6]}@example.com")
        headers = {"X-API-Key": key, "Idempotency-Key": "pg-order-1"}
        barrier = threading.Barrier(20)

        def ask(_: int) -> requests.Response:
            barrier.wait(timeout=60)
            return requests.post(f"{stack.base_url}/api/v1/upload/signed-url", json={"filename": "x.png"},
                                 headers=headers, timeout=120)  # fmt: skip

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(ask, range(20)))
        assert [a.status_code for a in answers] == [200] * 20
        assert len({a.json()["job_id"] for a in answers}) == 1
        usage = requests.get(f"{stack.base_url}/api/v1/usage", headers={"X-API-Key": key}, timeout=10).json()
        assert usage["month"]["used"] == 1
        jobs = requests.get(f"{stack.base_url}/api/v1/processing-jobs", headers={"X-API-Key": key}, timeout=10)
        assert jobs.json()["total_count"] == 1


def test_delete_removes_every_object_of_the_job_from_s3(tmp_path, production_env, s3_bucket):
    client, bucket, s3_env = s3_bucket
    env = {**production_env, **s3_env, "DEEPREAD_UPLOAD_SWEEP_S": "1"}
    with running_stack(tmp_path, env=env) as stack:
        stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(tmp_path / "beat")))
        headers = {"X-API-Key": stack.new_key(f"s3del-{uuid.uuid4().hex[:6]}@example.com")}
        api = f"{stack.base_url}/api/v1"
        ticket = requests.post(f"{api}/upload/signed-url", json={"filename": "gone.png", "content_type": "image/png"},
                               headers=headers, timeout=30).json()  # fmt: skip
        png = encode(render_lines(["Delete from the bucket"]))
        requests.put(ticket["upload_url"], data=png, headers={"Content-Type": "image/png"}, timeout=30)
        done = stack.wait_result(headers, ticket["job_id"])
        assert done["status"] == "completed", done
        paths = ("ocr/gone.json", done["result"]["pages"][0]["annotated_image"])
        signed = [
            requests.post(f"{api}/download/signed-url", params={"file_path": p}, headers=headers, timeout=30)
            for p in paths
        ]
        urls = [s.json()["url"] for s in signed]
        assert [requests.get(u, timeout=10).status_code for u in urls] == [200, 200]
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        mine = [k for k in keys if ticket["job_id"] in k or "/ocr/gone" in k]
        assert len(mine) >= 3  # the upload, the result, the annotated page

        assert requests.delete(f"{api}/jobs/{ticket['job_id']}", headers=headers, timeout=30).status_code == 204
        left = {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert not left.intersection(mine)
        deadline = time.time() + 10
        while any(requests.get(u, timeout=10).status_code != 404 for u in urls):
            assert time.time() < deadline
            time.sleep(0.5)
        assert requests.get(f"{api}/jobs/{ticket['job_id']}", headers=headers, timeout=10).status_code == 404
