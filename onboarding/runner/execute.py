"""Doing a run's steps: each step's row is written before its side effect and updated after it,
so a worker that dies mid-step leaves a row saying "running", and whoever picks the run up next
checks that step before doing it again."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import NoReturn

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import DownstreamError, RunLost, RunStopped, StepDeferred, Throttled
from onboarding.logs import log_context
from onboarding.models import LifecycleRun, Person, Step, Team
from onboarding.plans import plan_for
from onboarding.runner import threads
from onboarding.runner.claims import Heartbeat, run_claim
from onboarding.runner.fence import Fence
from onboarding.runner.limits import RunClock
from onboarding.signals import run_finished
from onboarding.steps import PlanStep, StepContext
from onboarding.systems import registry
from onboarding.systems._counting import requests_fenced

logger = logging.getLogger(__name__)

State = LifecycleRun.State
Kind = LifecycleRun.Kind

# A dropped or restarting database: the connection is replaced and the work tried again.
DATABASE_BLIPS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class StepFailure:
    step: str
    message: str
    transient: bool
    throttled: bool = False


# What a run that never gives up says while it waits for a system (cleared when it succeeds).
WAITING_SAYS = "waiting for a system to answer, tries again by itself"


def retry_delay(retries: int) -> float:
    """Exponential back-off with full jitter, capped."""
    # The exponent stops growing once past the cap: a run that never gives up retries for days.
    ceiling = min(
        settings.LIFECYCLE_RETRY_MAX_SECONDS,
        settings.LIFECYCLE_RETRY_BASE_SECONDS * 2 ** min(retries, 30),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def run_steps_create(run: LifecycleRun) -> None:
    Step.objects.bulk_create(
        Step(run=run, name=step.name, position=position)
        for position, step in enumerate(plan_for(run.kind).steps, start=1)
    )


def run_records(run: LifecycleRun, plan) -> dict[str, Step]:
    """The run's step rows by name; a step the plan gained since the run began (an upgrade, a
    system enabled) gets its row now."""
    records = {record.name: record for record in run.steps.all()}
    missing = [step for step in plan.steps if step.name not in records]
    if missing:
        last = max((record.position for record in records.values()), default=0)
        Step.objects.bulk_create(
            Step(run=run, name=step.name, position=last + offset)
            for offset, step in enumerate(missing, start=1)
        )
        records = {record.name: record for record in run.steps.all()}
    return records


def run_context(run: LifecycleRun) -> StepContext:
    person = run.person
    team, previous_team = person.team, None
    if run.kind == Kind.MOVE:
        previous_team, team = team, Team.objects.get(pk=run.params["to_team_id"])
    return StepContext(person=person, team=team, previous_team=previous_team, run=run)


def step_context(ctx: StepContext, step: PlanStep, record: Step | None = None) -> StepContext:
    """The run's context as one step sees it: its row, and its own system's client."""
    system = registry.system(step.system)
    return replace(ctx, record=record, client=system.client, system=system.name)


def audit_step(run: LifecycleRun, record: Step, action: str, outcome: str, **details) -> None:
    audit_record(
        actor=run.worker or "worker",
        action=action,
        target=run.person.username,
        outcome=outcome,
        details={"run": run.pk, "step": record.name, "attempt": record.attempts, **details},
        run=run,
    )


def error_describe(error: Exception) -> str:
    if isinstance(error, DownstreamError):
        return str(error)
    if isinstance(error, DATABASE_BLIPS):
        return f"database unavailable ({type(error).__name__})"
    return f"unexpected {type(error).__name__}: {error}"


def error_is_transient(error: Exception) -> bool:
    return isinstance(error, DATABASE_BLIPS) or (
        isinstance(error, DownstreamError) and error.transient
    )


def run_defer(
    run: LifecycleRun, message: str, fence: Fence, *, throttled: bool = False, **fields
) -> NoReturn:
    """A transient failure: the run waits for a retry. One that takes access away waits for as
    long as it takes, saying so, and finishes by itself once the system answers; so does one a
    system only asked to slow down (`throttled`). Any other fails once its retries ran out."""
    with fence.writing():
        gives_up = not (run.never_gives_up or throttled)
        if run.retries >= settings.CELERY_TASK_MAX_RETRIES and gives_up:
            run_give_up(run, error=message)
            stop: Exception = RunStopped(message)
        else:
            delay = retry_delay(run.retries)
            due_at = timezone.now() + timedelta(seconds=delay)
            run.retries += 1
            if run.never_gives_up:
                fields["error"] = f"{WAITING_SAYS}: {message}"
            LifecycleRun.objects.filter(pk=run.pk).update(
                retries=run.retries, due_at=due_at, worker="", **fields
            )
            stop = StepDeferred(message, delay)
    raise stop


def run_execute(*, run_id: int, worker: str) -> LifecycleRun | None:
    """Do every step of the run not yet done. Returns None when the run is not ours to run.

    Steps whose needs are met run together, each on its own thread; the run moves on when the
    whole group has finished.
    """
    run = run_claim(run_id, worker, rolling_back=False)
    if run is None:
        logger.info("run %s: not claimed by %s", run_id, worker)
        return None
    with log_context(run=run.pk, worker=worker), Heartbeat(run) as heartbeat:
        _steps_do(run, heartbeat, RunClock(), Fence(run))
    return run


def run_time_up(run: LifecycleRun, clock: RunClock, fence: Fence) -> NoReturn:
    """The run used this attempt's time: it yields its worker and goes on later, from the step
    it stopped at. Counted as a retry, so a run that can never finish in time fails in the end."""
    message = f"still going after its {clock.seconds:.0f} s time limit; goes on later"
    with fence.writing():
        audit_record(
            actor=run.worker or "worker", action="run.time_limit", target=run.person.username,
            outcome="retried", details={"run": run.pk, "seconds": clock.seconds}, run=run,
        )  # fmt: skip
        if run.state == State.RUNNING and not run.move_to(State.QUEUED, worker=""):
            raise RunLost(f"run {run.pk} changed under its worker")
    run_defer(run, message, fence)


def _steps_do(run: LifecycleRun, heartbeat: Heartbeat, clock: RunClock, fence: Fence) -> None:
    plan = plan_for(run.kind)
    ctx = run_context(run)
    records = run_records(run, plan)
    done = {name for name, record in records.items() if record.state == Step.State.DONE}
    pending = [step for step in plan.steps if step.name not in done]
    for name in done:
        ctx.outputs[name] = records[name].external_ids
    round_trips: dict[str, int] = {}
    while pending:
        if heartbeat.lost:
            raise RunLost(f"run {run.pk} was taken over from {run.worker}")
        if clock.expired:
            run_time_up(run, clock, fence)
        ready = [step for step in pending if plan.needs[step.name] <= done]
        outcomes = threads.together(
            [
                lambda step=step: _step_do_logged(
                    ctx, step, records[step.name], plan.check_first, fence
                )
                for step in ready
            ]
        )
        failures = []
        for step, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, StepFailure):
                failures.append(outcome)
                continue
            done.add(step.name)
            ctx.outputs[step.name] = records[step.name].external_ids
            for system, count in outcome.items():
                round_trips[system] = round_trips.get(system, 0) + count
        if failures:
            _run_stop(run, failures, fence)
        pending = [step for step in pending if step.name not in done]
    _run_succeed(run, ctx, fence, round_trips=round_trips)


def _step_do_logged(
    ctx: StepContext, step: PlanStep, record: Step, check_first: bool, fence: Fence
) -> dict[str, int] | StepFailure:
    # Set inside the job: a step thread does not inherit the run's log context.
    with log_context(run=ctx.run.pk, step=step.name, worker=ctx.run.worker):
        return _step_do(ctx, step, record, fence, check_first)


def _step_do(
    ctx: StepContext, step: PlanStep, record: Step, fence: Fence, check_first: bool = False
) -> dict[str, int] | StepFailure:
    """Do one step; return the round trips it made per system, or how it failed. Raises
    RunLost, having written and called nothing more, once the run is another worker's."""
    # A step touched before (retried, failed, or running when its worker died) is checked first.
    touched = check_first or record.attempts > 0
    now = timezone.now()
    with fence.writing():
        if record.state == Step.State.RUNNING:
            Step.objects.filter(pk=record.pk).update(attempts=record.attempts + 1, started_at=now)
            record.attempts += 1
        else:
            record.move_to(
                Step.State.RUNNING, attempts=record.attempts + 1, started_at=now, last_error=""
            )
    trips_before = registry.round_trips()
    requests_fenced(fence.check)
    try:
        step_ctx = step_context(ctx, step, record)
        found = step.check(step_ctx) if touched else None
        external_ids = found if found is not None else step.do(step_ctx)
    except RunLost:
        raise
    except Exception as error:
        return _step_fail(ctx.run, record, error, fence)
    finally:
        requests_fenced(None)
    trips = {
        system: count - trips_before.get(system, 0)
        for system, count in registry.round_trips().items()
        if count != trips_before.get(system, 0)
    }
    with fence.writing():
        record.move_to(Step.State.DONE, external_ids=external_ids, finished_at=timezone.now())
        audit_step(
            ctx.run, record, "step.do", "succeeded", already_done=found is not None,
            round_trips=trips,
        )  # fmt: skip
    return trips


