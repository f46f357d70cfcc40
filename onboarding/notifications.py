"""Telling people how a run ended, by e-mail: whoever asked for it and the team's leads, and a
newcomer their welcome. No e-mail ever carries a secret: credentials are revealed once, in
AccessAdmin, by whoever asked for the run."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction

from onboarding.audit import audit_record
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.selectors import team_lead_names

logger = logging.getLogger(__name__)

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


# What a chat webhook is told about, and the address it is audited under.
WEBHOOK = "webhook"


def notifications_enabled() -> bool:
    return bool(settings.EMAIL_HOST or settings.NOTIFY_WEBHOOK_URL)


def run_notifications(run: LifecycleRun) -> list[Notification]:
    """What to send now that the run has ended: one e-mail per address, per event."""
    if run.state not in (State.SUCCEEDED, State.FAILED):
        return []
    person = run.person
    told = _run_told(run, to="")
    notifications = [
        Notification(told.event, address, told.subject, told.body) for address in _run_watchers(run)
    ]
    if run.kind == Kind.ONBOARD and run.state == State.SUCCEEDED and person.email:
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
    """The requester (a user with an e-mail) and the team's leads, each once."""
    addresses = []
    requester = run.requested_by
    if requester is not None and requester.email:
        addresses.append(requester.email)
    leads = Person.objects.filter(username__in=team_lead_names(run.person.team)).exclude(email="")
    addresses += leads.order_by("username").values_list("email", flat=True)
    return list(dict.fromkeys(addresses))


def _run_link(run: LifecycleRun) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/runs/{run.pk}/"


def _run_succeeded_body(run: LifecycleRun) -> str:
    lines = [
        f"Run #{run.pk}, {run.get_kind_display().lower()} of {run.person.username} "
        f"(team {run.person.team.name}), succeeded.",
    ]
    if run.credentials.filter(ciphertext__isnull=False).exists():
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
    where = "\n".join(places) or "  your team lead tells you where"
    return (
        f"Hello {person.first_name},\n\n"
        f"your account on the ML platform is ready. Your username is: {person.username}\n\n"
        f"Where to log in:\n{where}\n\n"
        "Your team lead hands you your temporary password and helps you enrol your OTP token "
        "in person; they are never sent by e-mail. You choose your own password at the first "
        "login.\n"
    )


def run_notify(*, run: LifecycleRun) -> int:
    """Send what the run's end calls for, skipping what was sent before (a retried task);
    each sent e-mail is audited, not its body. Mail and webhook errors are left to the task."""
    notifications = run_notifications(run)
    sent = 0
    if settings.NOTIFY_WEBHOOK_URL and run.state in (State.SUCCEEDED, State.FAILED):
        chat = _run_told(run, to=WEBHOOK)
        if not _notification_sent(run, chat):
            _webhook_post(f"{chat.subject}\n{chat.body}")
            _notification_audit(run, chat)
            sent += 1
    pending = [n for n in notifications if not _notification_sent(run, n)]
    if not settings.EMAIL_HOST or not pending:
        return sent
    with get_connection(fail_silently=False) as connection:
        for notification in pending:
            EmailMessage(
                notification.subject, notification.body, settings.DEFAULT_FROM_EMAIL,
                [notification.to], connection=connection,
            ).send()  # fmt: skip
            _notification_audit(run, notification)
            sent += 1
    return sent


def _webhook_post(text: str) -> None:
    """Slack and Mattermost incoming webhooks both take {"text": ...}."""
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked in settings
        settings.NOTIFY_WEBHOOK_URL, data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=settings.EMAIL_TIMEOUT):  # noqa: S310
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
    if not notifications_enabled():
        return
    from onboarding.tasks import run_notify_task  # the tasks module imports the services

    def queue() -> None:
        try:
            run_notify_task.delay(run.pk)
        except Exception:
            logger.exception("run %s: its notifications could not be queued", run.pk)

    transaction.on_commit(queue)
