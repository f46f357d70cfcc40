"""A leaver loses every access at once, and nobody keeps or gains access they should not have:
the web UI's side, against the local directory (389 + the FreeIPA stand-in)."""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.contrib.auth.models import User

from onboarding.audit import audit_record
from onboarding.models import AuditEvent, LifecycleRun, Person, Team
from onboarding.services import person_offboard
from onboarding.systems import clients
from tests.factories import make_person, make_run
from tests.lifecycle.observe import freeipa_client, freeipa_password_change_by_form
from tests.web.conftest import (
    LOCAL_BACKEND,
    PASSWORD,
    admin_group_add,
    directory_account_create,
    unique,
)
from tests.web.test_login import log_in, team_with_directory_manager
from web.previews import preview_token

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


@pytest.fixture
def rights_every_request(settings):
    settings.RIGHTS_CACHE_SECONDS = 0


def page(response) -> str:
    return html.unescape(response.content.decode())


# 1, 2: rights are the directory's, on every request -------------------------------------------


def test_an_admin_removed_from_the_admin_group_loses_admin_rights_on_the_next_request(
    client, ldap_configured, rights_every_request
):
    admin = directory_account_create(ldap_configured, "adm-")
    admin_group_add(admin.username)
    log_in(client, admin.username, admin.password)
    assert client.get("/teams/").status_code == 200

    clients().freeipa.group_remove_members(username=admin.username, groups=["platform-admins"])

    assert client.get("/teams/").status_code == 403
    assert client.get("/").status_code == 403
    assert not User.objects.get(username=admin.username).groups.exists()


def test_a_lead_no_longer_managing_the_team_group_loses_the_team_on_the_next_request(
    client, ldap_configured, rights_every_request
):
    lead = directory_account_create(ldap_configured, "lead-")
    team = team_with_directory_manager(lead.username)
    theirs = make_person(unique("p"), team=team, status="active")
    log_in(client, lead.username, lead.password)
    assert client.get(f"/people/{theirs.username}/").status_code == 200

    clients().freeipa.group_remove_manager(group=team.freeipa_group, username=lead.username)

    assert client.get(f"/people/{theirs.username}/").status_code == 403
    assert client.get("/").status_code == 403


def test_a_lead_whose_offboarding_is_asked_for_is_logged_out_at_once(
    client, ldap_configured, personas
):
    lead = directory_account_create(ldap_configured, "lead-")
    team = team_with_directory_manager(lead.username)
    team.leads.add(User.objects.get_or_create(username=lead.username)[0])
    log_in(client, lead.username, lead.password)
    assert client.get("/").status_code == 200
    leaver = make_person(lead.username, team=team, status="active")

    person_offboard(person=leaver, reason="left", actor="admin-user")

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not team.leads.filter(username=lead.username).exists()
    assert client.get("/onboard/").status_code == 302


