"""Telling people by e-mail: how a run ended (whoever asked for it, the team's leads, and the
admins when it failed), a newcomer their welcome, the admins what a reconciliation pass newly
found, and the leads and admins who leaves soon. No e-mail ever carries a secret: credentials are
revealed once, in AccessAdmin, by whoever asked for the run, or the person gets a one-time link to
set up their own login (onboarding/enrolment/). Each e-mail is audited as
"notification.sent" (to whom, about what; never the body), which is also how a retried send
knows what went out already."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.enrolment.service import enrolment_applies, enrolment_issue, enrolment_link
from onboarding.models import AuditEvent, Finding, LifecycleRun, Person, Team
from onboarding.selectors import people_leaving_soon, team_lead_names
from onboarding.systems.registry import system_logins
from onboarding.webhooks import redirects_refused_opener

logger = logging.getLogger(__name__)

# A mail server or chat webhook that refuses, drops the connection or cannot be reached.
MAIL_ERRORS = (smtplib.SMTPException, OSError)

Kind = LifecycleRun.Kind
State = LifecycleRun.State
# Who sends them, in the audit log.
NOTIFIER = "accessadmin"


@dataclass(frozen=True)
class Notification:
    event: str
    to: str
    subject: str
    body: str


# The e-mail that carries a person's enrolment link, and where the link goes in its body.
ENROLMENT = "enrolment"
LINK_PLACE = "[enrolment link]"
# What a chat webhook is told about, and the address it is audited under.
CHAT = "chat"


def notifications_enabled() -> bool:
    return bool(settings.EMAIL_HOST or settings.NOTIFY_CHAT_URL)


def run_notifications(run: LifecycleRun) -> list[Notification]:
    """What to send now that the run has ended: one e-mail per address, per event."""
    if run.state not in (State.SUCCEEDED, State.FAILED):
        return []
    person = run.person
    told = _run_told(run, to="")
    notifications = [
        Notification(told.event, address, told.subject, told.body) for address in _run_watchers(run)
    ]
    if run.state == State.SUCCEEDED and enrolment_applies(run):
        subject = (
            "Welcome to the ML platform: set up your login"
            if run.kind == Kind.ONBOARD
            else "Set up your new ML platform login"
        )
        notifications.append(
            Notification(ENROLMENT, person.email, subject, _enrolment_body(person, run))
        )
    elif run.kind == Kind.ONBOARD and run.state == State.SUCCEEDED and person.email:
        notifications.append(
            Notification(
                "welcome", person.email, "Welcome to the ML platform", _welcome_body(person)
            )
        )
    return notifications


def _run_told(run: LifecycleRun, *, to: str) -> Notification:
    """How the run ended, for whoever watches it."""
    subject = f"[AccessAdmin] {run.get_kind_display()} of {run.person.username} {run.state}"
    body = _run_succeeded_body(run) if run.state == State.SUCCEEDED else _run_failed_body(run)
    return Notification(f"run.{run.state}", to, subject, body)


def _run_watchers(run: LifecycleRun) -> list[str]:
    """The requester (a user with an e-mail) and the team's leads, and the admins when the run
    failed, each once."""
    addresses = []
    requester = run.requested_by
    if requester is not None and requester.email:
        addresses.append(requester.email)
    addresses += _lead_addresses(run.person.team)
    if run.state == State.FAILED:
        addresses += admin_addresses()
    return list(dict.fromkeys(addresses))


def _lead_addresses(team: Team) -> list[str]:
    leads = Person.objects.filter(username__in=team_lead_names(team)).exclude(email="")
    return list(leads.order_by("username").values_list("email", flat=True))


def admin_addresses() -> list[str]:
    """Active users who are superusers or in the admin group and have an e-mail, and
    NOTIFY_ADMIN_EMAILS, each once."""
    admins = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=settings.LDAP_ADMIN_GROUP))
        .exclude(email="")
    )
    addresses = sorted(set(admins.values_list("email", flat=True)))
    return list(dict.fromkeys([*addresses, *settings.NOTIFY_ADMIN_EMAILS]))


def _run_link(run: LifecycleRun) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/runs/{run.pk}/"


def _run_succeeded_body(run: LifecycleRun) -> str:
    lines = [
        f"Run #{run.pk}, {run.get_kind_display().lower()} of {run.person.username} "
        f"(team {run.person.team.name}), succeeded.",
    ]
    if enrolment_applies(run):
        lines.append(
            f"{run.person.username} sets up their login by the link e-mailed to them; nobody "
            f"else sees their password or OTP key. The run: {_run_link(run)}"
        )
    elif run.credentials.filter(ciphertext__isnull=False).exists():
        lines.append(
            f"{run.actor}, who asked for it, reveals the temporary password and OTP enrolment "
            f"code once, here, and hands them over: {_run_link(run)}"
        )
    else:
        lines.append(f"The run: {_run_link(run)}")
    return "\n\n".join(lines) + "\n"


def _run_failed_body(run: LifecycleRun) -> str:
    return (
        f"Run #{run.pk}, {run.get_kind_display().lower()} of {run.person.username} "
        f"(team {run.person.team.name}), failed:\n\n  {run.error}\n\n"
        f"Fix the cause, then resume it or roll it back: {_run_link(run)}\n"
    )


def _welcome_body(person: Person) -> str:
    places = []
    host = settings.FREEIPA_HOST.split(",")[0].strip()
    if host:
        places.append(f"  FreeIPA (your account, password and OTP): https://{host}/ipa/ui/")
    if settings.JUPYTERHUB_URL:
        places.append(f"  JupyterHub (notebooks): {settings.JUPYTERHUB_URL}")
    places += [f"  {what}: {address}" for what, address in system_logins()]
    where = "\n".join(places) or "  your team lead tells you where"
    return (
        f"Hello {person.first_name},\n\n"
        f"your account on the ML platform is ready. Your username is: {person.username}\n\n"
        f"Where to log in:\n{where}\n\n"
        "Your team lead hands you your temporary password and helps you enrol your OTP token "
        "in person; they are never sent by e-mail. You choose your own password at the first "
        "login.\n"
    )


def _enrolment_body(person: Person, run: LifecycleRun) -> str:
    """The link goes in when the e-mail is sent (LINK_PLACE): it is made then, and kept nowhere."""
    places = []
    if settings.JUPYTERHUB_URL:
        places.append(f"Then log in to JupyterHub (notebooks): {settings.JUPYTERHUB_URL}\n\n")
    hours = settings.ENROLMENT_TTL_HOURS
    return (
        f"Hello {person.first_name},\n\n"
        f"your account on the ML platform is ready. Your username is: {person.username}\n\n"
        "Open this link on your own, to add your login token to an authenticator app on your "
        f"phone and choose your password:\n\n  {LINK_PLACE}\n\n"
        f"The link works once, for {hours} hours. Nobody else sees your password or token; "
        "nobody will ever ask you for them.\n\n"
        f"{''.join(places)}"
        "If you did not expect this e-mail, tell your team lead.\n"
    )


def run_notify(*, run: LifecycleRun) -> int:
    """Send what the run's end calls for, skipping what was sent before (a retried task);
    each sent e-mail is audited, not its body. Mail and webhook errors are left to the task."""
    notifications = run_notifications(run)
    sent = 0
    if settings.NOTIFY_CHAT_URL and run.state in (State.SUCCEEDED, State.FAILED):
        chat = _run_told(run, to=CHAT)
        if not _notification_sent(run, chat):
            _chat_post(f"{chat.subject}\n{chat.body}")
            _notification_audit(run, chat)
            sent += 1
    pending = [n for n in notifications if not _notification_sent(run, n)]
    if not settings.EMAIL_HOST or not pending:
        return sent
    # The enrolment link is made as its e-mail goes out, and kept nowhere but in it.
    pending = [
        replace(told, body=told.body.replace(LINK_PLACE, enrolment_link(enrolment_issue(run=run))))
        if told.event == ENROLMENT
        else told
        for told in pending
    ]
    return sent + emails_send(pending, sent=lambda told: _notification_audit(run, told))


class Email(Protocol):
    to: str
    subject: str
    body: str


def emails_send(emails: Sequence[Email], *, sent: Callable[[Email], None]) -> int:
    """Every e-mail AccessAdmin sends goes through here: one connection to the mail server for
    all of them, from DEFAULT_FROM_EMAIL; `sent` hears of each once the server took it (to audit
    it, never its body). A refusal raises, and what was sent before it stays sent."""
    if not emails:
        return 0
    with get_connection(fail_silently=False) as connection:
        for email in emails:
            EmailMessage(
                email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to],
                connection=connection,
            ).send()  # fmt: skip
            sent(email)
    return len(emails)


def _chat_post(text: str) -> None:
    """Slack and Mattermost incoming webhooks both take {"text": ...}. A redirect is not
    followed: it raises HTTPError (an OSError, as for a receiver that is down)."""
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked in settings
        settings.NOTIFY_CHAT_URL, data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with redirects_refused_opener().open(request, timeout=settings.EMAIL_TIMEOUT):
        pass


def _notification_audit(run: LifecycleRun, notification: Notification) -> None:
    audit_record(
        actor=NOTIFIER, action="notification.sent", target=run.person.username,
        outcome="succeeded",
        details={"run": run.pk, "event": notification.event, "to": notification.to},
        run=run,
    )  # fmt: skip


def _notification_sent(run: LifecycleRun, notification: Notification) -> bool:
    return AuditEvent.objects.filter(
        action="notification.sent", run=run, details__event=notification.event,
        details__to=notification.to,
    ).exists()  # fmt: skip


def run_notify_failed(*, run: LifecycleRun, error: str) -> None:
    """The mail server kept refusing: say so in the log and the audit; the run is not touched."""
    logger.error("run %s: notifications not sent: %s", run.pk, error)
    audit_record(
        actor=NOTIFIER, action="notification.sent", target=run.person.username, outcome="failed",
        details={"run": run.pk, "error": error}, run=run,
    )  # fmt: skip


def run_finished_notify(sender, run: LifecycleRun, **_) -> None:
    """Once the run's end is committed, queue its e-mails; nothing here can stop the run."""
    if not notifications_enabled() or run.state not in (State.SUCCEEDED, State.FAILED):
        return
    from onboarding.tasks import run_notify_task  # the tasks module imports the services

    def queue() -> None:
        try:
            run_notify_task.delay(run.pk)
        except Exception:
            logger.exception("run %s: its notifications could not be queued", run.pk)

    transaction.on_commit(queue)


