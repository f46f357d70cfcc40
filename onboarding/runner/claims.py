"""Who runs a run: claiming it with a compare-and-set, heartbeats, and taking over from a worker
that went silent."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.models import LifecycleRun

State = LifecycleRun.State


def run_claim(run_id: int, worker: str, *, rolling_back: bool) -> LifecycleRun | None:
    """Take the run for this worker, or return None when another worker has it."""
    run = LifecycleRun.objects.select_related("person__team").get(pk=run_id)
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
    if not rolling_back and run.state == State.QUEUED:
        fields = {"worker": worker, "heartbeat_at": now}
        if run.started_at is None:
            fields["started_at"] = now
        return run if run.move_to(State.RUNNING, **fields) else None
    wanted = State.ROLLING_BACK if rolling_back else State.RUNNING
    if run.state != wanted:
        return None
    # The run is marked as taken: take it over only if nobody holds it or its holder went silent.
    holder_silent = run.worker == "" or run.heartbeat_at is None or run.heartbeat_at < stale_before
    if not holder_silent:
        return None
    taken = LifecycleRun.objects.filter(
        pk=run.pk, state=wanted, worker=run.worker, heartbeat_at=run.heartbeat_at
    ).update(worker=worker, heartbeat_at=now)
    if not taken:
        return None
    if run.worker:
        audit_record(
            actor=worker, action="run.take_over", target=run.person.username, outcome="succeeded",
            details={"run": run.pk, "silent_worker": run.worker}, run=run,
        )  # fmt: skip
    run.worker, run.heartbeat_at = worker, now
    return run


def run_heartbeat(run: LifecycleRun) -> None:
    """Say the run's worker is alive; a write every tenth of the stale time is often enough."""
    now = timezone.now()
    interval = timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS / 10)
    if run.heartbeat_at is not None and now - run.heartbeat_at < interval:
        return
    run.heartbeat_at = now
    LifecycleRun.objects.filter(pk=run.pk).update(heartbeat_at=now)


def runs_stale() -> list[tuple[int, bool]]:
    """Runs whose worker went silent, and whether each was rolling back."""
    stale_before = timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
    runs = LifecycleRun.objects.filter(
        state__in=[State.RUNNING, State.ROLLING_BACK], heartbeat_at__lt=stale_before
    ).values_list("pk", "state")
    return [(pk, state == State.ROLLING_BACK) for pk, state in runs]
