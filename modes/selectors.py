"""Reads for modes: the built-in ones plus the caller's own."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from core.errors import InvalidInput
from inference.base import ModeSpec
from modes.builtin import BUILTIN_MODES
from modes.models import CustomMode


@dataclass(frozen=True)
class ModeListing:
    """A mode the user can use, whether it is the account's default and whether it is built in."""

    spec: ModeSpec
    is_default: bool
    builtin: bool


def _custom_spec(mode: CustomMode) -> ModeSpec:
    return ModeSpec(
        name=mode.name,
        display_name=mode.display_name,
        description=mode.description,
        prompt=mode.prompt,
        output_kind=mode.output_kind,
        version=mode.version,
    )


def mode_list(*, user: User) -> list[ModeListing]:
    """Built-in modes first, then the user's custom modes by name; exactly one is the default."""
    specs = [(spec, True) for spec in BUILTIN_MODES.values()]
    specs += [(_custom_spec(m), False) for m in CustomMode.objects.filter(owner=user).order_by("name")]
    names = {spec.name for spec, _ in specs}
    default = user.default_mode if user.default_mode in names else "ocr"
    return [ModeListing(spec=spec, is_default=spec.name == default, builtin=b) for spec, b in specs]


def mode_get(*, user: User, name: str | None) -> ModeSpec:
    """The mode called `name` for this user (the account's default when None), or InvalidInput.

    Raises InvalidInput (400, param "mode") for a name that is neither built in nor one of the user's modes.
    """
    name = (name or user.default_mode or "ocr").strip()
    if name in BUILTIN_MODES:
        return BUILTIN_MODES[name]
    custom = CustomMode.objects.filter(owner=user, name=name).first()
    if custom is None:
        known = ", ".join([*BUILTIN_MODES, *CustomMode.objects.filter(owner=user).values_list("name", flat=True)])
        raise InvalidInput(f"Unknown mode {name!r}. Known modes: {known}.", param="mode")
    return _custom_spec(custom)


def mode_versions(*, user: User, name: str) -> list:
    """Every version of the caller's custom mode `name`, newest first; NotFound for a built-in or unknown one.

    Raises NotFound (404) for a built-in or unknown mode.
    """
    from core.errors import NotFound
    from modes.models import CustomModeVersion

    mode = CustomMode.objects.filter(owner=user, name=name).first()
    if mode is None:
        if name in BUILTIN_MODES:
            raise NotFound(f"{name!r} is a built-in mode; only custom modes have versions.")
        raise NotFound(f"No custom mode {name!r}.")
    return list(CustomModeVersion.objects.filter(mode=mode).order_by("-version"))
