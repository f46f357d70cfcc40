"""Time limits on the threads pool, where Celery enforces none: a run that used its time yields
its worker between stages (soft), and a task past the hard limit ends the worker (watchdog)."""

import time

import pytest

from onboarding.models import LifecycleRun, Person, Step
from onboarding.runner import run_execute, run_steps_create
from onboarding.runner.execute import run_overran
from onboarding.runner.limits import HARD_LIMIT_EXIT_CODE, RunClock, Watchdog
from tests.engine.conftest import onboard
from tests.factories import make_person, make_run

State = LifecycleRun.State


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_run_clock_expires_after_its_seconds():
    clock = Clock()
    run_clock = RunClock(30, clock=clock)
    clock.now += 29.9
    assert not run_clock.expired
    clock.now += 0.1
    assert run_clock.expired


def test_watchdog_ends_the_process_only_when_a_task_outlives_the_limit(caplog):
    clock, ended = Clock(), []
    overran = []
    watchdog = Watchdog(
        60, clock=clock, end_process=ended.append,
        on_overrun=lambda name, args: overran.append((name, args)),
    )  # fmt: skip
    watchdog.task_started("t-1", "lifecycle.run_execute", (41,))
    watchdog.task_started("t-2", "lifecycle.run_execute", (42,))
    clock.now += 59
    assert not watchdog.check()
    watchdog.task_finished("t-1")
    clock.now += 1
    assert watchdog.check()
    assert ended == [HARD_LIMIT_EXIT_CODE]
    assert overran == [("lifecycle.run_execute", (42,))]
    assert "task t-2 (lifecycle.run_execute) has run for 60 s" in caplog.text
    assert "t-1" not in caplog.text


def test_watchdog_forgets_finished_tasks():
    clock, ended = Clock(), []
    watchdog = Watchdog(10, clock=clock, end_process=ended.append)
    for number in range(100):
        watchdog.task_started(f"t-{number}", "credentials.purge_expired")
        watchdog.task_finished(f"t-{number}")
    clock.now += 3600
    assert not watchdog.check()
    assert ended == []


@pytest.mark.django_db(transaction=True)
def test_a_run_past_its_soft_limit_yields_between_stages_and_goes_on_later(fake, team, settings):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0.3
    # The first stage takes longer than the whole limit; the second waits for the next attempt.
    fake.before("account_create", lambda: time.sleep(0.4))
    run = onboard("ada", team)
    assert run.state == State.SUCCEEDED, run.error
    assert run.retries == 1
    event = run.events.get(action="run.time_limit")
    assert (event.outcome, event.details["seconds"]) == ("retried", 0.3)
    # The account step was not done twice: the second attempt went on from where it stopped.
    assert fake.calls["account_create"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_run_that_never_fits_in_its_limit_fails_after_its_retries(fake, team, settings):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0
    settings.CELERY_TASK_MAX_RETRIES = 2
    run = onboard("bea", team)
    assert run.state == State.FAILED
    assert "time limit" in run.error
    assert run.events.filter(action="run.time_limit").count() == 3
    assert fake.calls["account_create"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_run_past_the_hard_limit_fails_on_its_stuck_step_so_its_redelivery_does_nothing(
    fake, team, settings
):
    settings.CELERY_TASK_TIME_LIMIT = 600
    someone = make_person("gil", team=team, status=Person.Status.ONBOARDING)
    run = make_run(someone, state=State.RUNNING, worker="w1@host:t-1")
    run_steps_create(run)
    stuck = run.steps.order_by("position").first()
    stuck.move_to(Step.State.RUNNING, attempts=1)

    run_overran("lifecycle.run_execute", (run.pk,))

    run.refresh_from_db()
    stuck.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error == "stopped: still going after the 600 s hard time limit, its worker restarted"
    assert (stuck.state, stuck.last_error) == (Step.State.FAILED, run.error)
    assert run.events.get(action="onboard.run").outcome == "failed"
    # The message delivered again finds the run failed and leaves it for a person.
    assert run_execute(run_id=run.pk, worker="w2@host:t-1") is None
    assert fake.calls["account_create"] == 0
    run_overran("credentials.purge_expired", ())  # not a run: nothing to do
