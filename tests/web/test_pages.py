"""The pages as a user sees them: forms that keep input and explain, and the security headers."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.models import LifecycleRun, Person, Team
from onboarding.runner import run_steps_create
from onboarding.systems import clients
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.conftest import REPO_ROOT
from tests.factories import make_person, make_run
from tests.test_settings import GOOD_PRODUCTION
from tests.web.conftest import LOCAL_BACKEND, Personas, unique
from web.previews import preview_token

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


def onboard_fields(personas: Personas, **changes) -> dict:
    return {
        "username": unique("new"), "first_name": "New", "last_name": "Person",
        "email": "new@example.test", "team": personas.team_a.name, **changes,
    }  # fmt: skip


def test_onboard_form_refuses_a_name_freeipa_would_refuse_and_keeps_the_input(as_lead_a, personas):
    fields = onboard_fields(personas, username="-bad name", first_name="Kept", action="preview")

    response = as_lead_a.post("/onboard/", fields, follow=True)

    page = response.content.decode()
    assert "may only include letters, numbers" in page
    assert 'value="Kept"' in page
    assert not Person.objects.filter(first_name="Kept").exists()


def test_onboard_form_refuses_a_name_taken_in_freeipa(as_lead_a, personas, stack_configured):
    taken = unique("taken")
    clients().freeipa.user_create(
        username=taken, first_name="Taken", last_name="Already", email="t@example.test",
        password="Taken-password-1",
    )  # fmt: skip

    fields = onboard_fields(personas, username=taken, action="onboard")

    response = as_lead_a.post("/onboard/", fields)

    assert f"The username {taken!r} is taken in FreeIPA" in html.unescape(response.content.decode())
    assert not LifecycleRun.objects.exists()


def test_onboard_preview_lists_what_would_be_created_and_queues_nothing(as_lead_a, personas):
    response = as_lead_a.post("/onboard/", onboard_fields(personas, action="preview"), follow=True)

    page = response.content.decode()
    assert "What onboarding will create" in page
    for step in ("freeipa_user", "otp_token", "efs_access_point", "iam_role", "jupyterhub_access"):
        assert f'data-step="{step}"' in page
    assert 'value="onboard"' in page
    assert not LifecycleRun.objects.exists()


def test_a_preview_is_the_answer_to_a_get_so_back_never_sends_the_form_again(as_lead_a, personas):
    """Post/redirect/get: the preview's POST is redirected to a GET that shows it; loading
    that GET again (Back, reload) shows the same preview and sends nothing."""
    fields = onboard_fields(personas, action="preview")
    asked = as_lead_a.post("/onboard/", fields)

    assert asked.status_code == 302
    shown_at = asked["Location"]
    assert shown_at.startswith("/onboard/?preview=")
    first = as_lead_a.get(shown_at).content.decode()
    again = as_lead_a.get(shown_at).content.decode()
    for page in (first, again):
        assert "What onboarding will create" in page and fields["username"] in page
    token = re.search(r'name="preview_token" value="([^"]+)"', again)[1]
    done = as_lead_a.post("/onboard/", {**fields, "action": "onboard", "preview_token": token})
    assert done.status_code == 302 and done["Location"].startswith("/runs/")
    # A preview address of another session, or a stale one, is a blank form.
    stale = as_lead_a.get("/onboard/?preview=x").content.decode()
    assert "What onboarding will create" not in stale


def test_onboard_form_with_a_later_start_date_records_them_as_waiting(as_lead_a, personas):
    fields = onboard_fields(personas, start_date="2999-01-04", end_date="2999-06-30")
    preview = as_lead_a.post("/onboard/", {**fields, "action": "preview"}, follow=True)
    token = re.search(r'name="preview_token" value="([^"]+)"', preview.content.decode())[1]

    response = as_lead_a.post(
        "/onboard/", {**fields, "action": "onboard", "preview_token": token}, follow=True
    )

    page = response.content.decode()
    assert "waits for their start date, 2999-01-04" in page
    assert 'id="waits-for-start"' in page
    person = Person.objects.get(username=fields["username"])
    assert (person.status, person.waits_for_start) == ("new", True)
    assert not LifecycleRun.objects.exists()


def test_dashboard_lists_who_leaves_within_two_weeks(as_lead_a, personas):
    soon = make_person(
        unique("soon"), team=personas.team_a, status="active",
        end_date=timezone.localdate() + timedelta(days=3),
    )  # fmt: skip

    page = as_lead_a.get("/").content.decode()

    assert 'id="leaving-soon"' in page
    assert soon.username in page


def test_onboard_preview_names_the_real_path_groups_policies_and_hub_group(as_lead_a, personas):
    team = personas.team_a
    fields = onboard_fields(personas, action="preview")

    page = html.unescape(as_lead_a.post("/onboard/", fields, follow=True).content.decode())

    username = fields["username"]
    assert f"EFS access point /data/{username}" in page
    assert f"to the FreeIPA group(s) {team.freeipa_group}" in page
    assert f"IAM role accessadmin-{username}" in page
    assert "policies arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess" in page
    assert f"in the hub group {team_hub_group(team)}" in page
    assert "<username>" not in page
    assert "team's" not in page


def test_a_move_run_page_names_the_team_left_and_the_team_joined(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="moving")
    run = make_run(person, kind="move", state="running", params={
        "from_team": personas.team_a.name, "to_team": personas.team_b.name,
        "to_team_id": personas.team_b.pk})  # fmt: skip
    run_steps_create(run)

    page = html.unescape(as_admin.get(f"/runs/{run.pk}/").content.decode())

    assert f"from team {personas.team_a.name} → {personas.team_b.name}" in page
    assert (
        f"Move {person.username} from the hub group {team_hub_group(personas.team_a)} to "
        f"{team_hub_group(personas.team_b)}"
    ) in page


def test_the_onboard_form_asks_for_a_team_and_says_to_create_one_when_there_is_none(
    as_admin, personas
):
    page = as_admin.get("/onboard/").content.decode()
    assert '<option value="" selected>Choose a team</option>' in page

    Team.objects.all().delete()
    empty = as_admin.get("/onboard/").content.decode()
    assert "Create a team first" in empty
    assert 'href="/teams/new/"' in empty


def test_the_people_count_says_person_for_one(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")

    page = as_admin.get("/people/", {"q": person.username}).content.decode()

    assert "1 person." in page


def test_offboarding_needs_a_reason_and_the_typed_username(as_lead_a, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    url = f"/people/{person.username}/offboard/"

    no_reason = as_lead_a.post(url, {"reason": "", "action": "offboard"})
    shown = {"person": person.username, "reason": "contract ended"}
    wrong_name = as_lead_a.post(
        url,
        {"reason": "contract ended", "confirm_username": "someone", "action": "offboard",
         "preview_token": preview_token("offboard", shown)},
    )  # fmt: skip

    assert "This field is required" in no_reason.content.decode()
    page = wrong_name.content.decode()
    assert f"Type {person.username} exactly to confirm" in page
    assert "contract ended" in page
    assert "What offboarding will remove" in page
    assert not LifecycleRun.objects.exists()


def test_team_edit_preview_says_what_changes_for_members(as_admin, personas):
    team = personas.team_a
    make_person(unique("p"), team=team, status="active")
    response = as_admin.post(
        f"/teams/{team.name}/",
        {
            "freeipa_group": team.freeipa_group,
            "leads": "",
            "iam_policy_arns": "arn:aws:iam::aws:policy/AWSBatchFullAccess",
            "jupyterhub.group": team_hub_group(team),
            "action": "preview",
        },
    )

    page = response.content.decode()
    assert "What saving would change" in page
    assert "added: arn:aws:iam::aws:policy/AWSBatchFullAccess" in page
    assert "1 current member" in page
    team.refresh_from_db()
    assert team.iam_policy_arns == ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]


def test_audit_log_filters_and_exports_the_same_events_as_csv(as_admin):
    audit_record(actor="lead-a", action="onboard.request", target="u-one", outcome="requested")
    audit_record(actor="lead-b", action="onboard.request", target="u-two", outcome="requested")

    page = as_admin.get("/audit/", {"actor": "lead-a"}).content.decode()
    exported = as_admin.get("/audit/export.csv", {"actor": "lead-a"})
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))

    assert "u-one" in page
    assert "u-two" not in page
    assert [row["target"] for row in rows] == ["u-one"]


def test_audit_verify_reports_an_intact_chain(as_admin):
    audit_record(actor="lead-a", action="onboard.request", target="u-one", outcome="requested")

    response = as_admin.post("/audit/verify/")

    assert re.search(r"Intact: all \d+ events match", response.content.decode())


def test_pages_send_a_csp_without_inline_scripts_and_refuse_framing(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    for url in ("/", "/people/", f"/people/{person.username}/", "/onboard/", "/audit/"):
        response = as_admin.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.content.decode()), url
        assert " style=" not in response.content.decode(), url


def test_deploy_check_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env={**os.environ, **GOOD_PRODUCTION, "SECRET_KEY": "k-" + "9" * 62 + "xYz!@#$%^&*"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_make_cookies_secure_and_send_hsts():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **GOOD_PRODUCTION, "DJANGO_SETTINGS_MODULE": "accessadmin.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.split() == ["True", "True", "True"], result.stderr


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(personas):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.admin, backend=LOCAL_BACKEND)
    person = make_person(unique("p"), team=personas.team_a, status="active")

    response = browser.post(
        f"/people/{person.username}/offboard/",
        {"reason": "forged", "confirm_username": person.username, "action": "offboard"},
    )

    assert response.status_code == 403
    assert not LifecycleRun.objects.exists()


def test_credentials_are_reset_only_for_active_people(as_lead_a, personas):
    active = make_person(unique("act"), team=personas.team_a, status="active")
    gone = make_person(unique("gone"), team=personas.team_a, status="offboarded")

    assert (
        "Reset password and OTP token"
        in as_lead_a.get(f"/people/{active.username}/").content.decode()
    )
    assert (
        "Reset password and OTP token"
        not in as_lead_a.get(f"/people/{gone.username}/").content.decode()
    )
    refused = as_lead_a.post(f"/people/{gone.username}/reset-credentials/", follow=True)

    assert "only an active person" in refused.content.decode()
    assert not LifecycleRun.objects.exists()
    queued = as_lead_a.post(f"/people/{active.username}/reset-credentials/")
    run = LifecycleRun.objects.get(person=active)
    assert (run.kind, queued["Location"]) == ("reset", f"/runs/{run.pk}/")
