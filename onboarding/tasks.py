"""Celery tasks: each loads by id and calls one service, and is named after it with `_task`.
Retries live here, bookkeeping does not."""

import logging
import socket

from celery import shared_task
from django.conf import settings
from django.db import connection, connections

from onboarding.credentials import credentials_purge_expired
from onboarding.errors import RunLost, RunStopped, StepDeferred, WebhookDeferred
from onboarding.housekeeping import login_records_purge_old, sessions_purge_expired
from onboarding.models import Finding, LifecycleRun
from onboarding.notifications import (
    MAIL_ERRORS,
    findings_notify,
    leaving_soon_notify,
    notify_failed,
    run_notify,
    run_notify_failed,
)
from onboarding.reviews import review_remind
from onboarding.runner import (
    DATABASE_BLIPS,
    retry_delay,
    run_execute,
    run_rollback_execute,
    runs_overdue_requeue,
)
from onboarding.services import SYSTEM_ACTOR, lifecycle_due, reconcile
from onboarding.webhooks import webhook_deliver, webhook_deliver_failed

logger = logging.getLogger(__name__)


@shared_task(name="onboarding.worker_ping", ignore_result=False)
def worker_ping_task() -> dict:
    """Answer from a worker: which host, and whether it reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        database_ok = cursor.fetchone() == (1,)
    return {"worker": socket.gethostname(), "database": database_ok}


def _worker_name(task) -> str:
    return f"{task.request.hostname or socket.gethostname()}:{task.request.id}"


def _with_retries(task, work, run_id: int) -> None:
    """Do a run's work; a transient failure retries the task when the run is due again."""
    try:
        work(run_id=run_id, worker=_worker_name(task))
    except RunStopped:
        return
    except RunLost as lost:
        logger.info("run %s: %s; this worker stopped", run_id, lost)
        return
    except StepDeferred as deferred:
        raise task.retry(countdown=deferred.delay) from None
    except DATABASE_BLIPS as error:
        connections.close_all()
        if task.request.retries >= settings.CELERY_TASK_MAX_RETRIES:
            # Beat hands the run to a worker again once it is overdue.
            logger.error("run %s: the database stayed unavailable: %s", run_id, error)
            return
        raise task.retry(countdown=retry_delay(task.request.retries)) from None


@shared_task(bind=True, name="lifecycle.run_execute", max_retries=None)
def run_execute_task(self, run_id: int) -> None:
    _with_retries(self, run_execute, run_id)


@shared_task(bind=True, name="lifecycle.run_rollback_execute", max_retries=None)
def run_rollback_execute_task(self, run_id: int) -> None:
    _with_retries(self, run_rollback_execute, run_id)


@shared_task(bind=True, name="notifications.run_notify", max_retries=None)
def run_notify_task(self, run_id: int) -> None:
    run = LifecycleRun.objects.select_related("person__team", "requested_by").get(pk=run_id)
    try:
        run_notify(run=run)
    except MAIL_ERRORS as error:
        if self.request.retries >= settings.CELERY_TASK_MAX_RETRIES:
            run_notify_failed(run=run, error=f"{type(error).__name__}: {error}")
            return
        logger.warning("run %s: sending its notifications failed, retrying: %s", run_id, error)
        raise self.retry(countdown=retry_delay(self.request.retries)) from None


@shared_task(bind=True, name="notifications.findings", max_retries=None)
def findings_notify_task(self, finding_ids: list[int]) -> None:
    findings = list(Finding.objects.filter(pk__in=finding_ids))
    try:
        findings_notify(findings=findings)
    except MAIL_ERRORS as error:
        if self.request.retries >= settings.CELERY_TASK_MAX_RETRIES:
            notify_failed(what="reconciliation findings", error=f"{type(error).__name__}: {error}")
            return
        logger.warning("sending the findings digest failed, retrying: %s", error)
        raise self.retry(countdown=retry_delay(self.request.retries)) from None


@shared_task(bind=True, name="notifications.leaving_soon", max_retries=None)
def leaving_soon_notify_task(self) -> int:
    """Beat: tell the leads and admins who leaves within LEAVING_SOON_DAYS."""
    try:
        return leaving_soon_notify()
    except MAIL_ERRORS as error:
        if self.request.retries >= settings.CELERY_TASK_MAX_RETRIES:
            notify_failed(what="leaving-soon notices", error=f"{type(error).__name__}: {error}")
            return 0
        logger.warning("sending the leaving-soon notices failed, retrying: %s", error)
        raise self.retry(countdown=retry_delay(self.request.retries)) from None


@shared_task(bind=True, name="webhooks.deliver", max_retries=None)
def webhook_deliver_task(self, target: str, event: dict) -> None:
    try:
        webhook_deliver(target=target, event=event)
    except WebhookDeferred as deferred:
        if self.request.retries >= settings.CELERY_TASK_MAX_RETRIES:
            webhook_deliver_failed(target=target, event=event, error=str(deferred))
            return
        delay = retry_delay(self.request.retries) if deferred.delay is None else deferred.delay
        raise self.retry(countdown=delay) from None


@shared_task(name="lifecycle.runs_overdue_requeue", ignore_result=False)
def runs_overdue_requeue_task() -> list[int]:
    """Beat: a run no worker has although it should (its message was lost, or its worker died)
    is sent again; the claim decides who takes it."""
    return runs_overdue_requeue()


@shared_task(name="credentials.purge_expired")
def credentials_purge_expired_task() -> int:
    return credentials_purge_expired()


@shared_task(name="sessions.purge_expired")
def sessions_purge_expired_task() -> None:
    sessions_purge_expired()


@shared_task(name="login_records.purge_old")
def login_records_purge_old_task() -> int:
    return login_records_purge_old()


@shared_task(name="reconcile.pass")
def reconcile_task() -> int:
    """Beat: compare what AccessAdmin believes with what the systems hold; store the findings."""
    return len(reconcile(actor=SYSTEM_ACTOR))


@shared_task(name="lifecycle.due")
def lifecycle_due_task() -> int:
    """Beat: start the onboardings and offboardings whose dates have come."""
    return sum(1 for outcome in lifecycle_due(actor=SYSTEM_ACTOR) if outcome.run)


@shared_task(name="reviews.remind")
def reviews_remind_task() -> int:
    """Beat: remind leads of the decisions open reviews wait for; past a deadline, the admins."""
    done = review_remind()
    return len(done.reminded) + len(done.escalated)
