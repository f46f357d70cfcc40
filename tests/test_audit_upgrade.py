"""Events written before the chain was keyed keep verifying: the keyed chain starts after them and
covers them, since its first link is the last plain event's hash."""

import json

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from onboarding.audit import audit_record, audit_verify
from onboarding.models import AuditEvent

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="0005's function is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]

BEFORE_THE_KEY = ("onboarding", "0006_run_due_at_and_retries")


def migrate_to(target: tuple[str, str] | None) -> None:
    executor = MigrationExecutor(connection)
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)


def append_as_before_the_key(n: int) -> None:
    """What the code of migration 0005 did: the database links with plain SHA-256."""
    for i in range(n):
        event = AuditEvent(
            at=timezone.now(), actor="admin", action="person.onboard", target=f"old{i}",
            outcome="requested", details={"n": i},
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM onboarding_audit_append("
                "%s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                [
                    event.at, event.actor, event.action, event.target, event.outcome,
                    json.dumps(event.details), None, event.body_hash(),
                ],
            )  # fmt: skip


@pytest.fixture
def trail_written_before_the_key():
    migrate_to(BEFORE_THE_KEY)
    try:
        append_as_before_the_key(3)
    finally:
        migrate_to(None)


def test_plain_events_keep_verifying_and_the_keyed_chain_follows_them(
    trail_written_before_the_key,
):
    keyed = [
        audit_record(actor="admin", action="person.offboard", target="old0", outcome="requested")
        for _ in range(2)
    ]

    plain = list(AuditEvent.objects.filter(chain_version=1).order_by("id"))
    assert [event.position for event in plain] == [None, None, None]
    assert keyed[0].previous_hash == plain[-1].hash
    assert [event.position for event in keyed] == [4, 5]
    assert tuple(audit_verify()) == (5, None)


def test_plain_events_rewritten_consistently_break_the_first_keyed_link(
    trail_written_before_the_key,
):
    first_keyed = audit_record(
        actor="admin", action="person.offboard", target="old0", outcome="requested"
    )
    previous = AuditEvent.GENESIS_HASH
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for event in AuditEvent.objects.filter(chain_version=1).order_by("id"):
            event.target, event.previous_hash = "someone-else", previous
            previous = event.chain_hash()
            cursor.execute(
                "UPDATE onboarding_auditevent SET target = %s, previous_hash = %s, hash = %s "
                "WHERE id = %s",
                [event.target, event.previous_hash, previous, event.id],
            )
        cursor.execute(
            "UPDATE onboarding_auditevent SET previous_hash = %s WHERE id = %s",
            [previous, first_keyed.id],
        )

    checked, broken = audit_verify()

    assert (checked, broken.event_id) == (3, first_keyed.id)
    assert "audit key" in broken.reason
