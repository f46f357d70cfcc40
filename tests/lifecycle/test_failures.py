"""A run that fails after any step can be resumed to the end, or rolled back to nothing.

The failure is injected by wrapping a step's real ``do`` so that it raises after its side effect,
as a worker crashing right after a call would: the downstream systems themselves are real.
"""

import pytest

from onboarding.errors import PermanentError, TransientError
from onboarding.models import LifecycleRun, Person, Step
from onboarding.plans import plan_for
from onboarding.services import run_resume, run_rollback
from tests.lifecycle.conftest import onboard
from tests.lifecycle.observe import access_points, hub_user, roles

pytestmark = pytest.mark.django_db(transaction=True)

ONBOARD_STEPS = [step.name for step in plan_for(LifecycleRun.Kind.ONBOARD).steps]


def fail_after(
    monkeypatch, step_name: str, error: Exception, times: int = 1, before: bool = False
) -> None:
    """Make the step raise `times` times, after its real work (or before it, with `before`)."""
    remaining = [times]
    step = plan_for(LifecycleRun.Kind.ONBOARD).step(step_name)
    real_do = step.do

    def do_and_fail(ctx):
        result = None if before else real_do(ctx)
        if remaining[0] > 0:
            remaining[0] -= 1
            raise error
        return real_do(ctx) if before else result

    monkeypatch.setattr(step, "do", do_and_fail)


def everything_of(stack, ipa, username: str) -> dict:
    user = ipa.freeipa.user_find(username=username)
    return {
        "freeipa_user": user is not None,
        "otp_tokens": len(ipa.freeipa.otp_tokens(username=username)) if user else 0,
        "access_points": len(access_points(stack, username)),
        "roles": len(roles(stack, username)),
        "hub_user": hub_user(stack, username) is not None,
    }


FULLY_ONBOARDED = {
    "freeipa_user": True,
    "otp_tokens": 1,
    "access_points": 1,
    "roles": 1,
    "hub_user": True,
}
NOTHING = {
    "freeipa_user": False,
    "otp_tokens": 0,
    "access_points": 0,
    "roles": 0,
    "hub_user": False,
}


@pytest.mark.parametrize("step_name", ONBOARD_STEPS)
def test_failure_after_each_step_then_resume_ends_onboarded_without_duplicates(
    monkeypatch, eager, stack_configured, ipa, team, username, step_name
):
    with monkeypatch.context() as patch:
        fail_after(patch, step_name, PermanentError("test", "injected failure"))
        run = onboard(username, team)
    assert run.state == LifecycleRun.State.FAILED
    assert run.error == f"{step_name}: test: injected failure"
    assert run.steps.get(name=step_name).state == Step.State.FAILED

    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert everything_of(stack_configured, ipa, username) == FULLY_ONBOARDED
    assert Person.objects.get(username=username).status == Person.Status.ACTIVE
    assert run.steps.get(name=step_name).attempts == 2


@pytest.mark.parametrize("step_name", ONBOARD_STEPS)
def test_failure_after_each_step_then_rollback_leaves_nothing(
    monkeypatch, eager, stack_configured, ipa, team, username, step_name
):
    with monkeypatch.context() as patch:
        fail_after(patch, step_name, PermanentError("test", "injected failure"))
        run = onboard(username, team)
    assert run.state == LifecycleRun.State.FAILED
    touched = set(run.steps.exclude(state=Step.State.PENDING).values_list("name", flat=True))
    assert step_name in touched

    run_rollback(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.ROLLED_BACK, run.error
    assert everything_of(stack_configured, ipa, username) == NOTHING
    assert Person.objects.get(username=username).status == Person.Status.NEW
    states = dict(run.steps.values_list("name", "state"))
    assert {name for name, state in states.items() if state == Step.State.UNDONE} == touched


def test_transient_failure_is_retried_and_succeeds(
    monkeypatch, eager, stack_configured, ipa, team, username, settings
):
    settings.LIFECYCLE_RETRY_BASE_SECONDS = 0
    fail_after(monkeypatch, "iam_role", TransientError("iam", "throttled"), times=2, before=True)
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    step = run.steps.get(name="iam_role")
    assert step.attempts == 3
    assert everything_of(stack_configured, ipa, username) == FULLY_ONBOARDED
    retried = run.events.filter(action="step.do", outcome="retried")
    assert retried.count() == 2
    assert retried.first().details["error"] == "iam: throttled"


def test_transient_failure_after_the_side_effect_is_not_done_twice(
    monkeypatch, eager, stack_configured, ipa, team, username, settings
):
    settings.LIFECYCLE_RETRY_BASE_SECONDS = 0
    fail_after(monkeypatch, "efs_access_point", TransientError("efs", "timed out"))
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert run.steps.get(name="efs_access_point").attempts == 2
    assert everything_of(stack_configured, ipa, username) == FULLY_ONBOARDED
    (done,) = run.events.filter(
        action="step.do", outcome="succeeded", details__step="efs_access_point"
    )
    assert done.details["already_done"] is True


def test_transient_failures_past_the_limit_fail_the_run(
    monkeypatch, eager, stack_configured, ipa, team, username, settings
):
    settings.LIFECYCLE_RETRY_BASE_SECONDS = 0
    settings.CELERY_TASK_MAX_RETRIES = 2
    with monkeypatch.context() as patch:
        fail_after(
            patch, "efs_access_point", TransientError("efs", "unavailable"), times=10, before=True
        )
        run = onboard(username, team)
    assert run.state == LifecycleRun.State.FAILED
    assert "gave up after 2 retries: efs: unavailable" in run.error
    assert run.steps.get(name="efs_access_point").state == Step.State.FAILED
    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert everything_of(stack_configured, ipa, username) == FULLY_ONBOARDED
