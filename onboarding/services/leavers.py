"""Offboarding: every access ends, whatever is down."""

from __future__ import annotations

from django.db import transaction

from onboarding.audit import audit_record
from onboarding.errors import InvalidInput
from onboarding.models import LifecycleRun, Person, Team
from onboarding.runner import PlannedChange, plan_preview
from onboarding.services.runs import no_run_in_progress_check, run_start, status_word
from onboarding.signals import person_offboard_requested
from onboarding.validation import text_check

Kind = LifecycleRun.Kind


def person_offboard_check(*, person: Person, reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required to offboard someone.")
    reason = text_check(reason, label="The reason")
    no_run_in_progress_check(person)
    if not person.may_be_offboarded:
        raise InvalidInput(
            f"{person.username} cannot be offboarded: they are {status_word(person)}."
        )
    return reason


def person_offboard(*, person: Person, reason: str, actor: str, requested_by=None) -> LifecycleRun:
    """Offboard them; whatever the run still has to do, they stop leading teams here and their
    AccessAdmin sessions end at once."""
    reason = person_offboard_check(person=person, reason=reason)
    with transaction.atomic():
        run = run_start(
            person=person, kind=Kind.OFFBOARD, actor=actor, requested_by=requested_by,
            params={"reason": reason},
        )  # fmt: skip
        _lead_roles_end(person.username, actor=actor)
    person_offboard_requested.send(sender=Person, username=person.username)
    return run


def _lead_roles_end(username: str, *, actor: str) -> None:
    for team in Team.objects.filter(leads__username=username).order_by("name"):
        team.leads.remove(*team.leads.filter(username=username))
        audit_record(
            actor=actor, action="team.change", target=team.name, outcome="succeeded",
            details={"leads_removed": [username], "why": f"{username} is offboarded"},
        )  # fmt: skip


def person_offboard_preview(*, person: Person, reason: str) -> list[PlannedChange]:
    person_offboard_check(person=person, reason=reason)
    return plan_preview(kind=Kind.OFFBOARD, person=person, team=person.team)
