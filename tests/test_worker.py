"""A task really travels through Redis to a worker process and back."""

import pytest

from onboarding.tasks import worker_ping_task


@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_redis_and_a_real_worker(celery_worker):
    result = worker_ping_task.delay().get(timeout=60)
    assert result["database"] is True
    assert result["worker"]
