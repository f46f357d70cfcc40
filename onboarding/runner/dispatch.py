"""Handing runs to workers. A run is committed first and its message sent after; a message that
never arrives (the broker was down, lost its data, or a worker died holding it) is sent again by
beat once the run is overdue. The claim makes a duplicate message harmless."""

from __future__ import annotations

import logging

from django.utils import timezone

from onboarding.models import LifecycleRun, Sweep

logger = logging.getLogger(__name__)

State = LifecycleRun.State


def run_dispatch(run_id: int, *, rolling_back: bool) -> bool:
    """Send the run's message now; False when the broker did not take it (beat will)."""
    from onboarding.tasks import run_execute_task, run_rollback_execute_task

    task = run_rollback_execute_task if rolling_back else run_execute_task
    try:
        task.apply_async((run_id,), retry=False)
    except Exception as error:  # kombu and redis raise many kinds; all mean "not sent"
        logger.warning(
            "run %s: the broker did not take its message (%s: %s); it is sent again when the "
            "broker is back",
            run_id, type(error).__name__, error,
        )  # fmt: skip
        return False
    return True


def runs_overdue() -> list[tuple[int, bool]]:
    """The overdue runs to send again, and whether each is rolling back."""
    now = timezone.now()
    found = list(LifecycleRun.objects.overdue().values_list("pk", "state"))
    # Not again before another stale period has passed.
    resent = [pk for pk, _ in found]
    LifecycleRun.objects.filter(pk__in=resent, worker="").update(resent_at=now)
    return [(pk, state == State.ROLLING_BACK) for pk, state in found]


def runs_overdue_requeue() -> list[int]:
    """Beat's sweep: send every overdue run again, and record that the sweep ran (/healthz)."""
    found = runs_overdue()
    for run_id, rolling_back in found:
        run_dispatch(run_id, rolling_back=rolling_back)
    Sweep.objects.update_or_create(pk=1, defaults={"ran_at": timezone.now()})
    return [run_id for run_id, _ in found]


def runs_release(worker_host: str) -> list[tuple[int, bool]]:
    """A worker that starts holds nothing: the runs its previous life held are handed on now,
    instead of after they go stale."""
    held = LifecycleRun.objects.filter(
        state__in=[State.RUNNING, State.ROLLING_BACK], worker__startswith=f"{worker_host}:"
    ).values_list("pk", "state", "worker")
    released = []
    for pk, state, worker in held:
        if LifecycleRun.objects.filter(pk=pk, worker=worker).update(
            worker="", heartbeat_at=None, due_at=timezone.now()
        ):
            released.append((pk, state == State.ROLLING_BACK))
    return released