def notify_failed(*, what: str, error: str) -> None:
    """The mail server kept refusing e-mails that belong to no run: said in the log and the
    audit; the next pass (or reconciliation's page) still shows what they were about."""
    logger.error("%s not sent: %s", what, error)
    audit_record(
        actor=NOTIFIER, action="notification.sent", target="notifications", outcome="failed",
        details={"about": what, "error": error},
    )  # fmt: skip


@dataclass
class Mail:
    """One e-mail, and the audit records (target, details) that say what it told whom."""

    to: str
    subject: str
    body: str
    records: list[tuple[str, dict]] = field(default_factory=list)


def _mails_send(mails: list[Mail]) -> int:
    """Send each e-mail (and post the one addressed to the chat webhook), auditing each."""
    for chat in [mail for mail in mails if mail.to == CHAT]:
        _chat_post(f"{chat.subject}\n{chat.body}")
        _mail_audit(chat)
    emails_send([mail for mail in mails if mail.to != CHAT], sent=_mail_audit)
    return len(mails)


def _mail_audit(mail: Mail) -> None:
    for target, details in mail.records:
        audit_record(
            actor=NOTIFIER, action="notification.sent", target=target,
            outcome="succeeded", details={**details, "to": mail.to},
        )  # fmt: skip


def _admins_and_chat() -> list[str]:
    """Who hears what admins hear: their addresses (with a mail server) and the chat webhook."""
    return (admin_addresses() if settings.EMAIL_HOST else []) + (
        [CHAT] if settings.NOTIFY_CHAT_URL else []
    )


