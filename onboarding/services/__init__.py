"""What people and scripts ask for, one module a concern. Each request is checked first, so bad
input changes nothing; each takes the objects its caller already holds. Callers import from here."""

from onboarding.services.bulk import (
    BulkOnboarded,
    BulkRow,
    bulk_row_person,
    csv_rows_read,
    csv_text_decode,
    csv_text_normalise,
    people_onboard_csv,
    people_onboard_csv_check,
    people_onboard_csv_preview,
)
from onboarding.services.dates import END_DATE_REACHED, DueOutcome, lifecycle_due, person_dates_set
from onboarding.services.joiners import (
    person_onboard,
    person_onboard_check,
    person_onboard_preview,
    team_fits_check,
)
from onboarding.services.leavers import (
    person_offboard,
    person_offboard_check,
    person_offboard_preview,
)
from onboarding.services.movers import (
    person_move,
    person_move_check,
    person_move_preview,
    person_reinstate,
    person_reinstate_check,
    person_reinstate_preview,
)
from onboarding.services.orphans import orphan_adopt, orphan_get, orphan_remove
from onboarding.services.people import (
    person_credentials_reset,
    person_credentials_reset_check,
    person_credentials_reset_preview,
    person_update,
    person_update_check,
)
from onboarding.services.reconcile import (
    RepairOutcome,
    findings_repair,
    person_repair,
    person_repair_preview,
    reconcile,
    reconcile_request,
    team_members_apply,
    team_members_apply_preview,
)
from onboarding.services.runs import (
    SYSTEM_ACTOR,
    requests_charge,
    run_requeue,
    run_resume,
    run_resume_preview,
    run_rollback,
    run_rollback_preview,
)
from onboarding.services.teams import MAX_TEAM_POLICIES, team_problems, team_set

__all__ = [
    "END_DATE_REACHED",
    "MAX_TEAM_POLICIES",
    "SYSTEM_ACTOR",
    "BulkOnboarded",
    "BulkRow",
    "DueOutcome",
    "RepairOutcome",
    "bulk_row_person",
    "csv_rows_read",
    "csv_text_decode",
    "csv_text_normalise",
    "findings_repair",
    "lifecycle_due",
    "orphan_adopt",
    "orphan_get",
    "orphan_remove",
    "people_onboard_csv",
    "people_onboard_csv_check",
    "people_onboard_csv_preview",
    "person_credentials_reset",
    "person_credentials_reset_check",
    "person_credentials_reset_preview",
    "person_dates_set",
    "person_move",
    "person_move_check",
    "person_move_preview",
    "person_offboard",
    "person_offboard_check",
    "person_offboard_preview",
    "person_onboard",
    "person_onboard_check",
    "person_onboard_preview",
    "person_reinstate",
    "person_reinstate_check",
    "person_reinstate_preview",
    "person_repair",
    "person_repair_preview",
    "person_update",
    "person_update_check",
    "reconcile",
    "reconcile_request",
    "requests_charge",
    "run_requeue",
    "run_resume",
    "run_resume_preview",
    "run_rollback",
    "run_rollback_preview",
    "team_fits_check",
    "team_members_apply",
    "team_members_apply_preview",
    "team_problems",
    "team_set",
]
