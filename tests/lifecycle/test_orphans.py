"""Orphans on the local stack: objects made by hand in AccessAdmin's namespace for nobody it
knows are removed from each system by an admin (a role AccessAdmin did not tag is refused and
left), or their owner, a FreeIPA user put in a team's group by hand, is adopted and completed."""

import pytest
import requests
from django.conf import settings

from onboarding.errors import InvalidInput
from onboarding.models import AuditEvent, Finding, LifecycleRun, Person
from onboarding.services import reconcile
from onboarding.services.orphans import orphan_adopt, orphan_remove
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.lifecycle.conftest import freeipa_user_make
from tests.lifecycle.observe import access_points, aws, freeipa_client, hub_user, roles
from tests.lifecycle.test_reconcile import freeipa_group_join, role_delete

pytestmark = pytest.mark.django_db(transaction=True)

MANAGED = {"Key": "managed-by", "Value": "accessadmin"}


def hub(stack: dict[str, str], method: str, path: str, **body) -> None:
    response = requests.request(
        method, f"{stack['JUPYTERHUB_URL']}/hub/api{path}", json=body or None,
        headers={"Authorization": f"token {stack['JUPYTERHUB_API_TOKEN']}"}, timeout=10,
    )  # fmt: skip
    assert response.status_code < 300, response.text


def orphans_of(username: str) -> dict[str, Finding]:
    found = reconcile(actor="beat")
    return {f.system + " " + f.subject: f for f in found if f.username == username}


def freeipa_groups(stack: dict[str, str], username: str) -> list[str]:
    admin = freeipa_client(stack)
    admin.login(stack["FREEIPA_USERNAME"], stack["FREEIPA_PASSWORD"])
    try:
        return admin.user_show(a_uid=username)["result"].get("memberof_group", [])
    finally:
        admin.logout()


def test_orphans_made_by_hand_are_removed_from_each_system_and_an_untagged_role_is_refused(
    stack_configured, team
):
    stack = stack_configured
    ghost, _password = freeipa_user_make(stack)
    freeipa_group_join(stack, ghost, team.freeipa_group)
    hub(stack, "POST", f"/users/{ghost}")
    hub(stack, "POST", f"/groups/{team_hub_group(team)}")
    hub(stack, "POST", f"/groups/{team_hub_group(team)}/users", users=[ghost])
    point = aws(stack, "efs").create_access_point(
        FileSystemId=settings.EFS_FILE_SYSTEM_ID, PosixUser={"Uid": 70123, "Gid": 70123},
        RootDirectory={"Path": f"/data/{ghost}"},
        Tags=[MANAGED, {"Key": "username", "Value": ghost}],
    )  # fmt: skip
    role_name = f"{settings.IAM_ROLE_PREFIX}{ghost}"
    aws(stack, "iam").create_role(
        RoleName=role_name, Path=settings.IAM_ROLE_PATH, AssumeRolePolicyDocument="{}"
    )
    try:
        found = orphans_of(ghost)
        assert {key: f.kind for key, f in found.items()} == {
            f"freeipa team groups {ghost}": "orphan",
            f"jupyterhub hub user {ghost}": "orphan",
            f"efs access point {point['AccessPointId']}": "orphan",
            f"iam role {role_name}": "orphan",
        }

        with pytest.raises(InvalidInput, match=r"refused to remove role .*not tagged managed-by"):
            orphan_remove(finding=found[f"iam role {role_name}"], actor="root")
        for key in ("freeipa team groups", "jupyterhub hub user", "efs access point"):
            (finding,) = [f for name, f in found.items() if name.startswith(key)]
            orphan_remove(finding=finding, actor="root")

        assert hub_user(stack, ghost) is None
        assert access_points(stack, ghost) == []
        # Out of the team's group; the account itself stays (user_show would fail without it).
        assert team.freeipa_group not in freeipa_groups(stack, ghost)
        assert aws(stack, "iam").get_role(RoleName=role_name)["Role"]["Path"] == (
            settings.IAM_ROLE_PATH
        )
        assert set(orphans_of(ghost)) == {f"iam role {role_name}"}
        outcomes = AuditEvent.objects.filter(action="orphan.remove", target=ghost)
        assert sorted(outcomes.values_list("outcome", flat=True)) == ["failed"] + ["succeeded"] * 3
    finally:
        role_delete(stack, role_name)


def test_a_freeipa_user_put_in_a_team_group_by_hand_is_adopted_and_given_the_rest(
    eager, stack_configured, team
):
    stack = stack_configured
    newcomer, _password = freeipa_user_make(stack)
    freeipa_group_join(stack, newcomer, team.freeipa_group)
    (finding,) = orphans_of(newcomer).values()

    run = orphan_adopt(finding=finding, team=team, actor="root")

    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    person = Person.objects.get(username=newcomer)
    assert (person.status, person.team, person.full_name) == (
        Person.Status.ACTIVE, team, "AccessAdmin Service",
    )  # fmt: skip
    (point,) = access_points(stack, newcomer)
    assert point["PosixUser"]["Uid"] == person.uid_number
    assert len(roles(stack, newcomer)) == 1
    assert hub_user(stack, newcomer)["groups"] == [team_hub_group(team)]
    assert orphans_of(newcomer) == {}
