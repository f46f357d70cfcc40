"""Who runs a run: claiming it with a compare-and-set, a heartbeat while it is held, and taking
over from a worker that went silent."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.models import LifecycleRun
from onboarding.runner.fence import claim_token
from onboarding.signals import run_started

logger = logging.getLogger(__name__)

State = LifecycleRun.State


def run_claim(run_id: int, worker: str, *, rolling_back: bool) -> LifecycleRun | None:
    """Take the run for this worker, with a new claim token, or return None when another
    worker has it."""
    run = LifecycleRun.objects.select_related("person__team").get(pk=run_id)
    now = timezone.now()
    token = claim_token()
    stale_before = now - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
    if not rolling_back and run.state == State.QUEUED:
        fields = {"worker": worker, "heartbeat_at": now, "claim": token}
        if run.started_at is not None:
            return run if run.move_to(State.RUNNING, **fields) else None
        with transaction.atomic():
            if not run.move_to(State.RUNNING, started_at=now, **fields):
                return None
            run_started.send(sender=LifecycleRun, run=run)
        return run
    wanted = State.ROLLING_BACK if rolling_back else State.RUNNING
    if run.state != wanted:
        return None
    # The run is marked as taken: take it over only if nobody holds it, its holder went silent,
    # or the holder is this very task (retried after a database error).
    holder_silent = run.worker == "" or run.heartbeat_at is None or run.heartbeat_at < stale_before
    if not holder_silent and run.worker != worker:
        return None
    taken = LifecycleRun.objects.filter(
        pk=run.pk, state=wanted, worker=run.worker, heartbeat_at=run.heartbeat_at, claim=run.claim
    ).update(worker=worker, heartbeat_at=now, claim=token)
    if not taken:
        return None
    if run.worker and run.worker != worker:
        audit_record(
            actor=worker, action="run.take_over", target=run.person.username, outcome="succeeded",
            details={"run": run.pk, "silent_worker": run.worker}, run=run,
        )  # fmt: skip
    run.worker, run.heartbeat_at, run.claim = worker, now, token
    return run


class Heartbeat:
    """Says the run's worker is alive every LIFECYCLE_HEARTBEAT_SECONDS, from a thread of its
    own, for as long as the worker holds the run; a step that takes minutes (a hub server that
    is slow to stop) must not look like a dead worker. `lost` turns true when another worker
    took the run over."""

    def __init__(self, run: LifecycleRun) -> None:
        self.run_id = run.pk
        self.claim = run.claim
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run.pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.LIFECYCLE_HEARTBEAT_SECONDS):
                try:
                    held = LifecycleRun.objects.filter(pk=self.run_id, claim=self.claim).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError as error:
                    logger.warning("run %s: heartbeat not written: %s", self.run_id, error)
                    connection.close()
                    continue
                if not held:
                    self.lost = True
                    return
        finally:
            connection.close()
