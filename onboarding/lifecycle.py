"""Running lifecycle plans: claiming a run, doing its steps, retrying, resuming and rolling back.

Requests (``person_onboard`` and friends, in ``onboarding.services``) create a run and its steps
and queue a Celery task; the task calls ``run_execute`` or ``run_rollback`` here. A step's row is
written before its side effect and updated after it, so a worker that dies mid-step leaves a row
saying "running", and whoever picks the run up next checks that step before doing it again.
"""

import contextlib
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import NoReturn

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.integrations.errors import IntegrationError
from onboarding.models import LifecycleRun, Person, Step, Team
from onboarding.plans import plan_for
from onboarding.steps import StepContext, StepSpec
from onboarding.systems import systems

logger = logging.getLogger(__name__)

State = LifecycleRun.State
Kind = LifecycleRun.Kind
Status = Person.Status

# Where a person stands while a run of each kind is under way, after it succeeds, and after it
# is rolled back.
PERSON_STATUS = {
    Kind.ONBOARD: (Status.ONBOARDING, Status.ACTIVE, Status.NEW),
    Kind.OFFBOARD: (Status.OFFBOARDING, Status.OFFBOARDED, Status.ACTIVE),
    Kind.MOVE: (Status.MOVING, Status.ACTIVE, Status.ACTIVE),
    Kind.REINSTATE: (Status.REINSTATING, Status.ACTIVE, Status.OFFBOARDED),
}


class StepDeferred(Exception):
    """A step hit a transient error; the run went back to the queue to be retried later."""


class RunStopped(Exception):
    """A step hit a permanent error; the run is failed and waits for a person."""


@dataclass(frozen=True)
class PlannedChange:
    step: str
    system: str
    description: str
    already_done: bool


def retry_delay(retries: int) -> float:
    """Exponential back-off with full jitter, capped."""
    ceiling = min(
        settings.LIFECYCLE_RETRY_MAX_SECONDS, settings.LIFECYCLE_RETRY_BASE_SECONDS * 2**retries
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def run_steps_create(run: LifecycleRun) -> None:
    Step.objects.bulk_create(
        Step(run=run, name=spec.name, position=position)
        for position, spec in enumerate(plan_for(run.kind), start=1)
    )


def _context(run: LifecycleRun) -> StepContext:
    person = run.person
    team = person.team
    previous_team = None
    if run.kind == Kind.MOVE:
        previous_team = team
        team = Team.objects.get(pk=run.params["to_team_id"])
    return StepContext(
        person=person, team=team, previous_team=previous_team, systems=systems(), run=run
    )


def _claim(run_id: int, worker: str, *, rolling_back: bool) -> LifecycleRun | None:
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


def _heartbeat(run: LifecycleRun) -> None:
    """Say the run's worker is alive; a write every tenth of the stale time is often enough."""
    now = timezone.now()
    interval = timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS / 10)
    if run.heartbeat_at is not None and now - run.heartbeat_at < interval:
        return
    run.heartbeat_at = now
    LifecycleRun.objects.filter(pk=run.pk).update(heartbeat_at=now)


def _audit_step(run: LifecycleRun, record: Step, action: str, outcome: str, **details) -> None:
    audit_record(
        actor=run.worker or "worker",
        action=action,
        target=run.person.username,
        outcome=outcome,
        details={"run": run.pk, "step": record.name, "attempt": record.attempts, **details},
        run=run,
    )


def _describe(error: Exception) -> str:
    if isinstance(error, IntegrationError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


def run_execute(*, run_id: int, worker: str) -> LifecycleRun | None:
    """Do every step of the run not yet done. Returns None when the run is not ours to run.

    Steps whose needs are met run together, each on its own thread; the run moves on when the
    whole group has finished.
    """
    run = _claim(run_id, worker, rolling_back=False)
    if run is None:
        logger.info("run %s: not claimed by %s", run_id, worker)
        return None
    ctx = _context(run)
    records = {record.name: record for record in run.steps.all()}
    done = {name for name, record in records.items() if record.state == Step.State.DONE}
    pending = [spec for spec in plan_for(run.kind) if spec.name not in done]
    for name in done:
        ctx.outputs[name] = records[name].external_ids
    round_trips: dict[str, int] = {}
    while pending:
        ready = [spec for spec in pending if set(spec.needs) <= done]
        _heartbeat(run)
        outcomes = _steps_do_together(ctx, ready, records)
        failures = []
        for spec, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, StepFailure):
                failures.append(outcome)
                continue
            done.add(spec.name)
            ctx.outputs[spec.name] = records[spec.name].external_ids
            for system, count in outcome.items():
                round_trips[system] = round_trips.get(system, 0) + count
        if failures:
            _run_stop(run, failures)
        pending = [spec for spec in pending if spec.name not in done]
    _run_succeed(run, ctx, round_trips=round_trips)
    return run


