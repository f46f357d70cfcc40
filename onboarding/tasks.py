import socket

from celery import shared_task
from django.db import connection


@shared_task(name="onboarding.worker_ping")
def worker_ping() -> dict:
    """Answer from a worker: which host, and whether it reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        database_ok = cursor.fetchone() == (1,)
    return {"worker": socket.gethostname(), "database": database_ok}
