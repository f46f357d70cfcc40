"""The audit chain's name, kept apart from its events: head lines name their chain (audit.py).
An existing database gets its name now; its older head lines, which name no chain, stay its own.
As for audit events (0008), the app role may read and add a name, never change or remove one."""

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import onboarding.models


def chain_name(apps, schema_editor):
    apps.get_model("onboarding", "AuditChain").objects.create()


def chain_privileges_restrict(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute("REVOKE UPDATE, DELETE, TRUNCATE ON onboarding_auditchain FROM PUBLIC")
    if not settings.DATABASE_APP_ROLE:
        return
    from psycopg import sql

    role = sql.Identifier(settings.DATABASE_APP_ROLE).as_string(connection.connection)
    schema_editor.execute(f"REVOKE ALL ON onboarding_auditchain FROM {role}", params=None)
    schema_editor.execute(f"GRANT SELECT, INSERT ON onboarding_auditchain TO {role}", params=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('onboarding_auditchain', 'id')")
        (sequence,) = cursor.fetchone()
    schema_editor.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {role}", params=None)


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0014_lifecyclerun_claim")]

    operations = [
        migrations.CreateModel(
            name="AuditChain",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        default=onboarding.models.audit_chain_name, max_length=16, unique=True
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(chain_name, migrations.RunPython.noop),
        migrations.RunPython(chain_privileges_restrict, migrations.RunPython.noop),
    ]
