"""What people and scripts ask for. Each request is checked first, so bad input changes nothing;
each takes the objects its caller already holds."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from onboarding.audit import audit_record
from onboarding.errors import IllegalTransition, InvalidInput, RunInProgress
from onboarding.models import PERSON_STATUS, LifecycleRun, Person, Team
from onboarding.runner import (
    PlannedChange,
    plan_preview,
    run_steps_create,
)
from onboarding.runner import (
    run_resume_preview as _run_resume_preview,
)
from onboarding.runner import (
    run_rollback_preview as _run_rollback_preview,
)
from onboarding.systems import enabled
from onboarding.validation import (
    group_name_check,
    person_fields_check,
    policy_arn_check,
    username_normalise,
)

Kind = LifecycleRun.Kind
State = LifecycleRun.State
Status = Person.Status


def _status(person: Person) -> str:
    return person.get_status_display().lower()


def _run_start(
    *, person: Person, kind: str, actor: str, requested_by=None, params=None
) -> LifecycleRun:
    from onboarding.tasks import run_execute_task

    active = person.runs.filter(state__in=LifecycleRun.ACTIVE_STATES).first()
    if active is not None:
        raise RunInProgress(
            f"{person.username} already has a {active.kind} run in progress (#{active.pk}); "
            "wait for it to finish."
        )
    try:
        with transaction.atomic():
            person.move_to(PERSON_STATUS[kind][0])
            run = LifecycleRun.objects.create(
                person=person,
                kind=kind,
                actor=actor,
                requested_by=requested_by,
                params=params or {},
            )
            run_steps_create(run)
            audit_record(
                actor=actor, action=f"{kind}.request", target=person.username,
                outcome="requested", details={"run": run.pk, **(params or {})}, run=run,
            )  # fmt: skip
            transaction.on_commit(lambda: run_execute_task.delay(run.pk))
    except (IntegrityError, IllegalTransition):
        # Another request for this person got there first.
        raise RunInProgress(f"{person.username} already has a run in progress.") from None
    return run


# Onboard --------------------------------------------------------------------------------------


def person_onboard_check(
    *, username: str, first_name: str, last_name: str, email: str, team: Team
) -> str:
    """The username as it will be stored, or InvalidInput saying what is wrong."""
    username = username_normalise(username)
    person_fields_check(first_name=first_name, last_name=last_name, email=email)
    existing = Person.objects.filter(username=username).first()
    if existing is not None and existing.status != Status.NEW:
        raise InvalidInput(
            f"{username!r} is already known to AccessAdmin ({existing.get_status_display()})."
        )
    for system in enabled():
        problem = system.onboard_problem(username)
        if problem:
            raise InvalidInput(problem)
    return username


def person_onboard(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    actor: str,
    requested_by=None,
) -> LifecycleRun:
    username = person_onboard_check(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    with transaction.atomic():
        person, _ = Person.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first_name.strip(),
                "last_name": last_name.strip(),
                "email": email.strip(),
                "team": team,
            },
        )
        return _run_start(person=person, kind=Kind.ONBOARD, actor=actor, requested_by=requested_by)


def person_onboard_preview(
    *, username: str, first_name: str, last_name: str, email: str, team: Team
) -> list[PlannedChange]:
    username = person_onboard_check(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    person = Person(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    return plan_preview(kind=Kind.ONBOARD, person=person, team=team)


# Offboard -------------------------------------------------------------------------------------


def person_offboard_check(*, person: Person, reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required to offboard someone.")
    if not person.may_be_offboarded:
        raise InvalidInput(f"{person.username} cannot be offboarded: they are {_status(person)}.")
    return reason.strip()


def person_offboard(*, person: Person, reason: str, actor: str, requested_by=None) -> LifecycleRun:
    reason = person_offboard_check(person=person, reason=reason)
    return _run_start(
        person=person, kind=Kind.OFFBOARD, actor=actor, requested_by=requested_by,
        params={"reason": reason},
    )  # fmt: skip


def person_offboard_preview(*, person: Person, reason: str) -> list[PlannedChange]:
    person_offboard_check(person=person, reason=reason)
    return plan_preview(kind=Kind.OFFBOARD, person=person, team=person.team)


# Move -----------------------------------------------------------------------------------------


def person_move_check(*, person: Person, team: Team) -> None:
    if not person.may_be_moved:
        raise InvalidInput(
            f"{person.username} can only move team when active; they are {_status(person)}."
        )
    if team == person.team:
        raise InvalidInput(f"{person.username} is already in team {team.name}.")


def person_move(*, person: Person, team: Team, actor: str, requested_by=None) -> LifecycleRun:
    person_move_check(person=person, team=team)
    return _run_start(
        person=person, kind=Kind.MOVE, actor=actor, requested_by=requested_by,
        params={"from_team": person.team.name, "to_team": team.name, "to_team_id": team.pk},
    )  # fmt: skip


def person_move_preview(*, person: Person, team: Team) -> list[PlannedChange]:
    person_move_check(person=person, team=team)
    return plan_preview(kind=Kind.MOVE, person=person, team=team, previous_team=person.team)


# Reinstate ------------------------------------------------------------------------------------


def person_reinstate_check(*, person: Person) -> None:
    if not person.may_be_reinstated:
        raise InvalidInput(f"{person.username} is not offboarded; they are {_status(person)}.")


def person_reinstate(*, person: Person, actor: str, requested_by=None) -> LifecycleRun:
    person_reinstate_check(person=person)
    return _run_start(person=person, kind=Kind.REINSTATE, actor=actor, requested_by=requested_by)


def person_reinstate_preview(*, person: Person) -> list[PlannedChange]:
    person_reinstate_check(person=person)
    return plan_preview(kind=Kind.REINSTATE, person=person, team=person.team)


# Resume and roll back -------------------------------------------------------------------------


def _run_failed_check(run: LifecycleRun, doing: str) -> None:
    if run.state != State.FAILED:
        raise InvalidInput(
            f"Run #{run.pk} is {run.get_state_display().lower()}; only a failed run can be {doing}."
        )


def run_resume(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Queue a failed run again: it re-checks the failed step and goes on from there."""
    from onboarding.tasks import run_execute_task

    _run_failed_check(run, "resumed")
    with transaction.atomic():
        if not run.move_to(State.QUEUED, error="", finished_at=None, worker=""):
            raise RunInProgress(f"Run #{run.pk} changed meanwhile; look again.")
        audit_record(
            actor=actor, action=f"{run.kind}.resume", target=run.person.username,
            outcome="requested", details={"run": run.pk}, run=run,
        )  # fmt: skip
        transaction.on_commit(lambda: run_execute_task.delay(run.pk))
    return run


