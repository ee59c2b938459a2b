"""Writes for modes: custom modes and the account's default mode."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from core.errors import InvalidInput, NotFound
from modes.builtin import BUILTIN_MODES
from modes.models import CustomMode, CustomModeVersion
from modes.selectors import mode_get


def _validated_save(mode: CustomMode) -> CustomMode:
    if mode.name in BUILTIN_MODES:
        raise InvalidInput(f"{mode.name!r} is a built-in mode; choose another name.", param="name")
    try:
        mode.full_clean()
    except ValidationError as exc:
        raise InvalidInput(" ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
    # A change of what the mode does (prompt, kind, name shown, description) is a new version; jobs record theirs.
    latest = CustomModeVersion.objects.filter(mode_id=mode.pk).order_by("-version").first() if mode.pk else None
    changed = latest is None or any(getattr(latest, f) != getattr(mode, f) for f in VERSIONED_FIELDS)
    if latest is not None and changed:
        mode.version = latest.version + 1
    try:
        with transaction.atomic():  # full_clean's unique check can be overtaken: the constraint decides
            mode.save()
    except IntegrityError as exc:
        raise InvalidInput(f"You already have a mode named {mode.name!r}; choose another name.", param="name") from exc
    if changed:
        CustomModeVersion.objects.create(
            mode=mode, version=mode.version, **{f: getattr(mode, f) for f in VERSIONED_FIELDS}
        )
    return mode


VERSIONED_FIELDS = ("display_name", "description", "prompt", "output_kind")


def custom_mode_create(
    *, user: User, name: str, display_name: str, prompt: str, description: str = "", output_kind: str = "text"
) -> CustomMode:
    """Create a custom mode for `user` (fields stripped; `output_kind` "text", "markdown" or "json").

    Raises InvalidInput (400) when the name is taken by a built-in or one of the user's modes, or a field is invalid.
    """
    mode = CustomMode(
        owner=user,
        name=name.strip(),
        display_name=display_name.strip(),
        description=description.strip(),
        prompt=prompt.strip(),
        output_kind=output_kind,
    )
    with transaction.atomic():
        return _validated_save(mode)


def custom_mode_update(*, user: User, mode_id: int, **fields: str) -> CustomMode:
    """Update fields of one of `user`'s custom modes under a row lock; jobs already made keep their prompt.

    Raises NotFound (404) for a mode that is not the user's, InvalidInput (400) as `custom_mode_create`.
    """
    with transaction.atomic():
        mode = CustomMode.objects.select_for_update().filter(owner=user, pk=mode_id).first()
        if mode is None:
            raise NotFound("No such custom mode.")
        for name, value in fields.items():
            setattr(mode, name, value.strip())
        return _validated_save(mode)


def custom_mode_delete(*, user: User, mode_id: int) -> None:
    """Delete one of `user`'s custom modes; raises NotFound (404) when it is not the user's."""
    deleted, _ = CustomMode.objects.filter(owner=user, pk=mode_id).delete()
    if not deleted:
        raise NotFound("No such custom mode.")


def default_mode_set(*, user: User, name: str) -> None:
    """Make mode `name` the user's default (used when a request names none).

    Raises InvalidInput (400) for a mode the user cannot use.
    """
    spec = mode_get(user=user, name=name)
    User.objects.filter(pk=user.pk).update(default_mode=spec.name)
    user.default_mode = spec.name
