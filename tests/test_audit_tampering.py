"""The database owner cannot rewrite the audit trail unnoticed: deleting the newest events, emptying
the table or recomputing every hash is reported by verify_audit, thanks to the head recorded outside
the database and the key the database never sees."""

import hashlib

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from onboarding.audit import audit_record, audit_verify
from onboarding.models import AuditEvent

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="attacks of a PostgreSQL owner"),
    pytest.mark.django_db(transaction=True),
]

APPEND_ONLY_TRIGGER = "onboarding_auditevent_append_only"


@pytest.fixture(autouse=True)
def head_file(settings, tmp_path):
    settings.AUDIT_HEAD_FILE = str(tmp_path / "audit-head.log")


def record(n: int) -> list[AuditEvent]:
    return [
        audit_record(
            actor="admin", action="person.offboard", target=f"user{i}", outcome="requested"
        )
        for i in range(n)
    ]


def as_owner(*statements: tuple[str, list]) -> None:
    """What the owner can do: switch the append-only trigger off, change history, switch it on."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE onboarding_auditevent DISABLE TRIGGER {APPEND_ONLY_TRIGGER}")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE onboarding_auditevent ENABLE TRIGGER {APPEND_ONLY_TRIGGER}")


REHASH = "UPDATE onboarding_auditevent SET previous_hash = %s, hash = %s WHERE id = %s"
REHASH_AS_PLAIN = (
    "UPDATE onboarding_auditevent SET previous_hash = %s, hash = %s, chain_version = 1 "
    "WHERE id = %s"
)


def rehash_every_event(link, *, downgrade: bool = False) -> None:
    """Recompute the whole chain with ``link`` and write it back, as an owner could."""
    previous = AuditEvent.GENESIS_HASH
    updates = []
    for event in AuditEvent.objects.order_by("id"):
        event.previous_hash = previous
        if downgrade:
            event.chain_version = AuditEvent.ChainVersion.PLAIN
        previous = link(event)
        sql = REHASH_AS_PLAIN if downgrade else REHASH
        updates.append((sql, [event.previous_hash, previous, event.id]))
    as_owner(*updates)


def plain_sha256(event: AuditEvent) -> str:
    return hashlib.sha256((event.previous_hash + event.body_hash()).encode()).hexdigest()


def test_deleting_the_newest_events_is_reported():
    events = record(5)
    as_owner(("DELETE FROM onboarding_auditevent WHERE id >= %s", [events[3].id]))

    checked, broken = audit_verify()

    assert checked == 3
    assert broken.event_id == events[3].id
    assert "missing" in broken.reason
    with pytest.raises(CommandError, match=rf"broken at event #{events[3].id}: .*missing"):
        call_command("audit_verify")


def test_deleted_events_stay_found_after_later_appends():
    events = record(4)
    as_owner(("DELETE FROM onboarding_auditevent WHERE id >= %s", [events[2].id]))
    record(5)

    checked, broken = audit_verify()

    assert checked == 2
    assert broken.event_id == events[2].id
    assert "missing" in broken.reason


def test_emptying_the_trail_is_reported():
    events = record(3)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL accessadmin.allow_audit_truncate = on")  # the owner may, too
        cursor.execute("TRUNCATE onboarding_auditevent")

    checked, broken = audit_verify()

    assert checked == 0
    assert broken.event_id == events[0].id
    assert "emptied" in broken.reason
    with pytest.raises(CommandError, match="emptied"):
        call_command("audit_verify")


def test_rehashing_every_event_with_plain_sha256_is_reported():
    events = record(3)
    rehash_every_event(plain_sha256)

    checked, broken = audit_verify()

    assert checked == 0
    assert broken.event_id == events[0].id


def test_rehashing_every_event_as_unkeyed_old_events_is_reported():
    events = record(3)
    rehash_every_event(plain_sha256, downgrade=True)

    _, broken = audit_verify()

    assert broken.event_id == events[0].id
    assert "head recorded outside the database" in broken.reason


def test_rehashing_every_event_with_the_right_formula_but_a_wrong_key_is_reported(settings):
    events = record(3)
    right_key = settings.AUDIT_KEY
    settings.AUDIT_KEY = "a-key-the-attacker-made-up-" * 2

    def wrong_key(event: AuditEvent) -> str:
        return event.chain_hash()

    rehash_every_event(wrong_key)
    settings.AUDIT_KEY = right_key

    checked, broken = audit_verify()

    assert checked == 0
    assert broken.event_id == events[0].id
    assert "key" in broken.reason
