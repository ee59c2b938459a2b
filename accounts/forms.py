from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth import password_validation
from django.utils import timezone

from accounts.models import User
from accounts.passwords import password_rules_text


class SignupForm(forms.Form):
    """Sign-up form: e-mail and a password typed twice, checked by AUTH_PASSWORD_VALIDATORS."""

    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = password_rules_text()  # the configured validators' own words

    def clean_email(self) -> str:
        # No "this address has an account" here: sign-up answers the same either way (accounts/signup.py).
        """The address normalised and lower-cased, so one mailbox maps to one account."""
        return User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()

    def clean(self) -> dict:
        """Check the two passwords match and pass AUTH_PASSWORD_VALIDATORS; errors go on the fields, not raised."""
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(first, User(email=data.get("email", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class ConfirmForm(forms.Form):
    """The sign-up confirmation page: the password chosen at sign-up (accounts.signup.user_confirm)."""

    password = forms.CharField(
        label="Password chosen at sign-up",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ApiKeyForm(forms.Form):
    """New API key form: a name (≤ 100 chars) and an optional expiry day (UTC)."""

    name = forms.CharField(label="Key name", max_length=100, help_text="Where it is used, e.g. laptop or CI.")
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the key stops working at the end of this day (UTC).",
    )

    def clean_expires_on(self):
        """The end of the chosen UTC day as an aware datetime, refused if that day is already over."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        end = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        if end <= timezone.now():
            raise forms.ValidationError("Choose a day from today on.")
        return end