@dataclass(frozen=True)
class StepFailure:
    step: str
    message: str
    transient: bool


_STEP_THREADS = 4
_step_threads: ThreadPoolExecutor | None = None
_step_threads_lock = threading.Lock()


def _step_pool() -> ThreadPoolExecutor:
    # Long-lived threads keep their downstream sessions and database connections warm.
    global _step_threads
    with _step_threads_lock:
        if _step_threads is None:
            _step_threads = ThreadPoolExecutor(_STEP_THREADS, thread_name_prefix="lifecycle-step")
        return _step_threads


def step_threads_stop() -> None:
    """End the step threads, closing their database connections (at worker shutdown)."""
    global _step_threads
    with _step_threads_lock:
        pool, _step_threads = _step_threads, None
    if pool is None:
        return
    # Each thread must close its own connections: hold them all at a barrier so every thread
    # takes exactly one of the closing jobs.
    barrier = threading.Barrier(_STEP_THREADS)

    def close_own_connections() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)
        connections.close_all()

    for _ in range(_STEP_THREADS):
        pool.submit(close_own_connections)
    pool.shutdown(wait=True)


def _steps_do_together(
    ctx: StepContext, specs: list[StepSpec], records: dict[str, Step]
) -> list[dict[str, int] | StepFailure]:
    """Do the steps (the first on this thread, the rest on step threads); wait for them all."""
    jobs = [(replace(ctx, record=records[spec.name]), spec) for spec in specs]
    futures = [_step_pool().submit(_step_do_on_thread, c, s) for c, s in jobs[1:]]
    first = _step_do(*jobs[0])
    return [first, *(future.result() for future in futures)]


def _step_do_on_thread(ctx: StepContext, spec: StepSpec) -> dict[str, int] | StepFailure:
    close_old_connections()
    try:
        return _step_do(ctx, spec)
    finally:
        close_old_connections()


def _step_do(ctx: StepContext, spec: StepSpec) -> dict[str, int] | StepFailure:
    """Do one step; return the round trips it made per system, or how it failed."""
    run, record = ctx.run, ctx.record
    # A step touched before (retried, failed, or running when its worker died) is checked first.
    touched = record.attempts > 0
    now = timezone.now()
    if record.state == Step.State.RUNNING:
        Step.objects.filter(pk=record.pk).update(attempts=record.attempts + 1, started_at=now)
        record.attempts += 1
    else:
        record.move_to(
            Step.State.RUNNING, attempts=record.attempts + 1, started_at=now, last_error=""
        )
    trips_before = ctx.systems.round_trips()
    try:
        found = spec.check(ctx) if touched else None
        external_ids = found if found is not None else spec.do(ctx)
    except Exception as error:
        return _step_fail(ctx, record, error)
    trips = {
        system: count - trips_before.get(system, 0)
        for system, count in ctx.systems.round_trips().items()
        if count != trips_before.get(system, 0)
    }
    record.move_to(Step.State.DONE, external_ids=external_ids, finished_at=timezone.now())
    _audit_step(
        run, record, "step.do", "succeeded", already_done=found is not None, round_trips=trips
    )
    return trips


def _step_fail(ctx: StepContext, record: Step, error: Exception) -> StepFailure:
    run = ctx.run
    message = _describe(error)
    if isinstance(error, IntegrationError) and error.transient:
        record.move_to(Step.State.PENDING, last_error=message)
        _audit_step(run, record, "step.do", "retried", error=message)
        return StepFailure(record.name, message, transient=True)
    if not isinstance(error, IntegrationError):
        logger.exception("run %s step %s: unexpected error", run.pk, record.name)
    record.move_to(Step.State.FAILED, last_error=message, finished_at=timezone.now())
    _audit_step(run, record, "step.do", "failed", error=message)
    return StepFailure(record.name, message, transient=False)


def _run_stop(run: LifecycleRun, failures: list[StepFailure]) -> NoReturn:
    """A permanent failure fails the run; transient ones alone send it back to the queue."""
    permanent = [failure for failure in failures if not failure.transient]
    if not permanent:
        run.move_to(State.QUEUED, worker="")
        raise StepDeferred("; ".join(f.message for f in failures))
    first = permanent[0]
    error = f"{first.step}: {first.message}"
    run.move_to(State.FAILED, error=error, finished_at=timezone.now())
    audit_record(
        actor=run.worker, action=f"{run.kind}.run", target=run.person.username, outcome="failed",
        details={"run": run.pk, "failed_steps": [f.step for f in permanent], "error": error},
        run=run,
    )  # fmt: skip
    raise RunStopped(error)


def _run_succeed(run: LifecycleRun, ctx: StepContext, round_trips: dict[str, int]) -> None:
    _, done_status, _ = PERSON_STATUS[run.kind]
    with transaction.atomic():
        run.move_to(State.SUCCEEDED, finished_at=timezone.now(), error="")
        person = run.person
        if run.kind == Kind.MOVE:
            Person.objects.filter(pk=person.pk).update(team=ctx.team)
            person.team = ctx.team
        person.move_to(done_status)
        audit_record(
            actor=run.worker, action=f"{run.kind}.run", target=person.username,
            outcome="succeeded", details={"run": run.pk, "round_trips": round_trips}, run=run,
        )  # fmt: skip