FINDINGS_EVENT = "reconcile.findings"


def findings_found_notify(sender, findings: list[Finding], **_) -> None:
    """Once a pass's new findings are committed, queue the admins' digest of them."""
    if not notifications_enabled() or not findings:
        return
    from onboarding.tasks import findings_notify_task  # the tasks module imports the services

    finding_ids = sorted(finding.pk for finding in findings)

    def queue() -> None:
        try:
            findings_notify_task.delay(finding_ids)
        except Exception:
            logger.exception("the digest of %s new findings could not be queued", len(finding_ids))

    transaction.on_commit(queue)


def findings_notify(*, findings: list[Finding]) -> int:
    """E-mail each admin one digest of a pass's new findings, unless it went out already (a
    retried task); the chat webhook hears it too. Returns how many were sent."""
    if not notifications_enabled() or not findings:
        return 0
    findings = sorted(findings, key=lambda f: (f.username, f.system, f.subject, f.kind))
    finding_ids = sorted(finding.pk for finding in findings)
    sent_to = set(
        AuditEvent.objects.filter(
            action="notification.sent", outcome="succeeded", details__event=FINDINGS_EVENT,
            details__findings=finding_ids,
        ).values_list("details__to", flat=True)
    )  # fmt: skip
    count = len(findings)
    subject = f"[AccessAdmin] Reconciliation found {count} new difference{'s' * (count != 1)}"
    body = _findings_body(findings)
    mails = [
        Mail(
            address,
            subject,
            body,
            records=[("reconcile", {"event": FINDINGS_EVENT, "findings": finding_ids})],
        )
        for address in _admins_and_chat()
        if address not in sent_to
    ]
    return _mails_send(mails)


