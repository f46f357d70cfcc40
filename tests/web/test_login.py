"""Logging in against the stack's directory: roles from groups, lockout, break-glass, audit."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from onboarding.models import AuditEvent, Team
from onboarding.services import team_set
from onboarding.systems import clients
from tests.factories import make_person
from tests.web.conftest import admin_group_add, directory_account_create, unique
from web.forms import LoginForm

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


def log_in(client, username: str, password: str, otp_code: str = ""):
    return client.post(
        "/login/", {"username": username, "password": password, "otp_code": otp_code}
    )


def team_with_directory_manager(manager: str) -> Team:
    """A team whose lead is known only to FreeIPA: a member manager of the team's group."""
    name = unique("team-m-")
    ipa = clients().freeipa
    ipa.group_ensure(name=name, description="test team")
    ipa.group_add_manager(group=name, username=manager)
    return Team.objects.create(name=name, freeipa_group=name)


def test_member_manager_of_a_team_group_logs_in_and_sees_only_that_team(client, ldap_configured):
    lead = directory_account_create(ldap_configured, "lead-")
    team = team_with_directory_manager(lead.username)
    other = Team.objects.create(name=unique("team-o-"), freeipa_group=unique("team-o-"))
    theirs = make_person(unique("p"), team=team, status="active")
    not_theirs = make_person(unique("p"), team=other, status="active")

    response = log_in(client, lead.username, lead.password)

    assert response.status_code == 302, response.content.decode()[:2000]
    people = client.get("/people/").content.decode()
    assert theirs.username in people
    assert not_theirs.username not in people
    assert client.get(f"/people/{theirs.username}/").status_code == 200
    assert client.get(f"/people/{not_theirs.username}/").status_code == 404
    assert client.get("/teams/").status_code == 403
    login = AuditEvent.objects.filter(action="login", actor=lead.username).latest("id")
    assert login.outcome == "succeeded"
    assert login.details["via"] == "directory"


def test_member_of_the_admin_group_logs_in_as_platform_admin(client, ldap_configured):
    admin = directory_account_create(ldap_configured, "admin-")
    admin_group_add(admin.username)

    log_in(client, admin.username, admin.password)

    assert client.get("/teams/").status_code == 200
    assert client.get("/audit/").status_code == 200


def test_directory_user_without_a_role_gets_the_no_access_page(client, ldap_configured):
    plain = directory_account_create(ldap_configured, "plain-")

    log_in(client, plain.username, plain.password)
    response = client.get("/")

    assert response.status_code == 403
    assert "No access" in response.content.decode()
    assert AuditEvent.objects.filter(
        action="access.denied", actor=plain.username, outcome="denied"
    ).exists()


def test_wrong_password_is_refused_with_a_message_and_audited(client, ldap_configured):
    lead = directory_account_create(ldap_configured, "lead-")

    response = log_in(client, lead.username, "not-the-password")

    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    assert client.get("/").status_code == 302
    failed = AuditEvent.objects.filter(action="login", target=lead.username).latest("id")
    assert failed.outcome == "failed"


def test_repeated_failed_logins_lock_the_account_even_for_the_right_password(
    client, ldap_configured, settings
):
    lead = directory_account_create(ldap_configured, "lead-")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, lead.username, "guessing")

    response = log_in(client, lead.username, lead.password)

    assert response.status_code == 429
    assert "Login locked" in response.content.decode()
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(
        action="login", target=lead.username, outcome="denied"
    ).exists()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_break_glass_superuser_logs_in_while_the_directory_is_down(client, settings):
    settings.AUTH_LDAP_SERVER_URI = f"ldap://127.0.0.1:{closed_port()}"
    get_user_model().objects.create_superuser("breakglass", password="Break-glass-password-1")

    response = log_in(client, "breakglass", "Break-glass-password-1")

    assert response.status_code == 302
    assert client.get("/teams/").status_code == 200
    login = AuditEvent.objects.filter(action="login", actor="breakglass").latest("id")
    assert login.details["via"] == "local account"


def test_directory_cannot_log_in_to_a_local_account_of_the_same_name(client, ldap_configured):
    lead = directory_account_create(ldap_configured, "lead-")
    get_user_model().objects.create_superuser(lead.username, password="Local-password-1")

    response = log_in(client, lead.username, lead.password)

    assert response.status_code == 200
    assert client.get("/").status_code == 302


class PasswordRecorder:
    """Stands in for FreeIPA's OTP-aware bind, which the sandbox's 389 cannot do."""

    seen: list[str] = []

    def authenticate(self, request, username=None, password=None, **kwargs):
        PasswordRecorder.seen.append(password)

    def get_user(self, user_id):
        return None


@override_settings(AUTHENTICATION_BACKENDS=[f"{__name__}.PasswordRecorder"])
def test_login_form_sends_password_immediately_followed_by_the_otp_code(rf):
    PasswordRecorder.seen.clear()
    request = rf.post("/login/")

    for code in (" 123456 ", ""):
        form = LoginForm(request, data={"username": "lead", "password": "secret", "otp_code": code})
        form.is_valid()

    assert PasswordRecorder.seen == ["secret123456", "secret"]


def test_lead_named_on_a_team_by_team_set_logs_in_over_ldap(client, ldap_configured):
    lead = directory_account_create(ldap_configured, "lead-")
    team, _ = team_set(name=unique("team-"), group=unique("team-"), leads=[lead.username],
                       actor="test")  # fmt: skip
    person = make_person(unique("p"), team=team, status="active")

    response = log_in(client, lead.username, lead.password)

    assert response.status_code == 302
    assert client.get(f"/people/{person.username}/").status_code == 200


def test_a_directory_that_checks_passwords_alone_gets_no_code_and_the_page_says_so(rf, client):
    # override_settings alone (not the settings fixture as well): their restores must nest.
    PasswordRecorder.seen.clear()
    with override_settings(
        AUTHENTICATION_BACKENDS=[f"{__name__}.PasswordRecorder"], LDAP_CHECKS_OTP=False
    ):
        data = {"username": "lead", "password": "secret", "otp_code": "123456"}
        LoginForm(rf.post("/login/"), data=data).is_valid()
        assert PasswordRecorder.seen == ["secret"]
        page = client.get("/login/").content.decode()
        assert 'id="password-only"' in page and 'name="otp_code"' not in page
    with override_settings(LDAP_CHECKS_OTP=True):
        page = client.get("/login/").content.decode()
        assert 'name="otp_code"' in page and 'id="password-only"' not in page