def run_give_up(*, run_id: int, error: str) -> None:
    """Retries ran out: the run fails on the step that kept failing, and waits for a person."""
    run = LifecycleRun.objects.select_related("person").get(pk=run_id)
    rolling_back = run.state == State.ROLLING_BACK
    if not rolling_back and run.state != State.QUEUED:
        return
    if rolling_back:
        stuck = run.steps.filter(state=Step.State.UNDOING)
    else:
        stuck = run.steps.filter(state=Step.State.PENDING).exclude(last_error="")
    for step in stuck:
        step.move_to(Step.State.FAILED, last_error=error, finished_at=timezone.now())
    message = f"gave up after {settings.CELERY_TASK_MAX_RETRIES} retries: {error}"
    run.move_to(State.FAILED, error=message, finished_at=timezone.now(), worker="")
    audit_record(
        actor="worker", action=f"{run.kind}.run", target=run.person.username, outcome="failed",
        details={"run": run.pk, "error": message}, run=run,
    )  # fmt: skip


def run_rollback(*, run_id: int, worker: str) -> LifecycleRun | None:
    """Undo, newest first, every step that did or may have done something."""
    run = _claim(run_id, worker, rolling_back=True)
    if run is None:
        return None
    ctx = _context(run)
    records = {record.name: record for record in run.steps.all()}
    for spec in reversed(plan_for(run.kind)):
        record = records[spec.name]
        ctx.outputs[spec.name] = record.external_ids
        never_started = record.state == Step.State.PENDING and record.attempts == 0
        if never_started or record.state == Step.State.UNDONE:
            continue
        _step_undo(ctx, spec, record)
    _run_rolled_back(run)
    return run


def _step_undo(ctx: StepContext, spec: StepSpec, record: Step) -> None:
    run = ctx.run
    ctx.record = record
    if record.state == Step.State.PENDING:
        record.move_to(Step.State.FAILED, last_error=record.last_error or "interrupted")
    if record.state == Step.State.RUNNING:
        # The worker running it died; whatever it did is undone below all the same.
        Step.objects.filter(pk=record.pk).update(state=Step.State.FAILED)
        record.state = Step.State.FAILED
    if record.state != Step.State.UNDOING:
        record.move_to(Step.State.UNDOING)
    _heartbeat(run)
    try:
        spec.undo(ctx)
    except Exception as error:
        message = _describe(error)
        if isinstance(error, IntegrationError) and error.transient:
            LifecycleRun.objects.filter(pk=run.pk).update(worker="")
            _audit_step(run, record, "step.undo", "retried", error=message)
            raise StepDeferred(message) from error
        if not isinstance(error, IntegrationError):
            logger.exception("run %s undo %s: unexpected error", run.pk, record.name)
        record.move_to(Step.State.FAILED, last_error=f"undo: {message}")
        run.move_to(State.FAILED, error=f"rollback stopped at {record.name}: {message}", worker="")
        _audit_step(run, record, "step.undo", "failed", error=message)
        raise RunStopped(message) from error
    record.move_to(Step.State.UNDONE, finished_at=timezone.now())
    _audit_step(run, record, "step.undo", "succeeded")


def _run_rolled_back(run: LifecycleRun) -> None:
    _, _, rolled_back_status = PERSON_STATUS[run.kind]
    with transaction.atomic():
        run.move_to(State.ROLLED_BACK, finished_at=timezone.now())
        run.person.move_to(rolled_back_status)
        audit_record(
            actor=run.worker, action=f"{run.kind}.rollback", target=run.person.username,
            outcome="succeeded", details={"run": run.pk}, run=run,
        )  # fmt: skip


def plan_preview(
    *, kind: str, person: Person, team: Team, previous_team: Team | None = None
) -> list[PlannedChange]:
    """What each step would change, from the systems' current state; changes nothing."""
    ctx = StepContext(person=person, team=team, previous_team=previous_team, systems=systems())
    changes = []
    for spec in plan_for(kind):
        found = spec.check(ctx)
        if found is not None:
            ctx.outputs[spec.name] = found
        changes.append(PlannedChange(spec.name, spec.system, spec.description, found is not None))
    return changes


def runs_requeue_stale() -> list[tuple[int, bool]]:
    """Runs whose worker went silent, and whether each was rolling back."""
    stale_before = timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
    runs = LifecycleRun.objects.filter(
        state__in=[State.RUNNING, State.ROLLING_BACK], heartbeat_at__lt=stale_before
    ).values_list("pk", "state")
    return [(pk, state == State.ROLLING_BACK) for pk, state in runs]
