"""What to do with an orphan reconciliation found (an object in AccessAdmin's namespace that
belongs to no person it knows): remove it from its system, or adopt it — take its owner in as a
person of a team, from the directory's account, and let a repair run give them what the team
needs. Each is asked for by an admin, checked against what the system holds now, and audited."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import DownstreamError, InvalidInput
from onboarding.models import Finding, LifecycleRun, Person, Team
from onboarding.services.joiners import team_fits_check
from onboarding.services.reconcile import person_repair
from onboarding.systems import DirectoryAccount, ManagedObject, enabled, system
from onboarding.validation import username_for_a_person


def orphan_get(finding_id: int) -> Finding:
    finding = Finding.objects.filter(pk=finding_id).first()
    if finding is None or finding.kind != Finding.Kind.ORPHAN:
        raise InvalidInput(f"There is no orphan #{finding_id}.")
    if finding.resolved_at is not None:
        raise InvalidInput(
            f"Orphan #{finding_id} ({finding.subject}) was settled on "
            f"{finding.resolved_at:%Y-%m-%d %H:%M}; nothing was done."
        )
    return finding


def _orphan_now(finding: Finding) -> ManagedObject:
    """The object as its system holds it now: still there, still nobody's."""
    if Person.objects.filter(username=finding.username).exists():
        raise InvalidInput(
            f"{finding.username} is a person AccessAdmin knows now, so {finding.subject} is no "
            "orphan; reconcile again to see what differs. Nothing was done."
        )
    holder = system(finding.system)
    try:
        held = holder.inventory()
    except DownstreamError as error:
        raise InvalidInput(
            f"{holder.label} could not be asked what it holds now ({error}); nothing was done. "
            "Try again once it answers."
        ) from None
    for item in held:
        if item.username == finding.username and f"{item.kind} {item.id}" == finding.subject:
            return item
    _settle(finding)
    raise InvalidInput(f"{finding.subject} is no longer in {holder.label}: nothing to do.")


def _settle(*findings: Finding) -> None:
    Finding.objects.filter(pk__in=[f.pk for f in findings], resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


def orphan_remove(*, finding: Finding, actor: str) -> None:
    """Take the orphan away in its system, as offboarding would (data on EFS stays)."""
    item = _orphan_now(finding)
    target = system(finding.system)
    details = {"finding": finding.pk, "system": finding.system, "subject": finding.subject}
    try:
        target.orphan_remove(item)
    except DownstreamError as error:
        audit_record(
            actor=actor, action="orphan.remove", target=finding.username, outcome="failed",
            details={**details, "error": str(error)},
        )  # fmt: skip
        raise InvalidInput(f"{target.label} refused to remove {finding.subject}: {error}") from None
    with transaction.atomic():
        _settle(finding)
        audit_record(
            actor=actor, action="orphan.remove", target=finding.username, outcome="succeeded",
            details={**details, "detail": item.detail},
        )  # fmt: skip


def _directory_account(username: str) -> DirectoryAccount:
    for candidate in enabled():
        try:
            account = candidate.account_details(username)
        except DownstreamError as error:
            raise InvalidInput(
                f"{candidate.label} could not be asked about {username}: {error}. Nothing was done."
            ) from None
        if account is not None:
            return account
    raise InvalidInput(
        f"No directory holds an account named {username}: there is nobody to adopt "
        f"{username}'s objects for. Remove them instead."
    )


def orphan_adopt(*, finding: Finding, team: Team, actor: str, requested_by=None) -> LifecycleRun:
    """Take the orphan's owner in as an active person of `team` (names, e-mail and uid from
    the directory's account), then start a repair run that gives them what the team needs and
    puts right what differs. Every open orphan of theirs is settled."""
    _orphan_now(finding)
    username = username_for_a_person(finding.username)
    account = _directory_account(username)
    if account.disabled:
        raise InvalidInput(
            f"{username}'s directory account is disabled or preserved: adopting would give "
            "access to someone who has none. Remove the orphan, or reinstate them first."
        )
    team_fits_check(team)
    with transaction.atomic():
        person = Person.objects.create(
            username=username, first_name=account.first_name or username,
            last_name=account.last_name or username, email=account.email, team=team,
            status=Person.Status.ACTIVE, uid_number=account.uid_number,
            gid_number=account.gid_number,
        )  # fmt: skip
        theirs = list(Finding.objects.open().filter(kind=Finding.Kind.ORPHAN, username=username))
        _settle(*theirs)
        audit_record(
            actor=actor, action="orphan.adopt", target=username, outcome="succeeded",
            details={"finding": finding.pk, "team": team.name,
                     "orphans": [f"{f.system}: {f.subject}" for f in theirs]},
        )  # fmt: skip
        return person_repair(person=person, actor=actor, requested_by=requested_by)
