"""Undoing a failed run: every step that did or may have done something, newest first."""

from __future__ import annotations

import logging
from typing import NoReturn

from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import DownstreamError, RunLost, RunStopped
from onboarding.logs import log_context
from onboarding.models import LifecycleRun, Person, Step, Team
from onboarding.plans import plan_for
from onboarding.runner.claims import Heartbeat, run_claim
from onboarding.runner.execute import (
    audit_step,
    error_describe,
    error_is_transient,
    run_context,
    run_defer,
    run_records,
    run_time_up,
    step_context,
)
from onboarding.runner.fence import Fence
from onboarding.runner.limits import RunClock
from onboarding.signals import run_finished
from onboarding.steps import PlanStep, StepContext
from onboarding.systems._counting import requests_fenced

logger = logging.getLogger(__name__)

State = LifecycleRun.State


def run_rollback_execute(*, run_id: int, worker: str) -> LifecycleRun | None:
    """Undo, newest first, every step that did or may have done something."""
    run = run_claim(run_id, worker, rolling_back=True)
    if run is None:
        return None
    with log_context(run=run.pk, worker=worker), Heartbeat(run) as heartbeat:
        _steps_undo(run, heartbeat, RunClock(), Fence(run))
    return run


def _steps_undo(run: LifecycleRun, heartbeat: Heartbeat, clock: RunClock, fence: Fence) -> None:
    ctx = run_context(run)
    plan = plan_for(run.kind)
    records = run_records(run, plan)
    for step in plan.steps:
        ctx.outputs[step.name] = records[step.name].external_ids
    for step in reversed(plan.steps):
        record = records[step.name]
        if step_untouched(record) or record.state == Step.State.UNDONE:
            continue
        if heartbeat.lost:
            raise RunLost(f"run {run.pk} was taken over from {run.worker}")
        if clock.expired:
            run_time_up(run, clock, fence)
        with log_context(step=step.name):
            undone_ids = _step_undo(ctx, step, record, fence)
        if undone_ids:
            ctx.outputs[step.name] = undone_ids
    _run_rolled_back(run, fence)


def step_untouched(record: Step) -> bool:
    return record.state == Step.State.PENDING and record.attempts == 0


def _step_undo(ctx: StepContext, step: PlanStep, record: Step, fence: Fence) -> dict | None:
    run = ctx.run
    with fence.writing():
        if record.state == Step.State.PENDING:
            record.move_to(Step.State.FAILED, last_error=record.last_error or "interrupted")
        if record.state == Step.State.RUNNING:
            # The worker running it died; whatever it did is undone below all the same.
            Step.objects.filter(pk=record.pk).update(state=Step.State.FAILED)
            record.state = Step.State.FAILED
        if record.state != Step.State.UNDOING:
            record.move_to(Step.State.UNDOING)
    requests_fenced(fence.check)
    try:
        undone_ids = step.undo(step_context(ctx, step, record))
    except RunLost:
        raise
    except Exception as error:
        _step_undo_fail(run, record, error, fence)
    finally:
        requests_fenced(None)
    with fence.writing():
        record.move_to(Step.State.UNDONE, finished_at=timezone.now())
        audit_step(run, record, "step.undo", "succeeded")
    return undone_ids


def _step_undo_fail(run: LifecycleRun, record: Step, error: Exception, fence: Fence) -> NoReturn:
    message = error_describe(error)
    if error_is_transient(error):
        with fence.writing():
            audit_step(run, record, "step.undo", "retried", error=message)
        run_defer(run, message, fence)
    if not isinstance(error, DownstreamError):
        logger.exception("run %s undo %s: unexpected error", run.pk, record.name)
    with fence.writing():
        record.move_to(Step.State.FAILED, last_error=f"undo: {message}")
        run.move_to(State.FAILED, error=f"rollback stopped at {record.name}: {message}", worker="")
        audit_step(run, record, "step.undo", "failed", error=message)
    raise RunStopped(message) from error


def _run_rolled_back(run: LifecycleRun, fence: Fence) -> None:
    with fence.writing():
        run.move_to(State.ROLLED_BACK, finished_at=timezone.now())
        _team_restore(run)
        run.person.move_to(run.person_status_rolled_back)
        audit_record(
            actor=run.worker, action=f"{run.kind}.rollback", target=run.person.username,
            outcome="succeeded", details={"run": run.pk}, run=run,
        )  # fmt: skip
        run_finished.send(sender=LifecycleRun, run=run)


def _team_restore(run: LifecycleRun) -> None:
    """An undone reinstatement into another team leaves the person in the team they left."""
    if run.kind != LifecycleRun.Kind.REINSTATE:
        return
    from_team = Team.objects.filter(name=run.params.get("from_team")).first()
    if from_team is not None and from_team.pk != run.person.team_id:
        Person.objects.filter(pk=run.person.pk).update(team=from_team)
        run.person.team = from_team
