"""The web admin's personas, and directory accounts for logging in over LDAP.

Team leads and admins in these tests are FreeIPA users WITHOUT OTP tokens: the sandbox's 389
cannot check an OTP code on an LDAP bind (only FreeIPA's own plugin can), so they log in with a
plain password. The production path joins password and code (tested in test_login.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from onboarding.models import Team
from onboarding.systems import clients
from tests.lifecycle import conftest as lifecycle
from tests.lifecycle.observe import freeipa_client, freeipa_password_change_by_form
from tests.web import browsing

# The lifecycle tests' fixtures: the stack wired into settings, and a real worker.
stack_configured = lifecycle.stack_configured
lifecycle_worker_env = lifecycle.lifecycle_worker_env
lifecycle_worker = lifecycle.lifecycle_worker
# The browser tests' gunicorn and Chromium.
web_server = browsing.web_server
browser = browsing.browser

PASSWORD = "Lead-password-1"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def ldap_configured(stack_configured):
    """Point the directory login at the stack's 389 (settings are read at each login)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "AUTH_LDAP_SERVER_URI", stack_configured["LDAP_URI"])
        patch.setattr(settings, "AUTH_LDAP_BIND_DN", stack_configured["LDAP_BIND_DN"])
        patch.setattr(settings, "AUTH_LDAP_BIND_PASSWORD", stack_configured["LDAP_BIND_PASSWORD"])
        yield stack_configured


@dataclass(frozen=True)
class DirectoryAccount:
    username: str
    password: str


def directory_account_create(stack: dict[str, str], prefix: str) -> DirectoryAccount:
    """A FreeIPA user who chose their own password (an admin-set one is expired at once)."""
    username = unique(prefix)
    temporary = "Temporary-password-1"
    admin = freeipa_client(stack)
    admin.login(stack["FREEIPA_USERNAME"], stack["FREEIPA_PASSWORD"])
    admin.user_add(
        username, o_givenname="Test", o_sn="Lead", o_cn="Test Lead",
        o_mail=f"{username}@example.test", o_userpassword=temporary,
    )  # fmt: skip
    assert freeipa_password_change_by_form(stack, username, temporary, PASSWORD) == "ok"
    return DirectoryAccount(username, PASSWORD)


def admin_group_add(username: str) -> None:
    ipa = clients().freeipa
    ipa.group_ensure(name=settings.LDAP_ADMIN_GROUP, description="AccessAdmin platform admins")
    ipa.group_add_members(username=username, groups=[settings.LDAP_ADMIN_GROUP])


@dataclass
class Personas:
    """Local accounts standing for each role, for tests that need no directory login."""

    member: User
    lead_a: User
    lead_b: User
    admin: User
    team_a: Team
    team_b: Team

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role)


ROLES = ("anonymous", "member", "lead_a", "lead_b", "admin")
# The personas are local accounts: logged in as such, the directory has no say over their rights.
LOCAL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def personas(db) -> Personas:
    def team(name: str) -> Team:
        return Team.objects.create(
            name=name, freeipa_group=name, system_settings={"jupyterhub": {"group": name}},
            iam_policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        )  # fmt: skip

    team_a, team_b = team(unique("team-a-")), team(unique("team-b-"))
    member = User.objects.create(username="member")
    lead_a = User.objects.create(username="lead-a")
    lead_b = User.objects.create(username="lead-b")
    admin = User.objects.create(username="admin-user")
    admin.groups.add(Group.objects.get_or_create(name=settings.LDAP_ADMIN_GROUP)[0])
    team_a.leads.add(lead_a)
    team_b.leads.add(lead_b)
    return Personas(member, lead_a, lead_b, admin, team_a, team_b)


@pytest.fixture
def as_lead_a(client, personas: Personas, ldap_configured):
    client.force_login(personas.lead_a, backend=LOCAL_BACKEND)
    return client


@pytest.fixture
def as_admin(client, personas: Personas, ldap_configured):
    client.force_login(personas.admin, backend=LOCAL_BACKEND)
    return client
