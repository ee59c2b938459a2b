"""The web server's access log without credentials.

A signed URL's signature (DeepRead's own, or S3's presigned `X-Amz-*` parameters) is a bearer credential for one
object until it expires, and some clients put API keys or tokens in query strings. This filter rewrites them as
`[redacted]` in every access-log line before it is written; paths, statuses and client addresses stay. uvicorn's
access lines carry no headers, so keys sent as `Authorization`/`X-API-Key` and cookies never reach the log.
Installed on `uvicorn.access` by `deepread.webserver.log_config`.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;])(?:signature|policy|x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"awsaccesskeyid|api_key|apikey|access_token|token)=)[^&;\s\"]*"
)


def redact_query(text: str) -> str:
    """Replace the values of credential-bearing query parameters in a URL, a query string or a request line."""
    return _SECRET_PARAMS.sub(rf"\1{REDACTED}", text)


class RedactingAccessFilter(logging.Filter):
    """Redacts every string argument of a record (uvicorn's are the client, method, path with query, HTTP version
    and status) and the message itself; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Blank credential query values (signature, policy, api_key, token, …) in an access-log record's message
        and args; never drops the record.
        """
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_query(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True
