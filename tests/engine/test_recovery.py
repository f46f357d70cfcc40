"""Runs heal by themselves: a lost message is sent again, a restarted worker hands on what it
held, a long step keeps its run, a database blip is retried, and the losers of concurrent
requests are told a run is in progress."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from onboarding.errors import InvalidInput, PermanentError, RunInProgress, Throttled, TransientError
from onboarding.models import AuditEvent, LifecycleRun, Person, Step
from onboarding.runner import run_steps_create, runs_release
from onboarding.services import person_offboard, run_requeue, run_resume, run_rollback
from onboarding.tasks import runs_overdue_requeue_task
from tests.engine.conftest import onboard, person
from tests.factories import make_person, make_run

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State


def long_ago(settings) -> timezone.datetime:
    return timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS + 5)


def waiting_run(team, username: str, **fields) -> LifecycleRun:
    """A run committed as if its message never reached a worker."""
    someone = make_person(username, team=team, status=Person.Status.ONBOARDING)
    run = make_run(someone, **fields)
    run_steps_create(run)
    return run


def test_a_queued_run_whose_message_was_lost_is_sent_again_and_finishes(fake, team, settings):
    run = waiting_run(team, "ada", due_at=long_ago(settings))
    assert runs_overdue_requeue_task.delay().get() == [run.pk]
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error
    assert fake.accounts["ada"].keys == 1


def test_a_queued_run_not_yet_overdue_is_left_to_its_message(fake, team):
    run = waiting_run(team, "bea", due_at=timezone.now())
    assert runs_overdue_requeue_task.delay().get() == []
    run.refresh_from_db()
    assert run.state == State.QUEUED


def test_a_retry_whose_message_was_lost_is_sent_again_when_overdue(fake, team, settings):
    run = waiting_run(team, "cai", retries=1, due_at=long_ago(settings))
    runs_overdue_requeue_task.delay().get()
    run.refresh_from_db()
    assert (run.state, run.retries) == (State.SUCCEEDED, 1)


def test_a_rollback_whose_message_was_lost_is_sent_again(fake, team, settings):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("dan", team)
    LifecycleRun.objects.filter(pk=run.pk).update(
        state=State.ROLLING_BACK, worker="", heartbeat_at=None, due_at=long_ago(settings)
    )
    assert runs_overdue_requeue_task.delay().get() == [run.pk]
    run.refresh_from_db()
    assert run.state == State.ROLLED_BACK, run.error
    assert "dan" not in fake.accounts


def test_a_restarted_worker_hands_on_the_runs_its_previous_life_held(fake, team):
    fake.fail("account_set", PermanentError("fake", "stop"))
    run = onboard("eve", team)
    LifecycleRun.objects.filter(pk=run.pk).update(
        state=State.RUNNING, worker="celery@box:4f1e", heartbeat_at=timezone.now()
    )
    other = waiting_run(team, "fay", state=State.RUNNING, worker="celery@other:99",
                        heartbeat_at=timezone.now())  # fmt: skip
    assert runs_release("celery@box") == [(run.pk, False)]
    run.refresh_from_db()
    assert (run.worker, run.heartbeat_at) == ("", None)
    other.refresh_from_db()
    assert other.worker == "celery@other:99"
    assert runs_overdue_requeue_task.delay().get() == []  # released runs are due, not overdue


def test_a_long_step_keeps_its_run_alive(fake, team, settings):
    settings.LIFECYCLE_HEARTBEAT_SECONDS = 1
    fake.before("account_create", lambda: time.sleep(2.5))
    run = onboard("gus", team)
    assert run.state == State.SUCCEEDED, run.error
    # The heartbeat thread wrote while the step slept: the run never looked abandoned.
    assert run.heartbeat_at - run.started_at >= timedelta(seconds=2)


def taken_over(username: str):
    """What run_claim does for a worker that found this run's worker silent: a new holder and
    a new claim token. Run from inside a step, as if this worker froze mid-call meanwhile."""

    def take() -> None:
        LifecycleRun.objects.filter(person__username=username).update(
            worker="faster@host:1", heartbeat_at=timezone.now(), claim="f" * 32
        )

    return take


def test_a_worker_that_lost_its_run_mid_step_writes_and_calls_nothing_more(fake, team):
    fake.before("account_create", taken_over("hal"))

    run = onboard("hal", team)

    assert (run.state, run.worker) == (State.RUNNING, "faster@host:1")
    # The call in flight stays "running" for the new holder to check; nothing after it ran.
    assert dict(run.steps.values_list("name", "state")) == {
        "fake_account": "running", "fake_key": "pending", "fake_team": "pending",
    }  # fmt: skip
    assert fake.calls["account_set"] == 0
    assert not AuditEvent.objects.filter(run=run).exclude(action="onboard.request").exists()


def test_a_rollback_that_lost_its_run_calls_no_system_again(fake, team):
    fake.fail("account_set", PermanentError("fake", "refused"))
    failed = onboard("ida", team)
    assert failed.state == State.FAILED
    calls_before = fake.calls["account_set"]
    fake.before("account_find", taken_over("ida"))

    run_rollback(run=failed, actor="admin")

    failed.refresh_from_db()
    assert (failed.state, failed.worker) == (State.ROLLING_BACK, "faster@host:1")
    assert fake.calls["account_set"] == calls_before  # the undo's write never went out
    assert not AuditEvent.objects.filter(run=failed, action="step.undo").exists()


def test_a_database_connection_dropped_mid_step_is_retried_and_the_run_succeeds(fake, team):
    def drop_this_connection():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    fake.before("account_set", drop_this_connection)
    run = onboard("ian", team)
    assert run.state == State.SUCCEEDED, run.error
    assert fake.accounts["ian"].keys == 1
    assert fake.calls["account_create"] == 1
    # The step whose connection dropped was tried again by the same task, not failed.
    assert run.steps.get(name="fake_key").attempts == 2


def test_resume_racing_an_offboarding_is_told_a_run_is_in_progress(fake, team):
    fake.fail("account_set", PermanentError("fake", "stop"))
    failed = onboard("jon", team)
    fake.fail("account_set", PermanentError("fake", "stop again"))
    offboarding = person_offboard(person=person("jon"), reason="left", actor="admin")
    LifecycleRun.objects.filter(pk=offboarding.pk).update(state=State.RUNNING)
    for action in (run_resume, run_rollback):
        with pytest.raises(RunInProgress, match="already has another run in progress"):
            action(run=failed, actor="admin")
    failed.refresh_from_db()
    assert failed.state == State.FAILED


def test_requeue_sends_a_stuck_run_again_and_leaves_a_live_one_alone(fake, team, settings):
    live = waiting_run(team, "kim", state=State.RUNNING, worker="alive@host:1",
                       heartbeat_at=timezone.now())  # fmt: skip
    with pytest.raises(InvalidInput, match="does not need requeueing"):
        run_requeue(run=live, actor="admin")
    stuck = waiting_run(team, "lea", state=State.RUNNING, worker="dead@host:1",
                        heartbeat_at=long_ago(settings))  # fmt: skip
    run_requeue(run=stuck, actor="admin")
    stuck.refresh_from_db()
    assert stuck.state == State.SUCCEEDED, stuck.error
    assert AuditEvent.objects.filter(action="onboard.requeue", target="lea").exists()
    with pytest.raises(InvalidInput, match="only a queued, running or rolling-back run"):
        run_requeue(run=stuck, actor="admin")


def test_resume_accepts_a_queued_run_nobody_picked_up(fake, team, settings):
    run = waiting_run(team, "max", due_at=long_ago(settings))
    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, run.error


def test_manage_py_requeue_exit_codes(fake, team, settings):
    stuck = waiting_run(team, "ned", due_at=long_ago(settings))
    call_command("run_requeue", str(stuck.pk))
    stuck.refresh_from_db()
    assert stuck.state == State.SUCCEEDED
    with pytest.raises(CommandError) as refused:
        call_command("run_requeue", str(stuck.pk))
    assert refused.value.returncode == 2


def test_retries_are_counted_on_the_run_across_messages(fake, team, settings):
    settings.CELERY_TASK_MAX_RETRIES = 1
    from onboarding.errors import TransientError

    fake.fail("account_set", TransientError("fake", "throttled"), times=2)
    run = onboard("oli", team)
    assert run.state == State.FAILED
    assert run.error == "gave up after 1 retries: fake: throttled"
    assert Step.objects.get(run=run, name="fake_key").state == Step.State.FAILED
    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert (run.state, run.retries) == (State.SUCCEEDED, 0)


def test_a_run_a_system_only_throttles_waits_past_its_retries_and_succeeds(fake, team, settings):
    settings.CELERY_TASK_MAX_RETRIES = 2
    fake.fail("account_create", Throttled("fake", "CreateUser: Throttling: Rate exceeded"), times=5)

    run = onboard("tia", team)

    assert run.state == State.SUCCEEDED, run.error
    assert run.retries == 5
    waits = run.events.filter(action="step.do", outcome="retried")
    assert waits.count() == 5 and "Throttling" in waits.first().details["error"]


def test_a_system_that_keeps_failing_otherwise_still_makes_the_run_give_up(fake, team, settings):
    settings.CELERY_TASK_MAX_RETRIES = 2
    fake.fail("account_create", TransientError("fake", "connection refused"), times=5)

    run = onboard("tom", team)

    assert run.state == State.FAILED
    assert run.error.startswith("gave up after 2 retries")
