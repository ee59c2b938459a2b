"""Dashboard pages for custom modes: list, create, edit, delete, and a preview run on a sample image."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from modes.builtin import BUILTIN_MODES
from modes.forms import CustomModeForm, PreviewForm
from modes.models import CustomMode
from modes.selectors import mode_list
from modes.services import custom_mode_create, custom_mode_delete, custom_mode_update


def _own(request: HttpRequest, mode_id: int) -> CustomMode:
    mode = CustomMode.objects.filter(owner=request.user, pk=mode_id).first()
    if mode is None:
        raise Http404("No such custom mode.")
    return mode


def _editor(request: HttpRequest, form: CustomModeForm, mode: CustomMode | None, status: int = 200) -> HttpResponse:
    return render(
        request,
        "modes/form.html",
        {
            "form": form,
            "mode": mode,
            "templates": list(BUILTIN_MODES.values()),
            "preview_form": PreviewForm(),
            "engine": settings.DEEPREAD_ENGINE,
        },
        status=status,
    )


@login_required
def modes(request: HttpRequest) -> HttpResponse:
    """Modes page: built-in and custom modes, which one is the default, edit links for custom ones."""
    listing = mode_list(user=request.user)
    ids = dict(CustomMode.objects.filter(owner=request.user).values_list("name", "pk"))
    rows = [
        {"spec": m.spec, "builtin": m.builtin, "is_default": m.is_default, "mode_id": ids.get(m.spec.name)}
        for m in listing
    ]
    return render(request, "modes/list.html", {"modes": rows, "has_custom": bool(ids)})


@login_required
@require_http_methods(["GET", "POST"])
def mode_create(request: HttpRequest) -> HttpResponse:
    """New custom mode form, prefilled with the document mode's prompt; errors re-show the form with 400."""
    form = CustomModeForm(
        request.POST or None,
        initial={"prompt": BUILTIN_MODES["document"].prompt, "output_kind": BUILTIN_MODES["document"].output_kind},
    )
    if request.method == "POST" and form.is_valid():
        try:
            mode = custom_mode_create(user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Mode {mode.name} created; use it with ?mode={mode.name}.")
            return redirect("modes")
    return _editor(request, form, None, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def mode_edit(request: HttpRequest, mode_id: int) -> HttpResponse:
    """Edit one of the user's custom modes; Http404 when it is not theirs, 400 with the form on errors."""
    mode = _own(request, mode_id)
    initial = {f: getattr(mode, f) for f in ("name", "display_name", "description", "prompt", "output_kind")}
    form = CustomModeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            custom_mode_update(user=request.user, mode_id=mode.pk, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Mode saved. Jobs already made keep the prompt they were made with.")
            return redirect("modes")
    return _editor(request, form, mode, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def mode_delete(request: HttpRequest, mode_id: int) -> HttpResponse:
    """GET: confirm page; POST: delete the user's custom mode and go back to the list. Http404 when it is not theirs."""
    mode = _own(request, mode_id)
    if request.method == "GET":
        return render(request, "modes/delete.html", {"mode": mode})
    custom_mode_delete(user=request.user, mode_id=mode.pk)
    messages.success(request, f"Mode {mode.name} deleted.")
    return redirect("modes")
