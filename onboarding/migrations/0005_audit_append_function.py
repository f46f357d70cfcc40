"""On PostgreSQL an audit event is appended by one function call: lock the chain, read its tip,
link and insert, in one round trip instead of four. The link is sha256(previous hash + the event's
own hash), the same as AuditEvent.chain_hash() computes.

Each statement of a VOLATILE PL/pgSQL function takes a fresh snapshot, so the tip is read after the
lock is held and two writers never chain to the same event.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION onboarding_audit_append(
    p_at timestamptz, p_actor text, p_action text, p_target text, p_outcome text,
    p_details jsonb, p_run_id bigint, p_body_hash text
) RETURNS TABLE (id bigint, previous_hash text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tip text;
    link text;
    new_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1095123017);
    SELECT e.hash INTO tip FROM onboarding_auditevent e ORDER BY e.id DESC LIMIT 1;
    tip := coalesce(tip, repeat('0', 64));
    link := encode(sha256(convert_to(tip || p_body_hash, 'UTF8')), 'hex');
    INSERT INTO onboarding_auditevent
        (at, actor, action, target, outcome, details, run_id, previous_hash, hash)
    VALUES (p_at, p_actor, p_action, p_target, p_outcome, p_details, p_run_id, tip, link)
    RETURNING onboarding_auditevent.id INTO new_id;
    RETURN QUERY SELECT new_id, tip, link;
END;
$$;
"""

DROP = "DROP FUNCTION IF EXISTS onboarding_audit_append(timestamptz, text, text, text, text, jsonb, bigint, text);"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0004_audit_filter_indexes")]

    operations = [migrations.RunPython(create_function, drop_function)]
