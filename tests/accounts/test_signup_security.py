"""Sign-up only creates, reveals nothing, and holds under concurrency (issue 11, items 2 and 5); e-mail addresses
are case-insensitive everywhere; the password rules are what the help text says; the reset flow works end to end;
the first account's password is printed once."""

from __future__ import annotations

import re
import threading
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.test import Client

from accounts.models import ApiKey, MonthlyUsage, User
from accounts.tiers import Tier
from core.errors import InvalidInput
from modes.models import CustomMode
from modes.services import custom_mode_create
from tests.factories import UserFactory

PASSWORD = "a long enough pass phrase"
OTHER = "another quite long phrase"
LINK = re.compile(r"http://testserver(/accounts/(?:confirm|reset)/\S+)")


def _sign_up(client: Client, email: str, password: str = PASSWORD):
    return client.post("/accounts/signup/", {"email": email, "password1": password, "password2": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the mails) inside an in-process test's transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- item 2: sign-up only creates ---------------------------------------------------------------------------------
def test_a_sign_up_for_an_existing_address_logs_nobody_in_and_changes_nothing(client, db, on_commit):
    owner = UserFactory(email="jane.doe@example.com", tier=Tier.STANDARD)
    with on_commit():
        response = _sign_up(client, "Jane.Doe@Example.com", OTHER)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/sent/"
    assert not _logged_in(client)
    owner.refresh_from_db()
    assert owner.check_password("correct horse battery staple")
    assert not owner.check_password(OTHER)
    assert owner.tier == Tier.STANDARD
    assert User.objects.count() == 1
    assert ApiKey.objects.count() == 0
    # The owner is told, with a reset link; nothing else is sent.
    (message,) = mail.outbox
    assert message.to == ["jane.doe@example.com"]
    assert "already has an account" in message.body
    assert "/accounts/reset/" in message.body


def test_sign_up_answers_the_same_whether_or_not_the_address_has_an_account(client, db, on_commit):
    UserFactory(email="taken@example.com")
    with on_commit():
        taken = _sign_up(Client(), "taken@example.com")
        new = _sign_up(Client(), "fresh@example.com")
    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert taken.content == new.content
    page = client.get(new["Location"])
    assert b"Check your e-mail" in page.content
    assert [m.to for m in mail.outbox] == [["taken@example.com"], ["fresh@example.com"]]


def test_a_new_account_logs_in_only_after_its_link_is_opened(client, db, on_commit):
    with on_commit():
        _sign_up(client, "New.Person@Example.com")
    user = User.objects.get(email="new.person@example.com")
    assert (user.tier, user.email_verified) == (Tier.TRIAL, False)
    assert not _logged_in(client)
    refused = client.post("/accounts/login/", {"username": "new.person@example.com", "password": PASSWORD})
    assert refused.status_code == 200
    assert b"Confirm your e-mail address first" in refused.content
    assert not _logged_in(client)
    link = LINK.search(mail.outbox[0].body).group(1)
    assert b"Confirm and log in" in client.get(link).content  # a GET (a mail scanner's) changes nothing
    assert not User.objects.get(pk=user.pk).email_verified
    assert client.post(link, {"password": PASSWORD})["Location"] == "/welcome/"
    assert _logged_in(client)
    assert User.objects.get(pk=user.pk).email_verified
    assert Client().post(link, {"password": PASSWORD}).status_code == 400  # used once


def test_a_forged_confirmation_link_is_refused(client, db):
    user = UserFactory(email_verified=False)
    response = client.post(f"/accounts/confirm/{user.pk}/abc-123/", {"password": "correct horse battery staple"})
    assert response.status_code == 400
    assert not _logged_in(client)
    assert not User.objects.get(pk=user.pk).email_verified


def test_a_stranger_who_signs_up_with_my_address_cannot_hand_me_an_account_whose_password_they_know(db, on_commit):
    """The issue 11 follow-up: the attacker signs up with the victim's address and their own password; the victim
    opens the mailed link. Without the sign-up password nothing is confirmed and nobody is logged in; the victim
    gets an account of their own only through a link that sets their own password, and the attacker's stops working.
    """
    attacker, victim = Client(), Client()
    with on_commit():
        _sign_up(attacker, "victim@example.com", OTHER)
    user = User.objects.get(email="victim@example.com")
    (message,) = mail.outbox
    assert "If you did not sign up, ignore this message" in message.body
    link = LINK.search(message.body).group(1)
    page = victim.get(link)
    assert b"password you chose" in page.content
    assert b'name="password"' in page.content
    for data in ({}, {"password": ""}, {"password": "a guess of the victim"}, {"password": PASSWORD}):
        refused = victim.post(link, data)
        assert refused.status_code == 400
        assert not _logged_in(victim)
        user.refresh_from_db()
        assert not user.email_verified
        assert user.check_password(OTHER)
    assert b"not the password chosen at sign-up" in refused.content
    # The victim signs up with the address: no enumeration (the same answer), a link to set their own password.
    with on_commit():
        again = _sign_up(victim, "victim@example.com", PASSWORD)
    assert again["Location"] == "/accounts/signup/sent/"
    reset = LINK.search(mail.outbox[1].body).group(1)
    assert reset.startswith("/accounts/reset/")
    form_url = victim.get(reset)["Location"]
    victim.post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    user.refresh_from_db()
    assert user.email_verified
    assert user.check_password(PASSWORD)
    assert not user.check_password(OTHER)
    # The attacker's link is dead and their password no longer logs in.
    assert attacker.post(link, {"password": OTHER}).status_code == 400
    assert not _logged_in(attacker)
    assert attacker.post("/accounts/login/", {"username": "victim@example.com", "password": OTHER}).status_code == 200
    assert not _logged_in(attacker)
    assert User.objects.count() == 1


def test_confirmation_tries_are_limited_per_account(client, db, on_commit):
    with on_commit():
        _sign_up(client, "slow@example.com")
    link = LINK.search(mail.outbox[0].body).group(1)
    for _ in range(10):
        assert client.post(link, {"password": "wrong wrong wrong"}).status_code == 400
    # Over the limit even the right password is refused, and nothing changes.
    assert client.post(link, {"password": PASSWORD}).status_code == 400
    assert not _logged_in(client)
    assert not User.objects.get(email="slow@example.com").email_verified


@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_ups_for_one_address_create_one_account_and_log_nobody_in():
    """The report's race, with real threads on their own database connections, started together by a barrier."""
    for attempt in range(8):
        email = f"race{attempt}@example.com"
        clients = [Client(), Client()]
        barrier = threading.Barrier(2)
        responses: list = [None, None]

        def run(i: int, email: str = email, clients=clients, barrier=barrier, responses=responses) -> None:
            try:
                barrier.wait()
                responses[i] = _sign_up(clients[i], email, [PASSWORD, OTHER][i])
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert [(r.status_code, r["Location"]) for r in responses] == [(302, "/accounts/signup/sent/")] * 2
        assert not any(_logged_in(c) for c in clients)
        assert User.objects.filter(email=email).count() == 1
    assert (
        sorted(m.subject for m in mail.outbox) == ["Confirm your DeepRead account"] * 8 + ["Your DeepRead account"] * 8
    )


def test_the_unique_index_is_on_the_lower_cased_address(db):
    UserFactory(email="case@example.com")
    with pytest.raises(IntegrityError):
        User.objects.bulk_create([User(email="CASE@example.com")])


def test_mode_create_that_loses_a_race_is_a_form_error_not_a_500(client, db, monkeypatch):
    """A deterministic interleaving: the other request inserts the same name after this one's unique check."""
    user = UserFactory()
    client.force_login(user)
    original = CustomMode.full_clean

    def overtaken(self, *args, **kwargs):
        original(self, *args, **kwargs)
        CustomMode.objects.create(owner=self.owner, name=self.name, display_name="first", prompt="p")

    monkeypatch.setattr(CustomMode, "full_clean", overtaken)
    with pytest.raises(InvalidInput, match="already have a mode named 'lines'"):
        custom_mode_create(user=user, name="lines", display_name="Lines", prompt="Free OCR.")
    response = client.post(
        "/modes/new",
        {"name": "rows", "display_name": "Rows", "description": "", "prompt": "Free OCR.", "output_kind": "text"},
    )
    assert response.status_code == 400
    assert b"already have a mode named" in response.content
    # (The simulated "other request" ran in this request's transaction, so the refusal rolled it back too.)
    assert CustomMode.objects.filter(owner=user).count() == 0


# --- item 5: e-mail case, password rules, reset, first account ----------------------------------------------------
def test_log_in_with_the_address_in_any_case(client, db):
    user = UserFactory(email="jane.doe@example.com")
    user.set_password(PASSWORD)
    user.save()
    response = client.post("/accounts/login/", {"username": "  Jane.Doe@EXAMPLE.com", "password": PASSWORD})
    assert response.status_code == 302
    assert _logged_in(client)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("84736251", b"entirely numeric"),
        ("8473625194", b"entirely numeric"),
        ("jane.doe@example.com", b"too similar"),
        ("jane.doe.example", b"too similar"),
        ("        ", b"only spaces"),
        ("            ", b"only spaces"),
        ("password123", b"too common"),
        ("Xq7!kd", b"too short"),
    ],
)
def test_weak_passwords_are_refused_as_the_help_text_says(client, db, password, message):
    response = _sign_up(client, "jane.doe@example.com", password)
    assert response.status_code == 200
    assert message in response.content
    assert User.objects.count() == 0
    assert len(mail.outbox) == 0


