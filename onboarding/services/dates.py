"""Start and end dates, and what the day's pass starts because of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import LifecycleRun, Person
from onboarding.services.joiners import dates_check, team_fits_check
from onboarding.services.leavers import person_offboard
from onboarding.services.runs import (
    no_run_in_progress_check,
    requests_charge,
    run_start,
    status_word,
)

Kind = LifecycleRun.Kind
Status = Person.Status


class _Kept:
    def __repr__(self) -> str:
        return "KEPT"


# A date argument left out: the person's date stays as it is (None clears it).
KEPT: Any = _Kept()


def person_dates_set(
    *,
    person: Person,
    end_date: date | None = KEPT,
    start_date: date | None = KEPT,
    actor: str,
) -> Person:
    """Extend, bring forward or clear (None) a person's end date; `lifecycle_due` offboards them
    once it has come. A date in the past, or before their start date, is refused. The start date
    changes only while they wait for it (their onboarding starts on the new one). A change
    counts against the actor's request limit, unless it only ends access sooner."""
    if person.status in (Status.OFFBOARDING, Status.OFFBOARDED):
        raise InvalidInput(f"{person.username} is {status_word(person)}; their end date stays.")
    start_given = start_date is not KEPT
    start_date = person.start_date if start_date is KEPT else start_date
    end_date = person.end_date if end_date is KEPT else end_date
    if start_date != person.start_date:
        _start_date_change_check(person, start_date)
    dates_check(start_date=start_date, end_date=end_date)
    if (start_date, end_date) == (person.start_date, person.end_date):
        if start_given:
            raise InvalidInput(
                f"{person.username}'s dates are already: start {start_date or 'unset'}, "
                f"end {end_date or 'unset'}."
            )
        raise InvalidInput(f"{person.username}'s end date is already {end_date or 'unset'}.")
    changes = {
        name: {"before": before and str(before), "after": after and str(after)}
        for name, before, after in (
            ("start_date", person.start_date, start_date), ("end_date", person.end_date, end_date),
        )
        if before != after
    }  # fmt: skip
    with transaction.atomic():
        if not _only_ends_access_sooner(person, start_date=start_date, end_date=end_date):
            requests_charge(actor=actor, what="person.dates")
        Person.objects.filter(pk=person.pk).update(
            start_date=start_date, end_date=end_date, updated_at=timezone.now()
        )
        audit_record(
            actor=actor, action="person.dates", target=person.username, outcome="succeeded",
            details=changes,
        )  # fmt: skip
    person.start_date, person.end_date = start_date, end_date
    return person


def _only_ends_access_sooner(
    person: Person, *, start_date: date | None, end_date: date | None
) -> bool:
    """A change that only sets or brings forward an end date: a leaver's, never held back."""
    sooner = end_date is not None and (person.end_date is None or end_date < person.end_date)
    return start_date == person.start_date and sooner


def _start_date_change_check(person: Person, start_date: date | None) -> None:
    if not (person.status == Status.NEW and person.waits_for_start):
        raise InvalidInput(
            f"{person.username} is not waiting for a start date ({status_word(person)}); their "
            "start date stays."
        )
    if start_date is None:
        raise InvalidInput(
            f"{person.username} waits for their start date: give a new one (today's starts "
            "their onboarding on the next pass) rather than none."
        )


@dataclass(frozen=True)
class DueOutcome:
    username: str
    kind: str
    run: LifecycleRun | None
    note: str = ""


END_DATE_REACHED = "end date reached"


def lifecycle_due(*, actor: str) -> list[DueOutcome]:
    """Start what the calendar asks for: first the offboarding of every active person whose end
    date has come, then the onboarding of everyone whose start date has. No one's request limit
    holds either back (a joiner was counted when they were asked for). Whoever has a run under
    way, or cannot be started now, is skipped with a note and tried again on the next pass."""
    today = timezone.localdate()
    outcomes = []
    leavers = Person.objects.select_related("team").filter(
        status=Status.ACTIVE, end_date__lte=today
    )
    for person in leavers.order_by("end_date", "username"):
        outcomes.append(
            _due_start(
                person, Kind.OFFBOARD,
                lambda p: person_offboard(person=p, reason=END_DATE_REACHED, actor=actor),
            )
        )  # fmt: skip
    joiners = Person.objects.select_related("team").filter(
        status=Status.NEW, waits_for_start=True, start_date__lte=today
    )
    for person in joiners.order_by("start_date", "username"):
        outcomes.append(_due_start(person, Kind.ONBOARD, lambda p: _joiner_start(p, actor)))
    return outcomes


def _due_start(person: Person, kind: str, start) -> DueOutcome:
    try:
        run = start(person)
    except AccessAdminError as error:
        return DueOutcome(person.username, kind, None, f"skipped: {error}")
    return DueOutcome(person.username, kind, run)


def _joiner_start(person: Person, actor: str) -> LifecycleRun:
    no_run_in_progress_check(person)
    team_fits_check(person.team)
    with transaction.atomic():
        Person.objects.filter(pk=person.pk).update(waits_for_start=False)
        person.waits_for_start = False
        return run_start(
            person=person, kind=Kind.ONBOARD, actor=actor,
            requested_by=_hand_over_still_possible(person, actor=actor), charge=False,
        )  # fmt: skip


def _hand_over_still_possible(person: Person, *, actor: str):
    """Who was named, when the joiner was scheduled, to hand their credentials over, unless they
    have left or been disabled since: then nobody (an admin resets the credentials)."""
    named = person.start_requested_by
    if named is None:
        return None
    leaving = Person.objects.filter(
        username=named.get_username(), status__in=(Status.OFFBOARDING, Status.OFFBOARDED)
    ).exists()
    if named.is_active and not leaving:
        return named
    audit_record(
        actor=actor, action="onboard.hand_over_dropped", target=person.username,
        outcome="denied",
        details={"named": named.get_username(), "why": "no longer active or offboarded"},
    )  # fmt: skip
    return None