def _findings_body(findings: list[Finding]) -> str:
    lines = [
        f"  - {finding.get_kind_display()}, {finding.system}: {finding.detail}"
        for finding in findings
    ]
    return (
        "Reconciliation found what AccessAdmin believes and what the systems hold to differ, "
        "where no earlier pass had:\n\n" + "\n".join(lines) + "\n\n"
        f"Look at them and repair them here: {settings.SITE_URL.rstrip('/')}/reconcile/\n"
    )


LEAVING_EVENT = "leaving_soon"


def leaving_soon_notify() -> int:
    """Tell each team's leads about their active members whose end date is within
    LEAVING_SOON_DAYS, and the admins about all of them: one e-mail per address, naming only
    whom it has not been told about for that end date (a new end date is told again). Returns
    how many e-mails were sent. The chat webhook hears what the admins hear."""
    if not notifications_enabled():
        return 0
    today = timezone.localdate()
    leavers = [
        person
        for person in people_leaving_soon(Person.objects.all(), days=settings.LEAVING_SOON_DAYS)
        if person.end_date >= today
    ]
    if not leavers:
        return 0
    told = {
        (details["person"], details["to"], details["end_date"])
        for details in AuditEvent.objects.filter(
            action="notification.sent", outcome="succeeded", details__event=LEAVING_EVENT,
            target__in=[person.username for person in leavers],
        ).values_list("details", flat=True)
    }  # fmt: skip
    recipients: dict[str, list[Person]] = defaultdict(list)
    teams = {person.team_id: person.team for person in leavers}
    for team in teams.values():
        for address in _lead_addresses(team) if settings.EMAIL_HOST else []:
            recipients[address] += [p for p in leavers if p.team_id == team.pk]
    for address in _admins_and_chat():
        recipients[address] += leavers
    mails = []
    for address, people in recipients.items():
        untold = [
            person
            for person in dict.fromkeys(people)
            if (person.username, address, person.end_date.isoformat()) not in told
        ]
        if untold:
            mails.append(_leaving_soon_mail(address, untold, today))
    return _mails_send(mails)


def _leaving_soon_mail(address: str, people: list[Person], today: date) -> Mail:
    people = sorted(people, key=lambda person: (person.end_date, person.username))
    site = settings.SITE_URL.rstrip("/")
    if len(people) == 1:
        subject = f"{people[0].username} leaves on {people[0].end_date.isoformat()}"
    else:
        subject = f"{len(people)} people leave within {settings.LEAVING_SOON_DAYS} days"
    subject = f"[AccessAdmin] {subject}"
    lines = []
    for person in people:
        days = (person.end_date - today).days
        when = "today" if days == 0 else f"in {days} day{'s' * (days != 1)}"
        lines.append(
            f"  - {person.full_name} ({person.username}, team {person.team.name}): "
            f"{person.end_date.isoformat()}, {when}\n    {site}/people/{person.username}/"
        )
    body = (
        "Their end date is near. On that date AccessAdmin offboards them: their account is "
        "disabled and their access to the platform is removed.\n\n"
        + "\n".join(lines)
        + "\n\nIf someone stays longer, extend their end date on their page; if they stay, "
        "clear it. Nothing needs doing if they leave as planned.\n"
    )
    records = [
        (
            person.username,
            {"event": LEAVING_EVENT, "person": person.username,
             "end_date": person.end_date.isoformat()},
        )
        for person in people
    ]  # fmt: skip
    return Mail(address, subject, body, records=records)
