"""One search scenario, run in-process on SQLite (tests/ocrjobs/test_search.py) and on PostgreSQL in a subprocess
(tests/integration/test_search_postgres.py): the same texts, queries and expected hits on both databases."""

from __future__ import annotations

from accounts.models import User
from ocrjobs.models import JobStatus
from ocrjobs.search import job_text_index, job_text_search
from tests.factories import JobFactory

TEXTS = {
    "invoice.png": "Invoice 2024-0117 for Northwind Traders. Total amount payable: 1,284.50 EUR",
    "letter.png": "Dear Ada, the parcel from Riverside Bakery arrived on Tuesday.",
    "menu.png": 'Crème brûlée & "tarte" tatin < 5 EUR',
}
# query -> the file names it must find for the owner (and nothing for the other account)
EXPECTED = {
    "northwind": ["invoice.png"],
    "Riverside bakery": ["letter.png"],
    "bakery invoice": [],
    "tatin": ["menu.png"],
    "": [],
    '" OR 1=1 --': [],
    "tarte": ["menu.png"],
}


def run() -> dict:
    """Index the texts for one account (and one for a second account), run every query; results by query."""
    owner = User.objects.create_user(email="searcher@example.com", password="x" * 20)
    other = User.objects.create_user(email="other@example.com", password="x" * 20)
    names = {}
    for user, files in ((owner, TEXTS), (other, {"northwind-other.png": "Northwind Riverside tatin tarte"})):
        for filename, text in files.items():
            job = JobFactory(
                owner=user, filename=filename, status=JobStatus.COMPLETED, output_key=f"ocr/{filename}.json"
            )
            job_text_index(job_id=job.pk, owner_id=user.pk, text=text)
            names[job.pk] = filename
    job_text_index(job_id=next(iter(names)), owner_id=owner.pk, text=TEXTS["invoice.png"])  # indexing twice is fine
    found = {}
    for query in EXPECTED:
        hits = job_text_search(user=owner, query=query)
        found[query] = {"files": sorted(names[h.job_id] for h in hits), "snippets": [h.snippet for h in hits]}
    return found
