"""The audit log as a person reads it: found by part of an action's name, a run's steps under
the run, details as labelled fields, workers named as such, team changes as what changed, and
the same events exported as CSV or JSON."""

from __future__ import annotations

import html
import json

import pytest

from onboarding.audit import audit_record
from tests.factories import make_person, make_run
from tests.web.conftest import unique

pytestmark = [pytest.mark.django_db, pytest.mark.stack]

WORKER = "celery@vm:0f8e2a4c-6b1d-4c3e-9a7f-5d2b8c1e4f60"


def test_the_action_filter_takes_part_of_a_name_and_says_when_nothing_matches(as_admin):
    audit_record(actor="lead-a", action="offboard.request", target="u-leaves", outcome="requested")
    audit_record(actor="lead-a", action="onboard.request", target="u-joins", outcome="requested")

    found = as_admin.get("/audit/", {"action": "offboard"}).content.decode()
    nothing = as_admin.get("/audit/", {"action": "no-such-action"}).content.decode()

    assert "u-leaves" in found
    assert "u-joins" not in found
    assert 'list="audit-actions"' in found  # the known actions are offered as one types
    assert "No events match these filters." in nothing
    assert "Nothing has happened yet." not in nothing


def test_a_runs_steps_are_under_the_run_and_a_worker_is_named_as_such(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    run = make_run(person, state="succeeded")
    audit_record(actor="lead-a", action="onboard.request", target=person.username,
                 outcome="requested", details={"run": run.pk}, run=run)  # fmt: skip
    for step in ("freeipa_user", "otp_token"):
        audit_record(actor=WORKER, action="step.do", target=person.username,
                     outcome="succeeded", details={"run": run.pk, "step": step, "attempt": 1},
                     run=run)  # fmt: skip
    audit_record(actor=WORKER, action="onboard.run", target=person.username,
                 outcome="succeeded", details={"run": run.pk}, run=run)  # fmt: skip

    page = as_admin.get("/audit/").content.decode()
    steps_only = as_admin.get("/audit/", {"action": "step."}).content.decode()

    assert "2 step events of this run" in page
    assert page.count('<td data-label="What">step.do</td>') == 0
    assert steps_only.count('<td data-label="What">step.do</td>') == 2
    assert 'worker <details class="technical"><summary>Technical details</summary>celery@vm' in (
        page
    )
    assert "0f8e2a4c" not in page
    assert " UTC" in page  # times say their zone


def test_details_are_labelled_fields_and_a_team_change_shows_what_changed(as_admin):
    team = unique("team-")
    settings = {
        "group": team,
        "leads": ["ann"],
        "leads_removed": [],
        "policy_arns": ["arn:aws:iam::aws:policy/A"],
        "jupyterhub_group": "hub",
    }
    audit_record(actor="admin", action="team.create", target=team, outcome="succeeded",
                 details=settings)  # fmt: skip
    audit_record(actor="admin", action="team.change", target=team, outcome="succeeded",
                 details={**settings, "policy_arns": ["arn:aws:iam::aws:policy/B"]})  # fmt: skip

    page = html.unescape(as_admin.get("/audit/", {"action": "team.change"}).content.decode())

    assert (
        "<dt>IAM policies</dt><dd>arn:aws:iam::aws:policy/A → arn:aws:iam::aws:policy/B</dd>"
        in (page)
    )
    assert "<dt>FreeIPA group</dt>" not in page  # unchanged: not repeated
    assert "['" not in page  # no Python reprs


def test_a_change_of_a_systems_team_setting_shows_before_and_after(as_admin):
    team = unique("team-")
    settings = {"group": team, "leads": [], "leads_removed": [], "policy_arns": []}
    before, after = {"jupyterhub": {"group": "hub-a"}}, {"jupyterhub": {"group": "hub-b"}}
    audit_record(actor="admin", action="team.create", target=team, outcome="succeeded",
                 details={**settings, "system_settings": before})  # fmt: skip
    audit_record(actor="admin", action="team.change", target=team, outcome="succeeded",
                 details={**settings, "system_settings": after})  # fmt: skip

    page = html.unescape(as_admin.get("/audit/", {"action": "team.change"}).content.decode())

    shown = "jupyterhub: group: hub-a → jupyterhub: group: hub-b"
    assert f"<dt>Systems' team settings</dt><dd>{shown}</dd>" in page
    assert "<dt>FreeIPA group</dt>" not in page  # unchanged: not repeated


def test_the_json_export_holds_the_same_events_as_the_csv(as_admin):
    audit_record(actor="lead-a", action="onboard.request", target="u-one", outcome="requested",
                 details={"why": "new starter"})  # fmt: skip
    audit_record(actor="lead-b", action="onboard.request", target="u-two", outcome="requested")

    response = as_admin.get("/audit/export.json", {"actor": "lead-a"})
    rows = json.loads(b"".join(response.streaming_content))

    assert response["Content-Type"] == "application/json"
    assert [(row["target"], row["details"]) for row in rows] == [("u-one", {"why": "new starter"})]


def technical(value: str) -> str:
    return f'<details class="technical"><summary>Technical details</summary>{value}</details>'


def test_ids_and_raw_values_are_behind_technical_details_and_said_in_words(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    run = make_run(person, state="succeeded")
    team = personas.team_b
    audit_record(actor="lead-a", action="move.request", target=person.username,
                 outcome="requested", run=run, details={
                     "run": run.pk, "from_team": personas.team_a.name, "to_team": team.name,
                     "to_team_id": team.pk})  # fmt: skip
    audit_record(actor="lead-a", action="move.request", target=person.username,
                 outcome="requested", details={"to_team_id": team.pk})  # fmt: skip
    audit_record(actor="lead-a", action="credentials.reveal", target=person.username,
                 outcome="succeeded", run=run, details={
                     "run": run.pk, "kinds": ["otp_enrolment", "temporary_password"]})  # fmt: skip
    audit_record(actor=WORKER, action="onboard.run", target=person.username, outcome="succeeded",
                 run=run, details={"run": run.pk, "round_trips": {"freeipa": 3}})  # fmt: skip

    page = html.unescape(as_admin.get("/audit/", {"person": person.username}).content.decode())

    assert f"<dt>To team</dt><dd>{team.name} {technical(f'to team id {team.pk}')}</dd>" in page
    assert f"<dt>To team</dt><dd>{team.name} {technical(f'team id {team.pk}')}</dd>" in page
    assert "To team id" not in page
    assert (
        "<dt>Credentials</dt><dd>a temporary password and an OTP enrolment "
        f"{technical('otp_enrolment, temporary_password')}</dd>" in page
    )
    assert "<dt>Calls to each system</dt><dd>FreeIPA: 3 " in page
    assert "Round trips" not in page
    assert "Kinds" not in page


def test_a_team_deleted_since_is_said_so_not_shown_as_a_bare_id(as_admin):
    target = unique("u-")
    audit_record(actor="admin", action="move.request", target=target, outcome="requested",
                 details={"to_team_id": 987654321})  # fmt: skip

    page = html.unescape(as_admin.get("/audit/", {"person": target}).content.decode())

    assert f"<dt>To team</dt><dd>a team since deleted {technical('team id 987654321')}</dd>" in (
        page
    )
