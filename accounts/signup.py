"""Sign-up: it only ever creates an account, never logs anyone into one that exists, and answers the same whether
or not the address has an account (issue 11, items 2 and 5).

A new address gets a trial account that logs in once the link mailed to it is opened. An address that has an account
(found by the unique index on the lower-cased address, so a concurrent sign-up for the same address lands here too)
gets a password-reset link instead; nothing is changed on that account until its owner opens the link.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from accounts.tiers import Tier

logger = logging.getLogger("deepread.accounts")


class ConfirmationTokenGenerator(PasswordResetTokenGenerator):
    """One-time, expiring (PASSWORD_RESET_TIMEOUT) tokens for the sign-up link: the hash covers `email_verified`,
    so a used link stops working."""

    key_salt = "deepread.accounts.signup.ConfirmationTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{user.pk}{user.password}{user.email}{user.email_verified}{timestamp}"


confirmation_tokens = ConfirmationTokenGenerator()


def _link(base_url: str, name: str, user: User, token: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return base_url.rstrip("/") + reverse(name, args=[uid, token])


def mail_allowed(address: str) -> bool:
    """Whether another account mail (sign-up, reset) may go to `address` this hour: at most
    DEEPREAD_ACCOUNT_MAILS_PER_HOUR, so nobody can flood a mailbox through the forms. A refused mail is dropped
    silently; the page answers as usual."""
    from accounts.ratelimit import rate_hit

    decision = rate_hit(key=f"mail:{address.lower()}", limit=settings.DEEPREAD_ACCOUNT_MAILS_PER_HOUR, window_s=3600)
    if not decision.allowed:
        logger.warning("Account mail dropped: the address had %d this hour", settings.DEEPREAD_ACCOUNT_MAILS_PER_HOUR)
    return decision.allowed


def _mail(*, user: User, template: str, context: dict) -> None:
    if not mail_allowed(user.email):
        return
    subject = render_to_string(f"registration/{template}_subject.txt", context).strip()
    body = render_to_string(f"registration/{template}_email.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])


def user_sign_up(*, email: str, password: str, base_url: str) -> User | None:
    """Create an unconfirmed trial account for `email` (lower-cased) with `password` and mail it a confirmation
    link, or, when the address already has an account, mail that account a password-reset link.

    `base_url`: the site's absolute URL (`https://host/`) for the links. Returns the new account, or None when the
    address had one; callers must answer the same in both cases and log nobody in. Mail goes out on commit.
    """
    email = User.objects.normalize_email(email).strip().lower()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, tier=Tier.TRIAL, email_verified=False)
    except IntegrityError:
        make_password(password)  # the same work as the other branch: the answer's timing tells nothing either
        existing = User.objects.filter(email__iexact=email, is_active=True).first()
        if existing is not None:
            link = _link(base_url, "password_reset_confirm", existing, default_token_generator.make_token(existing))
            transaction.on_commit(
                lambda: _mail(user=existing, template="signup_exists", context={"user": existing, "link": link})
            )
        logger.info("Sign-up for an address that has an account: a reset link was mailed")
        return None
    link = _link(base_url, "signup-confirm", user, confirmation_tokens.make_token(user))
    transaction.on_commit(lambda: _mail(user=user, template="signup_confirm", context={"user": user, "link": link}))
    return user


def user_from_link(*, uidb64: str, token: str) -> User | None:
    """The account a confirmation link names, if the link is valid, unused and unexpired; None otherwise."""
    try:
        user = User.objects.get(pk=int(urlsafe_base64_decode(uidb64).decode()))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        return None
    return user if confirmation_tokens.check_token(user, token) else None


CONFIRM_TRIES_PER_HOUR = 10


def user_confirm(*, user: User, password: str) -> bool:
    """Confirm the account's address when `password` is the one chosen at sign-up; True when confirmed.

    The link alone proves the mailbox, not who signed up: someone may sign up with another person's address and
    their own password. Asking for the sign-up password means only the person who signed up can confirm, so the
    mailbox owner never ends up in an account whose password a stranger knows (the mail tells them to ignore it, and
    a sign-up of their own with the address mails them a link to set their own password). At most
    CONFIRM_TRIES_PER_HOUR tries per account an hour (a refused try changes nothing); False when over it or wrong.
    """
    from accounts.ratelimit import rate_hit

    if not rate_hit(key=f"confirm:{user.pk}", limit=CONFIRM_TRIES_PER_HOUR, window_s=3600).allowed:
        logger.warning("Confirmation of account %s refused: too many tries this hour", user.pk)
        return False
    if not user.check_password(password):
        return False
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.email_verified = True
    return True
