"""Writing and checking the audit trail."""

from dataclasses import dataclass

from onboarding.models import AuditEvent, LifecycleRun


def audit_record(
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    details: dict | None = None,
    run: LifecycleRun | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor, action=action, target=target, outcome=outcome, details=details or {}, run=run
    )
    event.save()
    return event


@dataclass(frozen=True)
class AuditBreak:
    event_id: int
    reason: str


def audit_verify(*, chunk_size: int = 5000) -> tuple[int, AuditBreak | None]:
    """Walk the chain oldest first; return how many events were checked and the first break."""
    expected_previous = AuditEvent.GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if event.previous_hash != expected_previous:
            return checked, AuditBreak(event.id, "previous hash does not match the event before")
        if event.chain_hash() != event.hash:
            return checked, AuditBreak(event.id, "contents do not match the event's hash")
        expected_previous = event.hash
        checked += 1
    return checked, None
