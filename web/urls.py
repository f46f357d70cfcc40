from django.urls import path

from web import metrics, reviews, views
from web.views import tokens

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api-tokens/", tokens.tokens, name="api_tokens"),
    path("api-tokens/<str:name>/revoke/", tokens.token_revoke, name="api_token_revoke"),
    path("enrol/<str:token>/", views.enrol, name="enrol"),
    path("metrics", metrics.metrics, name="metrics"),
    path("", views.dashboard, name="dashboard"),
    path("preflight/", views.preflight_panel, name="preflight"),
    path("people/", views.people_list, name="people_list"),
    path("people/<str:username>/", views.person_detail, name="person_detail"),
    path("people/<str:username>/systems/", views.person_systems, name="person_systems"),
    path("people/<str:username>/details/", views.person_update, name="person_update"),
    path("people/<str:username>/offboard/", views.person_offboard, name="person_offboard"),
    path("people/<str:username>/move/", views.person_move, name="person_move"),
    path("people/<str:username>/reinstate/", views.person_reinstate, name="person_reinstate"),
    path(
        "people/<str:username>/reset-credentials/",
        views.person_credentials_reset,
        name="person_credentials_reset",
    ),
    path("onboard/", views.person_onboard, name="onboard"),
    path("onboard/csv/", views.people_onboard_csv, name="onboard_csv"),
    path(
        "onboard/csv/template.csv", views.people_onboard_csv_template, name="onboard_csv_template"
    ),
    path(
        "onboard/csv/problems.csv", views.people_onboard_csv_annotated, name="onboard_csv_annotated"
    ),
    path("runs/bulk/", views.runs_bulk, name="runs_bulk"),
    path("runs/bulk/credentials/", views.runs_bulk_credentials, name="runs_bulk_credentials"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/live/", views.run_live, name="run_live"),
    path("runs/<int:run_id>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:run_id>/rollback/", views.run_rollback, name="run_rollback"),
    path("runs/<int:run_id>/requeue/", views.run_requeue, name="run_requeue"),
    path("runs/<int:run_id>/credentials/", views.run_credentials, name="run_credentials"),
    path("teams/", views.team_list, name="team_list"),
    path("teams/new/", views.team_create, name="team_create"),
    path("teams/<slug:name>/", views.team_edit, name="team_edit"),
    path("teams/<slug:name>/apply/", views.team_members_apply, name="team_members_apply"),
    path("reconcile/", views.reconcile_findings, name="reconcile"),
    path("reconcile/check/", views.reconcile_check, name="reconcile_check"),
    path("reconcile/repair/<str:username>/", views.person_repair, name="person_repair"),
    path("reconcile/orphans/<int:finding_id>/remove/", views.orphan_remove, name="orphan_remove"),
    path("reconcile/orphans/<int:finding_id>/adopt/", views.orphan_adopt, name="orphan_adopt"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("audit/export.json", views.audit_export_json, name="audit_export_json"),
    path("audit/verify/", views.audit_verify_page, name="audit_verify"),
    path("reviews/", reviews.review_list, name="review_list"),
    path("reviews/new/", reviews.review_create, name="review_create"),
    path("reviews/<int:review_id>/", reviews.review_detail, name="review_detail"),
    path(
        "reviews/<int:review_id>/items/<int:item_id>/",
        reviews.review_decide,
        name="review_decide",
    ),
    path(
        "reviews/<int:review_id>/confirm-remaining/",
        reviews.review_confirm_all,
        name="review_confirm_all",
    ),
    path("reviews/<int:review_id>/close/", reviews.review_close, name="review_close"),
    path("reviews/<int:review_id>/export.csv", reviews.review_export, name="review_export"),
    path("reviews/<int:review_id>/print/", reviews.review_print, name="review_print"),
]
