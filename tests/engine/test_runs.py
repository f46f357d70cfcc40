"""Runs through success, transient retries, permanent failure, resume, rollback and take-over."""

from datetime import timedelta

import pytest
from django.utils import timezone

from onboarding.errors import InvalidInput, PermanentError, RunInProgress, TransientError
from onboarding.models import AuditEvent, LifecycleRun, Person, Step
from onboarding.services import (
    person_credentials_reset,
    person_move,
    person_offboard,
    person_reinstate,
    run_resume,
    run_rollback,
)
from onboarding.tasks import runs_overdue_requeue_task
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State


def steps_of(run: LifecycleRun) -> dict[str, tuple[str, int]]:
    return {step.name: (step.state, step.attempts) for step in run.steps.all()}


def test_onboarding_runs_every_step_of_the_enabled_system_in_stage_order(fake, team):
    run = onboard("ada", team)
    assert run.state == State.SUCCEEDED, run.error
    assert person("ada").status == Person.Status.ACTIVE
    account = fake.accounts["ada"]
    assert (account.team, account.keys, account.disabled) == ("vision", 1, False)
    assert steps_of(run) == {
        "fake_account": ("done", 1),
        "fake_key": ("done", 1),
        "fake_team": ("done", 1),
    }
    assert list(run.steps.order_by("position").values_list("name", flat=True)) == [
        "fake_account", "fake_key", "fake_team",
    ]  # fmt: skip
    outcomes = list(run.events.order_by("id").values_list("action", "outcome"))
    assert outcomes[0] == ("onboard.request", "requested")
    assert outcomes[-1] == ("onboard.run", "succeeded")
    assert run.events.get(action="onboard.run").details["round_trips"] == {"fake": 3}


def test_transient_failures_are_retried_with_the_step_checked_first(fake, team):
    fake.fail("account_set", TransientError("fake", "throttled"), times=2)
    run = onboard("bea", team)
    assert run.state == State.SUCCEEDED, run.error
    assert steps_of(run)["fake_key"] == ("done", 3)
    assert fake.accounts["bea"].keys == 1
    retried = run.events.filter(action="step.do", outcome="retried")
    assert [event.details["error"] for event in retried] == ["fake: throttled"] * 2
    # The account step ran once: a retry goes on from the step that failed.
    assert fake.calls["account_create"] == 1


def test_a_run_that_keeps_failing_transiently_gives_up_and_can_be_resumed(fake, team, settings):
    settings.CELERY_TASK_MAX_RETRIES = 2
    fake.fail("account_set", TransientError("fake", "unavailable"), times=3)
    run = onboard("cai", team)
    assert run.state == State.FAILED
    assert run.error == "gave up after 2 retries: fake: unavailable"
    assert steps_of(run)["fake_key"] == ("failed", 3)
    assert person("cai").status == Person.Status.ONBOARDING

    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert fake.accounts["cai"].keys == 1


def test_a_permanent_failure_fails_the_run_then_resume_finishes_without_duplicates(fake, team):
    fake.fail("account_set", PermanentError("fake", "quota exceeded"))
    run = onboard("dan", team)
    assert run.state == State.FAILED
    assert run.error == "fake_key: fake: quota exceeded"
    assert steps_of(run) == {
        "fake_account": ("done", 1),
        "fake_key": ("failed", 1),
        "fake_team": ("pending", 0),
    }
    failed = AuditEvent.objects.get(action="onboard.run", outcome="failed")
    assert failed.details["failed_steps"] == ["fake_key"]

    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert fake.calls["account_create"] == 1
    assert (fake.accounts["dan"].keys, fake.accounts["dan"].team) == (1, "vision")
    assert AuditEvent.objects.filter(action="onboard.resume", outcome="requested").count() == 1


def test_a_failure_after_the_side_effect_is_checked_on_resume_not_redone(fake, team):
    real = fake.account_create

    def create_then_crash(username, team_name):
        real(username, team_name)
        raise PermanentError("fake", "connection dropped after the account was made")

    fake.account_create = create_then_crash
    run = onboard("eve", team)
    assert run.state == State.FAILED
    fake.account_create = real

    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert steps_of(run)["fake_account"] == ("done", 2)
    (resumed,) = run.events.filter(
        action="step.do", outcome="succeeded", details__step="fake_account"
    )
    assert resumed.details["already_done"] is True


