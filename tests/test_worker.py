"""A task really travels through Redis to a worker process and back; the worker's time limits
hold."""

import time

import pytest

from accessadmin.celery import app as celery_app
from onboarding.runner.limits import HARD_LIMIT_EXIT_CODE
from onboarding.tasks import worker_ping_task
from tests.conftest import Worker


@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_redis_and_a_real_worker(celery_worker):
    result = worker_ping_task.delay().get(timeout=60)
    assert result["database"] is True
    assert result["worker"]


@pytest.mark.django_db(transaction=True)
def test_threads_worker_ends_when_a_task_outlives_the_hard_time_limit(worker_env, tmp_path):
    """Celery's threads pool enforces no time limit; the watchdog ends the worker instead, as
    prefork ends a child, and the supervisor starts it again."""
    env = {**worker_env, "CELERY_TASK_TIME_LIMIT": "10"}
    worker = Worker(env, tmp_path / "worker.log", pool="threads").start(purge=True)
    try:
        started = time.monotonic()
        celery_app.send_task("tests.sleep", args=[120])
        exit_code = worker.process.wait(timeout=60)
        took = time.monotonic() - started
    finally:
        worker.stop()
    assert exit_code == HARD_LIMIT_EXIT_CODE, worker.log()[-2000:]
    assert 10 <= took < 20
    assert "past its 10 s time limit" in worker.log()


@pytest.mark.django_db(transaction=True)
def test_threads_worker_keeps_running_tasks_within_the_limit(worker_env, tmp_path):
    env = {**worker_env, "CELERY_TASK_TIME_LIMIT": "10"}
    worker = Worker(env, tmp_path / "worker.log", pool="threads").start(purge=True)
    try:
        celery_app.send_task("tests.sleep", args=[2])
        assert worker_ping_task.delay().get(timeout=30)["database"] is True
        time.sleep(12)
        assert worker.process.poll() is None, worker.log()[-2000:]
        assert "time limits enforced by the watchdog: hard 10 s" in worker.log()
    finally:
        worker.stop()
