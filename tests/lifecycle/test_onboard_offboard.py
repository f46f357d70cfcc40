"""A person onboarded can work everywhere; once offboarded, nowhere; the FreeIPA user is kept."""

import pytest

from onboarding.credentials import CredentialsGone, credentials_reveal
from onboarding.models import LifecycleRun, Person, Step
from onboarding.plans import plan_for
from onboarding.runner.execute import run_context, step_context
from onboarding.services import person_offboard
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.lifecycle.conftest import READ_ONLY_POLICY, ldap_can_bind, onboard
from tests.lifecycle.observe import (
    access_points,
    attached_policies,
    freeipa_change_password,
    freeipa_client,
    freeipa_login_error,
    hub_login,
    hub_user,
    otp_tokens_in_directory,
    roles,
    totp_codes,
    trust_policy,
)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Chosen-by-them-42"


def test_onboarded_person_has_access_in_every_system(eager, stack_configured, team, username, ipa):
    stack = stack_configured
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert set(run.steps.values_list("state", flat=True)) == {Step.State.DONE}
    person = Person.objects.get(username=username)
    assert person.status == Person.Status.ACTIVE

    user = ipa.freeipa.user_find(username=username)
    assert user.auth_types == ("otp",)
    assert team.freeipa_group in user.groups
    assert (person.uid_number, person.gid_number) == (user.uid_number, user.gid_number)
    assert user.uid_number == user.gid_number
    (token,) = ipa.freeipa.otp_tokens(username=username)
    assert otp_tokens_in_directory(stack, username) == [token.id]

    secrets = credentials_reveal(run=run, actor="admin")
    password, otp_uri = secrets["temporary_password"], secrets["otp_enrolment"]
    with pytest.raises(CredentialsGone):
        credentials_reveal(run=run, actor="admin")
    assert otp_uri.startswith("otpauth://totp/")
    codes = iter(totp_codes(otp_uri, 4))
    assert freeipa_login_error(stack, username, password) == "InvalidSessionPassword"
    assert freeipa_login_error(stack, username, password + next(codes)) == "PasswordExpired"

    (point,) = access_points(stack, username)
    assert point["PosixUser"] == {"Uid": user.uid_number, "Gid": user.gid_number}
    assert point["RootDirectory"]["CreationInfo"]["Permissions"] == "0750"

    (role,) = roles(stack, username)
    trust = trust_policy(role)["Statement"][0]
    assert trust["Principal"]["Federated"] == stack["IAM_SAML_PROVIDER_ARN"]
    assert trust["Condition"]["StringEquals"]["SAML:sub"] == username
    assert attached_policies(stack, role["RoleName"]) == {READ_ONLY_POLICY}

    assert team_hub_group(team) in hub_user(stack, username)["groups"]

    # The person sets their own password with a code from the enrolled token.
    freeipa_change_password(stack, username, password, NEW_PASSWORD, next(codes))
    assert freeipa_login_error(stack, username, NEW_PASSWORD + next(codes)) is None
    assert ldap_can_bind(stack, username, NEW_PASSWORD)
    assert hub_login(stack, username, NEW_PASSWORD)
    # The token the service account made is the person's to manage (managedBy), not only to use.
    own = freeipa_client(stack)
    own.login(username, NEW_PASSWORD + next(codes))
    own.otptoken_mod(token.id, o_description="my phone")
    assert own.otptoken_show(token.id)["result"]["description"] == ["my phone"]

    offboarding = person_offboard(
        person=Person.objects.get(username=username), reason="left the company", actor="admin"
    )
    offboarding.refresh_from_db()
    assert offboarding.state == LifecycleRun.State.SUCCEEDED, offboarding.error
    assert Person.objects.get(username=username).status == Person.Status.OFFBOARDED

    assert not ldap_can_bind(stack, username, NEW_PASSWORD)
    assert not hub_login(stack, username, NEW_PASSWORD)
    assert hub_user(stack, username) is None
    assert roles(stack, username) == []
    assert access_points(stack, username) == []
    preserved = ipa.freeipa.user_find(username=username)
    assert preserved.preserved
    # Really gone, not only hidden: FreeIPA shows nobody a preserved user's tokens.
    assert otp_tokens_in_directory(stack, username) == []


def test_every_step_rerun_after_success_changes_nothing(eager, team, username, ipa):
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    before = {
        "user": ipa.freeipa.user_find(username=username),
        "tokens": ipa.freeipa.otp_tokens(username=username),
        "access_point": ipa.efs.access_point_find(username=username),
        "role": ipa.iam.role_find(username=username),
        "hub": ipa.jupyterhub.user_find(name=username),
    }
    ctx = run_context(LifecycleRun.objects.get(pk=run.pk))
    for step in plan_for(LifecycleRun.Kind.ONBOARD).steps:
        step_ctx = step_context(ctx, step, run.steps.get(name=step.name))
        assert step.check(step_ctx) is not None, f"{step.name} does not see its own work"
    after = {
        "user": ipa.freeipa.user_find(username=username),
        "tokens": ipa.freeipa.otp_tokens(username=username),
        "access_point": ipa.efs.access_point_find(username=username),
        "role": ipa.iam.role_find(username=username),
        "hub": ipa.jupyterhub.user_find(name=username),
    }
    assert after == before
