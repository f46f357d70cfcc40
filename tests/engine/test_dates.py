"""Joiners and leavers by date: an onboarding waits for its start date, a leaver is offboarded
once their end date comes. The clock is frozen (time-machine) for the code under test too."""

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.selectors import people_leaving_soon
from onboarding.services import SYSTEM_ACTOR, lifecycle_due, person_dates_set, person_onboard
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2030, 6, 3)


@pytest.fixture(autouse=True)
def today(clock) -> date:
    return clock.day(TODAY)


def ask(username, team, **fields) -> LifecycleRun | None:
    return person_onboard(
        username=username, first_name="Ada", last_name="Example",
        email=f"{username}@example.test", team=team, actor="admin", **fields,
    )  # fmt: skip


@pytest.mark.parametrize("ends", [TODAY, TODAY - timedelta(days=1)])
def test_a_person_whose_end_date_has_come_is_offboarded(fake, team, ends):
    onboard("ann", team)
    Person.objects.filter(username="ann").update(end_date=ends)
    onboard("bob", team)
    Person.objects.filter(username="bob").update(end_date=TODAY + timedelta(days=1))

    outcomes = lifecycle_due(actor=SYSTEM_ACTOR)

    assert [(o.username, o.kind) for o in outcomes] == [("ann", "offboard")]
    run = outcomes[0].run
    run.refresh_from_db()
    assert (run.state, run.actor, run.params["reason"]) == ("succeeded", "accessadmin",
                                                             "end date reached")  # fmt: skip
    assert person("ann").status == "offboarded"
    assert fake.accounts["ann"].disabled
    assert person("bob").status == "active"
    assert AuditEvent.objects.filter(actor="accessadmin", action="offboard.request",
                                     target="ann").exists()  # fmt: skip


def test_a_future_start_date_waits_then_starts_on_the_day(fake, team, clock):
    starts = TODAY + timedelta(days=3)
    assert ask("cy", team, start_date=starts) is None
    assert (person("cy").status, person("cy").waits_for_start) == ("new", True)
    assert "cy" not in fake.accounts
    assert not LifecycleRun.objects.filter(person__username="cy").exists()
    assert AuditEvent.objects.filter(action="onboard.schedule", target="cy").exists()

    clock.day(starts - timedelta(days=1))
    assert lifecycle_due(actor=SYSTEM_ACTOR) == []
    assert person("cy").status == "new"

    clock.day(starts)
    [outcome] = lifecycle_due(actor=SYSTEM_ACTOR)
    assert (outcome.username, outcome.kind, outcome.run.actor) == ("cy", "onboard", "accessadmin")
    assert (person("cy").status, person("cy").waits_for_start) == ("active", False)
    assert "cy" in fake.accounts
    assert lifecycle_due(actor=SYSTEM_ACTOR) == []


def test_the_onboarding_started_on_the_day_is_the_one_who_asked_for_it(fake, team, clock):
    from django.contrib.auth import get_user_model

    lead = get_user_model().objects.create_user("lea", email="lea@example.test")
    starts = TODAY + timedelta(days=3)
    assert ask("cy", team, start_date=starts, requested_by=lead) is None

    clock.day(starts)
    [outcome] = lifecycle_due(actor=SYSTEM_ACTOR)

    # Theirs to reveal and to be told about; beat is only who started it.
    assert (outcome.run.requested_by, outcome.run.actor) == (lead, "accessadmin")


@pytest.mark.parametrize("leaves", ["offboarded", "disabled"])
def test_a_hand_over_named_by_someone_who_left_since_is_dropped_on_the_day(fake, team, leaves):
    from django.contrib.auth import get_user_model

    lead = get_user_model().objects.create_user("lea", email="lea@example.test")
    today = TODAY
    person_onboard(
        username="cy", first_name="C", last_name="Y", email="cy@example.test", team=team,
        actor="admin", requested_by=lead, start_date=today + timedelta(days=1),
    )  # fmt: skip
    if leaves == "offboarded":
        onboard("lea", team)
        Person.objects.filter(username="lea").update(status=Person.Status.OFFBOARDED)
    else:
        get_user_model().objects.filter(pk=lead.pk).update(is_active=False)
    Person.objects.filter(username="cy").update(start_date=today)

    [outcome] = lifecycle_due(actor=SYSTEM_ACTOR)

    assert outcome.run is not None and outcome.run.requested_by is None
    dropped = AuditEvent.objects.get(action="onboard.hand_over_dropped", target="cy")
    assert dropped.details["named"] == "lea"


