"""Audit events are append-only and chained: edits are refused, and tampering is found."""

import pytest
from django.db import DatabaseError, connection, transaction

from onboarding.audit import audit_record, audit_verify
from onboarding.errors import AuditIsAppendOnly
from onboarding.models import AuditEvent

pytestmark = pytest.mark.django_db


def record(n: int = 1) -> list[AuditEvent]:
    return [
        audit_record(actor="admin", action="person.onboard", target=f"user{i}", outcome="requested")
        for i in range(n)
    ]


def test_events_are_chained_to_the_one_before():
    first, second, third = record(3)
    assert first.previous_hash == AuditEvent.GENESIS_HASH
    assert second.previous_hash == first.hash
    assert third.previous_hash == second.hash
    assert [first.position, second.position, third.position] == [1, 2, 3]
    assert tuple(audit_verify()) == (3, None)


def test_saving_an_existing_event_is_refused():
    (event,) = record()
    event.outcome = "succeeded"
    with pytest.raises(AuditIsAppendOnly):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).outcome == "requested"


def test_deleting_an_event_is_refused():
    (event,) = record()
    with pytest.raises(AuditIsAppendOnly):
        event.delete()
    with pytest.raises(AuditIsAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(outcome="failed")
    assert AuditEvent.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE onboarding_auditevent SET outcome = 'failed'",
        "DELETE FROM onboarding_auditevent",
    ],
)
def test_database_refuses_raw_update_and_delete(sql):
    record(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.filter(outcome="requested").count() == 2


def test_verify_finds_the_first_edited_event():
    events = record(4)
    # A superuser can switch triggers off for their session and edit history directly.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE onboarding_auditevent SET target = 'intruder' WHERE id = %s", [events[1].id]
        )
    checked, broken = audit_verify()
    assert checked == 1
    assert broken.event_id == events[1].id
    assert "contents" in broken.reason


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the test database of SQLite is one shared memory"
)
@pytest.mark.django_db(transaction=True)
def test_writers_appending_at_once_keep_one_unbroken_chain(settings, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    settings.AUDIT_HEAD_FILE = str(tmp_path / "audit-head.log")

    def append(writer: int) -> None:
        try:
            for n in range(20):
                audit_record(
                    actor=f"worker-{writer}", action="step.do", target=f"user{n}",
                    outcome="succeeded",
                )  # fmt: skip
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(append, range(4)))
    result = audit_verify()
    assert tuple(result) == (80, None)
    assert (result.heads, result.unanchored) == (80, 0)
    hashes = list(AuditEvent.objects.values_list("previous_hash", flat=True))
    assert len(set(hashes)) == 80, "two events were chained to the same predecessor"


@pytest.mark.django_db
def test_the_audit_search_matches_part_of_an_action_in_any_case():
    from onboarding.audit import audit_record
    from onboarding.selectors import AuditFilter, audit_actions_recorded, audit_search

    for action in ("offboard.request", "offboard.run", "login", "reset.request"):
        audit_record(actor="admin", action=action, target="ada", outcome="succeeded")

    assert audit_actions_recorded() == ["login", "offboard.request", "offboard.run",
                                        "reset.request"]  # fmt: skip
    found = audit_search(AuditFilter(action_contains="OFFBOARD"))
    assert sorted(found.values_list("action", flat=True)) == ["offboard.request", "offboard.run"]
    assert sorted(audit_search(AuditFilter(action_contains=".request")).values_list(
        "action", flat=True)) == ["offboard.request", "reset.request"]  # fmt: skip
    assert not audit_search(AuditFilter(action_contains="nothing")).exists()
