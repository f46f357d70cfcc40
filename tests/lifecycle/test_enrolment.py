"""Self-service enrolment against the local stack: an onboarding e-mails the newcomer a link
(through a real SMTP server), the link shows their own OTP token, and their code and new password
set a password that is theirs, through FreeIPA's change_password as them. Then the bad days."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import ldap
import pyotp
import pytest
from django.core.management import call_command

import sandbox.freeipa as freeipa
from onboarding.credentials import credentials_read
from onboarding.enrolment.models import Enrolment
from onboarding.models import AuditEvent, Credential, LifecycleRun, Person
from onboarding.services import person_credentials_reset, person_offboard
from onboarding.systems import Check, system, systems_reset
from sandbox.freeipa import passwords
from tests.lifecycle.conftest import freeipa_grant_as_admin, onboard
from tests.mailbox import Mailbox, body, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

CHOSEN = "Chosen-password-22"
LINK = re.compile(r"https://accessadmin\.example\.test(/enrol/[A-Za-z0-9_-]+/)")


@pytest.fixture
def freeipa_only(stack_configured, settings):
    """Only FreeIPA holds credentials: the other systems would only make the test slower."""
    settings.ACCESSADMIN_SYSTEMS = ["freeipa"]
    systems_reset()
    yield
    systems_reset()


@pytest.fixture
def mailbox(settings) -> Iterator[Mailbox]:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "accessadmin@example.test"
    settings.SITE_URL = "https://accessadmin.example.test"
    box = Mailbox(port=settings.EMAIL_PORT).start()
    yield box
    box.stop()


@pytest.fixture
def grace_limit(stack_configured) -> Iterator:
    """Set FreeIPA's global grace limit for the test; the stand-in's default comes back after."""
    tree = freeipa.tree_for(stack_configured)
    yield lambda limit: passwords.set_grace_limit(tree, limit)
    passwords.set_grace_limit(tree, passwords.DEFAULT_GRACE_LIMIT)


@pytest.fixture
def enrolling(eager, stack_configured, freeipa_only, mailbox, team, username):
    """An onboarded newcomer, their e-mail and the temporary password (read here only to prove
    it stops working; nothing shows it to anyone)."""
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    (mail,) = mailbox.to(f"{username}@example.test")
    temporary = credentials_read(run=run)[Credential.Kind.TEMPORARY_PASSWORD]
    return run, mail, temporary


def link_of(mail) -> str:
    found = LINK.search(body(mail))
    assert found, body(mail)
    return found.group(1)


def key_of(page: str) -> str:
    found = re.search(r'<code id="otp-key" class="secret">([A-Z2-7 ]+)</code>', page)
    assert found, page
    return found.group(1).replace(" ", "")


def bind(stack: dict[str, str], username: str, password: str) -> bool:
    connection = ldap.initialize(stack["LDAP_URI"])
    try:
        connection.simple_bind_s(
            f"uid={username},cn=users,cn=accounts,{stack['LDAP_BASE_DN']}", password
        )
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        connection.unbind_s()
    return True


def enrol(client, link: str, code: str, password: str = CHOSEN, again: str | None = None):
    return client.post(
        link, {"code": code, "password": password, "password_again": again or password}
    )


@pytest.mark.parametrize("limit", [passwords.UNLIMITED_GRACE, 2])
def test_newcomer_enrols_by_the_e_mailed_link_and_the_password_is_theirs(
    limit, grace_limit, enrolling, client, stack_configured, username, mailbox
):
    grace_limit(limit)
    run, mail, temporary = enrolling
    link = link_of(mail)

    page = client.get(link)
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store" or "no-store" in page["Cache-Control"]
    text = page.content.decode()
    assert 'id="otp-qr"' in text and "data:image/svg+xml;base64," in text
    for label in ("Code from your authenticator app", "New password", "New password again"):
        assert label in text
    key = key_of(text)

    done = enrol(client, link, pyotp.TOTP(key).now())
    assert done.status_code == 302 and done["Location"] == link

    assert bind(stack_configured, username, CHOSEN)
    assert not bind(stack_configured, username, temporary)
    used = client.get(link)
    assert "Your login is set up" in used.content.decode()
    assert "This link was used on" in used.content.decode()
    assert key not in used.content.decode()
    # Nothing else carried a secret: no e-mail, no audit entry; the run's secrets are erased.
    for message in mailbox.messages:
        assert temporary not in body(message) and key not in body(message)
    for event in AuditEvent.objects.all():
        assert temporary not in str(event.details) and key not in str(event.details)
    assert credentials_read(run=run) == {}
    assert AuditEvent.objects.filter(action="enrolment.completed", target=username).exists()


def test_the_lead_sees_no_secret_of_a_run_that_enrols_by_link(enrolling, client, settings):
    from django.contrib.auth import get_user_model

    run, _, _ = enrolling
    admin = get_user_model().objects.create_superuser("root", "root@example.test", "pw-root-1")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "sets up their own login by the link e-mailed to" in page
    assert 'id="reveal"' not in page
    answer = client.post(f"/runs/{run.pk}/credentials/", follow=True).content.decode()
    assert "Nothing was revealed" in answer
    assert credentials_read(run=run)  # still waiting for the person


def test_wrong_code_and_mismatched_passwords_change_nothing(
    enrolling, client, stack_configured, username
):
    _, mail, _temporary = enrolling
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())
    wrong = "000000" if pyotp.TOTP(key).now() != "000000" else "111111"

    refused = enrol(client, link, wrong)
    assert refused.status_code == 400
    assert "That is not the current code of this token" in refused.content.decode()
    mismatched = enrol(client, link, pyotp.TOTP(key).now(), again="Another-password-3")
    assert "The two passwords are not the same" in mismatched.content.decode()

    assert not bind(stack_configured, username, CHOSEN)
    assert Enrolment.objects.get().state == Enrolment.State.OPEN
    assert AuditEvent.objects.filter(action="enrolment.refused", target=username).count() == 1


def test_a_password_the_policy_refuses_is_explained_and_the_link_still_works(
    enrolling, client, stack_configured, username
):
    _, mail, _ = enrolling
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())
    refused = enrol(client, link, pyotp.TOTP(key).now(), password="short")
    assert refused.status_code == 400
    assert "password policy refused this password" in refused.content.decode()
    assert "Password is too short" in refused.content.decode()
    assert Enrolment.objects.get().state == Enrolment.State.OPEN


def test_an_expired_link_says_so_and_shows_nothing(enrolling, client):
    _, mail, _ = enrolling
    Enrolment.objects.update(expires_at=Enrolment.objects.get().created_at)
    page = client.get(link_of(mail))
    assert page.status_code == 410
    text = page.content.decode()
    assert "This link has expired" in text and 'id="otp-qr"' not in text


def test_offboarding_ends_the_link(enrolling, client, username):
    _, mail, _ = enrolling
    person_offboard(person=Person.objects.get(username=username), reason="left", actor="admin")
    page = client.get(link_of(mail))
    assert page.status_code == 410
    assert "your access was ended" in page.content.decode()


def test_a_newer_reset_ends_the_older_link(enrolling, client, username, mailbox):
    _, mail, _ = enrolling
    person_credentials_reset(person=Person.objects.get(username=username), actor="admin")
    older = client.get(link_of(mail))
    assert older.status_code == 410
    assert "newer link" in older.content.decode()
    newest = mailbox.to(f"{username}@example.test")[-1]
    assert client.get(link_of(newest)).status_code == 200


def test_guessed_links_are_audited_and_an_address_that_keeps_guessing_is_refused(
    enrolling, client, settings
):
    _, mail, _ = enrolling
    settings.ENROLMENT_FAILURE_LIMIT = 3
    for guess in ("a" * 43, "b" * 43, "c" * 43):
        assert client.get(f"/enrol/{guess}/").status_code == 404
    assert AuditEvent.objects.filter(action="enrolment.refused").count() == 3
    # Even the right link is refused to that address for a while.
    blocked = client.get(link_of(mail))
    assert blocked.status_code == 429
    assert "Too many wrong links or codes" in blocked.content.decode()
    assert 'id="otp-qr"' not in blocked.content.decode()
    other = client.get(link_of(mail), REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 200


def test_at_grace_limit_zero_freeipa_refuses_and_the_person_is_told_why(
    grace_limit, enrolling, client, stack_configured, username
):
    """From FreeIPA's source: change_password binds as the person with the expired temporary
    password, which a grace limit of 0 refuses; the link stays open for when it is allowed."""
    grace_limit(0)
    _, mail, _temporary = enrolling
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())

    refused = enrol(client, link, pyotp.TOTP(key).now())
    assert refused.status_code == 400
    assert "FreeIPA did not accept the temporary password" in refused.content.decode()
    assert Enrolment.objects.get().state == Enrolment.State.OPEN
    assert not bind(stack_configured, username, CHOSEN)
    assert AuditEvent.objects.filter(action="enrolment.failed", target=username).exists()


@pytest.fixture
def directory_reads(stack_configured, settings) -> None:
    """LDAP_BIND_DN may read passSyncManagersDNs (the stack's is Directory Manager)."""
    settings.AUTH_LDAP_SERVER_URI = stack_configured["LDAP_URI"]
    settings.AUTH_LDAP_BIND_DN = stack_configured["LDAP_BIND_DN"]
    settings.AUTH_LDAP_BIND_PASSWORD = stack_configured["LDAP_BIND_PASSWORD"]


@pytest.fixture
def pass_sync(stack_configured, settings, directory_reads) -> Iterator[None]:
    """AccessAdmin's FreeIPA account listed in passSyncManagersDNs, as the README says to."""
    tree = freeipa.tree_for(stack_configured)
    account = (
        f"uid={settings.FREEIPA_USERNAME},cn=users,cn=accounts,{stack_configured['LDAP_BASE_DN']}"
    )
    passwords.pass_sync_managers_set(tree, [account])
    settings.FREEIPA_PASS_SYNC = True
    yield
    passwords.pass_sync_managers_set(tree, [])


def test_at_grace_limit_zero_a_pass_sync_manager_sets_the_chosen_password(
    grace_limit, pass_sync, enrolling, client, stack_configured, username, mailbox
):
    """FreeIPA refuses the person's own change; AccessAdmin, a password-sync manager, checks
    the policy and sets the password, which FreeIPA stores unexpired."""
    grace_limit(0)
    run, mail, temporary = enrolling
    # Set by a password-sync manager, the temporary password is not expired either (README).
    assert bind(stack_configured, username, temporary)
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())

    done = enrol(client, link, pyotp.TOTP(key).now())
    assert done.status_code == 302 and done["Location"] == link

    assert bind(stack_configured, username, CHOSEN)
    assert not bind(stack_configured, username, temporary)
    assert "This link was used on" in client.get(link).content.decode()
    completed = AuditEvent.objects.get(action="enrolment.completed", target=username)
    assert completed.details["password_set"] == "as password-sync manager"
    for event in AuditEvent.objects.all():
        assert temporary not in str(event.details) and CHOSEN not in str(event.details)
        assert key not in str(event.details)
    for message in mailbox.messages:
        assert temporary not in body(message) and key not in body(message)
    assert credentials_read(run=run) == {}

    again = enrol(client, link, pyotp.TOTP(key).now(), password="Another-password-33")
    assert "This link was used on" in again.content.decode()
    assert bind(stack_configured, username, CHOSEN)
    assert not bind(stack_configured, username, "Another-password-33")


