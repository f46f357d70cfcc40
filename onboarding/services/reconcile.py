"""Reconciliation: what AccessAdmin believes about people, set against what a system holds.

Each system is asked once per pass, for its inventory (`System.inventory`). An active person's
objects are compared with what the system expects for them (`System.expected`); an offboarded
person should have none left; an object in AccessAdmin's namespace that belongs to nobody it
knows is an orphan. People between statuses, or with a run under way, are left out: their objects
are changing as the pass looks.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import Finding, LifecycleRun, Person, Team
from onboarding.runner import PlannedChange, plan_preview
from onboarding.services.runs import no_run_in_progress_check, run_start, status_word
from onboarding.signals import findings_found
from onboarding.systems import ManagedObject, System, enabled

logger = logging.getLogger(__name__)

Kind = LifecycleRun.Kind
State = LifecycleRun.State
Status = Person.Status
FindingKind = Finding.Kind


def system_findings(
    system: System,
    found: list[ManagedObject],
    people: Mapping[str, Person],
    busy: Collection[str] = (),
) -> list[Finding]:
    """What differs between one system's inventory and the people AccessAdmin knows (every
    person by username; `busy`: those with a run under way)."""
    label = system.label
    held: dict[tuple[str, str], list[ManagedObject]] = defaultdict(list)
    for item in found:
        held[(item.username, item.kind)].append(item)
    findings = []
    for (username, kind), items in sorted(held.items()):
        person = people.get(username)
        if person is None:
            findings += [
                _finding(
                    system,
                    FindingKind.ORPHAN,
                    username,
                    f"{kind} {item.id}",
                    f"{label} {kind} {item.id} belongs to no person AccessAdmin knows "
                    f"({item.detail or 'no detail'})",
                )
                for item in items
            ]
        elif person.status == Status.OFFBOARDED and username not in busy:
            shown = "; ".join(item.detail or item.id for item in items)
            findings.append(
                _finding(
                    system,
                    FindingKind.UNEXPECTED,
                    username,
                    kind,
                    f"{username} is offboarded, but {label} still holds their {kind}: {shown}",
                )
            )
    for person in people.values():
        if person.status != Status.ACTIVE or person.username in busy:
            continue
        for wanted in system.expected(person):
            items = held.get((person.username, wanted.kind), [])
            problem = _mismatch(wanted, items)
            if not items:
                findings.append(
                    _finding(
                        system,
                        FindingKind.MISSING,
                        person.username,
                        wanted.kind,
                        f"{person.username} is active, but {label} holds no {wanted.kind} of "
                        f"theirs (expected: {_words(wanted.compared)})",
                    )
                )
            elif problem:
                findings.append(
                    _finding(
                        system,
                        FindingKind.DIFFERS,
                        person.username,
                        wanted.kind,
                        f"{person.username}'s {label} {wanted.kind} differs: {problem}",
                    )
                )
    return findings


def system_unanswered(system: System, error: str) -> Finding:
    return _finding(
        system, FindingKind.UNANSWERED, "", "",
        f"{system.label} could not be asked ({error}); nothing is known of what it holds in "
        "this pass, and its earlier findings stay as they were",
    )  # fmt: skip


def _mismatch(wanted: ManagedObject, items: list[ManagedObject]) -> str:
    if len(items) > 1:
        return f"there are {len(items)}: {', '.join(item.id for item in items)}"
    if not items:
        return ""
    held = items[0].compared
    return "; ".join(
        f"{name} {held.get(name) or 'none'} (expected {value})"
        for name, value in wanted.compared.items()
        if held.get(name) != value
    )


def _words(compared: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in compared.items()) or "one"


def _finding(system: System, kind: str, username: str, subject: str, detail: str) -> Finding:
    return Finding(system=system.name, kind=kind, username=username, subject=subject, detail=detail)


def repaired_findings_settle(sender, run: LifecycleRun, **_) -> None:
    """A repair run that succeeded put right what reconciliation found about its person: their
    open findings are settled with the run, not left offering a repair until the next pass."""
    if run.kind not in LifecycleRun.REPAIRS or run.state != LifecycleRun.State.SUCCEEDED:
        return
    settled = list(
        Finding.objects.open()
        .filter(username=run.person.username, kind__in=Finding.REPAIRABLE)
        .values_list("pk", flat=True)
    )
    if not settled:
        return
    Finding.objects.filter(pk__in=settled).update(resolved_at=timezone.now())
    audit_record(
        actor=run.worker or "worker", action="reconcile.settled", target=run.person.username,
        outcome="succeeded", details={"run": run.pk, "findings": settled}, run=run,
    )  # fmt: skip


# Serialises passes that store findings (beat's and a command's at once).
_RECONCILE_LOCK = 0x5EC0_9C11


def reconcile(*, actor: str) -> list[Finding]:
    """Compare what AccessAdmin believes about its people with what each enabled system holds,
    asking each system once (its inventory). Stores what is found: a finding seen before keeps
    its first sighting, one no longer found is resolved (unless its system did not answer), a
    new one is audited. Returns the open findings of this pass."""
    people = {person.username: person for person in Person.objects.select_related("team")}
    busy = set(
        LifecycleRun.objects.filter(state__in=LifecycleRun.ACTIVE_STATES).values_list(
            "person__username", flat=True
        )
    )
    found: list[Finding] = []
    for system in enabled():
        try:
            inventory = system.inventory()
        except AccessAdminError as error:
            found.append(system_unanswered(system, str(error)))
            continue
        except Exception as error:  # one broken system must not hide what the others hold
            logger.exception("reconcile: the inventory of %s failed", system.name)
            found.append(system_unanswered(system, f"unexpected {type(error).__name__}"))
            continue
        found += system_findings(system, inventory, people, busy)
    return _findings_store(found, actor=actor)


def reconcile_request(*, actor: str) -> bool:
    """Ask a worker for a reconciliation pass now; False when the broker did not take it."""
    from onboarding.tasks import reconcile_task

    try:
        reconcile_task.apply_async(retry=False)
    except Exception as error:  # kombu and redis raise many kinds; all mean "not sent"
        logger.warning("reconciliation pass not sent: %s: %s", type(error).__name__, error)
        return False
    audit_record(
        actor=actor, action="reconcile.request", target="reconciliation", outcome="requested"
    )
    return True


def _findings_store(found: list[Finding], *, actor: str) -> list[Finding]:
    now = timezone.now()
    current: dict[tuple, Finding] = {}
    for finding in found:
        current.setdefault(finding.key, finding)
    silent = {finding.system for finding in current.values() if finding.kind == "unanswered"}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RECONCILE_LOCK])
        stored = {row.key: row for row in Finding.objects.open()}
        seen = [row for key, row in stored.items() if key in current]
        for row in seen:
            row.detail, row.last_seen = current[row.key].detail, now
        Finding.objects.bulk_update(seen, ["detail", "last_seen"], batch_size=500)
        gone = [
            row.pk for key, row in stored.items() if key not in current and row.system not in silent
        ]
        Finding.objects.filter(pk__in=gone).update(resolved_at=now)
        new = [finding for key, finding in current.items() if key not in stored]
        for finding in new:
            finding.first_seen = finding.last_seen = now
        Finding.objects.bulk_create(new, batch_size=500)
        for finding in new:
            audit_record(
                actor=actor, action="reconcile.finding", target=finding.username or finding.system,
                outcome="failed",
                details={"system": finding.system, "kind": finding.kind,
                         "subject": finding.subject, "detail": finding.detail},
            )  # fmt: skip
        # The pass itself, so that every page showing findings can say how fresh they are.
        audit_record(
            actor=actor, action="reconcile.pass", target="reconciliation",
            outcome="succeeded" if not silent else "failed",
            details={"open": len(seen) + len(new), "new": len(new), "silent": sorted(silent)},
        )  # fmt: skip
        if new:
            findings_found.send(sender=Finding, findings=new)
    return sorted([*seen, *new], key=lambda f: (f.username, f.system, f.subject, f.kind))


def person_repair(*, person: Person, actor: str, requested_by=None) -> LifecycleRun:
    """Make what the systems hold for them what AccessAdmin expects: an active person's missing
    or wrong objects are made right (a repair run), an offboarded person's leftovers go (the
    offboarding's steps again). Each step is checked first, so what is right is left alone."""
    kind = _repair_kind_check(person)
    return run_start(person=person, kind=kind, actor=actor, requested_by=requested_by)


