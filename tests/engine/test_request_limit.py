"""A leaver's access ends on time, whatever anyone asked for: offboardings are never held back by
LIFECYCLE_REQUESTS_PER_HOUR, the calendar starts leavers before joiners, and a joiner counts
against whoever asked for them when they ask, atomically."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from onboarding.errors import TooManyRequests
from onboarding.models import LifecycleRequest, LifecycleRun, Person
from onboarding.services import SYSTEM_ACTOR, lifecycle_due, person_dates_set, person_onboard
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)

Kind = LifecycleRun.Kind
Status = Person.Status


def schedule(username: str, team, *, actor: str, start_in_days: int = 1) -> None:
    person_onboard(
        username=username, first_name="Ada", last_name="Example",
        email=f"{username}@example.test", team=team, actor=actor,
        start_date=timezone.localdate() + timedelta(days=start_in_days),
    )  # fmt: skip


def leaver_today(username: str, team) -> Person:
    onboard(username, team)
    return person_dates_set(person=person(username), end_date=timezone.localdate(), actor="hr")


def test_a_lead_cannot_pass_the_limit_with_start_dates_and_the_leaver_goes_first(
    fake, team, settings
):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 0
    leaver_today("carol", team)
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 3
    for username in ("ann", "ben", "cid"):
        schedule(username, team, actor="api:lead")
    with pytest.raises(TooManyRequests, match="api:lead asked for 3 runs in the last hour"):
        schedule("dee", team, actor="api:lead")
    assert not Person.objects.filter(username="dee").exists()
    # Moving a start date to today is a request too: refused, and nothing changed.
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(TooManyRequests):
        person_dates_set(person=person("ann"), start_date=timezone.localdate(), actor="api:lead")
    assert person("ann").start_date == tomorrow

    for username in ("ann", "ben", "cid"):
        person_dates_set(person=person(username), start_date=timezone.localdate(), actor="admin")
    outcomes = lifecycle_due(actor=SYSTEM_ACTOR)

    assert [(o.username, o.kind, o.note) for o in outcomes] == [
        ("carol", Kind.OFFBOARD, ""),
        ("ann", Kind.ONBOARD, ""),
        ("ben", Kind.ONBOARD, ""),
        ("cid", Kind.ONBOARD, ""),
    ]
    assert person("carol").status == Status.OFFBOARDED
    assert {person(u).status for u in ("ann", "ben", "cid")} == {Status.ACTIVE}


def test_setting_an_end_date_sooner_is_never_held_back(fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 0
    onboard("eve", team)
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 1
    schedule("fay", team, actor="lead")
    later = timezone.localdate() + timedelta(days=30)
    person_dates_set(person=person("eve"), end_date=later, actor="lead")
    person_dates_set(person=person("eve"), end_date=timezone.localdate(), actor="lead")
    assert person("eve").end_date == timezone.localdate()
    # Extending it again would keep them longer: that counts, and the lead has used their hour.
    with pytest.raises(TooManyRequests):
        person_dates_set(person=person("eve"), end_date=later, actor="lead")
    assert person("eve").end_date == timezone.localdate()


def test_the_calendar_starts_the_leaver_first_among_500_joiners_and_skips_no_one(
    fake, team, settings, monkeypatch
):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 0
    leaver_today("carol", team)
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 60
    today = timezone.localdate()
    Person.objects.bulk_create(
        Person(username=f"joiner{n:03}", team=team, start_date=today, waits_for_start=True)
        for n in range(500)
    )
    # Which runs are sent, in order; carrying out 500 runs is for other tests and takes long.
    sent: list[int] = []
    monkeypatch.setattr(
        "onboarding.services.runs.run_dispatch", lambda run_id, **_: sent.append(run_id) or True
    )
    started = time.monotonic()
    outcomes = lifecycle_due(actor=SYSTEM_ACTOR)
    seconds = time.monotonic() - started

    assert (outcomes[0].username, outcomes[0].kind) == ("carol", Kind.OFFBOARD)
    assert [o.note for o in outcomes if o.note] == []
    assert len(outcomes) == len(sent) == 501
    first = LifecycleRun.objects.get(pk=sent[0])
    assert (first.person.username, first.kind) == ("carol", Kind.OFFBOARD)
    assert Person.objects.filter(status=Status.ONBOARDING).count() == 500
    assert person("carol").status == Status.OFFBOARDING
    print(f"one pass started 501 runs in {seconds:.1f} s")


def test_ten_parallel_requests_under_a_limit_of_three_start_three(
    fake, team, settings, monkeypatch
):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 3
    # The runs are queued, not carried out: eager Celery tasks on several threads at once leave
    # Celery's process-wide "a task is running" flag set.
    monkeypatch.setattr("onboarding.services.runs.run_dispatch", lambda run_id, **_: True)
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def ask(n: int) -> None:
        try:
            barrier.wait()
            person_onboard(
                username=f"p{n}", first_name="P", last_name="N", email=f"p{n}@example.test",
                team=team, actor="admin",
            )  # fmt: skip
            outcomes.append("started")
        except TooManyRequests:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused"] * 7 + ["started"] * 3
    assert LifecycleRun.objects.filter(actor="admin").count() == 3
    assert Person.objects.count() == 3
    assert LifecycleRequest.objects.filter(actor="admin").count() == 3


def test_requests_older_than_an_hour_count_no_more(fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 1
    schedule("gus", team, actor="lead")
    with pytest.raises(TooManyRequests):
        schedule("hal", team, actor="lead")
    LifecycleRequest.objects.filter(actor="lead").update(
        at=timezone.now() - timedelta(hours=1, seconds=1)
    )
    schedule("hal", team, actor="lead")
    assert LifecycleRequest.objects.filter(actor="lead").count() == 1


def test_a_lead_at_their_limit_still_revokes_access_in_a_review(fake, team, settings):
    from onboarding.models import ReviewItem
    from onboarding.reviews import review_decide, review_open

    settings.LIFECYCLE_REQUESTS_PER_HOUR = 0
    onboard("eve", team)
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 1
    review = review_open(
        team=team, deadline=timezone.localdate() + timedelta(days=7), actor="admin"
    )
    schedule("fay", team, actor="lead")
    with pytest.raises(TooManyRequests):
        schedule("gus", team, actor="lead")

    item = review_decide(
        item=ReviewItem.objects.get(review=review, person__username="eve"),
        decision=ReviewItem.Decision.REVOKED, comment="left the project", actor="lead",
    )  # fmt: skip

    assert item.offboard_run is not None
    assert person("eve").status == Status.OFFBOARDED
