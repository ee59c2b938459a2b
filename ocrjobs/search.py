"""Search inside recognised text: SQLite FTS5 on the embedded default, PostgreSQL full-text search in production.

Each completed job's text is one `JobText` row (owner, text). On SQLite an FTS5 table over those rows is kept in step
by triggers (migration 0007); on PostgreSQL a GIN index on `to_tsvector('simple', text)` serves the same query. A hit
comes back with a snippet around the matched words, which `snippet_html` turns into escaped HTML with `<mark>`s.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.db import connection
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from ocrjobs.models import JobText

HIT_START, HIT_END = "\x02", "\x03"
_TERM = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 8


@dataclass(frozen=True)
class TextHit:
    """A job whose text matches: its id and the matched passage, hits between HIT_START and HIT_END."""

    job_id: uuid.UUID
    snippet: str


def job_text_index(*, job_id: uuid.UUID, owner_id: int, text: str) -> None:
    """Store (or replace) a completed job's text for search. Idempotent: the row is keyed by the job."""
    JobText.objects.update_or_create(job_id=job_id, defaults={"owner_id": owner_id, "text": text})


def search_terms(query: str) -> list[str]:
    """The words of a search box entry (letters and digits, at most MAX_TERMS), lower-cased; [] for none."""
    return [t.lower() for t in _TERM.findall(query)][:MAX_TERMS]


def job_text_search(*, user: User, query: str, limit: int = 200) -> list[TextHit]:
    """The caller's jobs whose text holds every word of `query`, best match first, at most `limit`.

    Each word matches itself or a longer word it begins (any case; on SQLite also without accents).
    An empty query matches nothing.
    """
    terms = search_terms(query)
    if not terms:
        return []
    if connection.vendor == "sqlite":
        sql = (
            "SELECT t.job_id, snippet(ocrjobs_jobtext_fts, 0, %s, %s, '…', 12) FROM ocrjobs_jobtext_fts f "
            "JOIN ocrjobs_jobtext t ON t.id = f.rowid WHERE ocrjobs_jobtext_fts MATCH %s AND t.owner_id = %s "
            "ORDER BY f.rank LIMIT %s"
        )
        match = " ".join(f'"{t}"*' for t in terms)
        with connection.cursor() as cursor:
            cursor.execute(sql, [HIT_START, HIT_END, match, user.pk, limit])
            return [TextHit(job_id=uuid.UUID(str(job_id)), snippet=s) for job_id, s in cursor.fetchall()]
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector

    vector = SearchVector("text", config="simple")  # the expression the GIN index of migration 0006 is built on
    search = SearchQuery(" & ".join(f"{t}:*" for t in terms), search_type="raw", config="simple")
    rows = (
        JobText.objects.annotate(document=vector)
        .filter(owner=user, document=search)
        .annotate(rank=SearchRank(vector, search))
        .annotate(snippet=SearchHeadline("text", search, config="simple", start_sel=HIT_START, stop_sel=HIT_END))
        .order_by("-rank")
        .values_list("job_id", "snippet")[:limit]
    )
    return [TextHit(job_id=job_id, snippet=snippet) for job_id, snippet in rows]


def snippet_html(snippet: str) -> SafeString:
    """A snippet as HTML: the text escaped, each hit in `<mark>`."""
    html = escape(snippet.replace("\n", " ")).replace(HIT_START, "<mark>").replace(HIT_END, "</mark>")
    return mark_safe(html)  # noqa: S308 - every character of the text was escaped above
