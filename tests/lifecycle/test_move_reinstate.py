"""Moving team switches groups, policies and hub group only; reinstating gives access back."""

import pytest

from onboarding.credentials import credentials_reveal
from onboarding.models import LifecycleRun, Person
from onboarding.services import (
    person_move,
    person_move_preview,
    person_offboard,
    person_offboard_preview,
    person_onboard,
    person_onboard_preview,
    person_reinstate,
)
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.lifecycle.conftest import BATCH_POLICY, ldap_can_bind, onboard
from tests.lifecycle.observe import (
    access_points,
    attached_policies,
    freeipa_change_password,
    hub_user,
    roles,
    totp_codes,
)

pytestmark = pytest.mark.django_db(transaction=True)


def onboarded(username, team) -> LifecycleRun:
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    return run


def test_move_switches_groups_policies_and_hub_group_and_nothing_else(
    eager, stack_configured, ipa, team, other_team, username
):
    stack = stack_configured
    onboarded(username, team)
    access_point_before = access_points(stack, username)
    uid_before = ipa.freeipa.user_find(username=username).uid_number

    run = person_move(person=Person.objects.get(username=username), team=other_team, actor="admin")
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error

    person = Person.objects.get(username=username)
    assert (person.team, person.status) == (other_team, Person.Status.ACTIVE)
    user = ipa.freeipa.user_find(username=username)
    assert other_team.freeipa_group in user.groups
    assert team.freeipa_group not in user.groups
    (role,) = roles(stack, username)
    assert attached_policies(stack, role["RoleName"]) == {BATCH_POLICY}
    groups = hub_user(stack, username)["groups"]
    assert team_hub_group(other_team) in groups
    assert team_hub_group(team) not in groups
    assert access_points(stack, username) == access_point_before
    assert user.uid_number == uid_before


def test_offboarded_person_is_reinstated_with_new_credentials(
    eager, stack_configured, ipa, team, username
):
    stack = stack_configured
    onboarded(username, team)
    offboarding = person_offboard(
        person=Person.objects.get(username=username), reason="contract ended", actor="admin"
    )
    offboarding.refresh_from_db()
    assert offboarding.state == LifecycleRun.State.SUCCEEDED, offboarding.error

    run = person_reinstate(
        person=Person.objects.get(username=username), reason="back", actor="admin"
    )
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert Person.objects.get(username=username).status == Person.Status.ACTIVE
    user = ipa.freeipa.user_find(username=username)
    assert not user.preserved and not user.disabled
    assert user.auth_types == ("otp",)
    assert team.freeipa_group in user.groups
    assert len(access_points(stack, username)) == 1
    assert len(roles(stack, username)) == 1
    assert team_hub_group(team) in hub_user(stack, username)["groups"]

    secrets = credentials_reveal(run=run, actor="admin")
    codes = totp_codes(secrets["otp_enrolment"], 1)
    freeipa_change_password(
        stack, username, secrets["temporary_password"], "Back-again-2026", codes[0]
    )
    assert ldap_can_bind(stack, username, "Back-again-2026")


def test_offboarding_a_half_onboarded_person_cleans_up_what_exists(
    monkeypatch, eager, stack_configured, ipa, team, username
):
    from onboarding.errors import PermanentError
    from tests.lifecycle.test_failures import NOTHING, everything_of, fail_after

    with monkeypatch.context() as patch:
        fail_after(patch, "efs_access_point", PermanentError("test", "injected failure"))
        run = person_onboard(
            username=username, first_name="Half", last_name="Done",
            email=f"{username}@example.test", team=team, actor="admin",
        )  # fmt: skip
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.FAILED

    offboarding = person_offboard(
        person=Person.objects.get(username=username), reason="never started", actor="admin"
    )
    offboarding.refresh_from_db()
    assert offboarding.state == LifecycleRun.State.SUCCEEDED, offboarding.error
    left = everything_of(stack_configured, ipa, username)
    assert left == {**NOTHING, "freeipa_user": True}
    assert ipa.freeipa.user_find(username=username).preserved


def test_dry_runs_describe_changes_and_change_nothing(
    eager, stack_configured, ipa, team, other_team, username
):
    fields = dict(
        username=username, first_name="Dry", last_name="Run",
        email=f"{username}@example.test", team=team,
    )  # fmt: skip
    preview = person_onboard_preview(**fields)
    assert [change.step for change in preview] == [
        "freeipa_user", "freeipa_groups", "otp_token",
        "efs_access_point", "jupyterhub_access", "iam_role",
    ]  # fmt: skip
    assert not any(change.already_done for change in preview)
    assert ipa.freeipa.user_find(username=username) is None
    assert Person.objects.filter(username=username).count() == 0

    onboarded(username, team)
    person = Person.objects.get(username=username)
    # Nothing to stop or take away there: they lead no team and run no server.
    assert {
        change.step
        for change in person_offboard_preview(person=person, reason="x")
        if change.already_done
    } == {"freeipa_lead_roles_removal", "jupyterhub_servers_stop"}
    moves = {c.step: c.already_done for c in person_move_preview(person=person, team=other_team)}
    assert moves == {
        "freeipa_team_groups": False, "iam_team_policies": False, "jupyterhub_team_group": False,
    }  # fmt: skip
    assert Person.objects.get(username=username).team == team
    assert ipa.freeipa.user_find(username=username).groups.count(team.freeipa_group) == 1