def person_repair_preview(*, person: Person) -> list[PlannedChange]:
    """What a repair would change now, each system asked; nothing is changed."""
    kind = _repair_kind_check(person)
    return plan_preview(kind=kind, person=person, team=person.team)


def _repair_kind_check(person: Person) -> str:
    no_run_in_progress_check(person)
    kind = {Status.ACTIVE: Kind.REPAIR, Status.OFFBOARDED: Kind.REPAIR_OFFBOARDED}.get(
        person.status
    )
    if kind is None:
        raise InvalidInput(
            f"{person.username} is {status_word(person)}; only active or offboarded people are "
            "repaired."
        )
    return kind


@dataclass(frozen=True)
class RepairOutcome:
    username: str
    run: LifecycleRun | None
    note: str = ""


def findings_repair(
    *, findings: list[Finding], actor: str, username: str | None = None
) -> list[RepairOutcome]:
    """A repair run for each person (or only `username`) with missing, differing or unexpected
    objects; orphans are only reported. Whoever has a run under way is skipped, with a note."""
    wanted = sorted(
        {
            finding.username
            for finding in findings
            if finding.kind in Finding.REPAIRABLE and finding.username
            and (username is None or finding.username == username)
        }
    )  # fmt: skip
    if username is not None and not wanted:
        return [RepairOutcome(username, None, "nothing of theirs to repair")]
    outcomes = []
    for person in Person.objects.select_related("team").filter(username__in=wanted):
        try:
            run = person_repair(person=person, actor=actor)
        except AccessAdminError as error:
            outcomes.append(RepairOutcome(person.username, None, f"skipped: {error}"))
        else:
            outcomes.append(RepairOutcome(person.username, run))
    return outcomes


def team_members_apply(*, team: Team, actor: str, requested_by=None) -> list[RepairOutcome]:
    """Bring the team's current members to what the team now says (its groups, policies and hub
    group): a repair run for each active member, whose steps change only what differs. Someone
    with a run under way, or not active, is skipped with a note."""
    outcomes = []
    for person in team.members.select_related("team").order_by("username"):
        if person.status == Status.OFFBOARDED:
            continue
        try:
            if person.status != Status.ACTIVE:
                raise InvalidInput(f"{person.username} is {status_word(person)}")
            run = run_start(
                person=person, kind=Kind.REPAIR, actor=actor, requested_by=requested_by,
                params={"team_change": team.name},
            )  # fmt: skip
        except AccessAdminError as error:
            outcomes.append(RepairOutcome(person.username, None, f"skipped: {error}"))
        else:
            outcomes.append(RepairOutcome(person.username, run))
    return outcomes


def team_members_apply_preview(*, team: Team) -> list[tuple[Person, list[PlannedChange]]]:
    """What applying the team to each active member would change, member by member."""
    members = team.members.filter(status=Status.ACTIVE).select_related("team").order_by("username")
    return [
        (person, plan_preview(kind=Kind.REPAIR, person=person, team=team)) for person in members
    ]
