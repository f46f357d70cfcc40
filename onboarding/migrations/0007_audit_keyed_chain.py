"""The audit chain becomes keyed: each new link is HMAC-SHA256 with the audit key (AUDIT_KEY, or one
derived from SECRET_KEY), computed in Python while the chain is locked. The key never reaches
PostgreSQL: psycopg binds parameters client-side, so a key passed to SQL would land in query text
and logs.

Where the keyed chain starts: the events already written keep chain_version 1 (plain SHA-256 of the
previous hash and the contents, as before) and no position; every event written from now on has
chain_version 2 and its position in the chain (1 for the first event). The first keyed event links
to the last plain one, so from then on the key covers the old events too: changing one of them
breaks that link. verify_audit refuses a plain event after a keyed one.

On PostgreSQL onboarding_audit_tip() replaces onboarding_audit_append() of 0005: it takes the
chain's advisory lock, held until the transaction ends, and returns the newest hash and the chain's
length; AuditEvent.save() then inserts the linked event in the same transaction. Each statement of a
VOLATILE PL/pgSQL function takes a fresh snapshot, so the tip is read after the lock is held and two
writers never chain to the same event (the unique position would refuse it anyway).

On SQLite adding a column rebuilds the table, which loses the indexes 0004 made in plain SQL: they
are made again at the end.
"""

import importlib

from django.db import migrations, models

TIP_CREATE = """
CREATE OR REPLACE FUNCTION onboarding_audit_tip(OUT tip_hash text, OUT tip_position bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tip_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1095123017);
    SELECT e.id, e.hash, e.position INTO tip_id, tip_hash, tip_position
        FROM onboarding_auditevent e ORDER BY e.id DESC LIMIT 1;
    -- The newest event is a plain one: the first keyed event is numbered after all of them.
    IF tip_id IS NOT NULL AND tip_position IS NULL THEN
        SELECT count(*) INTO tip_position FROM onboarding_auditevent;
    END IF;
END;
$$;
DROP FUNCTION IF EXISTS onboarding_audit_append(
    timestamptz, text, text, text, text, jsonb, bigint, text);
"""

TIP_DROP = "DROP FUNCTION IF EXISTS onboarding_audit_tip();"


def _earlier(name: str):
    return importlib.import_module(f"onboarding.migrations.{name}")


def tip_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TIP_CREATE, params=None)


def tip_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TIP_DROP, params=None)
        _earlier("0005_audit_append_function").create_function(apps, schema_editor)


def filter_indexes_restore(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _earlier("0004_audit_filter_indexes").create(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0006_run_due_at_and_retries")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain_version",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (1, "SHA-256, no key (events written before migration 0007)"),
                    (2, "HMAC-SHA256 with the audit key"),
                ],
                default=1,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="chain_version",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (1, "SHA-256, no key (events written before migration 0007)"),
                    (2, "HMAC-SHA256 with the audit key"),
                ],
                default=2,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="position",
            field=models.PositiveBigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.RunPython(tip_create, tip_drop),
        migrations.RunPython(filter_indexes_restore, migrations.RunPython.noop),
    ]
