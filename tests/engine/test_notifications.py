"""E-mail through a real SMTP server on 127.0.0.1 (aiosmtpd) and Django's SMTP backend: the
requester and the leads hear how a run went, the admins when it failed, a newcomer gets a
welcome; the admins get each reconciliation pass's new findings, and the leads and admins hear
who leaves soon, once per end date. No e-mail ever carries a secret. A mail server that is down
never holds a run back."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from onboarding.credentials import credential_store, credentials_reveal
from onboarding.enrolment.models import Enrolment
from onboarding.errors import PermanentError
from onboarding.models import AuditEvent, Credential, LifecycleRun, Person
from onboarding.notifications import leaving_soon_notify
from onboarding.services import person_dates_set, person_onboard, reconcile
from onboarding.tasks import leaving_soon_notify_task, run_notify_task
from tests.engine.fake import Account
from tests.factories import make_person
from tests.mailbox import Mailbox, body, free_port

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State
PASSWORD = "Tmp-Pass-7rq9XkLm2"
OTP_URI = "otpauth://totp/EXAMPLE.TEST:ada?secret=JBSWY3DPEHPK3PXPQ7TX&issuer=EXAMPLE.TEST"


@pytest.fixture
def mail_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 2
    settings.DEFAULT_FROM_EMAIL = "accessadmin@example.test"
    settings.SITE_URL = "https://accessadmin.example.test"
    settings.FREEIPA_HOST = "ipa1.example.test,ipa2.example.test"
    settings.JUPYTERHUB_URL = "https://hub.example.test"
    # The hand-over path; test_enrolment_link_* turn the link on.
    settings.ENROLMENT_BY_EMAIL = False
    return settings


@pytest.fixture
def mailbox(mail_settings) -> Iterator[Mailbox]:
    box = Mailbox(port=mail_settings.EMAIL_PORT).start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def requester():
    return get_user_model().objects.create_user("lea", email="lea@example.test")


def onboard_with_credentials(fake, team, requester) -> LifecycleRun:
    """Onboard ada; the fake hands over a password and an OTP secret as FreeIPA's steps do."""

    def hand_over() -> None:
        run = LifecycleRun.objects.get(person__username="ada")
        credential_store(run=run, kind=Credential.Kind.TEMPORARY_PASSWORD, secret=PASSWORD)
        credential_store(run=run, kind=Credential.Kind.OTP_ENROLMENT, secret=OTP_URI)

    fake.before("account_create", hand_over)
    run = person_onboard(
        username="ada", first_name="Ada", last_name="Lovelace", email="ada@example.test",
        team=team, actor="lea", requested_by=requester,
    )  # fmt: skip
    run.refresh_from_db()
    return run


def test_an_onboarding_tells_the_requester_the_lead_and_welcomes_the_newcomer(
    fake, team, mailbox, requester
):
    make_person("lead", team=team, email="lead@example.test")
    team.leads.add(get_user_model().objects.create_user("lead"))
    run = onboard_with_credentials(fake, team, requester)
    assert run.state == State.SUCCEEDED

    (to_requester,) = mailbox.to("lea@example.test")
    assert "Onboard of ada succeeded" in to_requester["Subject"]
    assert f"https://accessadmin.example.test/runs/{run.pk}/" in body(to_requester)
    assert len(mailbox.to("lead@example.test")) == 1
    (welcome,) = mailbox.to("ada@example.test")
    text = body(welcome)
    assert "Your username is: ada" in text
    assert "https://ipa1.example.test/ipa/ui/" in text
    assert "https://hub.example.test" in text
    assert "team lead hands you your temporary password" in text

    secrets = credentials_reveal(run=run, actor="lea")
    assert set(secrets.values()) == {PASSWORD, OTP_URI}
    for message in mailbox.messages:
        sent = message.as_string()
        assert PASSWORD not in sent
        assert "JBSWY3DPEHPK3PXPQ7TX" not in sent
    audited = AuditEvent.objects.filter(action="notification.sent", outcome="succeeded")
    assert sorted((e.details["event"], e.details["to"]) for e in audited) == [
        ("run.succeeded", "lea@example.test"),
        ("run.succeeded", "lead@example.test"),
        ("welcome", "ada@example.test"),
    ]
    assert all("body" not in event.details for event in audited)


