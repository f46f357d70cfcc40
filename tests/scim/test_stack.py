"""An identity provider's provisioning cycle over SCIM, against the whole local stack: what each
request leaves in FreeIPA, AWS (EFS, IAM) and JupyterHub."""

from __future__ import annotations

import pytest

from onboarding.models import LifecycleRun, Person
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.lifecycle import conftest as lifecycle
from tests.lifecycle.conftest import BATCH_POLICY, READ_ONLY_POLICY
from tests.lifecycle.observe import access_points, attached_policies, hub_user, roles
from tests.scim.conftest import ENTERPRISE, IdentityProvider, scim_token_for, user_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]
# The lifecycle tests' stack, teams and username, in place of the fake system's.
stack_configured, eager, ipa = lifecycle.stack_configured, lifecycle.eager, lifecycle.ipa
team, other_team, username = lifecycle.team, lifecycle.other_team, lifecycle.username


def _runs_succeeded() -> None:
    for run in LifecycleRun.objects.all():
        assert run.state == LifecycleRun.State.SUCCEEDED, f"{run}: {run.error}"


def _holds_access_of(stack, ipa, username: str, team, policy: str, left=None) -> None:
    """Active in every system, with `team`'s groups and policies and none of `left`'s."""
    _runs_succeeded()
    user = ipa.freeipa.user_find(username=username)
    assert not user.preserved and not user.disabled
    assert team.freeipa_group in user.groups
    (role,) = roles(stack, username)
    assert attached_policies(stack, role["RoleName"]) == {policy}
    assert len(access_points(stack, username)) == 1
    hub_groups = hub_user(stack, username)["groups"]
    assert team_hub_group(team) in hub_groups
    if left is not None:
        assert left.freeipa_group not in user.groups
        assert team_hub_group(left) not in hub_groups


def _holds_nothing(stack, ipa, username: str) -> None:
    _runs_succeeded()
    assert ipa.freeipa.user_find(username=username).preserved
    assert hub_user(stack, username) is None
    assert roles(stack, username) == [] and access_points(stack, username) == []


def test_entra_style_cycle_with_groups_and_pathless_patches(
    eager,
    stack_configured,
    ipa,
    team,
    other_team,
    username,
):
    stack = stack_configured
    idp = IdentityProvider(scim_token_for("entra"))
    created = idp.post("/Users", user_body(username)).json()
    path = f"/Users/{created['id']}"
    assert not Person.objects.filter(username=username).exists()

    # Create with a group: the membership names the team, and they are onboarded into it.
    member = {"op": "Add", "path": "members", "value": [{"value": created["id"]}]}
    assert idp.patch(f"/Groups/{team.pk}", member).status_code == 200
    _holds_access_of(stack, ipa, username, team, READ_ONLY_POLICY)

    renamed = idp.patch(
        path,
        {"op": "Replace", "path": "name.familyName", "value": "King"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada.k@example.org"},
    )
    assert renamed.status_code == 200, renamed.content
    user = ipa.freeipa.user_find(username=username)
    assert (user.last_name, user.email) == ("King", "ada.k@example.org")

    assert idp.patch(f"/Groups/{other_team.pk}", member).status_code == 200
    _holds_access_of(stack, ipa, username, other_team, BATCH_POLICY, left=team)

    disabled = idp.patch(path, {"op": "Replace", "value": {"active": "False"}})
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    _holds_nothing(stack, ipa, username)

    enabled = idp.patch(path, {"op": "Replace", "value": {"active": "True"}})
    assert enabled.status_code == 200 and enabled.json()["active"] is True
    _holds_access_of(stack, ipa, username, other_team, BATCH_POLICY, left=team)

    assert idp.delete(path).status_code == 204
    _holds_nothing(stack, ipa, username)
    assert idp.get(path).status_code == 404
    assert Person.objects.get(username=username).status == Person.Status.OFFBOARDED
    kinds = list(LifecycleRun.objects.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["onboard", "move", "offboard", "reinstate", "offboard"]
    assert set(LifecycleRun.objects.values_list("actor", flat=True)) == {"scim:entra"}


def test_okta_style_cycle_with_put_and_the_department_attribute(
    eager, stack_configured, ipa, team, other_team, username, settings
):
    stack = stack_configured
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    idp = IdentityProvider(scim_token_for("okta"))
    assert idp.get("/Users", filter=f'userName eq "{username}"').json()["totalResults"] == 0
    created = idp.post("/Users", user_body(username, department=team.name)).json()
    path = f"/Users/{created['id']}"
    _holds_access_of(stack, ipa, username, team, READ_ONLY_POLICY)

    def put(**changes) -> None:
        answer = idp.put(path, {**idp.get(path).json(), **changes})
        assert answer.status_code == 200, answer.content

    put(name={"givenName": "Ada", "familyName": "Byron"})
    assert ipa.freeipa.user_find(username=username).last_name == "Byron"
    put(**{ENTERPRISE: {"department": other_team.name}})
    _holds_access_of(stack, ipa, username, other_team, BATCH_POLICY, left=team)
    put(active=False)
    _holds_nothing(stack, ipa, username)
    put(active=True)
    _holds_access_of(stack, ipa, username, other_team, BATCH_POLICY, left=team)
    assert idp.delete(path).status_code == 204
    _holds_nothing(stack, ipa, username)
    assert idp.get(path).status_code == 404
    assert set(LifecycleRun.objects.values_list("actor", flat=True)) == {"scim:okta"}
