"""Moving a person to another team, and reinstating someone who left."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import LifecycleRun, Person, Team
from onboarding.runner import PlannedChange, plan_preview
from onboarding.services.joiners import team_fits_check
from onboarding.services.runs import no_run_in_progress_check, run_start, status_word
from onboarding.validation import text_check

Kind = LifecycleRun.Kind


def person_move_check(*, person: Person, team: Team) -> None:
    no_run_in_progress_check(person)
    if not person.may_be_moved:
        raise InvalidInput(
            f"{person.username} can only move team when active; they are {status_word(person)}."
        )
    if team == person.team:
        raise InvalidInput(f"{person.username} is already in team {team.name}.")
    team_fits_check(team)


def person_move(*, person: Person, team: Team, actor: str, requested_by=None) -> LifecycleRun:
    person_move_check(person=person, team=team)
    return run_start(
        person=person, kind=Kind.MOVE, actor=actor, requested_by=requested_by,
        params={"from_team": person.team.name, "to_team": team.name, "to_team_id": team.pk},
    )  # fmt: skip


def person_move_preview(*, person: Person, team: Team) -> list[PlannedChange]:
    person_move_check(person=person, team=team)
    return plan_preview(kind=Kind.MOVE, person=person, team=team, previous_team=person.team)


def person_reinstate_check(*, person: Person, reason: str, team: Team | None = None) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required to reinstate someone.")
    reason = text_check(reason, label="The reason")
    no_run_in_progress_check(person)
    if not person.may_be_reinstated:
        raise InvalidInput(f"{person.username} is not offboarded; they are {status_word(person)}.")
    team_fits_check(team or person.team)
    return reason


def person_reinstate(
    *,
    person: Person,
    reason: str,
    team: Team | None = None,
    actor: str,
    requested_by=None,
) -> LifecycleRun:
    """Give an offboarded person their access back: in `team` when they come back to another
    one, in their own otherwise."""
    team = team or person.team
    reason = person_reinstate_check(person=person, reason=reason, team=team)
    from_team = person.team
    params = {"reason": reason, "from_team": from_team.name, "to_team": team.name}
    try:
        with transaction.atomic():
            if team != from_team:
                # Before the run exists: its steps work with the person's team.
                Person.objects.filter(pk=person.pk).update(team=team, updated_at=timezone.now())
                person.team = team
            return run_start(
                person=person, kind=Kind.REINSTATE, actor=actor, requested_by=requested_by,
                params=params,
            )  # fmt: skip
    except AccessAdminError:
        person.team = from_team
        raise


def person_reinstate_preview(
    *, person: Person, reason: str, team: Team | None = None
) -> list[PlannedChange]:
    team = team or person.team
    person_reinstate_check(person=person, reason=reason, team=team)
    return plan_preview(kind=Kind.REINSTATE, person=person, team=team)
