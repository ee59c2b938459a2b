"""Where the `deepread` command finds its key and server: a flag, then the environment (`DEEPREAD_API_KEY`,
`DEEPREAD_BASE_URL`), then a TOML file (`DEEPREAD_CONFIG`, else `$XDG_CONFIG_HOME/deepread/config.toml`, else
`~/.config/deepread/config.toml`) with `api_key = "ocr_…"` and `base_url = "https://…"`."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from deepread.client.sdk import DEFAULT_BASE_URL


class ConfigError(Exception):
    """No API key or base URL could be found, or the config file is malformed."""


@dataclass(frozen=True)
class Settings:
    """The resolved API key and base URL (e.g. "https://ocr.example.com")."""

    api_key: str
    base_url: str


def config_path(explicit: str | None = None) -> Path:
    """The config file: `explicit`, else $DEEPREAD_CONFIG, else $XDG_CONFIG_HOME (or ~/.config)/deepread/config.toml."""
    if explicit or os.environ.get("DEEPREAD_CONFIG"):
        return Path(explicit or os.environ["DEEPREAD_CONFIG"]).expanduser()
    root = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(root) / "deepread" / "config.toml"


def resolve(*, api_key: str | None, base_url: str | None, config: str | None = None) -> Settings:
    """Flags win over the environment (click reads the variables into the flags), which wins over the file.
    Raises ConfigError when there is no key, or the file is not valid TOML."""
    path = config_path(config)
    stored: dict = {}
    if path.is_file():
        try:
            stored = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    key = api_key or stored.get("api_key")
    if not key:
        raise ConfigError(f'No API key: pass --api-key, set DEEPREAD_API_KEY, or put api_key = "ocr_…" in {path}.')
    return Settings(api_key=str(key), base_url=str(base_url or stored.get("base_url") or DEFAULT_BASE_URL))