def test_a_session_of_an_account_disabled_in_the_directory_is_refused(
    client, ldap_configured, rights_every_request
):
    admin = directory_account_create(ldap_configured, "adm-")
    admin_group_add(admin.username)
    log_in(client, admin.username, admin.password)
    clients().freeipa.user_disable(username=admin.username)

    response = client.get("/audit/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?ended=1"
    assert "Your session has ended" in page(client.get(response["Location"]))
    assert AuditEvent.objects.filter(
        action="access.denied", actor=admin.username, details__reason__icontains="disabled"
    ).exists()


def test_a_directory_that_does_not_answer_refuses_directory_sessions_not_the_break_glass_one(
    client, ldap_configured, settings, rights_every_request
):
    admin = directory_account_create(ldap_configured, "adm-")
    admin_group_add(admin.username)
    log_in(client, admin.username, admin.password)
    settings.AUTH_LDAP_SERVER_URI = "ldap://127.0.0.1:9"  # nothing listens there

    assert client.get("/").status_code == 503
    breakglass = User.objects.create_superuser("bg", password="A-local-password-1")
    client.force_login(breakglass, backend=LOCAL_BACKEND)
    assert client.get("/").status_code == 200


# 5, 6: leads act on ordinary members of their own teams ----------------------------------------


def test_a_lead_cannot_offboard_another_lead_or_a_platform_admin(as_lead_a, personas, client):
    other_lead = make_person(unique("l"), team=personas.team_a, status="active")
    personas.team_b.leads.add(User.objects.create(username=other_lead.username))
    admin = directory_account_create(freeipa_stack(), "adm-")
    admin_group_add(admin.username)
    admin_person = make_person(admin.username, team=personas.team_a, status="active")

    for target in (other_lead, admin_person):
        for suffix in ("offboard/", "move/", ""):
            response = as_lead_a.get(f"/people/{target.username}/{suffix}")
            if suffix:
                assert response.status_code == 403, target.username
            else:
                assert "Offboard</a>" not in page(response)
    posted = as_lead_a.post(
        f"/people/{admin_person.username}/offboard/",
        {"reason": "x", "confirm_username": admin_person.username, "action": "offboard"},
    )
    assert posted.status_code == 403
    assert not LifecycleRun.objects.exists()
    client.force_login(personas.admin, backend=LOCAL_BACKEND)
    assert client.get(f"/people/{admin_person.username}/offboard/").status_code == 200


def freeipa_stack() -> dict[str, str]:
    from django.conf import settings

    return {
        "FREEIPA_HOST": settings.FREEIPA_HOST, "FREEIPA_USERNAME": settings.FREEIPA_USERNAME,
        "FREEIPA_PASSWORD": settings.FREEIPA_PASSWORD, "FREEIPA_CA_FILE": settings.FREEIPA_CA_FILE,
    }  # fmt: skip


def test_a_lead_cannot_take_over_or_look_into_a_person_of_another_team(as_lead_a, personas):
    stray = make_person(unique("n"), team=personas.team_b, status="new")
    fields = {
        "username": stray.username, "first_name": "Take", "last_name": "Over",
        "email": "t@example.test", "team": personas.team_a.name,
    }  # fmt: skip

    for action in ("preview", "onboard"):
        response = as_lead_a.post(
            "/onboard/",
            {**fields, "action": action, "preview_token": preview_token("onboard", fields)},
        )
        text = page(response)
        assert f"The username {stray.username!r} is not available" in text
        assert personas.team_b.name not in text
    stray.refresh_from_db()
    assert (stray.team, stray.status) == (personas.team_b, "new")
    assert not LifecycleRun.objects.exists()


# 11: what you preview is what you get ------------------------------------------------------------


def test_onboarding_does_only_what_was_previewed(as_lead_a, personas):
    fields = {
        "username": unique("new"), "first_name": "New", "last_name": "Person",
        "email": "new@example.test", "team": personas.team_a.name,
    }  # fmt: skip
    preview = as_lead_a.post("/onboard/", {**fields, "action": "preview"}, follow=True)
    token = preview.context["preview_token"]
    edited = {**fields, "username": unique("other"), "email": "other@example.test"}

    for sent in ({**edited, "preview_token": token}, {**fields}, {**fields, "preview_token": "x"}):
        response = as_lead_a.post("/onboard/", {**sent, "action": "onboard"})
        assert response.status_code == 200
        assert "This is not what the preview showed" in page(response)
    assert not Person.objects.exists()

    done = as_lead_a.post("/onboard/", {**fields, "action": "onboard", "preview_token": token})
    assert done.status_code == 302
    assert Person.objects.get().username == fields["username"]


def test_a_move_does_only_what_was_previewed(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    third = Team.objects.create(name=unique("team-c-"), freeipa_group=unique("g"))
    url = f"/people/{person.username}/move/"
    token = as_admin.post(
        url, {"team": personas.team_b.name, "action": "preview"}, follow=True
    ).context["preview_token"]
    response = as_admin.post(url, {"team": third.name, "action": "move", "preview_token": token})
    assert "This is not what the preview showed" in page(response)
    assert not LifecycleRun.objects.exists()


def test_a_rollback_shows_what_it_undoes_and_needs_the_username_typed(as_admin, personas):
    failing = make_person(unique("f"), team=personas.team_a, status="onboarding")
    run = make_run(failing, state="failed", error="boom")
    url = f"/runs/{run.pk}/rollback/"
    shown = as_admin.get(url)
    assert shown.status_code == 200
    assert "What the rollback will undo" in page(shown)
    token = shown.context["preview_token"]

    for sent in ({}, {"preview_token": token, "confirm_username": "someone", "action": "rollback"}):
        assert as_admin.post(url, sent, follow=True).status_code == 200
        run.refresh_from_db()
        assert run.state == "failed"
    as_admin.post(
        url, {"preview_token": token, "confirm_username": failing.username, "action": "rollback"}
    )
    run.refresh_from_db()
    assert run.state == "rolling_back"


# 7, 8: logins ------------------------------------------------------------------------------------


def test_a_temporary_password_is_refused_until_it_is_changed(client, ldap_configured):
    username = unique("tmp")
    admin = freeipa_client(ldap_configured)
    admin.login(ldap_configured["FREEIPA_USERNAME"], ldap_configured["FREEIPA_PASSWORD"])
    admin.user_add(
        username, o_givenname="T", o_sn="P", o_cn="T P", o_userpassword="Temporary-password-1"
    )
    admin_group_add(username)

    refused = log_in(client, username, "Temporary-password-1")
    assert refused.status_code == 200
    assert "Your password has expired" in page(refused)
    assert client.get("/").status_code == 302

    freeipa_password_change_by_form(ldap_configured, username, "Temporary-password-1", PASSWORD)
    assert log_in(client, username, PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_lockout_counts_every_spelling_of_a_username_as_one(client, ldap_configured, settings):
    settings.AXES_FAILURE_LIMIT = 3
    lead = directory_account_create(ldap_configured, "lead-")
    team_with_directory_manager(lead.username)
    for spelling in (lead.username.upper(), lead.username.title(), f" {lead.username} "):
        log_in(client, spelling, "Wrong-password-1")

    locked = log_in(client, lead.username, lead.password)

    assert client.get("/").status_code == 302, "a right password after the limit got in"
    assert locked.status_code in (403, 429) or "locked" in page(locked).lower()


def test_behind_the_proxy_each_client_has_its_own_lockout(client, ldap_configured, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_COUNT = 1  # docker-compose's Caddy
    lead = directory_account_create(ldap_configured, "lead-")
    team_with_directory_manager(lead.username)
    attacker = {"HTTP_X_FORWARDED_FOR": "127.0.0.1, 192.0.2.66", "HTTP_X_FORWARDED_PROTO": "https"}
    for _ in range(3):
        client.post("/login/", {"username": lead.username, "password": "nope"}, **attacker)

    client.post(
        "/login/", {"username": lead.username, "password": lead.password},
        HTTP_X_FORWARDED_FOR="192.0.2.10", HTTP_X_FORWARDED_PROTO="https",
    )  # fmt: skip

    assert client.get("/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    failed = AuditEvent.objects.filter(action="login", outcome="failed", target=lead.username)
    assert {event.details["from"] for event in failed} == {"192.0.2.66"}


def test_one_password_sprayed_over_many_usernames_locks_out_that_address(
    client, ldap_configured, settings
):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    settings.TRUSTED_PROXY_COUNT = 1
    lead = directory_account_create(ldap_configured, "lead-")
    team_with_directory_manager(lead.username)
    sprayer = {"HTTP_X_FORWARDED_FOR": "192.0.2.66"}
    for number in range(4):
        client.post("/login/", {"username": f"guess{number}", "password": "Spring2026!"}, **sprayer)

    client.post("/login/", {"username": lead.username, "password": lead.password}, **sprayer)
    assert client.get("/").status_code == 302, "the address kept guessing after its limit"

    client.post(
        "/login/", {"username": lead.username, "password": lead.password},
        HTTP_X_FORWARDED_FOR="192.0.2.10",
    )  # fmt: skip
    assert client.get("/").status_code == 200


def test_one_username_guessed_from_many_addresses_is_locked_out(client, ldap_configured, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_USERNAME = 3
    settings.TRUSTED_PROXY_COUNT = 1
    lead = directory_account_create(ldap_configured, "lead-")
    team_with_directory_manager(lead.username)
    for last in (21, 22, 23):
        client.post(
            "/login/", {"username": lead.username, "password": "nope"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.{last}",
        )  # fmt: skip

    client.post(
        "/login/", {"username": lead.username, "password": lead.password},
        HTTP_X_FORWARDED_FOR="192.0.2.99",
    )  # fmt: skip

    assert client.get("/").status_code == 302, "a right password after the limit got in"


# 9, 13, 14: the audit export, limits, caching ---------------------------------------------------


def test_the_audit_export_cannot_carry_spreadsheet_formulas_and_writes_details_as_json(as_admin):
    audit_record(
        actor='=HYPERLINK("http://x","y")', action="login", target="@evil", outcome="failed",
        details={"from": "+1", "note": "-2"},
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(b"".join(as_admin.get("/audit/export.csv")).decode())))
    (row,) = [row for row in rows[1:] if row[3] == "login" and row[4] == "'@evil"]
    assert row[2].startswith("'=HYPERLINK")
    assert row[7] == '{"from": "+1", "note": "-2"}'
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=0001-01-01", "since=yesterday"])
def test_bad_audit_dates_are_answered_400(as_admin, query):
    assert as_admin.get(f"/audit/?{query}").status_code == 400
    assert as_admin.get(f"/audit/export.csv?{query}").status_code == 400


def test_every_staff_page_is_not_cached(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    for url in ("/", "/people/", f"/people/{person.username}/", "/audit/", "/teams/"):
        assert "no-store" in as_admin.get(url)["Cache-Control"], url
