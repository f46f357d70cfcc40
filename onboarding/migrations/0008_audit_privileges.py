"""On PostgreSQL the role the app runs as may only read and insert audit events.

- A statement-level trigger refuses TRUNCATE (row triggers never see one) unless the session has
  set accessadmin.allow_audit_truncate = on, which only the test settings do: pytest-django empties
  its database with TRUNCATE. The owner may set it too, or drop the trigger; what finds the owner
  out is the head kept outside the database (verify_audit), not this.
- UPDATE, DELETE and TRUNCATE on the table are revoked from PUBLIC.
- When DATABASE_APP_ROLE names the role web, worker and beat connect as, that role keeps SELECT and
  INSERT on the table (and USAGE on its id sequence) and nothing else there. What it needs elsewhere
  (the schema, the other tables) is the deployer's to grant: deploy/postgres/10-app-role.sql does it
  for docker-compose. To restrict a role named later, set DATABASE_APP_ROLE and run
  `manage.py migrate onboarding 0007` then `manage.py migrate` as the owner.
"""

from django.conf import settings
from django.db import migrations

TRUNCATE_TRIGGER_CREATE = """
CREATE OR REPLACE FUNCTION onboarding_auditevent_no_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('accessadmin.allow_audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (TRUNCATE refused)'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only a test database is emptied, by sessions that set '
                     'accessadmin.allow_audit_truncate = on.';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER onboarding_auditevent_no_truncate
    BEFORE TRUNCATE ON onboarding_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding_auditevent_no_truncate();
"""

TRUNCATE_TRIGGER_DROP = """
DROP TRIGGER IF EXISTS onboarding_auditevent_no_truncate ON onboarding_auditevent;
DROP FUNCTION IF EXISTS onboarding_auditevent_no_truncate();
"""


def truncate_trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRUNCATE_TRIGGER_CREATE, params=None)


def truncate_trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRUNCATE_TRIGGER_DROP, params=None)


def audit_privileges_restrict(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute("REVOKE UPDATE, DELETE, TRUNCATE ON onboarding_auditevent FROM PUBLIC")
    if not settings.DATABASE_APP_ROLE:
        return
    from psycopg import sql

    role = sql.Identifier(settings.DATABASE_APP_ROLE).as_string(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('onboarding_auditevent', 'id')")
        (sequence,) = cursor.fetchone()
    schema_editor.execute(f"REVOKE ALL ON onboarding_auditevent FROM {role}", params=None)
    schema_editor.execute(f"GRANT SELECT, INSERT ON onboarding_auditevent TO {role}", params=None)
    schema_editor.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {role}", params=None)


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0007_audit_keyed_chain")]

    operations = [
        migrations.RunPython(truncate_trigger_create, truncate_trigger_drop),
        # Taking privileges back is left to the deployer: the roles are theirs.
        migrations.RunPython(audit_privileges_restrict, migrations.RunPython.noop),
    ]
