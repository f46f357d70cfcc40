"""Celery tasks: each loads by id and calls one service, and is named after it with `_task`.
Retries live here, bookkeeping does not."""

import socket

from celery import shared_task
from django.conf import settings
from django.db import connection

from onboarding.credentials import credentials_purge_expired
from onboarding.errors import RunStopped, StepDeferred
from onboarding.runner import (
    retry_delay,
    run_execute,
    run_give_up,
    run_rollback_execute,
    runs_stale,
)


@shared_task(name="onboarding.worker_ping")
def worker_ping_task() -> dict:
    """Answer from a worker: which host, and whether it reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        database_ok = cursor.fetchone() == (1,)
    return {"worker": socket.gethostname(), "database": database_ok}


def _worker_name(task) -> str:
    return f"{task.request.hostname or socket.gethostname()}:{task.request.id}"


def _with_retries(task, service, run_id: int) -> None:
    """Run a lifecycle service; a transient failure retries the task with back-off."""
    try:
        service(run_id=run_id, worker=_worker_name(task))
    except RunStopped:
        return
    except StepDeferred as deferred:
        if task.request.retries >= settings.CELERY_TASK_MAX_RETRIES:
            run_give_up(run_id=run_id, error=str(deferred))
            return
        raise task.retry(countdown=retry_delay(task.request.retries)) from None


@shared_task(bind=True, name="lifecycle.run_execute", max_retries=None)
def run_execute_task(self, run_id: int) -> None:
    _with_retries(self, run_execute, run_id)


@shared_task(bind=True, name="lifecycle.run_rollback_execute", max_retries=None)
def run_rollback_execute_task(self, run_id: int) -> None:
    _with_retries(self, run_rollback_execute, run_id)


@shared_task(name="lifecycle.runs_stale_requeue")
def runs_stale_requeue_task() -> list[int]:
    """Beat: a run whose worker died is handed to a live one (the claim decides who takes it)."""
    run_ids = runs_stale()
    for run_id, rolling_back in run_ids:
        (run_rollback_execute_task if rolling_back else run_execute_task).delay(run_id)
    return [run_id for run_id, _ in run_ids]


@shared_task(name="credentials.purge_expired")
def credentials_purge_expired_task() -> int:
    return credentials_purge_expired()
