"""The e-mail a running stack sent: Django's file backend writes each message under var/mail/ (the default when no
mail server is configured)."""

from __future__ import annotations

import email
import re
import time
from email import policy
from pathlib import Path


def messages_to(var: Path, address: str) -> list[email.message.EmailMessage]:
    """Every message written under `var`/mail to `address`, oldest first."""
    found = []
    for path in sorted((var / "mail").glob("*.log"), key=lambda p: p.stat().st_mtime):
        for raw in re.split(rb"\n-{79}\n", path.read_bytes()):
            if raw.strip():
                message = email.message_from_bytes(raw.strip(), policy=policy.default)
                if address.lower() in str(message.get("To", "")).lower():
                    found.append(message)
    return found


def link_to(var: Path, address: str, kind: str = "confirm", timeout: float = 30.0) -> str:
    """The path of the newest `/accounts/<kind>/…` link mailed to `address`, waiting up to `timeout` s for it."""
    deadline = time.monotonic() + timeout
    while True:
        for message in reversed(messages_to(var, address)):
            match = re.search(rf"https?://[^/\s]+(/accounts/{kind}/\S+)", message.get_content())
            if match:
                return match.group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"No {kind} link was mailed to {address}")
        time.sleep(0.1)
