"""Reconciliation: what AccessAdmin believes about people, set against what a system holds.

Each system is asked once per pass, for its inventory (`System.inventory`). An active person's
objects are compared with what the system expects for them (`System.expected`); an offboarded
person should have none left; an object in AccessAdmin's namespace that belongs to nobody it
knows is an orphan. People between statuses, or with a run under way, are left out: their objects
are changing as the pass looks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping

from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.models import Finding, LifecycleRun, Person
from onboarding.systems import ManagedObject, System

Kind = Finding.Kind
Status = Person.Status


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
                    Kind.ORPHAN,
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
                    Kind.UNEXPECTED,
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
                        Kind.MISSING,
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
                        Kind.DIFFERS,
                        person.username,
                        wanted.kind,
                        f"{person.username}'s {label} {wanted.kind} differs: {problem}",
                    )
                )
    return findings


def system_unanswered(system: System, error: str) -> Finding:
    return _finding(
        system, Kind.UNANSWERED, "", "",
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
