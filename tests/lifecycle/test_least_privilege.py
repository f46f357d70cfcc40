"""AccessAdmin as a least-privilege FreeIPA account: a plain user fails preflight, naming what
it lacks; `freeipa_grant` gives it exactly that; runs then work as it. In the stand-in 389-ds
enforces FreeIPA's default permissions for non-admins (sandbox/freeipa/acis.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ldap
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from python_freeipa import ClientMeta

from onboarding.models import LifecycleRun, Person
from onboarding.services import person_offboard, person_reinstate, person_update
from onboarding.systems import clients, systems_reset
from onboarding.systems.freeipa.grant import PRIVILEGE, REQUIRED_PERMISSIONS, ROLE
from tests.lifecycle.conftest import freeipa_grant_as_admin, freeipa_user_make, onboard, unique
from tests.lifecycle.observe import otp_tokens_in_directory

pytestmark = pytest.mark.django_db(transaction=True)
UPG_READ = "System: Read UPG Definition"


@pytest.fixture
def as_plain_user(stack_configured) -> Iterator[tuple[str, str]]:
    """AccessAdmin configured to log in to FreeIPA as a new user holding no role."""
    username, password = freeipa_user_make(stack_configured)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "FREEIPA_USERNAME", username)
        patch.setattr(settings, "FREEIPA_PASSWORD", password)
        systems_reset()
        yield username, password
    systems_reset()


def password_expiry_set(stack: dict[str, str], username: str, when: datetime) -> None:
    """As the password policy would, in the directory the stand-in keeps its state in."""
    connection = ldap.initialize(stack["LDAP_URI"])
    connection.simple_bind_s(stack["LDAP_BIND_DN"], stack["LDAP_BIND_PASSWORD"])
    try:
        connection.modify_s(
            f"uid={username},cn=users,cn=accounts,{stack['LDAP_BASE_DN']}",
            [(ldap.MOD_REPLACE, "krbPasswordExpiration", [f"{when:%Y%m%d%H%M%SZ}".encode()])],
        )
    finally:
        connection.unbind_s()


def preflight() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("preflight", stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def test_a_plain_user_fails_preflight_naming_each_missing_right_and_passes_once_granted(
    as_plain_user, stack_configured, tmp_path
):
    username, _ = as_plain_user
    code, out = preflight()
    assert code == 1, out
    for name in REQUIRED_PERMISSIONS:
        assert f"FreeIPA: FAILED, permission {name!r}: needed for " in out, name
    assert f"to fix: run `manage.py freeipa_grant {username}` as a FreeIPA admin" in out

    printed = freeipa_grant_as_admin(stack_configured, username, tmp_path)
    assert f"added user {username!r} to role {ROLE!r}" in printed
    # Run again: nothing left to do, and it says so.
    assert "already" in freeipa_grant_as_admin(stack_configured, username, tmp_path)

    code, out = preflight()
    assert code == 0, out
    assert "FreeIPA: ok, rights: holds all" in out
    assert "FreeIPA: ok, password expiry: expires on" in out


def test_the_service_accounts_password_expiring_soon_is_a_warning_and_expired_a_failure(
    as_plain_user, stack_configured, tmp_path
):
    username, _ = as_plain_user
    freeipa_grant_as_admin(stack_configured, username, tmp_path)
    soon = datetime.now(UTC) + timedelta(days=5, hours=1)
    password_expiry_set(stack_configured, username, soon)
    code, out = preflight()
    assert code == 0, out
    assert f"FreeIPA: WARNING, password expiry: expires on {soon:%Y-%m-%d}, in 5 days" in out
    yesterday = datetime.now(UTC) - timedelta(days=1)
    password_expiry_set(stack_configured, username, yesterday)
    code, out = preflight()
    assert code == 1, out
    # The session already open goes on (as a Kerberos ticket would); a new login is refused.
    assert f"FreeIPA: FAILED, password expiry: expired on {yesterday:%Y-%m-%d}" in out
    systems_reset()
    code, out = preflight()
    assert code == 1, out
    assert "FreeIPA: FAILED, service account: freeipa: the service account" in out
    assert "has an expired password: set a new one" in out


def test_onboard_offboard_and_reinstate_work_as_the_granted_account_and_remove_tokens(
    stack_configured, eager, team, username
):
    assert settings.FREEIPA_USERNAME.startswith("svc-")
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert len(otp_tokens_in_directory(stack_configured, username)) == 1

    person = Person.objects.get(username=username)
    offboarding = person_offboard(person=person, reason="left", actor="admin")
    offboarding.refresh_from_db()
    assert offboarding.state == LifecycleRun.State.SUCCEEDED, offboarding.error
    assert otp_tokens_in_directory(stack_configured, username) == []

    reinstating = person_reinstate(
        person=Person.objects.get(username=username), reason="back", actor="admin"
    )
    reinstating.refresh_from_db()
    assert reinstating.state == LifecycleRun.State.SUCCEEDED, reinstating.error
    assert len(otp_tokens_in_directory(stack_configured, username)) == 1


def test_a_name_and_email_change_reaches_freeipa_as_the_granted_account(
    stack_configured, eager, team, username
):
    assert onboard(username, team).state == LifecycleRun.State.SUCCEEDED
    person_update(
        person=Person.objects.get(username=username), first_name="Adele", last_name="Other",
        email=f"{username}@elsewhere.test", actor="admin",
    )  # fmt: skip

    user = clients().freeipa.user_find(username=username)
    assert (user.first_name, user.last_name, user.email) == (
        "Adele", "Other", f"{username}@elsewhere.test",
    )  # fmt: skip
    assert Person.objects.get(username=username).full_name == "Adele Other"


@pytest.fixture
def without_upg_read(stack_configured) -> Iterator[None]:
    """The service account's privilege without "System: Read UPG Definition", as
    freeipa_grant gave it before that permission was known to be needed."""
    admin = ClientMeta(
        stack_configured["FREEIPA_HOST"], verify_ssl=stack_configured["FREEIPA_CA_FILE"]
    )
    admin.login(stack_configured["FREEIPA_USERNAME"], stack_configured["FREEIPA_PASSWORD"])
    admin.privilege_remove_permission(PRIVILEGE, o_permission=[UPG_READ])
    try:
        yield
    finally:
        admin.privilege_add_permission(PRIVILEGE, o_permission=[UPG_READ])
        admin.logout()


def test_onboarding_fails_at_user_add_without_reading_the_upg_definition_until_granted(
    without_upg_read, stack_configured, eager, team, username, tmp_path
):
    """user_add reads the UPG Definition as the caller first (FreeIPA ldap2.py:252-284)."""
    code, out = preflight()
    assert code == 1, out
    assert f"FreeIPA: FAILED, permission {UPG_READ!r}: needed for user_add" in out
    assert "FreeIPA: FAILED, reading the UPG Definition: user_add would fail" in out

    run = onboard(username, team)
    assert run.state == LifecycleRun.State.FAILED
    assert "user_add: the service account may not do this (Insufficient access: " in run.error
    assert "Could not read UPG Definition originfilter. Check your permissions." in run.error
    assert clients().freeipa.user_find(username=username) is None

    printed = freeipa_grant_as_admin(stack_configured, settings.FREEIPA_USERNAME, tmp_path)
    assert f"added permission {UPG_READ!r} to privilege {PRIVILEGE!r}" in printed
    code, out = preflight()
    assert code == 0, out
    assert "FreeIPA: ok, reading the UPG Definition: user_add can read it" in out
    second = unique("u")
    run = onboard(second, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error


def test_preflight_warns_when_new_users_get_subordinate_ids_the_account_cannot_add(
    stack_configured,
):
    dn = f"cn=ipaConfig,cn=etc,{stack_configured['LDAP_BASE_DN']}"
    connection = ldap.initialize(stack_configured["LDAP_URI"])
    connection.simple_bind_s(
        stack_configured["LDAP_BIND_DN"], stack_configured["LDAP_BIND_PASSWORD"]
    )
    code, out = preflight()
    assert "subordinate ids" not in out
    connection.modify_s(dn, [(ldap.MOD_REPLACE, "ipaUserDefaultSubordinateId", [b"TRUE"])])
    try:
        code, out = preflight()
    finally:
        connection.modify_s(dn, [(ldap.MOD_DELETE, "ipaUserDefaultSubordinateId", None)])
        connection.unbind_s()
    assert code == 0, out
    assert (
        "FreeIPA: WARNING, subordinate ids: FreeIPA gives every new user subordinate ids "
        "(ipaUserDefaultSubordinateId), as the caller of user_add and user_del; the service "
        "account lacks privilege 'Subordinate ID Administrators', permission "
        "'System: Manage Subordinate Ids', permission 'System: Remove Subordinate Ids'"
    ) in out
    assert "ipa config-mod --user-default-subid=False" in out
