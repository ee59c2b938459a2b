from __future__ import annotations

from django import forms

from inference.base import OutputKind
from modes.models import mode_name_validator


class CustomModeForm(forms.Form):
    """Custom mode editor: name (used as ?mode=), display name, description, prompt (≤ 4000 chars) and output kind."""

    name = forms.CharField(
        max_length=64, validators=[mode_name_validator], help_text="Used as ?mode=… in the API, e.g. invoice-lines."
    )
    display_name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False)
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}), max_length=4000)
    output_kind = forms.ChoiceField(choices=[(k.value, k.label) for k in OutputKind])


class PreviewForm(forms.Form):
    """Try a prompt on a sample file (first page of a PDF) before saving the mode."""

    prompt = forms.CharField(max_length=4000)
    output_kind = forms.ChoiceField(choices=[(k.value, k.label) for k in OutputKind])
    sample = forms.FileField(help_text="A PNG, JPEG, BMP, TIFF or PDF (first page).")
