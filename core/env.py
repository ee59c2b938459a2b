"""Typed readers for settings taken from the environment.

Each raises ImproperlyConfigured on a value it cannot read, so a typo fails at start-up, not at the first request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    """The environment variable `name`, or `default` when unset (an empty value is kept)."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Parse a 1/0, true/false, yes/no, on/off variable (case-insensitive; empty is false); `default` when unset.

    Raises ImproperlyConfigured for any other value.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Parse an integer variable; `default` when unset or empty.

    Raises ImproperlyConfigured when it is not an integer or is below `minimum`.
    """
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    """Parse a float variable; `default` when unset or empty. Raises ImproperlyConfigured when it is not a number."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_choice(name: str, default: str, choices: Sequence[str]) -> str:
    """The lower-cased value of `name` (or `default`); raises ImproperlyConfigured when it is not one of `choices`."""
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: Sequence[str] = ()) -> list[str]:
    """A comma-separated variable as a list of stripped, non-empty items; `default` when unset."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]