def _step_fail(run: LifecycleRun, record: Step, error: Exception, fence: Fence) -> StepFailure:
    message = error_describe(error)
    with fence.writing():
        if error_is_transient(error):
            record.move_to(Step.State.PENDING, last_error=message)
            audit_step(run, record, "step.do", "retried", error=message)
            throttled = isinstance(error, Throttled)
            return StepFailure(record.name, message, transient=True, throttled=throttled)
        if not isinstance(error, DownstreamError):
            logger.exception("run %s step %s: unexpected error", run.pk, record.name)
        record.move_to(Step.State.FAILED, last_error=message, finished_at=timezone.now())
        audit_step(run, record, "step.do", "failed", error=message)
    return StepFailure(record.name, message, transient=False)


def _run_stop(run: LifecycleRun, failures: list[StepFailure], fence: Fence) -> NoReturn:
    """A permanent failure fails the run; transient ones alone send it back to the queue."""
    permanent = [failure for failure in failures if not failure.transient]
    if not permanent:
        with fence.writing():
            if not run.move_to(State.QUEUED, worker=""):
                raise RunLost(f"run {run.pk} changed under its worker")
        throttled = all(failure.throttled for failure in failures)
        run_defer(run, "; ".join(f.message for f in failures), fence, throttled=throttled)
    first = permanent[0]
    error = f"{first.step}: {first.message}"
    with fence.writing():
        if not run.move_to(State.FAILED, error=error, finished_at=timezone.now()):
            raise RunLost(f"run {run.pk} changed under its worker")
        audit_record(
            actor=run.worker, action=f"{run.kind}.run", target=run.person.username,
            outcome="failed", run=run,
            details={"run": run.pk, "failed_steps": [f.step for f in permanent], "error": error},
        )  # fmt: skip
        run_finished.send(sender=LifecycleRun, run=run)
    raise RunStopped(error)


