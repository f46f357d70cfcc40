"""Lifecycle states are explicit: legal moves happen; illegal ones are refused, changing nothing."""

import pytest
from django.db import IntegrityError, transaction

from onboarding.errors import IllegalTransition
from onboarding.models import LifecycleRun, Person, Step
from tests.factories import make_person, make_run

pytestmark = pytest.mark.django_db

Status = Person.Status


@pytest.mark.parametrize(
    "path",
    [
        [Status.ONBOARDING, Status.ACTIVE, Status.MOVING, Status.ACTIVE, Status.OFFBOARDING,
         Status.OFFBOARDED, Status.REINSTATING, Status.ACTIVE],
        [Status.ONBOARDING, Status.NEW],
        [Status.ONBOARDING, Status.OFFBOARDING, Status.OFFBOARDED],
    ],
)  # fmt: skip
def test_person_follows_a_legal_lifecycle(path):
    person = make_person()
    for status in path:
        person.move_to(status)
        person.refresh_from_db()
        assert person.status == status


@pytest.mark.parametrize(
    ("start", "wanted"),
    [
        (Status.NEW, Status.ACTIVE),
        (Status.NEW, Status.OFFBOARDED),
        (Status.ACTIVE, Status.ONBOARDING),
        (Status.OFFBOARDED, Status.ACTIVE),
        (Status.OFFBOARDED, Status.OFFBOARDING),
    ],
)
def test_person_refuses_an_illegal_move_and_keeps_its_status(start, wanted):
    person = make_person(status=start)
    with pytest.raises(IllegalTransition, match=f"cannot go from '{start}' to '{wanted}'"):
        person.move_to(wanted)
    person.refresh_from_db()
    assert person.status == start


def test_person_move_loses_to_a_concurrent_change():
    person = make_person(status=Status.ACTIVE)
    Person.objects.filter(pk=person.pk).update(status=Status.OFFBOARDING)
    with pytest.raises(IllegalTransition):
        person.move_to(Status.MOVING)
    assert Person.objects.get(pk=person.pk).status == Status.OFFBOARDING


def test_run_is_claimed_by_one_worker_only():
    run = make_run(make_person())
    first = LifecycleRun.objects.get(pk=run.pk)
    second = LifecycleRun.objects.get(pk=run.pk)
    assert first.move_to(LifecycleRun.State.RUNNING, worker="w1") is True
    assert second.move_to(LifecycleRun.State.RUNNING, worker="w2") is False
    assert LifecycleRun.objects.get(pk=run.pk).worker == "w1"


def test_run_failed_can_be_resumed_or_rolled_back_but_not_succeed():
    run = make_run(make_person(), state=LifecycleRun.State.FAILED)
    with pytest.raises(IllegalTransition):
        run.move_to(LifecycleRun.State.SUCCEEDED)
    assert run.move_to(LifecycleRun.State.ROLLING_BACK)
    assert run.move_to(LifecycleRun.State.ROLLED_BACK)
    with pytest.raises(IllegalTransition):
        run.move_to(LifecycleRun.State.QUEUED)


def test_finished_run_is_final():
    run = make_run(make_person(), state=LifecycleRun.State.SUCCEEDED)
    for state in LifecycleRun.State.values:
        with pytest.raises(IllegalTransition):
            run.move_to(state)


def test_person_has_at_most_one_active_run():
    person = make_person()
    make_run(person)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_run(person, kind=LifecycleRun.Kind.OFFBOARD)
    make_run(person, kind=LifecycleRun.Kind.OFFBOARD, state=LifecycleRun.State.SUCCEEDED)


def test_step_moves_through_do_and_undo():
    run = make_run(make_person())
    step = Step.objects.create(run=run, name="freeipa_user", position=1)
    assert step.move_to(Step.State.RUNNING, attempts=1)
    assert step.move_to(Step.State.DONE, external_ids={"uid": "alice"})
    with pytest.raises(IllegalTransition):
        step.move_to(Step.State.RUNNING)
    assert step.move_to(Step.State.UNDOING)
    assert step.move_to(Step.State.UNDONE)
    step.refresh_from_db()
    assert (step.state, step.attempts, step.external_ids) == ("undone", 1, {"uid": "alice"})
