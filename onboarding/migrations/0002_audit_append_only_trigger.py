"""On PostgreSQL the database itself refuses UPDATE and DELETE of audit events.

TRUNCATE is left alone: it needs table ownership, and the test database is emptied with it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION onboarding_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER onboarding_auditevent_append_only
    BEFORE UPDATE OR DELETE ON onboarding_auditevent
    FOR EACH ROW EXECUTE FUNCTION onboarding_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS onboarding_auditevent_append_only ON onboarding_auditevent;
DROP FUNCTION IF EXISTS onboarding_auditevent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
