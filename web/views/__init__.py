"""Web pages, one module a part of the UI: each checks who may see it, reads through selectors and
acts through services. The URLs import the views from here."""

from web.views.actions import (
    person_credentials_reset,
    person_move,
    person_offboard,
    person_onboard,
    person_reinstate,
)
from web.views.audit import audit_export, audit_export_json, audit_log, audit_verify_page
from web.views.bulk import (
    people_onboard_csv,
    people_onboard_csv_annotated,
    people_onboard_csv_template,
    runs_bulk,
    runs_bulk_credentials,
)
from web.views.enrolment import enrol
from web.views.health import healthz
from web.views.people import (
    dashboard,
    people_list,
    person_detail,
    person_systems,
    person_update,
    preflight_panel,
)
from web.views.reconcile import (
    orphan_adopt,
    orphan_remove,
    person_repair,
    reconcile_check,
    reconcile_findings,
)
from web.views.runs import (
    run_credentials,
    run_detail,
    run_live,
    run_requeue,
    run_resume,
    run_rollback,
)
from web.views.teams import team_create, team_edit, team_list, team_members_apply

__all__ = [
    "audit_export",
    "audit_export_json",
    "audit_log",
    "audit_verify_page",
    "dashboard",
    "enrol",
    "healthz",
    "orphan_adopt",
    "orphan_remove",
    "people_list",
    "people_onboard_csv",
    "people_onboard_csv_annotated",
    "people_onboard_csv_template",
    "person_credentials_reset",
    "person_detail",
    "person_move",
    "person_offboard",
    "person_onboard",
    "person_reinstate",
    "person_repair",
    "person_systems",
    "person_update",
    "preflight_panel",
    "reconcile_check",
    "reconcile_findings",
    "run_credentials",
    "run_detail",
    "run_live",
    "run_requeue",
    "run_resume",
    "run_rollback",
    "runs_bulk",
    "runs_bulk_credentials",
    "team_create",
    "team_edit",
    "team_list",
    "team_members_apply",
]
