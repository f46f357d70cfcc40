from django.urls import path

from web import metrics, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
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
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/live/", views.run_live, name="run_live"),
    path("runs/<int:run_id>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:run_id>/rollback/", views.run_rollback, name="run_rollback"),
    path("runs/<int:run_id>/requeue/", views.run_requeue, name="run_requeue"),
    path("runs/<int:run_id>/credentials/", views.run_credentials, name="run_credentials"),
    path("teams/", views.team_list, name="team_list"),
    path("teams/new/", views.team_create, name="team_create"),
    path("teams/<slug:name>/", views.team_edit, name="team_edit"),
    path("reconcile/", views.reconcile_findings, name="reconcile"),
    path("reconcile/repair/<str:username>/", views.person_repair, name="person_repair"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("audit/export.json", views.audit_export_json, name="audit_export_json"),
    path("audit/verify/", views.audit_verify_page, name="audit_verify"),
]
