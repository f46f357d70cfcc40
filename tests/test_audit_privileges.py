"""The database itself keeps audit events append-only: TRUNCATE is refused outside a test database,
and the role the app runs as may only read and insert them."""

import importlib
import uuid

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from onboarding.audit import audit_record, audit_verify
from onboarding.models import AuditEvent

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's privileges"),
    pytest.mark.django_db,
]


def test_truncate_is_refused_on_a_connection_without_the_test_setting():
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"] or None,
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        options="-c lock_timeout=10s",
        autocommit=True,
    ) as plain:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            plain.execute("TRUNCATE onboarding_auditevent")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            plain.execute("TRUNCATE onboarding_lifecyclerun CASCADE")


@pytest.fixture
def app_role(settings) -> str:
    """A role granted what a deployer gives the app elsewhere, then restricted by the migration.
    Created inside the test's transaction, so it is gone when the test ends."""
    role = f"aa_audit_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        cursor.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    settings.DATABASE_APP_ROLE = role
    privileges = importlib.import_module("onboarding.migrations.0008_audit_privileges")
    with connection.schema_editor(atomic=False) as editor:
        privileges.audit_privileges_restrict(None, editor)
    return role


def refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(error.value)


def test_the_app_role_may_read_and_append_audit_events_but_not_change_them(app_role):
    before = audit_record(actor="admin", action="login", target="admin", outcome="succeeded")
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app_role}"')

    appended = audit_record(
        actor="lead", action="person.offboard", target="ada", outcome="requested"
    )

    assert appended.previous_hash == before.hash
    assert "permission denied" in refused("UPDATE onboarding_auditevent SET outcome = 'failed'")
    assert "permission denied" in refused("DELETE FROM onboarding_auditevent")
    assert "permission denied" in refused("TRUNCATE onboarding_auditevent")
    assert "must be owner" in refused(
        "ALTER TABLE onboarding_auditevent DISABLE TRIGGER onboarding_auditevent_append_only"
    )
    assert tuple(audit_verify()) == (2, None)
    assert AuditEvent.objects.filter(outcome="failed").count() == 0