def run_resume_preview(*, run: LifecycleRun) -> list[PlannedChange]:
    _run_failed_check(run, "resumed")
    return _run_resume_preview(run)


def run_rollback(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Undo a failed run's completed steps, newest first."""
    from onboarding.tasks import run_rollback_execute_task

    _run_failed_check(run, "rolled back")
    with transaction.atomic():
        if not run.move_to(
            State.ROLLING_BACK, error="", finished_at=None, worker="", heartbeat_at=None
        ):
            raise RunInProgress(f"Run #{run.pk} changed meanwhile; look again.")
        audit_record(
            actor=actor, action=f"{run.kind}.rollback", target=run.person.username,
            outcome="requested", details={"run": run.pk}, run=run,
        )  # fmt: skip
        transaction.on_commit(lambda: run_rollback_execute_task.delay(run.pk))
    return run


def run_rollback_preview(*, run: LifecycleRun) -> list[PlannedChange]:
    _run_failed_check(run, "rolled back")
    return _run_rollback_preview(run)


# Teams ----------------------------------------------------------------------------------------


def team_set(
    *,
    name: str,
    group: str | None = None,
    leads: list[str] | None = None,
    policy_arns: list[str] | None = None,
    jupyterhub_group: str | None = None,
    actor: str,
) -> tuple[Team, bool]:
    """Create or change a team; each system makes what the team needs (its FreeIPA group)."""
    team = Team.objects.filter(name=name).first()
    created = team is None
    if created and not group:
        raise InvalidInput("A new team needs its FreeIPA group (--group) to be named.")
    if group:
        group_name_check(group)
    for arn in policy_arns or []:
        policy_arn_check(arn)
    lead_names = [username_normalise(lead) for lead in leads or []]
    with transaction.atomic():
        if created:
            team = Team(name=name)
        if group:
            team.freeipa_group = group
        if policy_arns is not None:
            team.iam_policy_arns = policy_arns
        if jupyterhub_group is not None:
            team.jupyterhub_group = jupyterhub_group
        team.full_clean()
        team.save()
        User = get_user_model()
        for lead in lead_names:
            user, _ = User.objects.get_or_create(username=lead)
            team.leads.add(user)
        for system in enabled():
            system.team_apply(team=team, leads=lead_names)
        audit_record(
            actor=actor, action="team.create" if created else "team.change", target=team.name,
            outcome="succeeded",
            details={
                "group": team.freeipa_group, "leads": lead_names,
                "policy_arns": team.iam_policy_arns, "jupyterhub_group": team.jupyterhub_group,
            },
        )  # fmt: skip
    return team, created