def test_a_rolled_back_onboarding_is_not_started_again_by_the_calendar(fake, team, clock):
    ask("dee", team, start_date=TODAY)
    Person.objects.filter(username="dee").update(status="new")
    clock.day(TODAY + timedelta(days=1))
    assert lifecycle_due(actor=SYSTEM_ACTOR) == []


def test_a_person_with_a_run_in_progress_is_skipped(fake, team):
    onboard("eve", team)
    eve = person("eve")
    Person.objects.filter(pk=eve.pk).update(end_date=TODAY)
    LifecycleRun.objects.create(person=eve, kind="repair", state="running", actor="admin")

    [outcome] = lifecycle_due(actor=SYSTEM_ACTOR)

    assert outcome.run is None and "in progress" in outcome.note
    assert person("eve").status == "active"


@pytest.mark.parametrize(
    "dates",
    [
        {"end_date": TODAY - timedelta(days=1)},
        {"start_date": TODAY + timedelta(days=5), "end_date": TODAY + timedelta(days=4)},
    ],
)
def test_an_end_date_in_the_past_or_before_the_start_is_refused(fake, team, dates):
    with pytest.raises(InvalidInput):
        ask("fay", team, **dates)
    assert not Person.objects.filter(username="fay").exists()
    assert fake.accounts == {}


def test_extending_an_end_date_is_audited_with_before_and_after(fake, team):
    onboard("gus", team)
    gus = person("gus")
    Person.objects.filter(pk=gus.pk).update(end_date=TODAY + timedelta(days=2))
    gus.refresh_from_db()

    person_dates_set(person=gus, end_date=TODAY + timedelta(days=30), actor="admin")

    assert person("gus").end_date == TODAY + timedelta(days=30)
    event = AuditEvent.objects.get(action="person.dates", target="gus")
    assert event.details == {
        "end_date": {"before": str(TODAY + timedelta(days=2)),
                     "after": str(TODAY + timedelta(days=30))},
    }  # fmt: skip
    with pytest.raises(InvalidInput):
        person_dates_set(person=gus, end_date=TODAY - timedelta(days=1), actor="admin")
    assert person("gus").end_date == TODAY + timedelta(days=30)


def test_the_commands_clear_an_end_date_and_refuse_a_past_one(fake, team):
    onboard("hal", team)
    call_command("person_dates_set", "hal", "--end-date", "2999-01-01")
    assert person("hal").end_date == date(2999, 1, 1)
    call_command("person_dates_set", "hal", "--clear-end-date")
    assert person("hal").end_date is None
    with pytest.raises(CommandError):
        call_command("person_dates_set", "hal", "--end-date", "2000-01-01")
    events = AuditEvent.objects.filter(action="person.dates", target="hal")
    assert events.count() == 2


def test_onboard_command_with_a_future_start_date_waits(fake, team):
    call_command(
        "person_onboard", "ivy", "--first-name", "Ivy", "--last-name", "Example",
        "--email", "ivy@example.test", "--team", team.name,
        "--start-date", "2999-01-01", "--end-date", "2999-06-30",
    )  # fmt: skip
    ivy = person("ivy")
    assert (ivy.status, ivy.start_date, ivy.end_date) == ("new", date(2999, 1, 1),
                                                          date(2999, 6, 30))  # fmt: skip
    assert "ivy" not in fake.accounts
    call_command("lifecycle_due")
    assert person("ivy").status == "new"


def test_people_leaving_within_two_weeks_are_listed(fake, team):
    for username, days in (("jo", 3), ("kim", 14), ("lu", 15)):
        onboard(username, team)
        Person.objects.filter(username=username).update(end_date=TODAY + timedelta(days=days))
    soon = people_leaving_soon(Person.objects.all())
    assert [p.username for p in soon] == ["jo", "kim"]


def test_beat_asks_for_what_is_due_every_five_minutes():
    assert settings.CELERY_BEAT_SCHEDULE["lifecycle-due"] == {
        "task": "lifecycle.due", "schedule": 300.0,
    }  # fmt: skip
