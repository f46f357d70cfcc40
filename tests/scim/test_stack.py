"""An identity provider's provisioning cycle over SCIM, against the whole local stack: what each
request leaves in FreeIPA, AWS (EFS, IAM) and JupyterHub."""

from __future__ import annotations

import pytest

from onboarding.models import LifecycleRun, Person
from tests.lifecycle import conftest as lifecycle
from tests.lifecycle.conftest import BATCH_POLICY, READ_ONLY_POLICY
from tests.lifecycle.observe import access_points, attached_policies, hub_user, roles
from tests.scim.conftest import IdentityProvider, scim_token_for, user_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]
# The lifecycle tests' stack, teams and username, in place of the fake system's.
stack_configured, eager, ipa = lifecycle.stack_configured, lifecycle.eager, lifecycle.ipa
team, other_team, username = lifecycle.team, lifecycle.other_team, lifecycle.username


def _runs_succeeded() -> None:
    for run in LifecycleRun.objects.all():
        assert run.state == LifecycleRun.State.SUCCEEDED, f"{run}: {run.error}"


def test_provisioning_cycle_reaches_every_system(
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
    _runs_succeeded()
    user = ipa.freeipa.user_find(username=username)
    assert team.freeipa_group in user.groups and not user.disabled
    (role,) = roles(stack, username)
    assert attached_policies(stack, role["RoleName"]) == {READ_ONLY_POLICY}
    assert len(access_points(stack, username)) == 1
    assert team.jupyterhub_group in hub_user(stack, username)["groups"]

    renamed = idp.patch(
        path,
        {"op": "Replace", "path": "name.familyName", "value": "King"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada.k@example.org"},
    )
    assert renamed.status_code == 200, renamed.content
    user = ipa.freeipa.user_find(username=username)
    assert (user.last_name, user.email) == ("King", "ada.k@example.org")

    assert idp.patch(f"/Groups/{other_team.pk}", member).status_code == 200
    _runs_succeeded()
    user = ipa.freeipa.user_find(username=username)
    assert other_team.freeipa_group in user.groups and team.freeipa_group not in user.groups
    (role,) = roles(stack, username)
    assert attached_policies(stack, role["RoleName"]) == {BATCH_POLICY}
    hub_groups = hub_user(stack, username)["groups"]
    assert other_team.jupyterhub_group in hub_groups and team.jupyterhub_group not in hub_groups

    disabled = idp.patch(path, {"op": "Replace", "value": {"active": "False"}})
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    _runs_succeeded()
    assert ipa.freeipa.user_find(username=username).preserved
    assert hub_user(stack, username) is None
    assert roles(stack, username) == [] and access_points(stack, username) == []

    enabled = idp.patch(path, {"op": "Replace", "value": {"active": "True"}})
    assert enabled.status_code == 200 and enabled.json()["active"] is True
    _runs_succeeded()
    user = ipa.freeipa.user_find(username=username)
    assert not user.preserved and not user.disabled
    assert other_team.freeipa_group in user.groups
    assert other_team.jupyterhub_group in hub_user(stack, username)["groups"]
    assert len(roles(stack, username)) == 1 and len(access_points(stack, username)) == 1

    assert idp.delete(path).status_code == 204
    _runs_succeeded()
    assert idp.get(path).status_code == 404
    person = Person.objects.get(username=username)
    assert person.status == Person.Status.OFFBOARDED
    assert ipa.freeipa.user_find(username=username).preserved
    assert hub_user(stack, username) is None and roles(stack, username) == []
    kinds = list(LifecycleRun.objects.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["onboard", "move", "offboard", "reinstate", "offboard"]
    assert set(LifecycleRun.objects.values_list("actor", flat=True)) == {"scim:entra"}