def test_with_enrolment_the_newcomer_gets_a_link_and_nobody_a_secret(
    fake, team, mailbox, requester, settings
):
    settings.ENROLMENT_BY_EMAIL = True
    run = onboard_with_credentials(fake, team, requester)
    assert run.state == State.SUCCEEDED

    (to_newcomer,) = mailbox.to("ada@example.test")
    text = body(to_newcomer)
    link = re.search(r"https://accessadmin\.example\.test/enrol/([A-Za-z0-9_-]+)/", text)
    assert link, text
    assert "Your username is: ada" in text and "works once, for 72 hours" in text
    (to_requester,) = mailbox.to("lea@example.test")
    assert "sets up their login by the link e-mailed to them" in body(to_requester)
    for message in mailbox.messages:
        sent = message.as_string()
        assert PASSWORD not in sent and "JBSWY3DPEHPK3PXPQ7TX" not in sent
    (enrolment,) = Enrolment.objects.all()
    assert enrolment.run == run and enrolment.state == Enrolment.State.OPEN
    assert link.group(1) not in enrolment.token_digest
    for event in AuditEvent.objects.all():
        assert link.group(1) not in str(event.details)
    # The secrets wait for the link, and for nobody else.
    assert Credential.objects.filter(run=run, expires_at=enrolment.expires_at).count() == 2


def test_a_failed_run_tells_the_requester_what_failed_and_where_to_resume(
    fake, team, mailbox, requester
):
    fake.fail("account_create", PermanentError("fake", "quota exceeded"))
    run = person_onboard(
        username="bob", first_name="Bob", last_name="K", email="bob@example.test", team=team,
        actor="lea", requested_by=requester,
    )  # fmt: skip
    run.refresh_from_db()
    assert run.state == State.FAILED
    (message,) = mailbox.messages
    assert message["To"] == "lea@example.test"
    assert "failed" in message["Subject"]
    assert "quota exceeded" in body(message)
    assert "resume it or roll it back" in body(message)
    assert f"/runs/{run.pk}/" in body(message)


def test_with_the_mail_server_down_the_run_succeeds_and_the_send_is_retried(
    fake, team, mail_settings, requester, caplog
):
    mail_settings.CELERY_TASK_MAX_RETRIES = 2
    run = onboard_with_credentials(fake, team, requester)
    assert run.state == State.SUCCEEDED
    retries = [r for r in caplog.records if "sending its notifications failed" in r.message]
    assert len(retries) == 2
    (gave_up,) = AuditEvent.objects.filter(action="notification.sent", outcome="failed")
    assert gave_up.details["run"] == run.pk


def test_nothing_is_sent_without_a_mail_host(fake, team, mailbox, requester, settings):
    settings.EMAIL_HOST = ""
    run = onboard_with_credentials(fake, team, requester)
    assert run.state == State.SUCCEEDED
    assert mailbox.messages == []
    assert not AuditEvent.objects.filter(action="notification.sent").exists()


