"""Password rules: Django's validators (similarity to the e-mail, minimum length, common passwords, all digits,
configured in settings.AUTH_PASSWORD_VALIDATORS) plus one of ours, and the one help text every form shows, built
from the same validators so that what a form says is what it checks."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError


class NotBlankValidator:
    """Refuse a password made only of spaces (or other white space), whatever its length."""

    def validate(self, password: str, user: object = None) -> None:
        """Raise ValidationError (code "password_blank") for a password of only whitespace."""
        if not password.strip():
            raise ValidationError("This password is only spaces.", code="password_blank")

    def get_help_text(self) -> str:
        """One-line rule shown under the password field."""
        return "Your password can’t be only spaces."


def password_rules_text() -> str:
    """The configured validators' help texts as one plain sentence list, for a form field's help text."""
    return " ".join(password_validation.password_validators_help_texts())


class RulesSetPasswordForm(SetPasswordForm):
    """The password-reset form, with the rules as plain text. Opening the reset link proves the mailbox, so an
    unconfirmed sign-up is confirmed by it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = password_rules_text()

    def save(self, commit: bool = True):
        """Set the new password and mark the address confirmed: the reset link proved the mailbox is the user's."""
        self.user.email_verified = True
        return super().save(commit)


class RulesPasswordChangeForm(PasswordChangeForm):
    """The change-password form, with the rules as plain text."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = password_rules_text()


class LimitedPasswordResetForm(PasswordResetForm):
    """Django's reset form; its mails count against the per-address hourly limit (accounts.signup.mail_allowed)."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs) -> None:
        """Send the reset e-mail only when `mail_allowed` (per-address rate limit) lets it through; otherwise drop it
        silently.
        """
        from accounts.signup import mail_allowed

        if mail_allowed(to_email):
            super().send_mail(subject_template_name, email_template_name, context, from_email, to_email, **kwargs)
