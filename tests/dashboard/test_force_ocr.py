"""The upload page's "read every page with the OCR engine" box reaches the job as force_ocr."""

import pytest

from ocrjobs.models import Job
from tests.factories import UserFactory


@pytest.mark.parametrize(("sent", "stored"), [({"force_ocr": "1"}, True), ({}, False)])
def test_the_upload_ticket_carries_force_ocr(client, db, sent, stored):
    client.force_login(UserFactory())
    assert 'name="force_ocr"' in client.get("/upload/").content.decode()
    fields = {"filename": "a.pdf", "content_type": "application/pdf", "size": "100", "mode": "ocr", **sent}
    response = client.post("/upload/ticket", fields)
    assert response.status_code == 200, response.content
    assert Job.objects.get().force_ocr is stored