class ChatHook(BaseHTTPRequestHandler):
    posted: list[dict] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        ChatHook.posted.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_chat_webhook_hears_how_the_run_ended_but_not_the_welcome(
    fake, team, settings, requester
):
    ChatHook.posted = []
    server = HTTPServer(("127.0.0.1", 0), ChatHook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.NOTIFY_CHAT_URL = f"http://127.0.0.1:{server.server_port}/hooks/abc"
    try:
        run = onboard_with_credentials(fake, team, requester)
    finally:
        server.shutdown()
    assert run.state == State.SUCCEEDED
    (posted,) = ChatHook.posted
    assert "Onboard of ada succeeded" in posted["text"]
    assert PASSWORD not in posted["text"]
    assert AuditEvent.objects.get(action="notification.sent").details["to"] == "chat"


def test_without_a_mail_server_the_chat_webhook_hears_what_admins_hear(fake, team, settings, lead):
    ChatHook.posted = []
    server = HTTPServer(("127.0.0.1", 0), ChatHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EMAIL_HOST = ""
    settings.NOTIFY_CHAT_URL = f"http://127.0.0.1:{server.server_port}/hooks/abc"
    try:
        fake.accounts["eve"] = Account("eve", "vision")
        reconcile(actor="system")
        reconcile(actor="system")
        leaver("ada", team, 5)
        assert leaving_soon_notify() == 1
        assert leaving_soon_notify() == 0
    finally:
        server.shutdown()
    findings, leaving = (posted["text"] for posted in ChatHook.posted)
    # eve, and the lead, who is active here but has no account of theirs.
    assert "Reconciliation found 2 new differences" in findings and "account eve " in findings
    assert "ada leaves on" in leaving and "/people/ada/" in leaving
    told = AuditEvent.objects.filter(action="notification.sent", outcome="succeeded")
    assert {event.details["to"] for event in told} == {"chat"}


class RedirectingHook(BaseHTTPRequestHandler):
    """A receiver that sends every POST on to another host (302: urllib would follow it, as a
    GET, to wherever the receiver says)."""

    location = ""

    def do_POST(self) -> None:
        self.send_response(302)
        self.send_header("Location", RedirectingHook.location)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class Elsewhere(BaseHTTPRequestHandler):
    """Another host: records every request that reaches it, whatever its method."""

    reached: list[str] = []

    def do_GET(self) -> None:
        Elsewhere.reached.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


def test_the_chat_webhook_follows_no_redirect_to_another_host(fake, team, settings, lead):
    Elsewhere.reached = []
    elsewhere = HTTPServer(("127.0.0.1", 0), Elsewhere)
    redirecting = HTTPServer(("127.0.0.1", 0), RedirectingHook)
    for server in (elsewhere, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    RedirectingHook.location = f"http://localhost:{elsewhere.server_port}/collect"
    settings.EMAIL_HOST = ""
    settings.NOTIFY_CHAT_URL = f"http://127.0.0.1:{redirecting.server_port}/hooks/abc"
    leaver("ada", team, 5)
    try:
        with pytest.raises(OSError, match="302"):
            leaving_soon_notify()
    finally:
        elsewhere.shutdown()
        redirecting.shutdown()
    assert Elsewhere.reached == []
    assert not AuditEvent.objects.filter(action="notification.sent", outcome="succeeded").exists()


@pytest.fixture
def admins(settings):
    """Two admins by rights, one by NOTIFY_ADMIN_EMAILS; a former admin and one without an
    address are not told."""
    users = get_user_model().objects
    users.create_superuser("root", email="root@example.test")
    ops = users.create_user("ops", email="ops@example.test")
    ops.groups.add(Group.objects.create(name=settings.LDAP_ADMIN_GROUP))
    users.create_superuser("gone", email="gone@example.test", is_active=False)
    users.create_superuser("nomail", email="")
    settings.NOTIFY_ADMIN_EMAILS = ["oncall@example.test"]
    return ["oncall@example.test", "ops@example.test", "root@example.test"]


def recipients(mailbox: Mailbox) -> list[str]:
    return sorted(message["To"] for message in mailbox.messages)


def test_a_failed_run_tells_the_admins_once_even_when_the_task_is_retried(
    fake, team, mailbox, requester, admins
):
    fake.fail("account_create", PermanentError("fake", "quota exceeded"))
    run = person_onboard(
        username="bob", first_name="Bob", last_name="K", email="bob@example.test", team=team,
        actor="lea", requested_by=requester,
    )  # fmt: skip
    assert recipients(mailbox) == sorted([*admins, "lea@example.test"])
    assert all("quota exceeded" in body(message) for message in mailbox.messages)
    run_notify_task.apply(args=[run.pk])
    assert len(mailbox.messages) == 4


def test_a_successful_run_does_not_tell_the_admins(fake, team, mailbox, requester, admins):
    onboard_with_credentials(fake, team, requester)
    assert recipients(mailbox) == ["ada@example.test", "lea@example.test"]


def test_each_pass_mails_the_admins_one_digest_of_its_new_findings_only(
    fake, team, mailbox, admins
):
    fake.accounts["eve"] = Account("eve", "vision")
    fake.accounts["mallory"] = Account("mallory", "vision")
    assert len(reconcile(actor="system")) == 2
    assert recipients(mailbox) == admins
    digest = body(mailbox.to("root@example.test")[0])
    assert "account eve " in digest and "account mallory " in digest
    assert "https://accessadmin.example.test/reconcile/" in digest
    assert "2 new differences" in mailbox.messages[0]["Subject"]

    mailbox.messages.clear()
    reconcile(actor="system")
    assert mailbox.messages == []

    fake.accounts["trudy"] = Account("trudy", "vision")
    reconcile(actor="system")
    assert recipients(mailbox) == admins
    digest = body(mailbox.to("ops@example.test")[0])
    assert "account trudy " in digest
    assert "account eve " not in digest and "account mallory " not in digest


def test_a_pass_without_admins_or_a_mail_host_sends_nothing(fake, team, mailbox, settings):
    fake.accounts["eve"] = Account("eve", "vision")
    reconcile(actor="system")
    assert mailbox.messages == []
    settings.EMAIL_HOST = ""
    get_user_model().objects.create_superuser("root", email="root@example.test")
    fake.accounts["mallory"] = Account("mallory", "vision")
    reconcile(actor="system")
    assert mailbox.messages == []


def leaver(username: str, team, days: int, **fields) -> Person:
    fields.setdefault("status", Person.Status.ACTIVE)
    end_date = timezone.localdate() + timedelta(days=days)
    return make_person(username, team=team, end_date=end_date, **fields)


@pytest.fixture
def lead(team):
    make_person("lead", team=team, email="lead@example.test", status=Person.Status.ACTIVE)
    team.leads.add(get_user_model().objects.create_user("lead"))
    return "lead@example.test"


def test_a_lead_is_told_once_who_leaves_within_14_days_and_what_happens(
    fake, team, other_team, mailbox, lead
):
    ada = leaver("ada", team, 5)
    leaver("bea", team, 14)
    leaver("cy", team, 15)
    leaver("dan", team, 3, status=Person.Status.OFFBOARDED)
    leaver("eli", other_team, 2)
    assert leaving_soon_notify() == 1
    (message,) = mailbox.to(lead)
    text = body(message)
    assert "2 people leave within 14 days" in message["Subject"]
    assert f"{ada.end_date.isoformat()}, in 5 days" in text
    assert "offboards them" in text
    assert "https://accessadmin.example.test/people/ada/" in text
    assert "https://accessadmin.example.test/people/bea/" in text
    assert "extend their end date" in text
    for elsewhere in ("cy", "dan", "eli"):
        assert f"/people/{elsewhere}/" not in text

    assert leaving_soon_notify() == 0
    leaving_soon_notify_task.apply()
    assert len(mailbox.messages) == 1


def test_a_changed_end_date_is_told_again_a_cleared_one_is_not(fake, team, mailbox, lead):
    ada = leaver("ada", team, 10)
    leaver("bea", team, 12)
    leaving_soon_notify()
    mailbox.messages.clear()
    new_date = timezone.localdate() + timedelta(days=4)
    person_dates_set(person=ada, end_date=new_date, actor="admin")
    person_dates_set(person=Person.objects.get(username="bea"), end_date=None, actor="admin")
    assert leaving_soon_notify() == 1
    (message,) = mailbox.to(lead)
    assert f"ada leaves on {new_date.isoformat()}" in message["Subject"]
    assert "/people/bea/" not in body(message)
    told = AuditEvent.objects.filter(action="notification.sent", target="ada")
    assert sorted(event.details["end_date"] for event in told) == sorted(
        [new_date.isoformat(), (new_date + timedelta(days=6)).isoformat()]
    )


def test_the_admins_get_one_digest_of_every_team_s_leavers(
    fake, team, other_team, mailbox, lead, admins
):
    leaver("ada", team, 5)
    leaver("eli", other_team, 2)
    leaving_soon_notify()
    assert recipients(mailbox) == sorted([*admins, lead])
    digest = body(mailbox.to("root@example.test")[0])
    assert "/people/ada/" in digest and "/people/eli/" in digest
    assert "/people/eli/" not in body(mailbox.to(lead)[0])


def test_leaving_soon_with_the_mail_server_down_is_told_on_a_later_pass(
    fake, team, mail_settings, lead, caplog
):
    mail_settings.CELERY_TASK_MAX_RETRIES = 1
    leaver("ada", team, 5)
    leaving_soon_notify_task.apply()
    (gave_up,) = AuditEvent.objects.filter(action="notification.sent", outcome="failed")
    assert gave_up.details["about"] == "leaving-soon notices"
    assert not AuditEvent.objects.filter(action="notification.sent", outcome="succeeded")
    mail_settings.EMAIL_HOST = ""
    assert leaving_soon_notify() == 0
