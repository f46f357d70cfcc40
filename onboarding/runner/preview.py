"""Dry runs: what a plan, a resume or a rollback would change, read from the systems' current
state. Nothing here changes anything."""

from __future__ import annotations

from dataclasses import dataclass

from onboarding.models import LifecycleRun, Person, Step, Team
from onboarding.plans import plan_for
from onboarding.runner.execute import run_context, run_records, step_context
from onboarding.runner.rollback import step_untouched
from onboarding.steps import StepContext


@dataclass(frozen=True)
class PlannedChange:
    step: str
    system: str
    description: str
    already_done: bool


def plan_preview(
    *, kind: str, person: Person, team: Team, previous_team: Team | None = None
) -> list[PlannedChange]:
    """What each step of a new run would change."""
    ctx = StepContext(person=person, team=team, previous_team=previous_team)
    return _steps_check(ctx, kind, done=set())


def plan_steps(kind: str) -> list[PlannedChange]:
    """Each step of a new run, the systems not asked: for a bulk file, whose usernames were
    checked against the systems once for the whole file, not once per step and row (hundreds of
    look-ups would meet IAM's and FreeIPA's rate limits for nothing)."""
    return [
        PlannedChange(step.name, step.system, step.description, already_done=False)
        for step in plan_for(kind).steps
    ]


def run_resume_preview(run: LifecycleRun) -> list[PlannedChange]:
    """What resuming the run would still change: its done steps are not asked again."""
    done = set(run.steps.filter(state=Step.State.DONE).values_list("name", flat=True))
    return _steps_check(run_context(run), run.kind, done=done)


def run_rollback_preview(run: LifecycleRun) -> list[PlannedChange]:
    """The steps a rollback would undo, newest first."""
    records = run_records(run, plan_for(run.kind))
    return [
        PlannedChange(step.name, step.system, step.description, already_done=False)
        for step in reversed(plan_for(run.kind).steps)
        if not step_untouched(records[step.name]) and records[step.name].state != Step.State.UNDONE
    ]


def _steps_check(ctx: StepContext, kind: str, *, done: set[str]) -> list[PlannedChange]:
    changes = []
    for step in plan_for(kind).steps:
        found = {} if step.name in done else step.check(step_context(ctx, step))
        if found is not None:
            ctx.outputs[step.name] = found
        changes.append(PlannedChange(step.name, step.system, step.description, found is not None))
    return changes