def test_the_help_text_names_every_rule_checked(client, db):
    page = client.get("/accounts/signup/").content.decode()
    for rule in ("too similar", "at least 10 characters", "commonly used", "entirely numeric", "only spaces"):
        assert rule in page


def test_password_reset_end_to_end(client, db):
    user = UserFactory(email="reset.me@example.com")
    assert b"Forgot your password?" in client.get("/accounts/login/").content
    response = client.post("/accounts/password/reset/", {"email": "Reset.Me@Example.com"})
    assert response["Location"] == "/accounts/password/reset/sent/"
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert unknown["Location"] == response["Location"]  # no hint whether the address has an account
    (message,) = mail.outbox
    assert message.to == ["reset.me@example.com"]
    link = LINK.search(message.body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    page = client.get(form_url)
    assert b"Choose a new password" in page.content
    assert b"entirely numeric" in page.content  # the rules, as plain text
    weak = client.post(form_url, {"new_password1": "84736251", "new_password2": "84736251"})
    assert b"entirely numeric" in weak.content
    done = client.post(form_url, {"new_password1": OTHER, "new_password2": OTHER})
    assert done["Location"] == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password(OTHER)
    assert b"does not work" in client.get(link, follow=True).content  # used once


def test_a_reset_confirms_an_unconfirmed_sign_up(client, db):
    user = UserFactory(email="late@example.com", email_verified=False)
    client.post("/accounts/password/reset/", {"email": "late@example.com"})
    link = LINK.search(mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    client.post(form_url, {"new_password1": OTHER, "new_password2": OTHER})
    assert User.objects.get(pk=user.pk).email_verified


def test_the_first_account_password_is_printed_once_and_not_stored(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    legacy = tmp_path / "first-account.txt"
    legacy.write_text("e-mail: old\npassword: old-secret\n")
    first = StringIO()
    call_command("ensure_first_account", stdout=first)
    password = re.search(r"password: (\S+)", first.getvalue()).group(1)
    assert User.objects.get().check_password(password)
    assert not legacy.exists()
    assert list(tmp_path.iterdir()) == []
    second = StringIO()
    call_command("ensure_first_account", stdout=second)
    assert password not in second.getvalue()
    assert "password:" not in second.getvalue()
    assert User.objects.count() == 1
    assert MonthlyUsage.objects.count() == 0


def test_the_log_in_page_says_nothing_about_a_password_file(client, db):
    page = client.get("/accounts/login/").content
    assert b"first-account" not in page
    assert b"var/" not in page


def test_the_forms_cannot_flood_a_mailbox(client, db, on_commit, settings):
    settings.DEEPREAD_ACCOUNT_MAILS_PER_HOUR = 5
    UserFactory(email="victim@example.com")
    with on_commit():
        answers = {(_sign_up(Client(), "Victim@Example.com")["Location"]) for _ in range(4)}
        answers |= {
            client.post("/accounts/password/reset/", {"email": "victim@example.com"})["Location"] for _ in range(4)
        }
    assert answers == {"/accounts/signup/sent/", "/accounts/password/reset/sent/"}  # the same answers throughout
    assert len(mail.outbox) == 5
    assert {m.to[0] for m in mail.outbox} == {"victim@example.com"}
    assert User.objects.count() == 1
