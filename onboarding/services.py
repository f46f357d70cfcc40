"""What people and scripts ask for: each validates first, so bad input changes nothing."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from onboarding.audit import audit_record
from onboarding.errors import AccessAdminError
from onboarding.lifecycle import PERSON_STATUS, PlannedChange, plan_preview, run_steps_create
from onboarding.models import LifecycleRun, Person, Team
from onboarding.systems import systems
from onboarding.validation import (
    InvalidInput,
    group_name_check,
    person_fields_check,
    username_normalise,
)

Kind = LifecycleRun.Kind
State = LifecycleRun.State
Status = Person.Status


class RunInProgress(AccessAdminError):
    pass


def team_get(name: str) -> Team:
    try:
        return Team.objects.get(name=name)
    except Team.DoesNotExist:
        known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
        raise InvalidInput(f"There is no team {name!r} (teams: {known}).") from None


def person_get(username: str) -> Person:
    try:
        return Person.objects.select_related("team").get(username=username.strip().lower())
    except Person.DoesNotExist:
        raise InvalidInput(f"AccessAdmin knows no person {username!r}.") from None


def _status(person: Person) -> str:
    return person.get_status_display().lower()


def _queue(run: LifecycleRun) -> None:
    from onboarding.tasks import execute_run

    transaction.on_commit(lambda: execute_run.delay(run.pk))


def _run_start(
    *, person: Person, kind: str, actor: str, requested_by=None, params=None
) -> LifecycleRun:
    active = person.runs.filter(state__in=LifecycleRun.ACTIVE_STATES).first()
    if active is not None:
        raise RunInProgress(
            f"{person.username} already has a {active.kind} run in progress (#{active.pk}); "
            "wait for it to finish."
        )
    during_status, _, _ = PERSON_STATUS[kind]
    try:
        with transaction.atomic():
            person.move_to(during_status)
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
            _queue(run)
    except IntegrityError:
        raise RunInProgress(f"{person.username} already has a run in progress.") from None
    return run


def onboard_validate(
    *, username: str, first_name: str, last_name: str, email: str, team: str
) -> tuple[str, Team]:
    username = username_normalise(username)
    person_fields_check(first_name=first_name, last_name=last_name, email=email)
    team_obj = team_get(team)
    existing = Person.objects.filter(username=username).first()
    if existing is not None and existing.status != Status.NEW:
        raise InvalidInput(
            f"{username!r} is already known to AccessAdmin ({existing.get_status_display()})."
        )
    ipa_user = systems().freeipa.user_find(username=username)
    if ipa_user is not None:
        where = "as a preserved user; reinstate them instead" if ipa_user.preserved else "already"
        raise InvalidInput(f"The username {username!r} is taken in FreeIPA {where}.")
    return username, team_obj


def person_onboard(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: str,
    actor: str,
    requested_by=None,
) -> LifecycleRun:
    username, team_obj = onboard_validate(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    with transaction.atomic():
        person, _ = Person.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first_name.strip(),
                "last_name": last_name.strip(),
                "email": email.strip(),
                "team": team_obj,
            },
        )
        return _run_start(person=person, kind=Kind.ONBOARD, actor=actor, requested_by=requested_by)


def onboard_preview(
    *, username: str, first_name: str, last_name: str, email: str, team: str
) -> list[PlannedChange]:
    username, team_obj = onboard_validate(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    person = Person(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team_obj
    )
    return plan_preview(kind=Kind.ONBOARD, person=person, team=team_obj)


def offboard_validate(*, username: str, reason: str) -> Person:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required to offboard someone.")
    person = person_get(username)
    if person.status not in (Status.ACTIVE, Status.ONBOARDING, Status.MOVING):
        raise InvalidInput(f"{person.username} cannot be offboarded: they are {_status(person)}.")
    return person


def person_offboard(*, username: str, reason: str, actor: str, requested_by=None) -> LifecycleRun:
    person = offboard_validate(username=username, reason=reason)
    return _run_start(
        person=person,
        kind=Kind.OFFBOARD,
        actor=actor,
        requested_by=requested_by,
        params={"reason": reason.strip()},
    )


def offboard_preview(*, username: str, reason: str) -> list[PlannedChange]:
    person = offboard_validate(username=username, reason=reason)
    return plan_preview(kind=Kind.OFFBOARD, person=person, team=person.team)


def move_validate(*, username: str, team: str) -> tuple[Person, Team]:
    person = person_get(username)
    new_team = team_get(team)
    if person.status != Status.ACTIVE:
        raise InvalidInput(
            f"{person.username} can only move team when active; they are {_status(person)}."
        )
    if new_team == person.team:
        raise InvalidInput(f"{person.username} is already in team {new_team.name}.")
    return person, new_team


def person_move(*, username: str, team: str, actor: str, requested_by=None) -> LifecycleRun:
    person, new_team = move_validate(username=username, team=team)
    return _run_start(
        person=person, kind=Kind.MOVE, actor=actor, requested_by=requested_by,
        params={"from_team": person.team.name, "to_team": new_team.name, "to_team_id": new_team.pk},
    )  # fmt: skip


def move_preview(*, username: str, team: str) -> list[PlannedChange]:
    person, new_team = move_validate(username=username, team=team)
    return plan_preview(kind=Kind.MOVE, person=person, team=new_team, previous_team=person.team)


def reinstate_validate(*, username: str) -> Person:
    person = person_get(username)
    if person.status != Status.OFFBOARDED:
        raise InvalidInput(f"{person.username} is not offboarded; they are {_status(person)}.")
    return person


def person_reinstate(*, username: str, actor: str, requested_by=None) -> LifecycleRun:
    person = reinstate_validate(username=username)
    return _run_start(person=person, kind=Kind.REINSTATE, actor=actor, requested_by=requested_by)


def reinstate_preview(*, username: str) -> list[PlannedChange]:
    person = reinstate_validate(username=username)
    return plan_preview(kind=Kind.REINSTATE, person=person, team=person.team)


def run_resume(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Queue a failed run again: it re-checks the failed step and goes on from there."""
    if run.state != State.FAILED:
        raise InvalidInput(
            f"Run #{run.pk} is {run.get_state_display().lower()}; only a failed run can be resumed."
        )
    with transaction.atomic():
        if not run.move_to(State.QUEUED, error="", finished_at=None, worker=""):
            raise RunInProgress(f"Run #{run.pk} changed meanwhile; look again.")
        audit_record(
            actor=actor, action=f"{run.kind}.resume", target=run.person.username,
            outcome="requested", details={"run": run.pk}, run=run,
        )  # fmt: skip
        _queue(run)
    return run


