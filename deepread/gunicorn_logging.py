"""Gunicorn's access log without credentials.

A signed URL's signature (DeepRead's own, or S3's presigned `X-Amz-*` parameters) is a bearer credential for one
object until it expires, and API keys or session cookies can reach a custom log format through header atoms.
This logger rewrites them as `[redacted]` before a line is written; paths, statuses and timings stay.
Used by every gunicorn DeepRead starts: `--logger-class deepread.gunicorn_logging.RedactingLogger`.
"""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
_SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;])(?:signature|policy|x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"awsaccesskeyid|api_key|apikey|access_token|token)=)[^&;\s\"]*"
)
_SECRET_HEADERS = ("authorization", "x-api-key", "cookie", "set-cookie", "x-deepread-hook-secret")


def redact_query(text: str) -> str:
    """Replace the values of credential-bearing query parameters in a URL, a query string or a request line."""
    return _SECRET_PARAMS.sub(rf"\1{REDACTED}", text)


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "q", "f", "{raw_uri}e", "{query_string}e", "{http_referer}e"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_query(atoms[name])
        for header in _SECRET_HEADERS:
            for atom in (f"{{{header}}}i", f"{{{header}}}o", f"{{http_{header.replace('-', '_')}}}e"):
                if atom in atoms:
                    atoms[atom] = REDACTED
        return atoms