def test_at_grace_limit_zero_a_password_the_policy_refuses_changes_nothing(
    grace_limit, pass_sync, enrolling, client, stack_configured, username
):
    """FreeIPA would store it, so AccessAdmin refuses it for FreeIPA's own reason."""
    grace_limit(0)
    run, mail, temporary = enrolling
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())

    refused = enrol(client, link, pyotp.TOTP(key).now(), password="Sh0rt")
    assert refused.status_code == 400
    assert "Password is too short" in refused.content.decode()
    assert not bind(stack_configured, username, "Sh0rt")
    assert Enrolment.objects.get().state == Enrolment.State.OPEN
    assert credentials_read(run=run)[Credential.Kind.TEMPORARY_PASSWORD] == temporary
    assert not AuditEvent.objects.filter(action="enrolment.completed").exists()


def test_at_grace_limit_zero_an_account_not_listed_as_pass_sync_manager_changes_nothing(
    grace_limit, directory_reads, enrolling, client, stack_configured, username, settings
):
    """Configured for it but not in passSyncManagersDNs: FreeIPA would store the password
    expired, so nothing is set and the person is told to ask an admin."""
    grace_limit(0)
    settings.FREEIPA_PASS_SYNC = True
    _, mail, _ = enrolling
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())

    refused = enrol(client, link, pyotp.TOTP(key).now())
    assert refused.status_code == 400
    assert "FreeIPA did not let AccessAdmin set your password" in refused.content.decode()
    assert not bind(stack_configured, username, CHOSEN)
    assert Enrolment.objects.get().state == Enrolment.State.OPEN
    failed = AuditEvent.objects.get(action="enrolment.failed", target=username)
    assert "passSyncManagersDNs" in failed.details["reason"]


