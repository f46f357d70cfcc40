"""Tasks only the tests' workers load (`celery worker --include tests.worker_tasks`)."""

import time

from celery import shared_task


# Acknowledged on receipt: one that ended its worker must not be delivered to the next.
@shared_task(name="tests.sleep", acks_late=False)
def sleep_task(seconds: float) -> None:
    """A task stuck past any time limit, as a call with no timeout would be."""
    time.sleep(seconds)
