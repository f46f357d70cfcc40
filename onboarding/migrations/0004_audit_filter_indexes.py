"""Indexes for the web audit log: each filter with the newest-first order, so a page is read
straight off one index however long the trail is. Created outside the model state, as plain SQL,
since they serve the query shape of one page rather than the model."""

from django.db import migrations

INDEXES = {
    "audit_at_id": "(at, id)",
    "audit_actor_at_id": "(actor, at, id)",
    "audit_target_at_id": "(target, at, id)",
    "audit_action_at_id": "(action, at, id)",
    "audit_outcome_at_id": "(outcome, at, id)",
}
# Actions and outcomes go together (step.do mostly succeeds, login mostly fails when it fails):
# without this the planner multiplies their frequencies and picks a scan of the whole trail.
STATISTICS = "audit_action_outcome"


def create(apps, schema_editor):
    for name, columns in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON onboarding_auditevent {columns}"
        )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (dependencies, mcv) "
            "ON action, outcome FROM onboarding_auditevent"
        )


def drop(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0003_credentials")]

    operations = [migrations.RunPython(create, drop)]
