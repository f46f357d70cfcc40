"""Writing and checking the audit trail.

The chain lives in the database (AuditEvent). Its head, the newest event's id, position and hash,
is also written after every commit to AUDIT_HEAD_FILE, outside the database: one line per event,
appended with O_APPEND, so the processes of one host write at once without a lock (each line is one
write() and lands whole at the end of the file) and the file can be made append-only (chattr +a).
Verifying checks every head recorded there, so events deleted after their head was written are
found even when later events were appended on top.

Each head line names its chain: a name fixed when the chain began and kept in the database apart
from the events (AuditChain), so rewriting or emptying the events does not rename the chain. A
head file that served another database (a reset local database, a restore, a test database) then
holds another chain's heads, which are told apart and never taken for deleted events of this one.
Lines written before chains were named (three fields) count as this chain's.
"""

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from onboarding.models import AuditChain, AuditEvent, LifecycleRun

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


def audit_chain_id() -> str:
    """The chain's name, kept in the database apart from its events; named now if it has none
    (a test database emptied between tests)."""
    name = AuditChain.objects.order_by("id").values_list("name", flat=True).first()
    if name is None:
        AuditChain.objects.create()
        # Two processes may name it at once: the first name made is the one.
        name = AuditChain.objects.order_by("id").values_list("name", flat=True).first()
    return name


def _head_write(event: AuditEvent) -> None:
    path = settings.AUDIT_HEAD_FILE
    if not path:
        return
    try:
        chain = audit_chain_id()
        line = f"{chain} {event.pk} {event.position} {event.hash}\n".encode()
    except DatabaseError as error:
        logger.error(
            "AUDIT HEAD NOT WRITTEN: event #%s: the chain is unreadable (%s)", event.pk, error
        )
        return
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


@dataclass(frozen=True)
class HeadFile:
    """What the head file says of this chain: event id -> (position, hash); how many lines
    name another chain; whether the file is there at all."""

    heads: dict[int, tuple[int, str]]
    other_chains: int = 0
    found: bool = False


def _heads_recorded(chain: str) -> HeadFile:
    """Every head of this chain written outside the database."""
    if not settings.AUDIT_HEAD_FILE:
        return HeadFile({})
    heads: dict[int, tuple[int, str]] = {}
    other_chains = 0
    try:
        with open(settings.AUDIT_HEAD_FILE) as lines:
            for line in lines:
                fields = line.split()
                if len(fields) == 4:
                    if fields[0] != chain:
                        other_chains += 1
                        continue
                    fields = fields[1:]
                # A line cut short by a crash is skipped; its event is covered by the next one.
                if len(fields) == 3 and fields[0].isdigit() and fields[1].isdigit():
                    event_id, position, event_hash = fields
                    if len(event_hash) == 64:
                        heads[int(event_id)] = (int(position), event_hash)
    except FileNotFoundError:
        return HeadFile({})
    return HeadFile(heads, other_chains, found=True)


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
    chain: str | None = None
    other_chains: int = 0
    head_file_found: bool = False

    def __iter__(self) -> Iterator[int | AuditBreak | None]:
        # Callers unpack `checked, broken = audit_verify()`.
        return iter((self.checked, self.broken))


def audit_verify(*, chunk_size: int = 5000) -> AuditCheck:
    """Walk the chain oldest first, checking each link and each head recorded outside the
    database; return how many events were checked and the first break."""
    chain = audit_chain_id()
    head_file = _heads_recorded(chain)
    heads = head_file.heads
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
        unanchored=checked - anchored,
        chain=chain,
        other_chains=head_file.other_chains,
        head_file_found=head_file.found,
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


def audit_restore_accept(*, reason: str, actor: str) -> tuple[str, AuditEvent]:
    """After the database was restored from a backup, the head file records events the restore
    took away. Keep that file aside as evidence, and start this chain's heads anew with an audit
    event saying who did it, why, and what the old file's newest head was. Returns where the old
    file was kept and the event."""
    path = Path(settings.AUDIT_HEAD_FILE)
    old = _heads_recorded(audit_chain_id())
    kept = path.with_name(f"{path.name}.before-restore-{timezone.now():%Y%m%dT%H%M%SZ}")
    if path.exists():
        path.rename(kept)
    newest = max(old.heads, default=None)
    event = audit_record(
        actor=actor, action="audit.restore", target=str(path), outcome="succeeded",
        details={
            "reason": reason, "old_head_file": str(kept) if old.found else "",
            "old_newest_head": newest, "newest_event_before": _newest_event_id(),
        },
    )  # fmt: skip
    return str(kept), event


def _newest_event_id() -> int | None:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