def pass_sync_check(settings) -> Check:
    (found,) = [c for c in system("freeipa").preflight() if c.subject == "password-sync manager"]
    return found


def test_freeipa_grant_offers_pass_sync_and_preflight_says_whether_it_took(
    stack_configured, directory_reads, settings, tmp_path
):
    """Opt-in: without --pass-sync nothing is said; with it, what it gives and how to list the
    account (FreeIPA has no API command for it); preflight then reads the list."""
    account = settings.FREEIPA_USERNAME
    plain = freeipa_grant_as_admin(stack_configured, account, tmp_path)
    assert "password-sync" not in plain
    settings.FREEIPA_PASS_SYNC = True
    assert pass_sync_check(settings).verdict == Check.FAILED

    out = io.StringIO()
    (tmp_path / "admin").write_text(stack_configured["FREEIPA_PASSWORD"])
    call_command(
        "freeipa_grant", account, "--admin", stack_configured["FREEIPA_USERNAME"],
        "--admin-password-file", str(tmp_path / "admin"), "--pass-sync", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    dn = f"uid={account},cn=users,cn=accounts,{stack_configured['LDAP_BASE_DN']}"
    assert f"passSyncManagersDNs: {dn}" in text
    assert "NOT expired" in text and "applies the policy itself" in text.replace("\n  ", " ")

    tree = freeipa.tree_for(stack_configured)
    passwords.pass_sync_managers_set(tree, [dn])
    try:
        assert pass_sync_check(settings).verdict == Check.OK
    finally:
        passwords.pass_sync_managers_set(tree, [])


def test_at_grace_limit_zero_an_account_onboarded_before_the_opt_in_enrols_too(
    grace_limit, enrolling, pass_sync, client, stack_configured, username
):
    """Onboarded before AccessAdmin was listed: the temporary password is expired, FreeIPA
    refuses the person's own change, and AccessAdmin sets the chosen one."""
    grace_limit(0)
    _, mail, temporary = enrolling
    assert not bind(stack_configured, username, temporary)
    link = link_of(mail)
    key = key_of(client.get(link).content.decode())

    done = enrol(client, link, pyotp.TOTP(key).now())
    assert done.status_code == 302

    assert bind(stack_configured, username, CHOSEN)
    assert not bind(stack_configured, username, temporary)