def run_rollback_request(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Undo a failed run's completed steps, newest first."""
    from onboarding.tasks import rollback_run

    if run.state != State.FAILED:
        raise InvalidInput(
            f"Run #{run.pk} is {run.get_state_display().lower()}; "
            "only a failed run can be rolled back."
        )
    with transaction.atomic():
        if not run.move_to(
            State.ROLLING_BACK, error="", finished_at=None, worker="", heartbeat_at=None
        ):
            raise RunInProgress(f"Run #{run.pk} changed meanwhile; look again.")
        audit_record(
            actor=actor, action=f"{run.kind}.rollback", target=run.person.username,
            outcome="requested", details={"run": run.pk}, run=run,
        )  # fmt: skip
        transaction.on_commit(lambda: rollback_run.delay(run.pk))
    return run


def team_set(
    *,
    name: str,
    group: str | None = None,
    leads: list[str] | None = None,
    policy_arns: list[str] | None = None,
    jupyterhub_group: str | None = None,
    actor: str,
) -> tuple[Team, bool]:
    """Create or change a team; its FreeIPA group is created when missing."""
    team = Team.objects.filter(name=name).first()
    created = team is None
    if created and not group:
        raise InvalidInput("A new team needs its FreeIPA group (--group) to be named.")
    if group:
        group_name_check(group)
    for arn in policy_arns or []:
        if not arn.startswith("arn:aws:iam::") or ":policy/" not in arn:
            raise InvalidInput(f"{arn!r} is not an IAM policy ARN.")
    lead_names = [username_normalise(lead) for lead in leads or []]
    ipa = systems().freeipa
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
        ipa.group_ensure(name=team.freeipa_group, description=f"Team {team.name} (AccessAdmin)")
        for lead in lead_names:
            ipa.group_add_manager(group=team.freeipa_group, username=lead)
        audit_record(
            actor=actor, action="team.create" if created else "team.change", target=team.name,
            outcome="succeeded",
            details={
                "group": team.freeipa_group, "leads": lead_names,
                "policy_arns": team.iam_policy_arns, "jupyterhub_group": team.jupyterhub_group,
            },
        )  # fmt: skip
    return team, created