def _run_succeed(
    run: LifecycleRun, ctx: StepContext, fence: Fence, round_trips: dict[str, int]
) -> None:
    with fence.writing():
        if not run.move_to(State.SUCCEEDED, finished_at=timezone.now(), error=""):
            raise RunLost(f"run {run.pk} changed under its worker")
        person = run.person
        if run.kind == Kind.MOVE:
            Person.objects.filter(pk=person.pk).update(team=ctx.team)
            person.team = ctx.team
        person.move_to(run.person_status_after)
        audit_record(
            actor=run.worker, action=f"{run.kind}.run", target=person.username,
            outcome="succeeded", details={"run": run.pk, "round_trips": round_trips}, run=run,
        )  # fmt: skip
        run_finished.send(sender=LifecycleRun, run=run)


# The tasks that do a run, whose first argument is the run's id.
RUN_TASKS = frozenset({"lifecycle.run_execute", "lifecycle.run_rollback_execute"})


def run_overran(task_name: str, args: tuple) -> None:
    """A run's task outlived the hard time limit and its worker is about to end: the run fails
    on the step it was stuck in, for a person to resume or roll back once the cause is fixed."""
    if task_name not in RUN_TASKS or not args:
        return
    run = LifecycleRun.objects.select_related("person").get(pk=args[0])
    if run.state not in (State.RUNNING, State.ROLLING_BACK):
        return
    limit = settings.CELERY_TASK_TIME_LIMIT
    message = f"stopped: still going after the {limit} s hard time limit, its worker restarted"
    for step in run.steps.filter(state__in=(Step.State.RUNNING, Step.State.UNDOING)):
        step.move_to(Step.State.FAILED, last_error=message, finished_at=timezone.now())
    run.move_to(State.FAILED, error=message, finished_at=timezone.now(), worker="")
    audit_record(
        actor=run.worker or "worker", action=f"{run.kind}.run", target=run.person.username,
        outcome="failed", details={"run": run.pk, "error": message}, run=run,
    )  # fmt: skip


def run_give_up(run: LifecycleRun, *, error: str) -> None:
    """Retries ran out: the run fails on the step that kept failing, and waits for a person."""
    if run.state == State.ROLLING_BACK:
        stuck = run.steps.filter(state=Step.State.UNDOING)
    else:
        stuck = run.steps.filter(state=Step.State.PENDING).exclude(last_error="")
    for step in stuck:
        step.move_to(Step.State.FAILED, last_error=error, finished_at=timezone.now())
    message = f"gave up after {settings.CELERY_TASK_MAX_RETRIES} retries: {error}"
    run.move_to(State.FAILED, error=message, finished_at=timezone.now(), worker="")
    audit_record(
        actor=run.worker or "worker", action=f"{run.kind}.run", target=run.person.username,
        outcome="failed", details={"run": run.pk, "error": message}, run=run,
    )  # fmt: skip
    run_finished.send(sender=LifecycleRun, run=run)
