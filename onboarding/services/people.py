"""Changes to a person that are not a move: name and e-mail, and a credential reset."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import DownstreamError, InvalidInput
from onboarding.models import LifecycleRun, Person
from onboarding.runner import PlannedChange, plan_preview
from onboarding.services.runs import no_run_in_progress_check, run_start, status_word
from onboarding.systems import enabled
from onboarding.validation import person_fields_check

Kind = LifecycleRun.Kind
Status = Person.Status


def person_update_check(
    *, person: Person, first_name: str, last_name: str, email: str
) -> dict[str, dict[str, str]]:
    """What would change, as {field: {"before": ..., "after": ...}}, or InvalidInput."""
    wanted = {
        "first_name": (first_name or "").strip(),
        "last_name": (last_name or "").strip(),
        "email": (email or "").strip(),
    }
    person_fields_check(**wanted)
    if person.status != Status.ACTIVE:
        # Anyone else has no account to change, or a run under way that uses the old one.
        raise InvalidInput(
            f"{person.username}'s name and e-mail can be changed only while they are active; "
            f"they are {status_word(person)}."
        )
    changes = {
        field: {"before": getattr(person, field), "after": value}
        for field, value in wanted.items()
        if getattr(person, field) != value
    }
    if not changes:
        raise InvalidInput(f"{person.username} already has this name and e-mail; nothing changed.")
    return changes


def person_update(
    *, person: Person, first_name: str, last_name: str, email: str, actor: str
) -> Person:
    """Change a person's name and e-mail in each system that keeps them (FreeIPA), then here.
    Bad input, or a system that refuses or cannot be reached, leaves everything as it was."""
    fields = {"first_name": first_name, "last_name": last_name, "email": email}
    changes = person_update_check(person=person, **fields)
    try:
        with transaction.atomic():
            # Locked while the systems are asked, so no run starts for them meanwhile.
            locked = Person.objects.select_for_update().get(pk=person.pk)
            changes = person_update_check(person=locked, **fields)
            wanted = {
                field: changes[field]["after"] if field in changes else getattr(locked, field)
                for field in fields
            }
            for system in enabled():
                system.person_details_set(person=locked, **wanted)
            Person.objects.filter(pk=locked.pk).update(**wanted, updated_at=timezone.now())
            audit_record(
                actor=actor, action="person.update", target=person.username,
                outcome="succeeded", details=changes,
            )  # fmt: skip
    except DownstreamError as error:
        audit_record(
            actor=actor, action="person.update", target=person.username, outcome="failed",
            details={**changes, "error": str(error)},
        )  # fmt: skip
        raise type(error)(error.system, f"{error.message}; nothing was changed") from error
    for field, value in wanted.items():
        setattr(person, field, value)
    return person


def person_credentials_reset_check(*, person: Person) -> None:
    no_run_in_progress_check(person)
    if person.status != Status.ACTIVE:
        raise InvalidInput(
            f"{person.username} is {status_word(person)}; only an active person's password and OTP "
            "token can be reset."
        )


def person_credentials_reset(*, person: Person, actor: str, requested_by=None) -> LifecycleRun:
    """Delete their OTP tokens, make a new one and issue a new expired temporary password; the
    new secrets are handed to whoever asked, once, as an onboarding's are."""
    person_credentials_reset_check(person=person)
    return run_start(person=person, kind=Kind.RESET, actor=actor, requested_by=requested_by)


def person_credentials_reset_preview(*, person: Person) -> list[PlannedChange]:
    person_credentials_reset_check(person=person)
    return plan_preview(kind=Kind.RESET, person=person, team=person.team)
