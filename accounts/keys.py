"""API key material, with no database access: the type prefix and the hash that is stored (Sentry's ApiToken).

A key is `ocr_` + 43 URL-safe characters (256 random bits); only its SHA-256 hex digest (64 characters) is kept.
"""

from __future__ import annotations

import hashlib

KEY_PREFIX = "ocr_"


def hash_api_key(raw: str) -> str:
    """The SHA-256 hex digest (64 characters) under which a key is stored and looked up."""
    return hashlib.sha256(raw.encode()).hexdigest()
