"""Celery tasks: each loads by id and calls one service. Retries live here, bookkeeping does not."""

import socket

from celery import shared_task
from django.conf import settings
from django.db import connection

from onboarding.credentials import credentials_purge_expired
from onboarding.lifecycle import (
    RunStopped,
    StepDeferred,
    retry_delay,
    run_execute,
    run_give_up,
    run_rollback,
    runs_requeue_stale,
)


@shared_task(name="onboarding.worker_ping")
def worker_ping() -> dict:
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


@shared_task(bind=True, name="lifecycle.execute_run", max_retries=None)
def execute_run(self, run_id: int) -> None:
    _with_retries(self, run_execute, run_id)


@shared_task(bind=True, name="lifecycle.rollback_run", max_retries=None)
def rollback_run(self, run_id: int) -> None:
    _with_retries(self, run_rollback, run_id)


@shared_task(name="lifecycle.requeue_stale_runs")
def requeue_stale_runs() -> list[int]:
    """Beat: a run whose worker died is handed to a live one (the claim decides who takes it)."""
    run_ids = runs_requeue_stale()
    for run_id, rolling_back in run_ids:
        (rollback_run if rolling_back else execute_run).delay(run_id)
    return [run_id for run_id, _ in run_ids]


@shared_task(name="credentials.purge_expired")
def purge_expired_credentials() -> int:
    return credentials_purge_expired()
