"""Onboarding one person: the checks, the preview and the run."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import InvalidInput, PersonAlreadyKnown
from onboarding.models import LifecycleRun, Person, Team
from onboarding.runner import PlannedChange, plan_preview
from onboarding.services.runs import no_run_in_progress_check, requests_charge, run_start
from onboarding.systems import enabled
from onboarding.validation import person_fields_problems, username_for_a_person

Kind = LifecycleRun.Kind
Status = Person.Status


def person_onboard_check(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    start_date: date | None = None,
    end_date: date | None = None,
) -> str:
    """The username as it will be stored, or InvalidInput saying what is wrong."""
    username = person_onboard_fields_check(
        username=username, first_name=first_name, last_name=last_name, email=email,
        start_date=start_date, end_date=end_date,
    )  # fmt: skip
    for system in enabled():
        problem = system.onboard_problem(username)
        if problem:
            raise InvalidInput(problem)
    team_fits_check(team)
    return username


def person_onboard_fields_check(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    start_date: date | None,
    end_date: date | None,
) -> str:
    """What can be checked without asking the systems: the fields and the dates (every problem
    of them at once), then whether AccessAdmin knows the person already."""
    problems = []
    try:
        username = username_for_a_person(username)
    except InvalidInput as error:
        problems.append(str(error))
    problems += person_fields_problems(first_name=first_name, last_name=last_name, email=email)
    try:
        dates_check(start_date=start_date, end_date=end_date)
    except InvalidInput as error:
        problems.append(str(error))
    if problems:
        raise InvalidInput(" ".join(problems))
    existing = Person.objects.filter(username=username).first()
    if existing is not None:
        no_run_in_progress_check(existing)
    if existing is not None and existing.status != Status.NEW:
        raise PersonAlreadyKnown(username, existing.get_status_display())
    return username


def dates_check(*, start_date: date | None, end_date: date | None) -> None:
    if end_date is not None and end_date < timezone.localdate():
        raise InvalidInput(f"The end date {end_date} is in the past; nothing was changed.")
    if start_date is not None and end_date is not None and end_date < start_date:
        raise InvalidInput(
            f"The end date {end_date} is before the start date {start_date}; nothing was changed."
        )


def team_fits_check(team: Team) -> None:
    """Refuse a run that a system already knows would fail half-way for this team."""
    for system in enabled():
        problem = system.team_problem(team)
        if problem:
            raise InvalidInput(f"{problem}; no run was started.")


def person_onboard(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    actor: str,
    requested_by=None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> LifecycleRun | None:
    """Onboard them now, or, with a start date still to come, record them as waiting for it
    (no run: None) and let `lifecycle_due` start their onboarding on the day."""
    username = person_onboard_check(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team,
        start_date=start_date, end_date=end_date,
    )  # fmt: skip
    return person_onboard_start(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team,
        actor=actor, requested_by=requested_by, start_date=start_date, end_date=end_date,
        waits=start_date is not None and start_date > timezone.localdate(),
    )  # fmt: skip


def person_onboard_start(
    *, username: str, first_name: str, last_name: str, email: str, team: Team, actor: str,
    requested_by=None, start_date: date | None = None, end_date: date | None = None,
    waits: bool = False, charge: bool = True,
) -> LifecycleRun | None:  # fmt: skip
    with transaction.atomic():
        if waits and charge:
            # A joiner counts against whoever asked for them now, not on their start date.
            requests_charge(actor=actor, what="onboard.schedule")
        person, _ = Person.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first_name.strip(),
                "last_name": last_name.strip(),
                "email": email.strip(),
                "team": team,
                "start_date": start_date,
                "end_date": end_date,
                "waits_for_start": waits,
                "start_requested_by": requested_by if waits else None,
            },
        )
        if waits:
            audit_record(
                actor=actor, action="onboard.schedule", target=username, outcome="requested",
                details={"start_date": str(start_date),
                         "end_date": str(end_date) if end_date else None},
            )  # fmt: skip
            return None
        return run_start(
            person=person, kind=Kind.ONBOARD, actor=actor, requested_by=requested_by,
            charge=charge,
        )  # fmt: skip


def person_onboard_preview(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    start_date: date | None = None,
    end_date: date | None = None,
) -> list[PlannedChange]:
    username = person_onboard_check(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team,
        start_date=start_date, end_date=end_date,
    )  # fmt: skip
    person = Person(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    return plan_preview(kind=Kind.ONBOARD, person=person, team=team)
