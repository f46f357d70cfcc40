"""Writing and checking the audit trail.

The chain lives in the database (AuditEvent). Its head, the newest event's id, position and hash,
is also written after every commit to AUDIT_HEAD_FILE, outside the database: one line per event,
appended with O_APPEND, so the processes of one host write at once without a lock (each line is one
write() and lands whole at the end of the file) and the file can be made append-only (chattr +a).
Verifying checks every head recorded there, so events deleted after their head was written are
found even when later events were appended on top.
"""

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction

from onboarding.models import AuditEvent, LifecycleRun

logger = logging.getLogger(__name__)


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
    # After the commit: a head written for an event that is then rolled back would look deleted.
    transaction.on_commit(partial(_head_write, event))
    return event


def _head_write(event: AuditEvent) -> None:
    path = settings.AUDIT_HEAD_FILE
    if not path:
        return
    line = f"{event.pk} {event.position} {event.hash}\n".encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as error:
        # The event is committed and the run goes on: a read-only disk must not stop an
        # offboarding. verify_audit reports the events left without a head.
        logger.error(
            "AUDIT HEAD NOT WRITTEN: event #%s is in the database, but %s cannot be written (%s). "
            "verify_audit will report the events after the last recorded head until one is "
            "written again.",
            event.pk,
            path,
            error.strerror,
        )


def _heads_recorded() -> dict[int, tuple[int, str]]:
    """Every head written outside the database: event id -> (position, hash)."""
    heads = {}
    if not settings.AUDIT_HEAD_FILE:
        return heads
    try:
        with open(settings.AUDIT_HEAD_FILE) as lines:
            for line in lines:
                fields = line.split()
                # A line cut short by a crash is skipped; its event is covered by the next one.
                if len(fields) == 3 and fields[0].isdigit() and fields[1].isdigit():
                    event_id, position, event_hash = fields
                    if len(event_hash) == 64:
                        heads[int(event_id)] = (int(position), event_hash)
    except FileNotFoundError:
        pass
    return heads


@dataclass(frozen=True)
class AuditBreak:
    event_id: int
    reason: str


@dataclass(frozen=True)
class AuditCheck:
    checked: int
    broken: AuditBreak | None
    heads: int = 0
    newest_head: int | None = None
    unanchored: int = 0

    def __iter__(self) -> Iterator[int | AuditBreak | None]:
        # Callers unpack `checked, broken = audit_verify()`.
        return iter((self.checked, self.broken))


def audit_verify(*, chunk_size: int = 5000) -> AuditCheck:
    """Walk the chain oldest first, checking each link and each head recorded outside the
    database; return how many events were checked and the first break."""
    heads = _heads_recorded()
    recorded = sorted(heads)
    expected_previous = AuditEvent.GENESIS_HASH
    checked = anchored = next_head = 0
    keyed = False
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if next_head < len(recorded) and recorded[next_head] < event.id:
            missing = recorded[next_head]
            return AuditCheck(checked, _missing(missing, heads[missing][0], later_events=True))
        reason = _link_problem(event, expected_previous, checked + 1, keyed)
        if reason is None and next_head < len(recorded) and recorded[next_head] == event.id:
            reason = _head_problem(event, heads[event.id])
            next_head += 1
            anchored = checked + 1
        if reason is not None:
            return AuditCheck(checked, AuditBreak(event.id, reason))
        keyed = keyed or event.chain_version == AuditEvent.ChainVersion.KEYED
        expected_previous = event.hash
        checked += 1
    if next_head < len(recorded):
        if checked == 0:
            return AuditCheck(0, _emptied(recorded[0], len(recorded), recorded[-1]))
        missing = recorded[next_head]
        return AuditCheck(checked, _missing(missing, heads[missing][0], later_events=False))
    return AuditCheck(
        checked,
        None,
        heads=len(heads),
        newest_head=recorded[-1] if recorded else None,
        unanchored=checked - anchored if heads else 0,
    )


def _link_problem(event: AuditEvent, expected_previous: str, place: int, keyed: bool) -> str | None:
    if event.previous_hash != expected_previous:
        return "previous hash does not match the event before"
    if event.chain_version == AuditEvent.ChainVersion.PLAIN:
        if keyed:
            return "an unkeyed event after the keyed chain began: the chain was rewritten"
        if event.chain_hash() != event.hash:
            return "contents do not match the event's hash"
        return None
    if event.position != place:
        return f"the event says it is number {event.position} in the chain, but it is {place}"
    if event.chain_hash() != event.hash:
        return (
            "contents do not match the event's hash under the audit key: the event was edited, "
            "or hashed with another key"
        )
    return None


def _head_problem(event: AuditEvent, head: tuple[int, str]) -> str | None:
    if head == (event.position, event.hash):
        return None
    return (
        "the event does not match the head recorded outside the database when it was "
        "appended: the chain was rewritten"
    )


def _missing(event_id: int, position: int, *, later_events: bool) -> AuditBreak:
    which = "events were deleted" if later_events else "the newest events were deleted"
    return AuditBreak(
        event_id,
        f"the event is missing, though the head file recorded it as number {position} in the "
        f"chain: {which}",
    )


def _emptied(first_id: int, count: int, newest_id: int) -> AuditBreak:
    return AuditBreak(
        first_id,
        f"the audit trail is empty, but the head file recorded {count} events up to "
        f"#{newest_id}: the table was emptied",
    )