def test_rollback_undoes_completed_steps_newest_first_and_leaves_nothing(fake, team):
    fake.fail("account_set", PermanentError("fake", "refused"), times=1)
    run = onboard("fay", team)
    assert run.state == State.FAILED
    assert "fay" in fake.accounts

    run_rollback(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.ROLLED_BACK, run.error
    assert "fay" not in fake.accounts
    assert person("fay").status == Person.Status.NEW
    undone = run.events.filter(action="step.undo").order_by("id")
    assert [event.details["step"] for event in undone] == ["fake_key", "fake_account"]
    assert steps_of(run)["fake_team"] == ("pending", 0)


def test_a_rollback_that_stops_fails_the_run_and_can_be_tried_again(fake, team):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("gus", team)
    fake.fail("account_delete", PermanentError("fake", "account is locked"))
    run_rollback(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error == "rollback stopped at fake_account: fake: account is locked"
    assert "gus" in fake.accounts

    run_rollback(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.ROLLED_BACK, run.error
    assert "gus" not in fake.accounts


def test_only_a_failed_run_can_be_resumed_or_rolled_back(fake, team):
    run = onboard("hal", team)
    for action in (run_resume, run_rollback):
        with pytest.raises(InvalidInput, match="only a failed run"):
            action(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED


def test_a_silent_workers_run_is_taken_over_and_its_interrupted_step_checked(fake, team, settings):
    fake.fail("account_set", PermanentError("fake", "stop here"))
    run = onboard("ivy", team)
    # As if a worker had claimed the resumed run, made the key, and died before saying so.
    stale = timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS + 1)
    fake.accounts["ivy"].keys = 1
    LifecycleRun.objects.filter(pk=run.pk).update(
        state=State.RUNNING, worker="dead@host:1", heartbeat_at=stale, error=""
    )
    Step.objects.filter(run=run, name="fake_key").update(state=Step.State.RUNNING)
    sets_before = fake.calls["account_set"]

    assert runs_overdue_requeue_task.delay().get() == [run.pk]
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    take_over = run.events.get(action="run.take_over")
    assert take_over.details["silent_worker"] == "dead@host:1"
    key_done = run.events.filter(action="step.do", details__step="fake_key").order_by("id").last()
    assert key_done.details["already_done"] is True
    # Only the team step wrote to the account: the key was checked, not issued again.
    assert fake.calls["account_set"] == sets_before + 1


def test_a_run_whose_worker_is_alive_is_not_taken_over(fake, team):
    fake.fail("account_set", PermanentError("fake", "stop here"))
    run = onboard("jon", team)
    LifecycleRun.objects.filter(pk=run.pk).update(
        state=State.RUNNING, worker="alive@host:1", heartbeat_at=timezone.now()
    )
    assert runs_overdue_requeue_task.delay().get() == []
    run.refresh_from_db()
    assert (run.state, run.worker) == (State.RUNNING, "alive@host:1")


def test_offboard_move_and_reinstate_run_the_systems_steps(fake, team, other_team):
    onboard("kim", team)
    run = person_move(person=person("kim"), team=other_team, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert person("kim").team == other_team
    assert fake.accounts["kim"].team == "nlp"

    run = person_offboard(person=person("kim"), reason="left", actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert (fake.accounts["kim"].disabled, fake.accounts["kim"].keys) == (True, 0)
    assert run.params == {"reason": "left"}

    run = person_reinstate(person=person("kim"), reason="back", actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert (fake.accounts["kim"].disabled, fake.accounts["kim"].keys) == (False, 1)
    assert person("kim").status == Person.Status.ACTIVE


def test_a_second_request_for_a_person_with_a_run_in_progress_is_refused(fake, team):
    fake.fail("account_set", PermanentError("fake", "stop"))
    run = onboard("lea", team)
    LifecycleRun.objects.filter(pk=run.pk).update(state=State.QUEUED)
    with pytest.raises(RunInProgress, match=f"#{run.pk}"):
        person_offboard(person=person("lea"), reason="left", actor="admin")
    assert LifecycleRun.objects.filter(person__username="lea").count() == 1


def test_a_request_from_a_stale_person_object_is_refused_as_busy(fake, team):
    onboard("max", team)
    stale = person("max")
    person_offboard(person=person("max"), reason="left", actor="admin")
    # `stale` still says active: the compare-and-set on the status refuses it.
    LifecycleRun.objects.filter(person=stale).update(state=State.SUCCEEDED)
    with pytest.raises(RunInProgress):
        person_offboard(person=stale, reason="again", actor="admin")
    assert LifecycleRun.objects.filter(person=stale, kind="offboard").count() == 1


def test_a_system_that_cannot_be_reached_is_a_transient_failure(fake, team, settings):
    settings.CELERY_TASK_MAX_RETRIES = 1
    onboard("ned", team)
    fake.reachable = False
    run = person_credentials_reset(person=person("ned"), actor="admin")
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error == "gave up after 1 retries: fake: cannot reach the fake directory"
    fake.reachable = True
    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
